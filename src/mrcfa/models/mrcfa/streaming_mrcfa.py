# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Streaming video segmentation: every frame is encoded once, its per-frame features are cached while future clips
still need them, and every frame is predicted with the official test-time clip (docs/design.md, "Streaming inference"
and "Clips").

Frame `i` of a video is predicted from the clip `test_clip_indices(i)` (video_clips_mrcfa.py): frames 0-2 alone (the plain
per-frame SegFormer logits), frames 3-8 with the official fixed clips, frame `i >= 9` with `[i-9, i-6, i-3, i]`. The
results equal running `model(clip)` on each clip separately (up to float rounding, <= 1e-5), at the cost of one
encoder pass per frame instead of one per clip frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from .modeling_mrcfa import MrcfaForVideoSemanticSegmentation
from .modeling_mrcfa_head import MrcfaFrameFeatures
from .video_clips_mrcfa import test_clip_indices
from .video_io_mrcfa import iter_frames

__all__ = ["StreamingVideoSegmenter", "segment_video"]


class StreamingVideoSegmenter:
    """Segments one video frame by frame with the official test-time clips, encoding each frame once.

    Feed frames with [`push`] (one or several at a time; several are encoded as one batch) and read the predictions
    it returns, in frame order; call [`reset`] before a new video. The cache holds the features of at most the frames
    that future clips still need (10 frames for the official offsets), whatever the video length.

    Args:
        model: an `MrcfaForVideoSemanticSegmentation` (put in eval mode by the segmenter, moved to `device` when one
            is given), or an object with the same streaming interface that is not an `nn.Module` (`config`,
            `encode_frames`, `decode_head.clip_forward`, `device` and `dtype` attributes; e.g.
            `mrcfa.onnx_runtime.OnnxStreamingModel`, the ONNX Runtime export).
        processor: an `MrcfaImageProcessor` to preprocess raw frames (PIL / numpy / tensor), or `None` when frames are
            already preprocessed `[3, H, W]` tensors (H and W divisible by 32).
        output: `"labels"` for `[H, W]` int64 label maps at the original frame size (the input size when
            `processor is None`), or `"logits"` for `[C, H/4, W/4]` logits of the model's input (as `model(clip).logits`).
    """

    def __init__(
        self,
        model: MrcfaForVideoSemanticSegmentation,
        processor=None,
        *,
        output: Literal["labels", "logits"] = "labels",
        device: str | torch.device | None = None,
    ):
        if output not in ("labels", "logits"):
            raise ValueError(f"output must be 'labels' or 'logits', got {output!r}.")
        if not hasattr(model, "decode_head") or not hasattr(model.decode_head, "clip_forward"):
            raise TypeError(f"segment_video needs an MRCFA model, got {type(model).__name__}.")
        self.model = model.eval()
        self.processor = processor
        self.output = output
        if isinstance(model, torch.nn.Module):
            parameter = next(model.parameters())
            self.device = torch.device(device) if device is not None else parameter.device
            if self.device != parameter.device:
                self.model.to(self.device)
            self.dtype = parameter.dtype
        else:  # a runner (e.g. ONNX Runtime) with its own device
            self.device, self.dtype = torch.device(model.device), model.dtype
            if device is not None and torch.device(device) != self.device:
                raise ValueError(f"{type(model).__name__} runs on {self.device}, not on the requested {device}.")
        self.offsets = tuple(model.config.reference_offsets)
        self.horizon = -self.offsets[0]
        self.reset()

    def reset(self) -> None:
        """Forget the current video (call between videos)."""
        self._cache: dict[int, MrcfaFrameFeatures] = {}
        self._next_index = 0
        self._input_size: tuple[int, int] | None = None

    @property
    def cached_frames(self) -> list[int]:
        """Indices of the frames whose features are currently cached."""
        return sorted(self._cache)

    def _still_needed(self, frame: int, next_target: int) -> bool:
        return any(frame in test_clip_indices(t, self.offsets) for t in range(next_target, frame + self.horizon + 1))

    def _reject_non_finite(self, bad: list[int]) -> None:
        if bad:
            bad = [self._next_index + k for k in bad]
            raise ValueError(
                f"frame {bad[0]} of the video has NaN or infinite pixel values"
                f"{f' (frames {bad})' if len(bad) > 1 else ''}: every pixel must be a finite number."
            )

    def _prepare(self, frames: list[Any]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        # raw frames first (the error names the frame of the video, not its place in the processor's batch), then
        # the model's input (a processor can make infinite values, e.g. with an image_std of 0)
        self._reject_non_finite([k for k, frame in enumerate(frames) if _has_non_finite(frame)])
        if self.processor is None:
            for frame in frames:
                if not isinstance(frame, torch.Tensor) or frame.ndim != 3 or frame.shape[0] != 3:
                    raise ValueError(
                        "without a processor, frames must be preprocessed [3, H, W] tensors, got "
                        f"{type(frame).__name__} {tuple(getattr(frame, 'shape', ()))}."
                    )
            pixel_values = torch.stack(list(frames))
            sizes = [tuple(pixel_values.shape[-2:])] * len(frames)
        else:
            inputs = self.processor(images=list(frames), return_tensors="pt")
            pixel_values = inputs["pixel_values"]
            sizes = [tuple(size) for size in inputs["original_sizes"].tolist()]
        finite = torch.isfinite(pixel_values).flatten(1).all(dim=1)
        if not bool(finite.all()):
            self._reject_non_finite((~finite).nonzero().flatten().tolist())
        if self._input_size is None:
            self._input_size = tuple(pixel_values.shape[-2:])
        elif tuple(pixel_values.shape[-2:]) != self._input_size:
            raise ValueError(
                f"frame {self._next_index} has input size {tuple(pixel_values.shape[-2:])} but earlier frames of this "
                f"video have {self._input_size}: all frames of a video must have the same size."
            )
        return pixel_values.to(self.device, dtype=self.dtype), sizes

    @torch.no_grad()
    def push(self, frames: list[Any]) -> list[torch.Tensor]:
        """Add the next frame(s) of the video; returns their predictions, in order."""
        if not frames:
            return []
        pixel_values, sizes = self._prepare(frames)
        first = self._next_index
        indices = list(range(first, first + len(frames)))
        if isinstance(self.model, torch.nn.Module):
            # the per-frame logits serve only the frames predicted alone (the first ones of a video)
            alone = any(len(test_clip_indices(index, self.offsets)) == 1 for index in indices)
            features, _, _ = self.model.encode_frames(
                pixel_values, frame_logits=alone, return_fused_map=False, return_encoder_outputs=False
            )
        else:  # a runner (e.g. ONNX Runtime) computes them always
            features, _, _ = self.model.encode_frames(pixel_values)
        for k in range(len(frames)):
            self._cache[first + k] = features.index(k)
        self._next_index = first + len(frames)

        logits: dict[int, torch.Tensor] = {}
        clip_targets = []
        for index in indices:
            clip = test_clip_indices(index, self.offsets)
            if len(clip) == 1:
                logits[index] = self._cache[index].logits
            else:
                clip_targets.append((index, clip))
        # Encoding is batched; the temporal head runs one clip at a time: its [B*R*s, c, H/8, W/8] affinity maps are
        # memory-bound, and one clip's maps stay in cache (batching clips made it ~3x slower per frame on CPU).
        for index, clip in clip_targets:
            target = MrcfaFrameFeatures.stack([self._cache[index]])
            references = MrcfaFrameFeatures.stack([MrcfaFrameFeatures.stack([self._cache[j] for j in clip[:-1]])])
            size = (2 * target.fused_eighth.shape[-2], 2 * target.fused_eighth.shape[-1])  # the 1/4 grid
            logits[index] = self._clip_logits(target, references, size)

        for frame in list(self._cache):
            if not self._still_needed(frame, self._next_index):
                del self._cache[frame]
            elif frame in logits:  # predicted: from now on the frame only serves as a reference
                cached = self._cache[frame]
                self._cache[frame] = MrcfaFrameFeatures(
                    reference_tokens=cached.reference_tokens, value_tokens=cached.value_tokens
                )
        return [self._finish(logits[i], size) for i, size in zip(indices, sizes)]

    def _clip_logits(
        self, target: MrcfaFrameFeatures, references: MrcfaFrameFeatures, size: tuple[int, int]
    ) -> torch.Tensor:
        head = self.model.decode_head
        if isinstance(self.model, torch.nn.Module):  # only the target's logits are used: skip the reference decoders
            return head.clip_forward(target, references, size, reference_logits=False).logits[0]
        return head.clip_forward(target, references, size).logits[0]

    def _finish(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.output == "logits":
            return logits
        if self.processor is not None:
            return self.processor.post_process_semantic_segmentation(
                SimpleNamespace(logits=logits[None]), target_sizes=[size], input_sizes=[self._input_size]
            )[0]
        return F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0].argmax(0)


def _has_non_finite(frame: Any) -> bool:
    """Whether a raw frame holds NaN or infinite values (float tensors and arrays; PIL images and integers cannot)."""
    if isinstance(frame, torch.Tensor):
        return (frame.is_floating_point() or frame.is_complex()) and not bool(torch.isfinite(frame).all())
    if isinstance(frame, np.ndarray):
        return frame.dtype.kind in "fc" and not bool(np.isfinite(frame).all())
    return False


def segment_video(
    model: MrcfaForVideoSemanticSegmentation,
    frames: Iterable[Any],
    *,
    processor=None,
    output: Literal["labels", "logits"] = "labels",
    batch_size: int = 1,
    device: str | torch.device | None = None,
    with_frames: bool = False,
) -> Iterator[torch.Tensor] | Iterator[tuple[Any, torch.Tensor]]:
    """Segment a video; yields one result per frame, in order, as soon as it is known.

    Args:
        model: an `MrcfaForVideoSemanticSegmentation`, or a runner with the same streaming interface (e.g.
            `mrcfa.onnx_runtime.OnnxStreamingModel`; see `StreamingVideoSegmenter`).
        frames: the path of a video file (PyAV), of a folder of frames or of a VSPW video folder (`origin/`), or any
            iterable of frames (a list, a generator, a decoded video of unknown length). Raw frames (PIL images,
            `[H, W, 3]` arrays) need a `processor`; with `processor=None` they must be preprocessed `[3, H, W]`
            tensors.
        processor: an `MrcfaImageProcessor` (the official test preprocessing), or `None`.
        output: `"labels"` (`[H, W]` int64 label maps at each frame's original size) or `"logits"`
            (`[num_labels, H'/4, W'/4]`, identical to `model(clip).logits` for that frame's official clip).
        batch_size: frames encoded together (faster on CPU and GPU; results do not depend on it).
        device: where to run (defaults to the model's device).
        with_frames: yield `(frame, result)` pairs instead of the results alone, `frame` being the input frame as read
            from `frames` (the same object; for a path, the RGB PIL image decoded from the video).

    Each frame is encoded once; the per-frame features that later clips reuse are cached, and the cache never holds
    more than the 10 most recent frames (official offsets -9, -6, -3).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if isinstance(frames, (str, os.PathLike)):
        frames = iter_frames(frames)  # the same inputs as the video pipeline
    elif isinstance(frames, (torch.Tensor, np.ndarray)) and frames.ndim == 3 or not isinstance(frames, Iterable):
        raise TypeError(
            "segment_video takes a video: the path of a video file, of a folder of frames or of a VSPW video folder, "
            f"or an iterable of frames (PIL images, [H, W, 3] arrays or [3, H, W] tensors); got {type(frames).__name__}"
            f"{f' of shape {tuple(frames.shape)} (one frame? pass [frame])' if hasattr(frames, 'shape') else ''}."
        )
    segmenter = StreamingVideoSegmenter(model, processor, output=output, device=device)
    pending: list[Any] = []
    count = 0
    for frame in frames:
        pending.append(frame)
        count += 1
        if len(pending) == batch_size:
            results = segmenter.push(pending)
            yield from zip(pending, results) if with_frames else results
            pending = []
    if pending:
        results = segmenter.push(pending)
        yield from zip(pending, results) if with_frames else results
    if count == 0:
        raise ValueError("the video has no frames.")
