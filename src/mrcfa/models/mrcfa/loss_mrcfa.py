# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The pixel loss of MRCFA: cross-entropy of logits resized to the labels' size, averaged over every pixel.

Training spends much of a step here: the logits `[N, C, H/4, W/4]` are resized to the labels' full resolution, and
the resized logits, their log-softmax and the gradients of both are each `N x C x H x W` floats (VSPW, 124 classes,
4 + 4 maps of 480x480: ~0.9 GB each). `upsampled_cross_entropy` computes the same loss and the same gradient one
image at a time and keeps only the gradient at the logits' own resolution (16x smaller), so that none of those
full-resolution tensors outlives its image, and the backward pass is one multiplication. See docs/design.md, "Loss".
The layout each image is resized in is a piece of the kernel implementation (`kernels_mrcfa.py`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .kernels_mrcfa import MrcfaKernels, kernels_for
from .modeling_mrcfa_head import _resize

__all__ = ["mean_cross_entropy", "upsampled_cross_entropy"]


class _UpsampledCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of `resize(logits)` against `labels`, with its gradient computed in the forward pass.

    Per image: resize, log-softmax, the loss of the valid pixels, then (when a gradient is needed) the gradient with
    respect to the resized logits, `(softmax - one_hot(label)) * valid / pixels`, written over the log-softmax, and
    taken back through the resize with autograd. What is kept for backward is that gradient at the logits'
    resolution; backward scales it by the incoming gradient.

    Each image is resized in the layout `kernels.loss_logits` gives it, and `scores` is the resized logits with the
    classes in dimension `kernels.loss_class_dim`: `[1, C, H, W]` in the plain form, the `[1, H, W, C]` view of a
    channels-last map in the CPU form.
    """

    @staticmethod
    def forward(
        ctx, logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, needs_grad: bool, kernels: MrcfaKernels
    ):
        size = tuple(labels.shape[-2:])
        pixels = labels.numel()  # the mean is over every pixel, ignored ones included (mmseg's reduction)
        total = logits.new_zeros(())
        grad = torch.empty_like(logits) if needs_grad else None
        dim = kernels.loss_class_dim  # the class dimension of `scores`
        for i in range(logits.shape[0]):
            image_labels = labels[i : i + 1]
            valid = image_labels != ignore_index
            target = torch.where(valid, image_labels, 0).unsqueeze(dim)  # `scores`' shape with one class
            with torch.enable_grad():
                leaf = kernels.loss_logits(logits[i : i + 1].detach())
                leaf.requires_grad_(needs_grad)
                resized = _resize(leaf, size)  # [1, C, H, W]
            scores = resized.detach().movedim(1, dim)
            log_probs = torch.log_softmax(scores, dim=dim)
            picked = log_probs.gather(dim, target).squeeze(dim)
            total -= torch.where(valid, picked, 0).sum()
            if needs_grad:
                grad_scores = log_probs.exp_()  # softmax, in place of the log-softmax
                grad_scores.scatter_add_(dim, target, torch.full_like(picked, -1.0).unsqueeze(dim))
                grad_scores.mul_(valid.unsqueeze(dim).to(grad_scores.dtype) / pixels)
                grad_resized = grad_scores.movedim(dim, 1)
                if resized is leaf:
                    grad[i : i + 1] = grad_resized
                else:
                    (grad[i : i + 1],) = torch.autograd.grad(resized, leaf, grad_resized)
        if needs_grad:
            ctx.save_for_backward(grad)
        return total / pixels

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_output, None, None, None, None


def upsampled_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, kernels: MrcfaKernels | None = None
) -> torch.Tensor:
    """`F.cross_entropy(resize(logits), labels, ignore_index=ignore_index, reduction="none").mean()` with the same
    value and gradient (within float32 rounding), computed one image at a time.

    Args:
        logits (`torch.FloatTensor` of shape `[N, C, h, w]`): float32 class scores.
        labels (`torch.LongTensor` of shape `[N, H, W]`): class ids, `ignore_index` for ignored pixels.
        kernels (`MrcfaKernels`, *optional*): the kernel implementation; defaults to `kernels_for("auto", logits)`.
    """
    if kernels is None:
        kernels = kernels_for("auto", logits)
    needs_grad = torch.is_grad_enabled() and logits.requires_grad
    return _UpsampledCrossEntropy.apply(logits, labels, ignore_index, needs_grad, kernels)


def mean_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int, kernels: MrcfaKernels | None = None
) -> torch.Tensor:
    """Cross-entropy of `logits` `[N, C, h, w]` (resized bilinearly to the labels' size) against `labels` `[N, H, W]`,
    averaged over **all** pixels, ignored ones included (they contribute 0): mmseg's reduction.

    With one channel (`C == 1`, binary segmentation) it is the binary cross-entropy with logits of that channel
    against labels 0 / 1, as transformers' `SegformerForSemanticSegmentation` computes it (same reduction).

    Computed in float32 whatever the logits' dtype (bf16 / fp16 under mixed precision), resize included, as mmseg's
    `force_fp32` losses do: a 16-bit log-softmax and mean over every pixel lose the loss's precision. Several classes
    go through `upsampled_cross_entropy` (one image at a time, with `kernels`); under `torch.compile` the plain
    composition of `F.interpolate` and `F.cross_entropy` is traced instead.
    """
    logits = logits.float()
    if logits.shape[1] == 1:
        logits = _resize(logits, tuple(labels.shape[-2:]))
        valid = (labels != ignore_index).to(logits.dtype)
        target = labels.to(logits.dtype) * valid  # ignored pixels: any value, they are masked out
        loss = F.binary_cross_entropy_with_logits(logits[:, 0], target, reduction="none")
        return (loss * valid).mean()
    if torch.compiler.is_compiling():
        resized = _resize(logits, tuple(labels.shape[-2:]))
        return F.cross_entropy(resized, labels, ignore_index=ignore_index, reduction="none").mean()
    return upsampled_cross_entropy(logits, labels, ignore_index, kernels)
