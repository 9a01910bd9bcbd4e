# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Streaming video segmentation of raw frames: `segment_video` and `StreamingVideoSegmenter`, thin loops over the
session of session_mrcfa.py, and `segment_videos`, several videos streamed in lockstep as one batch
(docs/design.md, "Streaming inference" and "Clips").

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
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import torch
from torch.nn import functional as F

from .session_mrcfa import MrcfaStreamError, MrcfaStreamingBackend, MrcfaVideoInferenceSession, streaming_step_batch
from .video_io_mrcfa import iter_frames

__all__ = [
    "StreamingVideoSegmenter",
    "VideoEvent",
    "VideoFailed",
    "VideoFinished",
    "VideoFrameResult",
    "segment_video",
    "segment_videos",
]


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

    def _prepare(self, frames: list[Any], offset: int = 0) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        """Pixel values `[3, H, W]` and original sizes of raw frames (the frames themselves without a processor);
        `frames[0]` is the frame `offset` frames after the session's next one."""
        if self.processor is None:
            return frames, [tuple(getattr(frame, "shape", (0, 0))[-2:]) for frame in frames]
        pixel_values, sizes = [], []
        for k, frame in enumerate(frames):
            # one frame at a time: the processor's errors (e.g. NaN pixels) then name the frame of the video
            try:
                inputs = self.processor(images=[frame], return_tensors="pt")
            except ValueError as err:
                raise ValueError(f"frame {self.session.next_frame_idx + offset + k} of the video: {err}") from err
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
    frames = _video_frames(frames, "segment_video takes a video")
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


def _video_frames(video: Any, what: str) -> Iterator[Any]:
    """An iterator over the frames of `video` (a path read lazily, or an iterable of frames), or a `TypeError`
    that starts with `what` and says what a video is."""
    if isinstance(video, (str, os.PathLike)):
        return iter_frames(video)  # the same inputs as the video pipeline
    if isinstance(video, (torch.Tensor, np.ndarray)) and video.ndim == 3 or not isinstance(video, Iterable):
        raise TypeError(
            f"{what}: the path of a video file, of a folder of frames or of a VSPW video folder, or an iterable of "
            f"frames (PIL images, [H, W, 3] arrays or [3, H, W] tensors); got {type(video).__name__}"
            f"{f' of shape {tuple(video.shape)} (one frame? pass [frame])' if hasattr(video, 'shape') else ''}."
        )
    return iter(video)


@dataclass(frozen=True)
class VideoFrameResult:
    """`segment_videos`: the prediction of one frame of one video.

    Args:
        video_index (`int`): the video's position in `videos`.
        frame_index (`int`): the frame's position in the video (0, 1, 2, ... with no gaps).
        result (`torch.Tensor`): the `[H, W]` label map or the `[num_labels, H'/4, W'/4]` logits, as `segment_video`
            gives them.
        frame: the frame as the video gave it (e.g. a decoded PIL image) with `with_frames=True`, else `None`.
    """

    video_index: int
    frame_index: int
    result: torch.Tensor
    frame: Any = None


@dataclass(frozen=True)
class VideoFinished:
    """`segment_videos`: a video ended after its last frame's `VideoFrameResult`.

    Args:
        video_index (`int`): the video's position in `videos`. video: the video as given.
        num_frames (`int`): its frames, all predicted.
    """

    video_index: int
    video: Any
    num_frames: int


@dataclass(frozen=True)
class VideoFailed:
    """`segment_videos`: a video stopped on an error; the other videos go on.

    Args:
        video_index (`int`): the video's position in `videos`. video: the video as given.
        error (`Exception`): what went wrong (e.g. a `FileNotFoundError` for a missing path, a `VideoReadError` for
            a corrupt file, a `TypeError` for something that is not a video, the processor's or the model's `ValueError` naming the refused frame, a
            `ValueError` for a video with no frames).
        num_frames (`int`): the frames predicted (yielded as `VideoFrameResult`) before the error.
    """

    video_index: int
    video: Any
    error: Exception
    num_frames: int


#: What `segment_videos` yields.
VideoEvent = VideoFrameResult | VideoFinished | VideoFailed


class _OpenVideo:
    """A video that holds a slot of `segment_videos`: its frames, its segmenter (session) and how far it got."""

    def __init__(self, index: int, video: Any, frames: Iterator[Any], segmenter: StreamingVideoSegmenter):
        self.index, self.video, self.frames, self.segmenter = index, video, frames, segmenter
        self.predicted = 0
        self.ended = False  # no frames left
        self.error: Exception | None = None  # the error that ends the video once the frames before it are predicted

    def read(self, count: int) -> list[Any]:
        """Up to `count` next frames; at the end of the video or on a read error, the frames read before it."""
        frames: list[Any] = []
        while len(frames) < count and not (self.ended or self.error):
            try:
                frames.append(next(self.frames))
            except StopIteration:
                self.ended = True
            except Exception as err:  # noqa: BLE001 - reported as the video's VideoFailed; the other videos go on
                self.error = err
        return frames

    def last_event(self) -> VideoFinished | VideoFailed:
        if self.error is None and self.predicted == 0:
            self.error = ValueError("the video has no frames.")
        if self.error is not None:
            return VideoFailed(self.index, self.video, self.error, self.predicted)
        return VideoFinished(self.index, self.video, self.predicted)


def segment_videos(
    model: MrcfaStreamingBackend,
    videos: Iterable[Any],
    *,
    processor=None,
    streams: int = 1,
    output: Literal["labels", "logits"] = "labels",
    batch_size: int = 1,
    device: str | torch.device | None = None,
    with_frames: bool = False,
) -> Iterator[VideoEvent]:
    """Segment several videos, streaming up to `streams` of them in lockstep as one batch; yields events.

    Up to `streams` videos are open at once, one per slot. Each step reads the next `batch_size` frame(s) of every
    open video and advances them all with one `streaming_step_batch` (session_mrcfa.py): the encoder sees the frames
    of all the open videos of one input size at once, and the temporal head their full clips; videos of different
    sizes are grouped by size. When a video ends, the next one of `videos` takes its slot. Every frame gets the
    prediction `segment_video` gives it alone (the same logits up to float rounding, <= 1e-5, hence the same labels),
    and each open video caches at most the frames its later clips need (9 with the official offsets).

    Args:
        model: an `MrcfaForVideoSemanticSegmentation` (put in eval mode), or another `MrcfaStreamingBackend` (e.g.
            `mrcfa.onnx_runtime.OnnxStreamingModel`).
        videos: an iterable (a list, a generator) of videos, each what `segment_video` takes: the path of a video
            file, of a folder of frames or of a VSPW video folder, or an iterable of frames. Read lazily, one slot at
            a time.
        processor: an `MrcfaImageProcessor`, or `None` for preprocessed `[3, H, W]` frames (as `segment_video`).
        streams: the number of videos advanced together (slots).
        output: `"labels"` (`[H, W]` int64 at each frame's original size) or `"logits"` (`[num_labels, H'/4, W'/4]`).
        batch_size: consecutive frames of each video pushed per step (as `segment_video`'s; 1 by default).
        device: where to run (defaults to the model's device).
        with_frames: put each frame, as its video gave it, in its `VideoFrameResult`.

    Yields:
        Events, of three types:

        * `VideoFrameResult(video_index, frame_index, result, frame)`: a frame's prediction. Each video's frames come
          in order, as soon as they are predicted; the frames of different videos are interleaved (step by step, in
          slot order).
        * `VideoFinished(video_index, video, num_frames)`: the video ended; all its frames have been yielded.
        * `VideoFailed(video_index, video, error, num_frames)`: the video stopped on `error`, after `num_frames`
          predicted frames: it cannot be opened or read (`FileNotFoundError` for a missing path, `VideoReadError`
          for a corrupt file or frame), is not a video (`TypeError`), has no frames, or a frame was refused by the processor or the model (`ValueError` naming the
          frame). The frames before a read error or a frame the processor refuses are predicted first; a frame
          the model refuses (wrong size, NaN) takes the other frames of its step (with `batch_size` > 1) with it.
          The other videos go on.

        Every video gets exactly one `VideoFinished` or `VideoFailed`, after its last `VideoFrameResult`. Errors that
        are not a video's own (the model failing, `KeyboardInterrupt`, `videos` itself failing) stop the generator.

    Example:

    ```python
    >>> for event in segment_videos(model, ["a.mp4", "b.mp4", "c/"], processor=processor, streams=2):
    ...     if isinstance(event, VideoFrameResult):
    ...         save(event.video_index, event.frame_index, event.result)
    ...     elif isinstance(event, VideoFailed):
    ...         print(f"video {event.video_index}: {event.error}")
    ```
    """
    if isinstance(videos, (str, os.PathLike)) or not isinstance(videos, Iterable):
        raise TypeError(
            "segment_videos takes an iterable of videos (paths or iterables of frames), got "
            f"{type(videos).__name__}: for one video, use segment_video(model, video)."
        )
    for name, value in (("streams", streams), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    # the model and the options are checked now, before any video is read
    StreamingVideoSegmenter(model, processor, output=output, device=device)
    return _segment_videos(model, iter(videos), processor, streams, output, batch_size, with_frames)


def _segment_videos(model, videos, processor, streams, output, batch_size, with_frames) -> Iterator[VideoEvent]:
    """The loop of `segment_videos` (its arguments checked)."""
    slots: list[_OpenVideo | None] = [None] * streams
    numbered = enumerate(videos)
    exhausted = False  # no more videos to open
    while True:
        # each slot: its video's next frames, or the next video's when it has ended
        step: list[tuple[_OpenVideo, list[Any]]] = []
        for slot in range(streams):
            while True:
                stream = slots[slot]
                if stream is None:
                    item = None if exhausted else next(numbered, None)
                    if item is None:
                        exhausted = True
                        break
                    index, video = item
                    try:
                        frames = _video_frames(video, f"video {index} of segment_videos is not a video")
                    except TypeError as err:
                        yield VideoFailed(index, video, err, 0)
                        continue
                    segmenter = StreamingVideoSegmenter(model, processor, output=output)
                    stream = slots[slot] = _OpenVideo(index, video, frames, segmenter)
                read = stream.read(batch_size)
                if read:
                    step.append((stream, read))
                    break
                slots[slot] = None
                yield stream.last_event()
        if not step:
            return

        # preprocessing, frame by frame: the frames before a refused one still go on
        prepared = []
        for stream, frames in step:
            pixel_values, sizes = [], []
            for k, frame in enumerate(frames):
                try:
                    (values,), (size,) = stream.segmenter._prepare([frame], offset=k)
                except Exception as err:  # noqa: BLE001 - the video's own error
                    stream.error = err
                    del frames[k:]
                    break
                pixel_values.append(values)
                sizes.append(size)
            if frames:
                prepared.append((stream, frames, pixel_values, sizes))
        # one batch; a stream whose frames the model refuses (nothing changed then) leaves it and the rest goes again
        outputs = []
        while prepared:
            try:
                outputs = streaming_step_batch(
                    model,
                    [stream.segmenter.session for stream, *_ in prepared],
                    [item[2] for item in prepared],
                    clip_batch_size=1 if len(prepared) == 1 else None,  # one video alone: exactly `segment_video`
                )
                break
            except MrcfaStreamError as err:
                stream = prepared.pop(err.stream)[0]
                stream.error = err.__cause__ or err
        for stream, frames, _, sizes in prepared:
            logits = outputs.pop(0).logits
            for frame, frame_logits, size in zip(frames, logits, sizes):
                result = stream.segmenter._finish(frame_logits, size)
                yield VideoFrameResult(stream.index, stream.predicted, result, frame if with_frames else None)
                stream.predicted += 1
        for slot, stream in enumerate(slots):
            if stream is not None and (stream.error is not None or stream.ended):
                slots[slot] = None
                yield stream.last_event()
