# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""How a few of MRCFA's steps run: in their plain form, or in a CPU form that computes the same function faster.

The modeling files (`modeling_mrcfa.py`, `modeling_mrcfa_head.py`, `loss_mrcfa.py`) write the model as the paper
describes it. Seven of their steps are named pieces of a *kernel implementation*, an object they are handed:

| piece                 | plain form ([`MrcfaKernels`])          | CPU form ([`MrcfaCpuKernels`])                        |
|-----------------------|----------------------------------------|-------------------------------------------------------|
| `encode_frames`       | the batch of frames at once            | in eval mode one frame at a time; depthwise weights   |
|                       |                                        | with channels-last strides                            |
| `stage_projection`    | 1x1 convolution                        | channels-last; at one thread one matrix product       |
| `classify`            | the classifier convolution             | at one thread one matrix product                      |
| `refine_affinities`   | every affinity image in one stack      | chunks of `refinement_chunk_size` images              |
| `refinement_unit`,    | the unit's layers, `nn.Conv2d`         | 1-2-channel convolutions as depthwise passes          |
| `affinity_conv`       |                                        |                                                       |
| `loss_logits`,        | NCHW, classes in dim 1                 | channels-last, classes in the last dim                |
| `loss_class_dim`      |                                        |                                                       |

Every CPU form computes the plain form's function (float rounding only; tests/test_modeling.py and tests/test_loss.py
compare the two implementations piece by piece and end to end). docs/design.md, "What makes it cheap on CPU", says
why each is faster.

One switch chooses: `config.kernel_implementation`, read by [`kernels_for`] once per call at each entry point (the
model's `forward` and `encode_frames`, the head's `frame_features`, `clip_forward` and `refine_affinities`, the loss),
which hands the object down. `"auto"` (the default) gives the CPU forms for CPU tensors in eager mode, and the plain
forms on other devices (CUDA) and while `torch.compile` or `torch.export` (ONNX export) traces the model: the traced
graphs are the plain ones (an ONNX `Conv`'s `group` must be a constant, for one, while the grouped affinity
convolution's depends on the input size). `"plain"` always gives the plain forms, `"cpu"` the CPU forms.

This file ships inside every saved checkpoint (``trust_remote_code``): it imports only torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

KERNEL_IMPLEMENTATIONS = ("auto", "plain", "cpu")


@dataclass(frozen=True)
class MrcfaKernels:
    """The plain forms: what CUDA, `torch.compile` and `torch.export` run (`kernel_implementation="plain"`).

    Each piece is the computation as the modeling files would write it inline: the plain callable it is given (a
    module, or the model's own encoding / refinement of a batch), or the one torch operation it names.
    """

    #: the dimension of the classes in the per-image loss's scores (`loss_mrcfa`): dim 1 of `[1, C, H, W]`
    loss_class_dim: ClassVar[int] = 1

    def encode_frames(self, model: nn.Module, encode, pixel_values: torch.Tensor):
        """`encode(pixel_values)`: the encoder and the per-frame head on frames `[N, 3, H, W]` at once (see
        `MrcfaForVideoSemanticSegmentation.encode_frames`; `model` is the model that encodes)."""
        return encode(pixel_values)

    def stage_projection(self, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The 1x1 convolution of an encoder map `features` `[N, C, h, w]` with `weight` `[D, C]` and `bias` `[D]`
        -> `[N, D, h, w]` (the per-frame decoder's stage projection with the fuse convolution folded in)."""
        return F.conv2d(features, weight[:, :, None, None], bias)

    def classify(self, classifier: nn.Conv2d, fused: torch.Tensor) -> torch.Tensor:
        """The per-frame classifier (1x1 convolution) on the fused map `[N, D, h, w]` -> `[N, C, h, w]`."""
        return classifier(fused)

    def refine_affinities(self, refine, images: tuple[torch.Tensor, ...], chunk_size: int) -> torch.Tensor:
        """`refine(images)`: SAR then MAA over the affinity images of the three levels (`[M, 1, h_l, w_l]`) in one
        stack -> `[M, 1, h8, w8]`."""
        return refine(images)

    def refinement_unit(self, unit: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """A refinement unit (conv -> GroupNorm -> ReLU layers) on affinity images `[M, c, h, w]`."""
        return unit(x)

    def affinity_conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """A refinement convolution on affinity images `[M, c, h, w]` (`c` = 1 or 2)."""
        return conv(x)

    def loss_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """One image's logits `[1, C, h, w]` in the layout the per-image loss resizes them in."""
        return logits


@dataclass(frozen=True)
class MrcfaCpuKernels(MrcfaKernels):
    """The CPU forms (`kernel_implementation="cpu"`, and `"auto"` for CPU tensors in eager mode).

    Args:
        one_thread (`bool`): whether torch runs on one CPU thread (`torch.get_num_threads() == 1`), where the 1x1
            convolutions run as one matrix product (`_pointwise`); [`kernels_for`] reads it once per call.
    """

    one_thread: bool = False

    # On CPU each image is resized channels-last, and the class dimension is then the last one in memory: bilinear
    # upsampling and its backward vectorise over the classes (1.6x and ~5x faster than NCHW for 124 classes), and the
    # log-softmax, gather and scatter run over contiguous rows (the scores are the `[1, H, W, C]` view).
    loss_class_dim: ClassVar[int] = -1

    def encode_frames(self, model: nn.Module, encode, pixel_values: torch.Tensor):
        """The encoder's depthwise weights get channels-last strides (`_depthwise_weights_channels_last`); in eval
        mode a batch is encoded one frame at a time: every computation is per frame then (no dropout, no batch
        statistics), and one frame's maps stay small enough to be cached and reused by the allocator, with the
        encoder's fast channels-last depthwise kernel: ~0.8x the time of the batch. The frames' results are joined
        into batch tensors (the fused maps and encoder outputs only when `encode` returns them)."""
        _depthwise_weights_channels_last(model.segformer)
        if model.training or pixel_values.shape[0] == 1:
            return encode(pixel_values)
        features, fused, outputs = zip(*(encode(frame[None]) for frame in pixel_values))
        return (
            type(features[0]).cat(list(features)),
            None if fused[0] is None else torch.cat(fused),
            None if outputs[0] is None else _cat_model_outputs(outputs),
        )

    def stage_projection(self, features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Channels-last output: bilinear upsampling then vectorises over the `D` channels (3x faster than over the
        width in NCHW), and the maps derived from the fused map stay channels-last. At one thread one matrix product
        (`_pointwise`), which reads the encoder's NCHW map as it is; at more, oneDNN's convolution on a channels-last
        copy (no slower than on NCHW)."""
        if self.one_thread:
            return _pointwise(features, weight, bias, channels_last=True)
        return super().stage_projection(features.contiguous(memory_format=torch.channels_last), weight, bias)

    def classify(self, classifier: nn.Conv2d, fused: torch.Tensor) -> torch.Tensor:
        """At one thread one matrix product (`_pointwise`) that reads the channels-last fused map and writes NCHW
        logits; at more, oneDNN's convolution."""
        if self.one_thread:
            return _pointwise(fused, classifier.weight.flatten(1), classifier.bias, channels_last=False)
        return classifier(fused)

    def refine_affinities(self, refine, images: tuple[torch.Tensor, ...], chunk_size: int) -> torch.Tensor:
        """Every image is refined on its own (the convolutions, GroupNorm and upsampling never mix images), so they go
        through in chunks of `chunk_size` images: each intermediate map then stays small enough to be cached and to
        be reused by the allocator instead of being mapped and zero-filled afresh (the full-stack maps are ~30 MB per
        channel at 480x864), which makes the same computation ~2x faster. The convolution kernels may sum in another
        order for another number of images (float rounding)."""
        num_images = images[0].shape[0]
        if num_images <= chunk_size:
            return refine(images)
        parts = [
            refine(tuple(level[i : i + chunk_size] for level in images)) for i in range(0, num_images, chunk_size)
        ]
        return torch.cat(parts)

    def refinement_unit(self, unit: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """The unit's layers in turn, its convolutions as `affinity_conv`."""
        for layer in unit:
            x = self.affinity_conv(layer, x) if isinstance(layer, nn.Conv2d) else layer(x)
        return x

    def affinity_conv(self, conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """oneDNN's direct convolution is slow for 1-2 channels over hundreds of images: the convolution runs as
        depthwise (grouped) convolutions with the images' channels as channels. For each output channel `o`, one
        depthwise pass applies `weight[o, i]` to input channel `i` of every image, and the `c_in` results are summed:
        3-10x faster than the direct kernel and 2x faster than it in channels-last layout. The output is a standard
        contiguous tensor (a channels-last one-channel map sends GroupNorm to a kernel 30x slower). One image runs
        the plain convolution."""
        if x.shape[0] == 1:
            return conv(x)
        num, in_channels, height, width = x.shape
        # channel i of image n is channel n * in_channels + i of one image: one depthwise pass per output channel
        # (oneDNN's depthwise kernel with a channel multiplier > 1 is 2-4x slower than separate plain passes)
        channels = x.reshape(1, num * in_channels, height, width)
        outs = []
        for o in range(conv.out_channels):
            weight = conv.weight[o : o + 1].expand(num, -1, -1, -1).reshape(num * in_channels, 1, *conv.kernel_size)
            out = F.conv2d(channels, weight, None, padding=conv.padding, groups=num * in_channels)
            out = out.reshape(num, in_channels, height, width).sum(dim=1) if in_channels > 1 else out[0]
            outs.append(out if conv.bias is None else out.add_(conv.bias[o]))
        if len(outs) == 1:
            return outs[0].unsqueeze(1)
        return torch.stack(outs, dim=1)  # [num, out_channels, h, w]

    def loss_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.contiguous(memory_format=torch.channels_last)


PLAIN_KERNELS = MrcfaKernels()


def kernels_for(implementation: str, like: torch.Tensor) -> MrcfaKernels:
    """The kernel implementation `implementation` ("auto", "plain" or "cpu", `config.kernel_implementation`) names
    for a call on tensors like `like` (its device; whether torch.compile / torch.export traces; the thread count)."""
    # the compile / export test comes first: it adds no shape guards
    traced = torch.compiler.is_compiling() or torch.compiler.is_exporting()
    on_cpu = like.device.type == "cpu"
    if implementation == "auto":
        implementation = "cpu" if on_cpu and not traced else "plain"
    if implementation == "plain":
        return PLAIN_KERNELS
    if implementation == "cpu":
        if not on_cpu or traced:
            raise ValueError(
                f"kernel_implementation='cpu' runs CPU tensors in eager mode, got a {like.device.type} tensor"
                f"{' under torch.compile / torch.export' if traced else ''}: use 'auto' or 'plain'."
            )
        return MrcfaCpuKernels(one_thread=torch.get_num_threads() == 1)
    raise ValueError(f"kernel_implementation must be one of {KERNEL_IMPLEMENTATIONS}, got {implementation!r}.")


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """The 1x1 convolution of `x` `[N, C, H, W]` (NCHW or channels-last) with `weight` `[D, C]` and `bias` `[D]` as one
    batched matrix product -> `[N, D, H, W]`, channels-last if `channels_last`, else contiguous.

    At one thread PyTorch runs 1x1 convolutions with its own kernel rather than oneDNN's (`use_mkldnn` in
    aten/src/ATen/native/ConvUtils.h), and that kernel first copies a channels-last input to NCHW. The product reads
    either layout as it is and writes the layout asked for: ~0.6x the time of the convolution and its copies. At two
    or more threads oneDNN's convolution is faster.
    """
    batch, _, height, width = x.shape
    columns = x.flatten(2)  # [N, C, H*W]: a view in both layouts
    if channels_last:  # [N, H*W, D] = columns^T @ weight^T + bias
        out = torch.baddbmm(bias.expand(batch, height * width, -1), columns.mT, weight.t().expand(batch, -1, -1))
        return out.view(batch, height, width, -1).permute(0, 3, 1, 2)
    out = torch.baddbmm(bias[:, None].expand(batch, -1, height * width), weight.expand(batch, -1, -1), columns)
    return out.view(batch, -1, height, width)


def _depthwise_weights_channels_last(encoder: nn.Module) -> None:
    """Give the encoder's depthwise convolution weights (`[C, 1, k, k]`, the Mix-FFN's) channels-last strides.

    The Mix-FFN hands its depthwise convolution a transposed view of its tokens, which is a channels-last tensor.
    A `[C, 1, k, k]` weight is laid out the same in memory either way, but with default strides PyTorch's CPU
    convolution takes it for NCHW and copies the input to NCHW before the slow NCHW depthwise kernel; with
    channels-last strides it runs oneDNN's channels-last kernel on the view as it is. At batch 1 (streaming) that
    makes the encoder ~0.8x as long (the stage-1 convolution 60 -> 9 ms at 480x864); larger batches are unchanged.
    Only the strides change (same values, same memory order, `is_contiguous()` still true), so saving, loading and
    the optimiser see the same tensors. Idempotent and cheap: applied before each CPU encoding, as loading weights
    may bring default strides back.
    """
    for module in encoder.modules():
        if isinstance(module, nn.Conv2d) and module.groups == module.in_channels > 1 and module.weight.stride(1) != 1:
            module.to(memory_format=torch.channels_last)


def _cat_model_outputs(outputs):
    """Encoder outputs (`ModelOutput`s of tensors and tuples of tensors) of single frames joined along the batch."""
    first = outputs[0]
    joined = {
        key: torch.cat([o[key] for o in outputs])
        if isinstance(value, torch.Tensor)
        else tuple(torch.cat([o[key][i] for o in outputs]) for i in range(len(value)))
        for key, value in first.items()
    }
    return type(first)(**joined)


__all__ = ["KERNEL_IMPLEMENTATIONS", "MrcfaCpuKernels", "MrcfaKernels", "PLAIN_KERNELS", "kernels_for"]
