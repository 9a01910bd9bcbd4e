# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Streaming video segmentation of raw frames: `segment_video` and `StreamingVideoSegmenter`, thin loops over the
session of session_mrcfa.py (docs/design.md, "Streaming inference" and "Clips").

Frame `i` of a video is predicted from the clip `test_clip_indices(i)` (video_clips_mrcfa.py): frames 0-2 alone (the plain
per-frame SegFormer logits), frames 3-8 with the official fixed clips, frame `i >= 9` with `[i-9, i-6, i-3, i]`. The
results equal running `model(clip)` on each clip separately (up to float rounding, <= 1e-5), at the cost of one
encoder pass per frame instead of one per clip frame. Here raw frames go through the processor (one at a time, so that
an error names the frame of the video), are pushed with `model(inference_session=session, frame=pixel_values)`, and
their logits come back as label maps at the frame's original size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from .session_mrcfa import MrcfaStreamingBackend, MrcfaVideoInferenceSession
from .video_io_mrcfa import iter_frames

__all__ = ["StreamingVideoSegmenter", "segment_video"]


class StreamingVideoSegmenter:
    """Segments one video's raw frames as they come: processor, session step, post-processing.

    Feed frames with [`push`] (one or several at a time; several are encoded as one batch) and read the predictions
    it returns, in frame order; call [`reset`] before a new video. Its `session` (an `MrcfaVideoInferenceSession`)
    caches the features of at most the frames that future clips still need (9 frames for the official offsets),
    whatever the video length.

    Args:
        model: an `MrcfaStreamingBackend`: an `MrcfaForVideoSemanticSegmentation` (put in eval mode, moved to
            `device` when one is given) or `mrcfa.onnx_runtime.OnnxStreamingModel` (the ONNX Runtime export).
        processor: an `MrcfaImageProcessor` to preprocess raw frames (PIL / numpy / tensor), or `None` when frames are
            already preprocessed `[3, H, W]` tensors (H and W divisible by 32).
        output: `"labels"` for `[H, W]` int64 label maps at the original frame size (the input size when
            `processor is None`), or `"logits"` for `[C, H/4, W/4]` logits of the model's input (as `model(clip).logits`).
        device: where to run (defaults to the model's device).
    """

    def __init__(
        self,
        model: MrcfaStreamingBackend,
        processor=None,
        *,
        output: Literal["labels", "logits"] = "labels",
        device: str | torch.device | None = None,
    ):
        if output not in ("labels", "logits"):
            raise ValueError(f"output must be 'labels' or 'logits', got {output!r}.")
        if not isinstance(model, MrcfaStreamingBackend):
            raise TypeError(
                "segment_video needs an MRCFA model (MrcfaForVideoSemanticSegmentation or "
                f"mrcfa.onnx_runtime.OnnxStreamingModel), got {type(model).__name__}."
            )
        if isinstance(model, torch.nn.Module):
            model.eval()
            if device is not None and torch.device(device) != model.device:
                model.to(device)
        elif device is not None and torch.device(device) != torch.device(model.device):
            raise ValueError(f"{type(model).__name__} runs on {model.device}, not on the requested {device}.")
        self.model = model
        self.processor = processor
        self.output = output
        self.session = MrcfaVideoInferenceSession(inference_device=model.device, dtype=model.dtype)

    def reset(self) -> None:
        """Forget the current video (call between videos)."""
        self.session.reset_inference_session()

    @property
    def cached_frames(self) -> list[int]:
        """Indices of the frames whose features are currently cached."""
        return self.session.cached_frame_indices

    def _prepare(self, frames: list[Any]) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        """Pixel values `[3, H, W]` and original sizes of raw frames (the frames themselves without a processor)."""
        if self.processor is None:
            return frames, [tuple(getattr(frame, "shape", (0, 0))[-2:]) for frame in frames]
        pixel_values, sizes = [], []
        for k, frame in enumerate(frames):
            # one frame at a time: the processor's errors (e.g. NaN pixels) then name the frame of the video
            try:
                inputs = self.processor(images=[frame], return_tensors="pt")
            except ValueError as err:
                raise ValueError(f"frame {self.session.next_frame_idx + k} of the video: {err}") from err
            pixel_values.append(inputs["pixel_values"][0])
            sizes.append(tuple(inputs["original_sizes"][0].tolist()))
        return pixel_values, sizes

    def push(self, frames: list[Any]) -> list[torch.Tensor]:
        """Add the next frame(s) of the video; returns their predictions, in order."""
        if not frames:
            return []
        pixel_values, sizes = self._prepare(list(frames))
        logits = self.model(inference_session=self.session, frame=pixel_values).logits
        return [self._finish(frame_logits, size) for frame_logits, size in zip(logits, sizes)]

    def _finish(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.output == "logits":
            return logits
        if self.processor is not None:
            return self.processor.post_process_semantic_segmentation(
                SimpleNamespace(logits=logits[None]), target_sizes=[size], input_sizes=[self.session.input_size]
            )[0]
        return F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)[0].argmax(0)


def segment_video(
    model: MrcfaStreamingBackend,
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
        model: an `MrcfaForVideoSemanticSegmentation`, or another `MrcfaStreamingBackend` (e.g.
            `mrcfa.onnx_runtime.OnnxStreamingModel`).
        frames: the path of a video file (PyAV), of a folder of frames or of a VSPW video folder (`origin/`), or any
            iterable of frames (a list, a generator, a decoded video of unknown length). Raw frames (PIL images,
            `[H, W, 3]` arrays) need a `processor`; with `processor=None` they must be preprocessed `[3, H, W]`
            tensors.
        processor: an `MrcfaImageProcessor` (the official test preprocessing), or `None`.
        output: `"labels"` (`[H, W]` int64 label maps at each frame's original size) or `"logits"`
            (`[num_labels, H'/4, W'/4]`, identical to `model(clip).logits` for that frame's official clip).
        batch_size: frames encoded together (faster on CPU and GPU; results do not depend on it).
        device: where to run (defaults to the model's device).
        with_frames: yield `(frame, result)` pairs, each frame as `frames` gave it (e.g. the decoded PIL image of a
            video file), instead of the results alone.

    A loop over an `MrcfaVideoInferenceSession` (`model(inference_session=session, frame=pixel_values)`): each frame
    is encoded once; the per-frame features that later clips reuse are cached, and the cache never holds more than
    the 9 frames before the next one (official offsets -9, -6, -3).
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

    def push(pending: list[Any]):
        results = segmenter.push(pending)
        return zip(pending, results) if with_frames else results

    pending: list[Any] = []
    count = 0
    for frame in frames:
        pending.append(frame)
        count += 1
        if len(pending) == batch_size:
            yield from push(pending)
            pending = []
    if pending:
        yield from push(pending)
    if count == 0:
        raise ValueError("the video has no frames.")
