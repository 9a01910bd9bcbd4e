# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""MRCFA: Mining Relations among Cross-Frame Affinities for Video Semantic Segmentation (ECCV 2022).

`MrcfaForVideoSemanticSegmentation` = transformers' `SegformerModel` (MiT encoder, held as `self.segformer` so that
SegFormer / MiT checkpoints transfer) + the MRCFA head (`modeling_mrcfa_head.py`).

The model is written in its plain form; a few steps are pieces of a kernel implementation (`kernels_mrcfa.py`: the
plain forms, or CPU forms of the same function), chosen by `config.kernel_implementation` once per call.

This file ships inside every saved checkpoint (``trust_remote_code``): it imports only torch, transformers and
single-dot relative modules.
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass

import torch
from transformers import SegformerModel, SegformerPreTrainedModel
from transformers.backbone_utils import filter_output_hidden_states
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import (
    maybe_install_capturing_hooks,
    resolve_hidden_states_indices,
    selected_hidden_states,
)

from .configuration_mrcfa import MrcfaConfig
from .kernels_mrcfa import MrcfaKernels
from .loss_mrcfa import mean_cross_entropy
from .modeling_mrcfa_head import MrcfaFrameFeatures, MrcfaHead
from .session_mrcfa import MrcfaPropagationMixin, MrcfaStreamingOutput, MrcfaVideoInferenceSession, streaming_step

AUTO_MAP = {
    "AutoConfig": "configuration_mrcfa.MrcfaConfig",
    "AutoModel": "modeling_mrcfa.MrcfaForVideoSemanticSegmentation",
    "AutoModelForSemanticSegmentation": "modeling_mrcfa.MrcfaForVideoSemanticSegmentation",
}


@dataclass
class MrcfaVideoSemanticSegmenterOutput(ModelOutput):
    r"""Output of [`MrcfaForVideoSemanticSegmentation`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` are given):
            With a full clip: `frame_loss_weight * CE(frame_logits, per-frame labels) + CE(ensemble outputs, target
            label)`; with one frame: `CE(logits, labels)`. Logits are resized to the label size first; the mean runs
            over all pixels, ignored ones included (the official mmseg reduction).
        logits (`torch.FloatTensor` of shape `[batch, num_labels, height/4, width/4]`):
            The prediction for the target (last) frame: the ensemble output for a full clip, the per-frame SegFormer
            logits for a single frame. In training mode with a full clip, this is the ensemble output too.
        frame_logits (`torch.FloatTensor` of shape `[batch, frames, num_labels, height/4, width/4]`):
            Per-frame SegFormer logits of every frame.
        reference_logits (`torch.FloatTensor` of shape `[batch, frames - 1, num_labels, height/4, width/4]`, *optional*):
            Outputs of the per-reference ensemble decoders (full clips only).
        stm_mask (`torch.BoolTensor` of shape `[batch, frames - 1, N]`, *optional*):
            Reference tokens (1/32 grid, `N = (height/32) * (width/32)`) kept by Selective Token Masking; returned with
            `output_affinities=True` for full clips.
        affinity (`torch.FloatTensor` of shape `[batch, frames - 1, N_target, s]`, *optional*):
            Refined cross-frame affinity of every target token (1/8 grid, row-major) to the `s` kept tokens of each
            reference frame (increasing token order), before the softmax; with `output_affinities=True`.
        hidden_states (`tuple(torch.FloatTensor)`, *optional*):
            Encoder stage outputs, frames flattened into the batch: `[batch * frames, hidden_sizes[i], h_i, w_i]`
            (frame `t` of clip `b` at index `b * frames + t`).
        attentions (`tuple(torch.FloatTensor)`, *optional*):
            Encoder attention weights, frames flattened into the batch as for `hidden_states`.
        pixel_mask (`torch.LongTensor` of shape `[batch, height, width]` or `[batch, frames, height, width]`, *optional*):
            The `pixel_mask` of a padded batch (items of different valid sizes), returned with the outputs it pads:
            item `i`'s valid logits are the top-left `h_i / height` of `logits[i]` (rows) and `w_i / width`
            (columns). The processor's `post_process_semantic_segmentation` reads it to crop each item.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    frame_logits: torch.FloatTensor | None = None
    reference_logits: torch.FloatTensor | None = None
    stm_mask: torch.BoolTensor | None = None
    affinity: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    pixel_mask: torch.LongTensor | None = None


def _select_layers_by_index(forward):
    """`output_hidden_states` / `output_attentions` given as an index or a list of indices (as transformers'
    `selected_hidden_states` reads them) return only those encoder stages / attention layers, the others as `None`.

    Fills two gaps of transformers' plumbing: `filter_output_hidden_states`, which selects the stages, takes the index
    `0` for `False` (an index is passed on as a one-element list), and nothing selects attention layers (`forward`
    gets a flag, and the layers are selected from its output).
    """

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        stages = kwargs.get("output_hidden_states")
        if isinstance(stages, int) and not isinstance(stages, bool):
            kwargs["output_hidden_states"] = [stages]
        layers = kwargs.get("output_attentions")
        layers = self.config.output_attentions if layers is None else layers
        selected = selected_hidden_states(layers)
        kwargs["output_attentions"] = selected is not None or bool(layers)
        output = forward(self, *args, **kwargs)
        if selected is not None and output.attentions is not None:
            keep = resolve_hidden_states_indices(self, selected, num_hidden_states=len(output.attentions))
            output.attentions = tuple(a if i in keep else None for i, a in enumerate(output.attentions))
        return output

    return wrapper


class MrcfaForVideoSemanticSegmentation(MrcfaPropagationMixin, SegformerPreTrainedModel):
    """MRCFA video semantic segmentation model: MiT encoder + MRCFA head.

    Input a clip `[batch, frames, 3, height, width]` with `frames == config.num_clips` (references oldest first, target
    last) or a single frame `[batch, 3, height, width]`; `height` and `width` must be divisible by 32.

    `config.kernel_implementation` chooses how a few steps run (`kernels_mrcfa.py`): `"auto"` (CPU forms for CPU
    tensors in eager mode, else the plain forms), `"plain"` or `"cpu"`.
    """

    config_class = MrcfaConfig
    config: MrcfaConfig
    input_modalities = ("video", "image")
    _no_split_modules = ["SegformerStage"]
    # `torch.compile(model, fullgraph=True)` traces without graph breaks (tests/test_modeling.py checks it)
    _can_compile_fullgraph = True
    # the loss is computed here (mean over all pixels, the official reduction): Trainer must not pass loss kwargs
    accepts_loss_kwargs = False

    def __init__(self, config: MrcfaConfig):
        super().__init__(config)
        self.segformer = SegformerModel(config)
        _apply_official_layer_norm_eps(self.segformer, config.layer_norm_eps)
        self.decode_head = MrcfaHead(config)
        self.post_init()
        # The encoder records its stage outputs with hooks installed on first use, under a lock that torch.compile
        # cannot trace: install them now, so that a compiled first call has no graph break.
        maybe_install_capturing_hooks(self.segformer)

    # ----------------------------------------------------------------------------------------------------- checks
    def _check_pixel_values(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, int]:
        if not isinstance(pixel_values, torch.Tensor):
            raise ValueError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}.")
        if pixel_values.ndim == 4:
            pixel_values = pixel_values.unsqueeze(1)
        elif pixel_values.ndim != 5:
            raise ValueError(
                "pixel_values must be a clip [batch, frames, 3, height, width] or a frame [batch, 3, height, width], "
                f"got shape {tuple(pixel_values.shape)}."
            )
        batch, frames, channels, height, width = pixel_values.shape
        if channels != self.config.num_channels:
            raise ValueError(
                f"pixel_values must have {self.config.num_channels} channels in dim -3, got {channels} "
                f"(shape {tuple(pixel_values.shape)})."
            )
        if height % 32 or width % 32:
            raise ValueError(f"height and width must be divisible by 32, got {height}x{width}.")
        if frames not in (1, self.config.num_clips):
            raise ValueError(
                f"a clip must have 1 frame or num_clips={self.config.num_clips} frames (references then target), "
                f"got {frames}."
            )
        if batch == 0:
            raise ValueError("pixel_values has an empty batch.")
        if not pixel_values.is_floating_point():
            raise ValueError(
                f"pixel_values must be a floating-point tensor of normalised frames (the processor's output), got "
                f"{pixel_values.dtype}: preprocess raw frames with MrcfaImageProcessor, e.g. "
                "`processor(videos=clips, return_tensors='pt')`."
            )
        dtype, given = self.segformer.stages[0].patch_embeddings.proj.weight.dtype, pixel_values.dtype
        if given != dtype:  # float64 / float16 / bfloat16 input: the dtype of the weights it meets
            pixel_values = pixel_values.to(dtype)
        # one reduction (negligible next to the forward); skipped while tracing (torch.compile / export / jit), where
        # the data-dependent branch would break the graph
        if not torch.compiler.is_compiling() and not torch.jit.is_tracing():
            finite = torch.isfinite(pixel_values)
            if not bool(finite.all()):
                bad = (~finite.flatten(2).all(-1)).nonzero().tolist()  # [[item, frame], ...]
                item, frame = bad[0]
                where = f"frame {frame} of clip {item}" if frames > 1 else f"item {item}"
                raise ValueError(
                    f"pixel_values has NaN or infinite values in {where}"
                    f"{f' ({len(bad)} frames in all)' if len(bad) > 1 else ''}"
                    f"{f' (once converted from {given} to the weights dtype {dtype})' if given != dtype else ''}: "
                    "every value must be finite."
                )
        return pixel_values, frames

    def _check_labels(self, labels: torch.Tensor, batch: int, frames: int, height: int, width: int) -> torch.Tensor:
        shape = tuple(labels.shape)
        if shape != (batch, frames, height, width) and not (frames == 1 and shape == (batch, height, width)):
            expected = f"[{batch}, {height}, {width}] or " if frames == 1 else ""
            raise ValueError(
                f"labels must have shape {expected}[{batch}, {frames}, {height}, {width}] to match pixel_values, "
                f"got {list(shape)}."
            )
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be an integer tensor, got {labels.dtype}.")
        labels = labels.reshape(batch, frames, height, width).long()
        ignore = self.config.semantic_loss_ignore_index
        num_values = max(self.config.num_labels, 2)  # binary segmentation (num_labels=1): labels 0 and 1
        if torch.compiler.is_compiling():  # the value check is data-dependent: it would break the graph
            return labels
        invalid = ((labels < 0) | (labels >= num_values)) & (labels != ignore)
        if bool(invalid.any()):
            bad = labels[invalid].unique()[:10].tolist()
            raise ValueError(f"labels must be in [0, {num_values}) or {ignore} (ignored), found {bad}.")
        return labels

    def kernels_for(self, like: torch.Tensor) -> MrcfaKernels:
        """The kernel implementation `config.kernel_implementation` names for a call on tensors like `like`."""
        return self.decode_head.kernels_for(like)

    # ---------------------------------------------------------------------------------------------------- encoder
    def encode_frames(
        self,
        pixel_values: torch.Tensor,
        *,
        as_target: bool = True,
        as_reference: bool = True,
        output_attentions: bool = False,
        frame_logits: bool = True,
        return_fused_map: bool = True,
        return_encoder_outputs: bool = True,
        kernels: MrcfaKernels | None = None,
    ):
        """Encoder + per-frame head for frames `[N, 3, H, W]` -> (`MrcfaFrameFeatures`, fused map `F`
        `[N, D, H/4, W/4]`, encoder output).

        Used by the clip forward and by streaming inference (`mrcfa.segment_video`), which encodes each frame once
        (and leaves out the per-frame logits, `frame_logits=False`, of frames it predicts with a clip). The fused map
        and the encoder output are `None` when not asked for (`return_fused_map=False`,
        `return_encoder_outputs=False`): when the kernels encode frame by frame (the CPU kernels in eval mode), they
        are then not joined into batch tensors. `kernels` defaults to the implementation `config.kernel_implementation`
        names.
        """
        if kernels is None:
            kernels = self.kernels_for(pixel_values)

        def encode(frames: torch.Tensor):
            encoder_outputs = self.segformer(
                frames, output_hidden_states=True, output_attentions=output_attentions, return_dict=True
            )
            features, fused = self.decode_head.frame_features(
                tuple(encoder_outputs.hidden_states),
                as_target=as_target,
                as_reference=as_reference,
                frame_logits=frame_logits,
                kernels=kernels,
            )
            return features, fused if return_fused_map else None, encoder_outputs if return_encoder_outputs else None

        return kernels.encode_frames(self, encode, pixel_values)

    # ---------------------------------------------------------------------------------------------------- forward
    @can_return_tuple
    @_select_layers_by_index
    @filter_output_hidden_states
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_affinities: bool = False,
        output_hidden_states: bool | int | list[int] | None = None,
        output_attentions: bool | int | list[int] | None = None,
        pixel_mask: torch.Tensor | None = None,
        inference_session: MrcfaVideoInferenceSession | None = None,
        frame: torch.Tensor | None = None,
        frame_idx: int | None = None,
        **kwargs,
    ) -> MrcfaVideoSemanticSegmenterOutput | MrcfaStreamingOutput | tuple:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `[batch, frames, 3, height, width]` or `[batch, 3, height, width]`):
                Normalised frames (the processor's output); `frames` is 1 or `config.num_clips` (target last). Any
                floating-point dtype is accepted and cast to the dtype of the model's weights (`model.dtype`: float32
                unless the model was converted, e.g. `model.to(torch.bfloat16)`), as transformers' vision embeddings
                do; under `torch.autocast` float32 input stays float32 and autocast picks each operation's dtype.
                Integer tensors (uint8 frames that skipped the processor) raise a `ValueError`, and so do NaN or
                infinite values (naming the clip and frame; not checked while tracing, e.g. under `torch.compile`).
            labels (`torch.LongTensor` of shape `[batch, frames, height, width]` (or `[batch, height, width]` for one frame), *optional*):
                Class ids in `[0, num_labels)`, `config.semantic_loss_ignore_index` (255) for ignored pixels.
            output_affinities (`bool`, *optional*, defaults to `False`):
                Also return `stm_mask` and `affinity` (full clips).
            output_hidden_states (`bool`, `int` or `list[int]`, *optional*):
                Return the encoder stage outputs: all of them (`True`), or only the stages at these indices (the
                others are `None`), as transformers' SegFormer does. Defaults to `config.output_hidden_states`.
            output_attentions (`bool`, `int` or `list[int]`, *optional*):
                Return the encoder attention weights: all layers (`True`) or only those at these indices (the others
                are `None`). Defaults to `config.output_attentions`.
            pixel_mask (`torch.LongTensor` of shape `[batch, height, width]` or `[batch, frames, height, width]`, *optional*):
                The processor's mask of a padded batch (items of different sizes): 1 on each item's valid region,
                aligned top-left, 0 on the padding (the frames of a clip share one valid size). Each group of items
                sharing a valid size runs without its padding, so every item gets the outputs it gets alone (no
                attention or convolution sees the padding); `logits`, `frame_logits`, `reference_logits` and
                `hidden_states` are then padded back to the batch size at the bottom / right with **0**, aligned with
                the mask (item `i`'s valid logits are `logits[i, :, :h_i // 4, :w_i // 4]`), and the outputs carry the
                mask (`pixel_mask`) for `post_process_semantic_segmentation` to crop each item. The loss is the mean of
                the per-item losses weighted by their valid pixel counts (padding excluded). `output_affinities` and
                attentions, whose token counts differ between sizes, are not supported with mixed valid sizes. A mask
                that is all ones changes nothing.
            return_dict (`bool`, *optional*):
                Return a `MrcfaVideoSemanticSegmenterOutput` (`True`) or a tuple of its non-`None` fields (`False`).
                Defaults to `config.return_dict`.
            inference_session (`MrcfaVideoInferenceSession`, *optional*):
                Streaming (docs/design.md, "Streaming inference"): predict the next frame(s) of the session's video
                from their official test clips, with each frame encoded once; returns an `MrcfaStreamingOutput`
                (`logits` `[frames, num_labels, height/4, width/4]`, `frame_idx`). Eval mode only.
            frame (`torch.FloatTensor` of shape `[3, height, width]` or `[frames, 3, height, width]`, *optional*):
                With `inference_session`: the next frame (or consecutive frames) of the video; omit it to take the
                next frame of a preloaded video.
            frame_idx (`int`, *optional*):
                With `inference_session`: the index of the (first) frame, which must be the next one (MRCFA is causal).

        Example:

        ```python
        >>> import torch, mrcfa
        >>> from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
        >>> model = MrcfaForVideoSemanticSegmentation(MrcfaConfig.from_preset("b0")).eval()
        >>> clip = torch.randn(1, 4, 3, 128, 160)  # frames i-9, i-6, i-3, i
        >>> model(clip).logits.shape
        torch.Size([1, 124, 32, 40])
        ```
        """
        if inference_session is not None or frame is not None or frame_idx is not None:
            return self._streaming_forward(
                inference_session, frame, frame_idx, pixel_values=pixel_values, labels=labels
            )
        unknown = set(kwargs) - {"original_sizes"}
        if unknown:
            raise TypeError(f"forward() got unexpected keyword arguments {sorted(unknown)}.")
        clip, frames = self._check_pixel_values(pixel_values)
        batch, _, _, height, width = clip.shape
        if labels is not None:
            labels = self._check_labels(labels, batch, frames, height, width)
        groups = None if pixel_mask is None else self._valid_size_groups(pixel_mask, batch, frames, height, width)
        if groups is not None:
            if output_affinities or output_attentions:
                raise ValueError(
                    "output_affinities and output_attentions are not supported with a pixel_mask whose items "
                    "have different valid sizes (their token counts differ): run each size separately."
                )
            output = self._forward_padded(clip, labels, groups)
            output["pixel_mask"] = torch.as_tensor(pixel_mask, device=clip.device)  # for post-processing
            return output

        kernels = self.kernels_for(clip)
        full_clip = frames == self.config.num_clips
        features, _, encoder = self.encode_frames(
            clip.flatten(0, 1),
            as_target=full_clip,
            as_reference=full_clip,
            output_attentions=output_attentions,
            return_fused_map=False,
            kernels=kernels,
        )
        frame_logits = features.logits.unflatten(0, (batch, frames))
        logits, reference_logits, stm_mask, affinity = frame_logits[:, -1], None, None, None
        if full_clip:
            per_clip = features.unflatten(batch, frames)  # views: [batch * frames, ...] -> [batch, frames, ...]
            target = per_clip.index((slice(None), -1))
            references = per_clip.index((slice(None), slice(0, frames - 1)))
            clip_out = self.decode_head.clip_forward(target, references, tuple(logits.shape[-2:]), kernels=kernels)
            logits, reference_logits = clip_out.logits, clip_out.reference_logits
            if output_affinities:
                num_tokens = references.value_tokens.shape[2]
                stm_mask = torch.zeros(batch, frames - 1, num_tokens, dtype=torch.bool, device=clip.device)
                stm_mask.scatter_(2, clip_out.stm_indices, True)
                affinity = clip_out.affinity

        return MrcfaVideoSemanticSegmenterOutput(
            loss=None if labels is None else self._loss(labels, frame_logits, logits, reference_logits, kernels),
            logits=logits,
            frame_logits=frame_logits,
            reference_logits=reference_logits,
            stm_mask=stm_mask,
            affinity=affinity,
            hidden_states=encoder.hidden_states,
            attentions=encoder.attentions,
        )

    def _loss(
        self,
        labels: torch.Tensor,
        frame_logits: torch.Tensor,
        logits: torch.Tensor,
        reference_logits: torch.Tensor | None,
        kernels: MrcfaKernels,
    ) -> torch.Tensor:
        """The training loss (see `MrcfaVideoSemanticSegmenterOutput.loss`) from `labels` `[B, T, H, W]`: the
        per-frame term, plus with a full clip (`reference_logits` given) the ensemble term on the target label."""
        ignore = self.config.semantic_loss_ignore_index
        frame_term = mean_cross_entropy(frame_logits.flatten(0, 1), labels.flatten(0, 1), ignore, kernels)
        if reference_logits is None:
            return frame_term
        ensemble = torch.cat([reference_logits, logits.unsqueeze(1)], dim=1)  # [B, T, C, h, w]
        target_labels = labels[:, -1:].expand(-1, ensemble.shape[1], -1, -1)
        ensemble_term = mean_cross_entropy(ensemble.flatten(0, 1), target_labels.flatten(0, 1), ignore, kernels)
        return self.config.frame_loss_weight * frame_term + ensemble_term

    # -------------------------------------------------------------------------------------------------- streaming
    def _streaming_forward(self, inference_session, frame, frame_idx, **clip_inputs) -> MrcfaStreamingOutput:
        if inference_session is None:
            raise ValueError(
                "frame= and frame_idx= are for streaming: pass inference_session= too (from "
                "processor.init_video_session()); a clip goes in as model(pixel_values)."
            )
        given = [name for name, value in clip_inputs.items() if value is not None]
        if given:
            raise ValueError(
                f"a session step takes its frames as frame=, without {given}: a clip goes in as model(pixel_values), "
                "without inference_session."
            )
        if self.training:
            raise ValueError("streaming inference runs in eval mode: call model.eval() first.")
        return streaming_step(self, inference_session, frame=frame, frame_idx=frame_idx)

    def encode_stream_frames(self, pixel_values: torch.Tensor, *, frame_logits: bool = True) -> MrcfaFrameFeatures:
        """Streaming (`MrcfaStreamingBackend`): `encode_frames` features of frames `[N, 3, H, W]`, the per-frame
        logits only with `frame_logits` (for frames predicted alone)."""
        features, _, _ = self.encode_frames(
            pixel_values, frame_logits=frame_logits, return_fused_map=False, return_encoder_outputs=False
        )
        return features

    def stream_target_logits(
        self, target: MrcfaFrameFeatures, references: MrcfaFrameFeatures, size: tuple[int, int]
    ) -> torch.Tensor:
        """Streaming (`MrcfaStreamingBackend`): the temporal head's target logits `[B, C, *size]`, without the
        reference decoders' logits."""
        return self.decode_head.clip_forward(target, references, size, reference_logits=False).logits

    def _valid_size_groups(
        self, pixel_mask: torch.Tensor, batch: int, frames: int, height: int, width: int
    ) -> dict[tuple[int, int], list[int]] | None:
        """Items grouped by valid size `(h, w)` from `pixel_mask`, or `None` when every item is valid everywhere."""
        if not isinstance(pixel_mask, torch.Tensor):
            pixel_mask = torch.as_tensor(pixel_mask)
        shape = tuple(pixel_mask.shape)
        if shape not in ((batch, height, width), (batch, frames, height, width)):
            raise ValueError(
                f"pixel_mask must have shape [{batch}, {height}, {width}] or [{batch}, {frames}, {height}, {width}] "
                f"to match pixel_values, got {list(shape)}."
            )
        mask = pixel_mask.bool()
        if mask.ndim == 4:
            if not bool((mask == mask[:, :1]).all()):
                raise ValueError("The frames of a clip must share one valid region (pixel_mask differs between them).")
            mask = mask[:, 0]
        if bool(mask.all()):
            return None
        heights, widths = mask.any(-1).sum(-1).tolist(), mask.any(-2).sum(-1).tolist()
        groups: dict[tuple[int, int], list[int]] = {}
        for index, (h, w) in enumerate(zip(heights, widths)):
            if (
                h == 0
                or w == 0
                or h % 32
                or w % 32
                or not bool(mask[index, :h, :w].all())
                or mask[index].sum() != h * w
            ):
                raise ValueError(
                    f"pixel_mask of item {index} must be 1 on a top-left {h}x{w} region (sides divisible by 32) and "
                    "0 elsewhere."
                )
            groups.setdefault((h, w), []).append(index)
        return groups

    def _forward_padded(
        self,
        clip: torch.Tensor,
        labels: torch.Tensor | None,
        groups: dict[tuple[int, int], list[int]],
    ) -> MrcfaVideoSemanticSegmenterOutput:
        """Forward of a padded batch: each group of items sharing a valid size without its padding, outputs padded
        back (with 0) to the batch's size, top-left aligned; loss weighted by valid pixel counts. Every encoder stage
        is returned (`forward` keeps those asked for)."""
        batch, frames, _, height, width = clip.shape
        results: dict[str, torch.Tensor | None] = {"logits": None, "frame_logits": None, "reference_logits": None}
        hidden_states: list[torch.Tensor | None] | None = None
        loss_sum, pixels = None, 0

        def place(full, index, value, spatial, batch_dims):
            """`value` (`[n, ...]`) into `full[index]` at the top-left of its last two axes (created with 0)."""
            if value is None:
                return full
            size = (height * value.shape[-2] // spatial[0], width * value.shape[-1] // spatial[1])
            if full is None:
                full = value.new_zeros(*batch_dims, *value.shape[len(batch_dims) :][:-2], *size)
            full[index, ..., : value.shape[-2], : value.shape[-1]] = value
            return full

        for (h, w), items in groups.items():
            index = torch.tensor(items, device=clip.device)
            part = clip[index, ..., :h, :w]
            part_labels = None if labels is None else labels[index, ..., :h, :w]
            out = self.forward(
                part if frames > 1 else part[:, 0],
                labels=part_labels if frames > 1 or part_labels is None else part_labels[:, 0],
                output_hidden_states=True,
                output_attentions=False,
                return_dict=True,
            )
            for name in results:
                results[name] = place(results[name], index, getattr(out, name), (h, w), (batch,))
            if out.hidden_states is not None:
                flat = (index[:, None] * frames + torch.arange(frames, device=clip.device)).flatten()
                hidden_states = hidden_states or [None] * len(out.hidden_states)
                for stage, value in enumerate(out.hidden_states):
                    hidden_states[stage] = place(hidden_states[stage], flat, value, (h, w), (batch * frames,))
            if out.loss is not None:
                count = len(items) * h * w
                loss_sum = out.loss * count if loss_sum is None else loss_sum + out.loss * count
                pixels += count
        return MrcfaVideoSemanticSegmenterOutput(
            loss=None if loss_sum is None else loss_sum / pixels,
            hidden_states=None if hidden_states is None else tuple(hidden_states),
            **results,
        )

    # ------------------------------------------------------------------------------------------------ save / load
    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`, plus the code and `auto_map` (AutoConfig, AutoModel,
        AutoModelForSemanticSegmentation) needed by `from_pretrained(..., trust_remote_code=True)`, the
        `video-semantic-segmentation` pipeline (`custom_pipelines`) for `pipeline(..., trust_remote_code=True)`, and
        the Inference Endpoints handler (`handler.py`, with its `requirements.txt`).

        `auto_map` and `custom_pipelines` go to the saved `config.json` only: the live model's config is left as it was.
        With `push_to_hub=True` the complete folder is uploaded by `push_to_hub` (which saves the model again).
        """
        # Shipped too, because these imports name them (transformers copies the files a module imports relatively,
        # also into the cache of a model loaded with trust_remote_code, whose save then ships them again): the video
        # pipeline declared in `custom_pipelines` (with the streaming code it imports), the image processor (the
        # handler's default when no preprocessor config is saved) and the handler.
        from .handler import write_requirements
        from .image_processing_mrcfa import MrcfaImageProcessor  # noqa: F401
        from .pipeline_mrcfa import CUSTOM_PIPELINES

        saved = {"auto_map": dict(AUTO_MAP), "custom_pipelines": copy.deepcopy(CUSTOM_PIPELINES)}
        previous = {name: getattr(self.config, name) for name in saved if hasattr(self.config, name)}
        for name, value in saved.items():
            setattr(self.config, name, value)
        try:
            super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            for name in saved:
                if name in previous:
                    setattr(self.config, name, previous[name])
                else:
                    delattr(self.config, name)
        if not os.path.isdir(save_directory) or not kwargs.get("is_main_process", True):
            return
        # written after transformers' save, whose upload (had it been asked to push) would have missed it
        write_requirements(save_directory)
        if push_to_hub:
            hub = {k: kwargs[k] for k in ("commit_message", "private", "token", "create_pr") if k in kwargs}
            self.push_to_hub(kwargs.get("repo_id", os.path.basename(os.path.normpath(save_directory))), **hub)


def _apply_official_layer_norm_eps(encoder: SegformerModel, eps: float) -> None:
    """The official MiT uses `eps` (1e-6) in its block and stage LayerNorms and 1e-5 in the patch-embedding and
    sequence-reduction LayerNorms; transformers' SegformerModel builds them all with 1e-5."""
    for stage in encoder.stages:
        stage.layer_norm.eps = eps
        for block in stage.blocks:
            block.layernorm_before.eps = eps
            block.layernorm_after.eps = eps


def _declare_pipeline_support() -> None:
    """List MRCFA among the semantic-segmentation models, so that `pipeline("image-segmentation")` does not log that
    the model is unsupported (also when this file is loaded through `trust_remote_code`)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES

    MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES.setdefault(
        MrcfaConfig.model_type, "MrcfaForVideoSemanticSegmentation"
    )


MrcfaConfig.register_for_auto_class("AutoConfig")
MrcfaForVideoSemanticSegmentation.register_for_auto_class("AutoModel")
_declare_pipeline_support()

__all__ = [
    "MrcfaForVideoSemanticSegmentation",
    "MrcfaVideoSemanticSegmenterOutput",
    "MrcfaFrameFeatures",
]
