# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The MRCFA decode head, one documented unit per concept of the paper.

Notation (as in the paper and docs/design.md): a clip holds `T = num_clips` frames, oldest first; the last frame is the
**target**, the `R = T - 1` others are **references**. `B` = batch, `C` = classes, `D` = `decoder_hidden_size`.
Encoder maps `c1..c4` have strides 4, 8, 16, 32. Token grids are flattened row-major.

The head is split into a per-frame part ([`MrcfaHead.frame_features`], computed once per frame) and a per-clip part
([`MrcfaHead.clip_forward`]) so that streaming video inference can reuse every frame's features; a clip forward is
exactly the composition of the two.

The plain forms are written here; a few steps are pieces of a kernel implementation (`kernels_mrcfa.py`: the plain
forms, or CPU forms of the same function) that the entry points `frame_features`, `clip_forward` and
`refine_affinities` take from `config.kernel_implementation` and hand down.

This file ships inside every saved checkpoint (``trust_remote_code``): it imports only torch and single-dot relative
modules.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from .configuration_mrcfa import MrcfaConfig
from .kernels_mrcfa import PLAIN_KERNELS, MrcfaKernels, kernels_for


def _resize(x: torch.Tensor, size: tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


# Device types with an autocast mode (others, e.g. "meta", have none to turn off).
_AUTOCAST_DEVICE_TYPES = ("cpu", "cuda", "xpu", "mps", "hpu", "xla")


def _autocast_off(x: torch.Tensor):
    """A region where autocast (mixed precision) is off on `x`'s device: the computations inside run in the dtype
    of their inputs, i.e. float32 once the inputs are cast with `.float()`.

    Mixed precision (bf16 or fp16 autocast; docs/training.md, "Mixed precision") computes matmuls and convolutions in
    16 bits. Three things of the head must not: the cross-frame affinities are *un-scaled* dot products (no
    `1/sqrt(c)`, no softmax until the refined affinity), so fp16 can overflow (max 65504) and bf16 (8-bit mantissa)
    turns nearby scores into ties that change the Selective Token Masking top-k selection; the first refinement
    layer sees those raw values; and the softmax of the refined affinity weights the reference tokens.
    """
    if x.device.type not in _AUTOCAST_DEVICE_TYPES:
        return contextlib.nullcontext()
    return torch.autocast(device_type=x.device.type, enabled=False)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """`[N, C, h, w]` -> `[N, h*w, C]` (row-major tokens)."""
    return x.flatten(2).transpose(1, 2)


class MrcfaFrameDecoder(nn.Module):
    """The per-frame SegFormer all-MLP decoder.

    Projects each stage to `D` channels, upsamples to the 1/4 grid, fuses `[c4, c3, c2, c1]` with a 1x1 convolution
    (no bias) + BatchNorm + ReLU into the fused map `F` `[N, D, H/4, W/4]`, and classifies `F` (Dropout2d + 1x1 conv).

    The fuse convolution is linear and commutes with bilinear upsampling (whose weights sum to one), so it is folded
    into each stage's projection: stage `i` is mapped straight to the fused space at its own resolution and the four
    upsampled maps are summed. This computes the same function as project -> upsample -> concat -> fuse (relative
    difference ~1e-6) without the `4*D`-channel concatenation at 1/4 resolution; gradients reach the original
    parameters, whose names and shapes are those of the official model.
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        dim = config.decoder_hidden_size
        self.linear_projections = nn.ModuleList([nn.Linear(size, dim) for size in config.hidden_sizes])
        self.linear_fuse = nn.Conv2d(dim * len(config.hidden_sizes), dim, kernel_size=1, bias=False)
        self.batch_norm = nn.BatchNorm2d(dim)
        self.activation = nn.ReLU(inplace=True)  # on the BatchNorm output, which BatchNorm's backward does not need
        self.dropout = nn.Dropout2d(config.classifier_dropout_prob)
        self.classifier = nn.Conv2d(dim, config.num_labels, kernel_size=1)

    def _batch_norm_affine(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The eval-mode BatchNorm as `(scale, shift)` `[D]` (`y = x * scale + shift`), or `None` when it normalises
        with batch statistics (training, or no running statistics)."""
        norm = self.batch_norm
        if norm.training or norm.running_mean is None or norm.running_var is None:
            return None
        scale = torch.rsqrt(norm.running_var + norm.eps)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale
        return scale, shift if norm.bias is None else shift + norm.bias

    def fuse(self, hidden_states: tuple[torch.Tensor, ...], kernels: MrcfaKernels = PLAIN_KERNELS) -> torch.Tensor:
        """Encoder maps `c1..c4` (`[N, hidden_sizes[i], h_i, w_i]`) -> fused map `F` `[N, D, h_1, w_1]`.

        In eval mode the BatchNorm (an affine map per channel then) is folded into the stage projections as well,
        which saves a pass over the 1/4-resolution map; in training it normalises with the batch statistics. The
        stage projections are `kernels.stage_projection` (a 1x1 convolution).
        """
        dim = self.linear_fuse.out_channels
        num_stages = len(self.linear_projections)
        fuse_weight = self.linear_fuse.weight.flatten(1)  # [D, num_stages * D], input blocks ordered c4, c3, c2, c1
        size = hidden_states[0].shape[-2:]
        affine = self._batch_norm_affine()
        fused = None
        for stage, (features, projection) in enumerate(zip(hidden_states, self.linear_projections)):
            block = fuse_weight[:, (num_stages - 1 - stage) * dim : (num_stages - stage) * dim]
            weight = block @ projection.weight  # [D, C_i]
            bias = block @ projection.bias  # [D]
            if affine is not None:
                weight, bias = weight * affine[0][:, None], bias * affine[0] + (affine[1] if stage == 0 else 0)
            stage_map = _resize(kernels.stage_projection(features, weight, bias), size)
            # in place: `fused` is a fresh convolution / upsampling output that nothing else holds (saves allocating
            # and first-touching a new 1/4-resolution map per stage)
            fused = stage_map if fused is None else fused.add_(stage_map)
        return self.activation(fused if affine is not None else self.batch_norm(fused))

    def classify(self, fused: torch.Tensor, kernels: MrcfaKernels = PLAIN_KERNELS) -> torch.Tensor:
        """`F` `[N, D, h, w]` -> per-frame logits `[N, C, h, w]` (contiguous, whatever the layout of `F`)."""
        return kernels.classify(self.classifier, self.dropout(fused)).contiguous()


class MrcfaSelectiveTokenMasking(nn.Module):
    """Selective Token Masking (STM).

    Scores every reference token by the sum of its `top_k` largest level-0 (1/32) affinities to the target tokens and
    keeps the `s = int(N_r * keep_ratio)` best tokens of each reference frame, **in increasing token order**. The same
    selection serves all three affinity levels and the value tokens (all reference levels share the 1/32 grid).
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        self.top_k = config.stm_top_k
        self.keep_ratio = config.stm_keep_ratio

    def num_kept(self, num_tokens: int) -> int:
        # max(1, int(num_tokens * keep_ratio)); the torch.sym_* forms stay symbolic under torch.export (an ONNX export
        # with dynamic sizes computes `s` from the input size instead of freezing the example's value)
        return torch.sym_max(1, torch.sym_int(num_tokens * self.keep_ratio))

    def forward(self, affinity: torch.Tensor) -> torch.Tensor:
        """`affinity` `[B, R, N_t, N_r]` -> indices of the kept reference tokens `[B, R, s]` (sorted)."""
        num_target, num_reference = affinity.shape[-2:]
        if num_target < self.top_k:
            raise ValueError(
                f"Selective Token Masking takes the top {self.top_k} of {num_target} target tokens at 1/32 "
                f"resolution: the input is too small (needs (H/32)*(W/32) >= {self.top_k})."
            )
        scores = affinity.topk(self.top_k, dim=-2).values.sum(dim=-2)  # [B, R, N_r]
        kept = scores.topk(self.num_kept(num_reference), dim=-1).indices
        return kept.sort(dim=-1).values


class MrcfaCrossFrameAffinity(nn.Module):
    """Cross-frame affinities at three levels, coarse to fine: level 0 = stage 4 (1/32), 1 = stage 3, 2 = stage 2.

    Target maps keep their native resolution (1/32, 1/16, 1/8); reference maps are brought to the 1/32 grid (stage 3
    by a k2 s2 convolution, stage 2 by a k4 s4 convolution). Each level has a linear map for the target tokens and one
    for the reference tokens; the affinity is their dot product (no scaling, no softmax).
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        c2, c3, c4 = config.hidden_sizes[1:4]
        self.reduce_stage3 = nn.Conv2d(c3, c3, kernel_size=2, stride=2)
        self.reduce_stage2 = nn.Conv2d(c2, c2, kernel_size=4, stride=4)
        self.target_projections = nn.ModuleList([nn.Linear(c, c) for c in (c4, c3, c2)])
        self.reference_projections = nn.ModuleList([nn.Linear(c, c) for c in (c4, c3, c2)])

    # Under autocast the token projections run in the parameters' dtype (float32), not in 16 bits: bf16 rounding of
    # the tokens moves the un-scaled affinity sums that Selective Token Masking ranks by about as much as the gaps
    # between its scores (fixture A: 0.6 on ~100), and the selection flips. They are a small part of the cost.
    def target_tokens(self, c2: torch.Tensor, c3: torch.Tensor, c4: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Target-side tokens per level: `([N, N_32, c4], [N, N_16, c3], [N, N_8, c2])`."""
        dtype = self.target_projections[0].weight.dtype
        with _autocast_off(c4):
            return tuple(proj(_tokens(x.to(dtype))) for proj, x in zip(self.target_projections, (c4, c3, c2)))

    def reference_tokens(self, c2: torch.Tensor, c3: torch.Tensor, c4: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Reference-side tokens per level, all on the 1/32 grid: `([N, N_32, c4], [N, N_32, c3], [N, N_32, c2])`."""
        with _autocast_off(c4):
            return self._reference_tokens(*(x.to(self.reduce_stage2.weight.dtype) for x in (c2, c3, c4)))

    def _reference_tokens(self, c2: torch.Tensor, c3: torch.Tensor, c4: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = (c4, self.reduce_stage3(c3), self.reduce_stage2(c2))
        if not maps[0].shape[-2:] == maps[1].shape[-2:] == maps[2].shape[-2:]:
            raise ValueError(
                f"reference grids differ ({[tuple(m.shape[-2:]) for m in maps]}): MRCFA needs an input size divisible "
                "by 32."
            )
        return tuple(proj(_tokens(x)) for proj, x in zip(self.reference_projections, maps))

    @staticmethod
    def affinity(target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """`target` `[B, N_t, c]`, `reference` `[B, R, N_r, c]` -> affinity `[B, R, N_t, N_r]`, float32.

        Always float32, also under autocast or for a half-precision model: the un-scaled dot products would overflow
        fp16 and lose the STM top-k order in bf16 (see `_autocast_off`).
        """
        with _autocast_off(target):
            return torch.matmul(target.float().unsqueeze(1), reference.float().transpose(-1, -2))

    @staticmethod
    def reference_major_affinity(target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The same dot products laid out reference-token first: `target` `[B, N_t, c]`, `reference` `[B, R, s, c]`
        -> `[B, R, s, N_t]`, float32.

        One matrix product `[B, R*s, c] @ [B, c, N_t]` (the target is shared by the references) whose result is
        already the `[B*R*s, 1, h, w]` stack of one-channel images that the refinement convolves: no transposed copy.
        """
        batch, refs, kept, channels = reference.shape
        with _autocast_off(target):
            product = torch.matmul(
                reference.float().reshape(batch, refs * kept, channels), target.float().transpose(1, 2)
            )
        return product.reshape(batch, refs, kept, -1)


class MrcfaAffinityConv(nn.Conv2d):
    """`nn.Conv2d` over many one- or two-channel affinity images (`[B*R*s, c, h, w]`): the refinement convolutions.

    The head runs them through its kernel implementation (`kernels.refinement_unit` / `kernels.affinity_conv`), whose
    CPU form computes them as depthwise passes (`MrcfaCpuKernels.affinity_conv`); called directly, it is the plain
    convolution. Parameters are those of `nn.Conv2d`.
    """


def _refinement_unit(layers: list[tuple[int, int, int]]) -> nn.Sequential:
    """A stack of (Conv2d k x k, padding k//2) -> GroupNorm(1 group) -> ReLU, one triple per `(in, out, k)`."""
    modules = []
    for in_channels, out_channels, kernel in layers:
        modules += [
            MrcfaAffinityConv(in_channels, out_channels, kernel_size=kernel, padding=kernel // 2),
            nn.GroupNorm(1, out_channels),
            nn.ReLU(inplace=True),  # on the GroupNorm output, which GroupNorm's backward does not need
        ]
    return nn.Sequential(*modules)


# (in, out, kernel) per layer: the three level units (levels 0, 1, 2), then the two mixing units (0->1, 1->2).
REFINEMENT_LAYOUTS = {
    "two_layer": (
        [(1, 1, 3), (1, 2, 3)],
        [(1, 1, 3), (1, 2, 3)],
        [(1, 1, 5), (1, 2, 3)],
        [(2, 2, 3), (2, 2, 3)],
        [(2, 2, 3), (2, 1, 3)],
    ),
    "single_layer": ([(1, 1, 3)], [(1, 1, 5)], [(1, 1, 5)], [(1, 1, 3)], [(1, 1, 3)]),
}


class MrcfaAffinityRefinement(nn.Module):
    """Single-scale Affinity Refinement (SAR).

    Each (batch, reference frame, kept token) affinity map over the target grid is a one-channel image
    `[B*R*s, 1, h, w]`; each level has its own small conv-GroupNorm-ReLU unit that refines it.
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        self.level_units = nn.ModuleList(
            [_refinement_unit(layers) for layers in REFINEMENT_LAYOUTS[config.refinement_layout][:3]]
        )

    def forward(
        self, affinities: tuple[torch.Tensor, ...], kernels: MrcfaKernels = PLAIN_KERNELS
    ) -> tuple[torch.Tensor, ...]:
        return tuple(self._refine(unit, a, kernels) for unit, a in zip(self.level_units, affinities))

    @staticmethod
    def _refine(unit: nn.Sequential, affinity: torch.Tensor, kernels: MrcfaKernels) -> torch.Tensor:
        # The raw (un-scaled) affinities can exceed fp16's range; the unit's first GroupNorm brings them back to unit
        # scale. So, under autocast, the first convolution and GroupNorm run in the parameters' dtype (float32; a
        # half-precision model runs them in its own dtype), the rest of the unit in mixed precision.
        with _autocast_off(affinity):
            refined = kernels.refinement_unit(unit[:2], affinity.to(unit[0].weight.dtype))
        return kernels.refinement_unit(unit[2:], refined)


class MrcfaMultiScaleAggregation(nn.Module):
    """Multi-scale Affinity Aggregation (MAA).

    The refined level-0 map is upsampled (bilinear, align_corners=True) to level 1, added and mixed by a unit; the
    result is upsampled to level 2 (1/8), added and mixed by a last unit into one channel.
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        self.mix_units = nn.ModuleList(
            [_refinement_unit(layers) for layers in REFINEMENT_LAYOUTS[config.refinement_layout][3:]]
        )

    def forward(self, refined: tuple[torch.Tensor, ...], kernels: MrcfaKernels = PLAIN_KERNELS) -> torch.Tensor:
        mixed = refined[0]
        for finer, unit in zip(refined[1:], self.mix_units):
            upsampled = _resize(mixed, finer.shape[-2:], align_corners=True)
            # in place into the fresh upsampled map (not into `mixed` itself when no upsampling was needed)
            mixed = kernels.refinement_unit(
                unit, upsampled.add_(finer) if upsampled is not mixed else upsampled + finer
            )
        return mixed


class MrcfaTemporalAggregation(nn.Module):
    """Temporal aggregation: reference features weighted by the refined affinity.

    Values are the fused per-frame maps `F` at 1/8 (`F8`) reduced to the 1/32 grid by a k4 s4 convolution; the kept
    reference tokens are averaged with `softmax(affinity)` over the kept tokens, giving one aggregated map per
    reference frame `[B, R, D, H/8, W/8]`.
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        dim = config.decoder_hidden_size
        self.value_reduction = nn.Conv2d(dim, dim, kernel_size=4, stride=4)

    def value_tokens(self, fused_eighth: torch.Tensor) -> torch.Tensor:
        """`F8` `[N, D, H/8, W/8]` -> value tokens `[N, N_32, D]`."""
        return _tokens(self.value_reduction(fused_eighth))

    def forward(self, affinity: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`affinity` `[B, R, N_8, s]` (before softmax), kept `values` `[B, R, s, D]` -> `[B, R, D, h8, w8]`."""
        # The softmax over the kept tokens and the weighted sum run in float32 under autocast (see `_autocast_off`);
        # the result comes back in the values' dtype.
        # Computed transposed, `values^T @ softmax(affinity)^T` `[B, R, D, N8]`: the affinity comes from the refinement
        # as `[B, R, s, N8]` (`affinity` is its transposed view) and the result is wanted as `[B, R, D, h8, w8]`, so
        # neither side needs a layout copy.
        with _autocast_off(values):
            weights = affinity.transpose(-1, -2).float().softmax(dim=-2)  # [B, R, s, N8]
            aggregated = torch.matmul(values.float().transpose(-1, -2), weights).to(values.dtype)  # [B, R, D, N8]
        batch, refs, dim, _ = aggregated.shape
        return aggregated.reshape(batch, refs, dim, *size)

    def target_input(self, affinity: torch.Tensor, values: torch.Tensor, target_eighth: torch.Tensor) -> torch.Tensor:
        """What the target decoder classifies, the mean over the references of `forward`'s output plus the target's
        `F8` `[B, D, h8, w8]`, without the per-reference maps.

        `F8 + (1/R) sum_r softmax(affinity_r) @ values_r` is one `baddbmm` over the `R*s` kept tokens of all references,
        token-major (`[B, N8, D]`, a view of a channels-last `F8`): streaming, which needs no reference logits, skips
        the `[B, R, D, h8, w8]` maps, their sum and the addition. The result has `F8`'s dtype (the sum runs in float32,
        see `_autocast_off`) and is channels-last.
        """
        batch, refs, kept, dim = values.shape
        height, width = target_eighth.shape[-2:]
        with _autocast_off(values):
            weights = affinity.transpose(-1, -2).float().softmax(dim=-2)  # [B, R, s, N8]
            weights = weights.reshape(batch, refs * kept, height * width).transpose(1, 2)  # [B, N8, R*s]
            base = target_eighth.float().permute(0, 2, 3, 1).reshape(batch, height * width, dim)  # [B, N8, D]
            summed = torch.baddbmm(base, weights, values.float().reshape(batch, refs * kept, dim), alpha=1 / refs)
        return summed.to(target_eighth.dtype).reshape(batch, height, width, dim).permute(0, 3, 1, 2)


class MrcfaEnsembleDecoders(nn.Module):
    """The ensemble of small decoders (Dropout2d + 1x1 conv).

    One decoder per reference frame classifies that frame's aggregated features; the target decoder classifies the
    mean of the aggregated references plus the target's own `F8`. Outputs are upsampled to the 1/4 grid.
    """

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        dim, classes, p = config.decoder_hidden_size, config.num_labels, config.ensemble_dropout_prob
        self.reference_decoders = nn.ModuleList(
            [nn.Sequential(nn.Dropout2d(p), nn.Conv2d(dim, classes, 1)) for _ in range(config.num_clips - 1)]
        )
        self.target_decoder = nn.Sequential(nn.Dropout2d(p), nn.Conv2d(dim, classes, 1))

    def forward(
        self, target_input: torch.Tensor, size: tuple[int, int], aggregated: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`target_input` (mean of the aggregated references plus the target's `F8`) `[B, D, h8, w8]`, optionally the
        aggregated references `[B, R, D, h8, w8]` -> (target logits `[B, C, h4, w4]`, reference logits
        `[B, R, C, h4, w4]`, or `None` without `aggregated`: the target prediction does not depend on them)."""
        references = None
        if aggregated is not None:
            references = torch.stack(
                [_resize(decoder(aggregated[:, r]), size) for r, decoder in enumerate(self.reference_decoders)], dim=1
            )
        target = _resize(self.target_decoder(target_input), size).contiguous()
        return target, references


@dataclass
class MrcfaFrameFeatures:
    """Per-frame results of the head, computed once per frame and reusable by every clip the frame belongs to.

    All tensors have a leading frame dimension `N`. `logits` `[N, C, H/4, W/4]` are the per-frame SegFormer logits;
    target-side fields exist when the frame may be a target, reference-side fields when it may be a reference.
    """

    logits: torch.Tensor | None = None
    fused_eighth: torch.Tensor | None = None  # F8 [N, D, H/8, W/8]
    target_tokens: tuple[torch.Tensor, ...] | None = None  # ([N, N32, c4], [N, N16, c3], [N, N8, c2])
    reference_tokens: tuple[torch.Tensor, ...] | None = None  # 3 x [N, N32, c_l]
    value_tokens: torch.Tensor | None = None  # [N, N32, D]

    def index(self, idx) -> MrcfaFrameFeatures:
        """Frames `idx` (an int, slice or index tensor) of every field."""
        return self._map(lambda t: t[idx])

    def unflatten(self, batch: int, frames: int) -> MrcfaFrameFeatures:
        """Every field's leading `batch * frames` dimension split into `[batch, frames]` (views, no copy)."""
        return self._map(lambda t: t.unflatten(0, (batch, frames)))

    def _map(self, function) -> MrcfaFrameFeatures:
        """`function` applied to every tensor of every field (tuples element by element; `None` stays `None`)."""

        def apply(v):
            if v is None:
                return None
            if isinstance(v, tuple):
                return tuple(function(t) for t in v)
            return function(v)

        return MrcfaFrameFeatures(**{f.name: apply(getattr(self, f.name)) for f in fields(self)})

    @staticmethod
    def cat(items: list[MrcfaFrameFeatures]) -> MrcfaFrameFeatures:
        """Concatenate features along the frame dimension."""
        return MrcfaFrameFeatures._join(items, torch.cat)

    @staticmethod
    def stack(items: list[MrcfaFrameFeatures], dim: int = 0) -> MrcfaFrameFeatures:
        """Stack single-frame features (each without the frame dim) along a new `dim`."""
        return MrcfaFrameFeatures._join(items, lambda tensors: torch.stack(tensors, dim=dim))

    @staticmethod
    def _join(items: list[MrcfaFrameFeatures], combine) -> MrcfaFrameFeatures:
        """Each field of `items` combined by `combine` (a list of tensors -> tensor), tuples element by element."""

        def join(values):
            if values[0] is None:
                return None
            if isinstance(values[0], tuple):
                return tuple(combine([v[i] for v in values]) for i in range(len(values[0])))
            return combine(values)

        return MrcfaFrameFeatures(
            **{f.name: join([getattr(i, f.name) for i in items]) for f in fields(MrcfaFrameFeatures)}
        )


@dataclass
class MrcfaClipOutput:
    """Per-clip outputs of the head (eval semantics; all at the 1/4 grid except the affinity at 1/8)."""

    logits: torch.Tensor  # [B, C, h4, w4]: the ensemble prediction for the target frame
    reference_logits: torch.Tensor | None  # [B, R, C, h4, w4] (None when not asked for)
    stm_indices: torch.Tensor  # [B, R, s]: kept reference tokens (sorted)
    affinity: torch.Tensor  # [B, R, N8, s]: refined affinity before the softmax


class MrcfaHead(nn.Module):
    """The MRCFA decode head: per-frame SegFormer decoder + STM, SAR, MAA, temporal aggregation and ensemble."""

    def __init__(self, config: MrcfaConfig):
        super().__init__()
        self.config = config
        self.frame_decoder = MrcfaFrameDecoder(config)
        self.cross_frame_affinity = MrcfaCrossFrameAffinity(config)
        self.token_selection = MrcfaSelectiveTokenMasking(config)
        self.affinity_refinement = MrcfaAffinityRefinement(config)
        self.multi_scale_aggregation = MrcfaMultiScaleAggregation(config)
        self.temporal_aggregation = MrcfaTemporalAggregation(config)
        self.ensemble = MrcfaEnsembleDecoders(config)
        #: affinity images refined together by the CPU kernels (`refine_affinities`); a speed setting, not a model
        #: parameter
        self.refinement_chunk_size = 64

    def kernels_for(self, like: torch.Tensor) -> MrcfaKernels:
        """The kernel implementation `config.kernel_implementation` names for a call on tensors like `like`."""
        return kernels_for(self.config.kernel_implementation, like)

    def frame_features(
        self,
        hidden_states: tuple[torch.Tensor, ...],
        *,
        as_target: bool = True,
        as_reference: bool = True,
        frame_logits: bool = True,
        kernels: MrcfaKernels | None = None,
    ) -> tuple[MrcfaFrameFeatures, torch.Tensor]:
        """Everything the head computes per frame, from the encoder maps `c1..c4` `[N, hidden_sizes[i], h_i, w_i]`.

        Returns the features and the fused map `F` `[N, D, H/4, W/4]` (before dropout). With `frame_logits=False` the
        per-frame logits are left out (`logits` is None; streaming needs them only for frames predicted alone).
        `kernels` defaults to the implementation `config.kernel_implementation` names.
        """
        if kernels is None:
            kernels = self.kernels_for(hidden_states[0])
        c1, c2, c3, c4 = hidden_states
        fused = self.frame_decoder.fuse(hidden_states, kernels)
        features = MrcfaFrameFeatures(logits=self.frame_decoder.classify(fused, kernels) if frame_logits else None)
        if as_target or as_reference:
            h4, w4 = fused.shape[-2:]
            features.fused_eighth = _resize(fused, (h4 // 2, w4 // 2))
        if as_target:
            features.target_tokens = self.cross_frame_affinity.target_tokens(c2, c3, c4)
        if as_reference:
            features.reference_tokens = self.cross_frame_affinity.reference_tokens(c2, c3, c4)
            features.value_tokens = self.temporal_aggregation.value_tokens(features.fused_eighth)
        return features, fused

    def refine_affinities(self, images: tuple[torch.Tensor, ...], kernels: MrcfaKernels | None = None) -> torch.Tensor:
        """SAR then MAA over the affinity images of the three levels (`[M, 1, h_l, w_l]`) -> `[M, 1, h8, w8]`.

        Every image is refined on its own, so `kernels.refine_affinities` may run them in chunks of
        `refinement_chunk_size` images (the CPU kernels do). `kernels` defaults to the implementation
        `config.kernel_implementation` names.
        """
        if kernels is None:
            kernels = self.kernels_for(images[0])

        def refine(stack: tuple[torch.Tensor, ...]) -> torch.Tensor:
            return self.multi_scale_aggregation(self.affinity_refinement(stack, kernels), kernels)

        return kernels.refine_affinities(refine, images, self.refinement_chunk_size)

    def clip_forward(
        self,
        target: MrcfaFrameFeatures,
        references: MrcfaFrameFeatures,
        size: tuple[int, int],
        *,
        reference_logits: bool = True,
        kernels: MrcfaKernels | None = None,
    ) -> MrcfaClipOutput:
        """The temporal part for a batch of clips.

        Args:
            target: target-side features of the target frames (leading dim `B`).
            references: reference-side features of the reference frames (leading dims `[B, R]`).
            size: the 1/4 grid `(H/4, W/4)`.
            reference_logits: whether to compute the reference decoders' logits (streaming only needs the target's).
            kernels: the kernel implementation (`kernels_mrcfa.py`); defaults to the one `config.kernel_implementation`
                names.
        """
        if kernels is None:
            kernels = self.kernels_for(target.fused_eighth)
        q0, q1, q2 = target.target_tokens
        k0, k1, k2 = references.reference_tokens
        batch, refs = k0.shape[:2]
        h8, w8 = target.fused_eighth.shape[-2:]
        grids = ((h8 // 4, w8 // 4), (h8 // 2, w8 // 2), (h8, w8))

        affinity0 = MrcfaCrossFrameAffinity.affinity(q0, k0)  # [B, R, N32, N_r]
        kept = self.token_selection(affinity0)  # [B, R, s]
        num_kept = kept.shape[-1]

        def select(tokens: torch.Tensor) -> torch.Tensor:  # [B, R, N_r, c] -> [B, R, s, c]
            return tokens.gather(2, kept.unsqueeze(-1).expand(-1, -1, -1, tokens.shape[-1]))

        # reference-token-major [B, R, s, N_l] -> one-channel images [B*R*s, 1, h_l, w_l]
        affinities = (
            affinity0.gather(3, kept.unsqueeze(2).expand(-1, -1, affinity0.shape[2], -1)).transpose(-1, -2),
            MrcfaCrossFrameAffinity.reference_major_affinity(q1, select(k1)),
            MrcfaCrossFrameAffinity.reference_major_affinity(q2, select(k2)),
        )
        images = tuple(a.reshape(batch * refs * num_kept, 1, *grid) for a, grid in zip(affinities, grids))
        refined = self.refine_affinities(images, kernels)
        affinity = refined.reshape(batch, refs, num_kept, h8 * w8).transpose(-1, -2)  # [B, R, N8, s]

        values = select(references.value_tokens)
        if reference_logits:
            aggregated = self.temporal_aggregation(affinity, values, (h8, w8))
            target_input = aggregated.sum(dim=1) / refs + target.fused_eighth
        else:
            aggregated = None
            target_input = self.temporal_aggregation.target_input(affinity, values, target.fused_eighth)
        logits, reference_logits = self.ensemble(target_input, size, aggregated)
        return MrcfaClipOutput(logits=logits, reference_logits=reference_logits, stm_indices=kept, affinity=affinity)
