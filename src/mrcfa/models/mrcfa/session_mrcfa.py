# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Streaming inference as a session, in the shape of transformers' Sam2Video (docs/design.md, "Streaming inference").

    >>> session = processor.init_video_session(inference_device=model.device, dtype=model.dtype)
    >>> for pixel_values in frames:                     # [3, H, W] each (the processor's output for one frame)
    ...     logits = model(inference_session=session, frame=pixel_values).logits[0]  # [num_labels, H/4, W/4]

or, for a video preloaded by the processor (`init_video_session(video=...)`):

    >>> for output in model.propagate_in_video_iterator(session):
    ...     output.frame_idx, output.logits             # frame index, [1, num_labels, H/4, W/4]

A `MrcfaVideoInferenceSession` holds the state of one video: the features of the frames that later clips still
need, the index of the next frame, the input size, devices and dtype. MRCFA is causal: frame `i` is predicted from
its official test clip `test_clip_indices(i)` (video_clips_mrcfa.py), made of frames up to `i`, so each pushed frame
gets its prediction at once, and frames must come in order. The logits equal `model(clip).logits` of that clip
(float rounding, <= 1e-5), with one encoder pass per frame instead of one per clip frame.

`MrcfaStreamingBackend` is what a model must provide for it: the PyTorch `MrcfaForVideoSemanticSegmentation` and
`mrcfa.onnx_runtime.OnnxStreamingModel` both implement it, and both run `streaming_step` / `propagate_in_video`
below, the one implementation of the session logic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from transformers import PretrainedConfig
from transformers.utils import ModelOutput
from transformers.utils.logging import tqdm

from .modeling_mrcfa_head import MrcfaFrameFeatures
from .video_clips_mrcfa import test_clip_indices

__all__ = [
    "MrcfaStreamingBackend",
    "MrcfaStreamingOutput",
    "MrcfaVideoInferenceSession",
    "propagate_in_video",
    "streaming_step",
]


@dataclass
class MrcfaStreamingOutput(ModelOutput):
    r"""Output of one session step, `model(inference_session=..., frame=...)` (as Sam2Video's segmentation output).

    Args:
        logits (`torch.FloatTensor` of shape `[frames, num_labels, height/4, width/4]`):
            The prediction for each frame of the step, in order: `logits[k]` is frame `frame_idx + k` of the video,
            equal to `model(clip).logits[0]` for its official test clip.
        frame_idx (`int`):
            The index in the video of the step's first frame.
    """

    logits: torch.FloatTensor | None = None
    frame_idx: int | None = None


@runtime_checkable
class MrcfaStreamingBackend(Protocol):
    """What streaming inference needs from a model (the PyTorch model and the ONNX Runtime runner implement it).

    Attributes:
        config: an `MrcfaConfig` (`reference_offsets`, `num_channels`).
        device: where the backend takes its inputs and returns its outputs.
        dtype: the dtype of its inputs (frames are cast to it).
    """

    config: PretrainedConfig

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    def __call__(
        self,
        *,
        inference_session: MrcfaVideoInferenceSession,
        frame: torch.Tensor | Sequence[torch.Tensor] | None = None,
        frame_idx: int | None = None,
    ) -> MrcfaStreamingOutput:
        """One session step (`streaming_step(self, ...)`)."""

    def encode_stream_frames(self, pixel_values: torch.Tensor, *, frame_logits: bool = True) -> MrcfaFrameFeatures:
        """Encoder and per-frame head of frames `[N, 3, H, W]`: target-side and reference-side features (leading
        dim `N`), with the per-frame logits `[N, C, H/4, W/4]` when `frame_logits` (a backend may always add them)."""

    def stream_target_logits(
        self, target: MrcfaFrameFeatures, references: MrcfaFrameFeatures, size: tuple[int, int]
    ) -> torch.Tensor:
        """Temporal head: logits `[B, C, *size]` of `B` target frames from their references (leading dims `[B, R]`);
        `size` is the 1/4 grid `(H/4, W/4)`."""


class MrcfaVideoInferenceSession:
    r"""The state of streaming inference over one video (transformers' `Sam2VideoInferenceSession`, for MRCFA).

    Create it with `MrcfaImageProcessor.init_video_session(...)` (or directly), advance it with
    `model(inference_session=session, frame=pixel_values)`, or, for a preloaded video, with
    `model(inference_session=session, frame_idx=i)` / `model.propagate_in_video_iterator(session)`.

    Args:
        video (`torch.Tensor` of shape `[frames, 3, height, width]`, *optional*):
            The preprocessed frames of a preloaded video; none when streaming.
        video_height (`int`, *optional*), video_width (`int`, *optional*):
            The original size of the preloaded video's frames (before preprocessing).
        inference_device (`torch.device` or `str`, *optional*, defaults to `"cpu"`):
            Where the model runs (the model's device): frames are moved there.
        inference_state_device (`torch.device` or `str`, *optional*):
            Where the cached frame features are kept between steps (defaults to `inference_device`).
        video_storage_device (`torch.device` or `str`, *optional*):
            Where the preloaded frames are kept (defaults to `inference_device`).
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`):
            The dtype of the stored frames (frames are cast to the model's dtype when they are encoded).

    Attributes:
        processed_frames (`dict[int, torch.Tensor]` or `None`): the preloaded frames `[3, height, width]` by index.
        cache (`dict[int, MrcfaFrameFeatures]`): the features of the frames that later clips still need, by frame
            index; past frames keep only their reference-side features. Between steps it holds at most
            `-min(config.reference_offsets)` frames (9 with the official offsets -9, -6, -3), whatever the length of
            the video.
        next_frame_idx (`int`): the index of the next frame to push (frames come in order: MRCFA is causal).
        input_size (`tuple[int, int]` or `None`): `(height, width)` of the model input, set by the first frame;
            every frame of the video must have it.
    """

    def __init__(
        self,
        video: torch.Tensor | None = None,
        video_height: int | None = None,
        video_width: int | None = None,
        inference_device: torch.device | str = "cpu",
        inference_state_device: torch.device | str | None = None,
        video_storage_device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        self.inference_device = torch.device(inference_device)
        self.inference_state_device = torch.device(
            inference_state_device if inference_state_device is not None else inference_device
        )
        self.video_storage_device = torch.device(
            video_storage_device if video_storage_device is not None else inference_device
        )
        self.dtype = dtype
        self.processed_frames: dict[int, torch.Tensor] | None = None
        if video is not None:
            if not isinstance(video, torch.Tensor) or video.ndim != 4:
                raise ValueError(
                    "video must be the preprocessed frames of one video, a [frames, 3, height, width] tensor, got "
                    f"{type(video).__name__} {tuple(getattr(video, 'shape', ()))}."
                )
            # a dict, as Sam2Video's: frames are read one at a time, without slicing a big tensor
            self.processed_frames = dict(enumerate(video.to(self.video_storage_device, dtype=dtype)))
        self.video_height = video_height
        self.video_width = video_width
        self.reset_inference_session()

    @property
    def num_frames(self) -> int | None:
        """Frames of the preloaded video (`None` when streaming)."""
        return len(self.processed_frames) if self.processed_frames is not None else None

    @property
    def cached_frame_indices(self) -> list[int]:
        """Indices of the frames whose features are cached."""
        return sorted(self.cache)

    def reset_inference_session(self) -> None:
        """Start the video again from frame 0: forget the cached features and the input size (a preloaded video
        stays)."""
        self.cache: dict[int, MrcfaFrameFeatures] = {}
        self.next_frame_idx = 0
        self.input_size: tuple[int, int] | None = None

    def get_frame(self, frame_idx: int) -> torch.Tensor:
        """Preloaded frame `frame_idx` `[3, height, width]`, on the inference device."""
        if self.processed_frames is None:
            raise ValueError(
                "this session has no preloaded video: pass frame= to the model, or create the session with "
                "processor.init_video_session(video=...)."
            )
        if frame_idx not in self.processed_frames:
            raise ValueError(f"frame {frame_idx} is not in the preloaded video ({self.num_frames} frames).")
        return self.processed_frames[frame_idx].to(self.inference_device)

    def __repr__(self) -> str:
        video = f"{self.num_frames} preloaded frames" if self.processed_frames is not None else "streaming"
        return (
            f"{type(self).__name__}({video}, next_frame_idx={self.next_frame_idx}, "
            f"cached_frames={self.cached_frame_indices}, inference_device={self.inference_device})"
        )


def _moved(features: MrcfaFrameFeatures, device: torch.device | None) -> MrcfaFrameFeatures:
    """`features` on `device` (`None`: as they are)."""
    return features if device is None else features._map(lambda t: t.to(device))


def _check_session(session: object) -> None:
    """A `TypeError` unless `session` is an `MrcfaVideoInferenceSession`. Checked by its attributes, not its class:
    loaded with `trust_remote_code`, the model, the processor and the pipeline each get their own copy of this module
    (transformers loads every entry file with its imports apart), so a session may come from another copy."""
    if not all(hasattr(session, name) for name in ("cache", "next_frame_idx", "input_size", "processed_frames")):
        raise TypeError(
            "inference_session must be an MrcfaVideoInferenceSession (processor.init_video_session()), got "
            f"{type(session).__name__}."
        )


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same (`cuda` is the current CUDA device, e.g. `cuda:0`)."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _frames(
    session: MrcfaVideoInferenceSession,
    backend: MrcfaStreamingBackend,
    frame: torch.Tensor | Sequence[torch.Tensor] | None,
    frame_idx: int | None,
) -> tuple[torch.Tensor, int]:
    """The step's frames `[N, 3, H, W]` (checked, on the inference device, in the backend's dtype) and the index
    of the first one. The checks of the model input of a session step (the model's forward checks clips)."""
    expected = session.next_frame_idx
    if frame_idx is not None and frame_idx != expected:
        raise ValueError(
            f"frame_idx {frame_idx} is not the next frame of the video ({expected}): MRCFA is causal, each frame is "
            "predicted from earlier ones, so frames must be pushed in order (reset_inference_session() starts the "
            "video again)."
        )
    if frame is None:
        if session.processed_frames is None:
            raise ValueError(
                "pass frame= (the next frame's pixel_values), or preload the video with "
                "processor.init_video_session(video=...) and pass frame_idx= or use propagate_in_video_iterator()."
            )
        if expected >= session.num_frames:
            raise ValueError(f"the preloaded video has {session.num_frames} frames: all of them have been predicted.")
        frames = [session.get_frame(expected)]
    else:
        if session.processed_frames is not None:
            raise ValueError(
                "this session holds a preloaded video: step through it with frame_idx= (or "
                "propagate_in_video_iterator()) rather than pushing frame=."
            )
        if isinstance(frame, torch.Tensor) and frame.ndim == 4:
            frames = list(frame)
        elif isinstance(frame, torch.Tensor) or not isinstance(frame, Sequence):
            frames = [frame]
        else:
            frames = list(frame)
        if not frames:
            raise ValueError("frame holds no frames.")

    channels = backend.config.num_channels
    input_size = session.input_size
    for k, item in enumerate(frames):
        index = expected + k
        if not isinstance(item, torch.Tensor) or item.ndim != 3 or item.shape[0] != channels:
            raise ValueError(
                f"frames must be preprocessed [{channels}, H, W] tensors (an MrcfaImageProcessor's pixel_values), "
                f"[N, {channels}, H, W] for N consecutive frames, or a list of [{channels}, H, W] tensors; frame "
                f"{index} of the video is {type(item).__name__} {tuple(getattr(item, 'shape', ()))}."
            )
        if not item.is_floating_point():
            raise ValueError(
                f"frame {index} of the video is a {item.dtype} tensor: frames must be floating-point, normalised "
                "(the processor's pixel_values)."
            )
        size = tuple(item.shape[-2:])
        if size[0] % 32 or size[1] % 32:
            raise ValueError(f"height and width must be divisible by 32, got {size[0]}x{size[1]} (frame {index}).")
        if input_size is None:
            input_size = size
        elif size != input_size:
            raise ValueError(
                f"frame {index} has input size {size} but earlier frames of this video have {input_size}: "
                "all frames of a video must have the same size."
            )
    pixel_values = torch.stack(frames).to(session.inference_device, dtype=backend.dtype)
    finite = torch.isfinite(pixel_values).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = [expected + k for k in (~finite).nonzero().flatten().tolist()]
        raise ValueError(
            f"frame {bad[0]} of the video has NaN or infinite pixel values"
            f"{f' (frames {bad})' if len(bad) > 1 else ''}: every pixel must be a finite number."
        )
    session.input_size = input_size  # the session changes only once the frames are accepted
    return pixel_values, expected


def streaming_step(
    backend: MrcfaStreamingBackend,
    inference_session: MrcfaVideoInferenceSession,
    frame: torch.Tensor | Sequence[torch.Tensor] | None = None,
    frame_idx: int | None = None,
) -> MrcfaStreamingOutput:
    """Push the next frame(s) of the video and predict them: what `model(inference_session=..., frame=...)` runs.

    Args:
        backend: the model (`MrcfaStreamingBackend`).
        inference_session: the video's `MrcfaVideoInferenceSession` (updated in place).
        frame: the next frame's pixel values `[3, H, W]`, or `N` consecutive frames `[N, 3, H, W]` (or a list of
            `[3, H, W]`), encoded as one batch; `None` for the next frame of a preloaded video.
        frame_idx: the index of the (first) frame; must be the session's `next_frame_idx` when given.

    Returns:
        `MrcfaStreamingOutput` with `logits` `[N, num_labels, H/4, W/4]` and `frame_idx`.
    """
    _check_session(inference_session)
    session = inference_session
    if not _same_device(session.inference_device, torch.device(backend.device)):
        raise ValueError(
            f"the session's inference_device is {session.inference_device} but the model runs on {backend.device}: "
            "create the session with inference_device=model.device."
        )
    with torch.no_grad():
        pixel_values, first = _frames(session, backend, frame, frame_idx)
        offsets = tuple(backend.config.reference_offsets)
        indices = range(first, first + len(pixel_values))
        clips = {index: test_clip_indices(index, offsets) for index in indices}
        # the per-frame logits serve only the frames predicted alone (the first ones of a video)
        alone = any(len(clip) == 1 for clip in clips.values())
        features = backend.encode_stream_frames(pixel_values, frame_logits=alone)
        # the cache lives on the inference_state_device (features move there and back only when it differs)
        elsewhere = not _same_device(session.inference_state_device, session.inference_device)
        for k, index in enumerate(indices):
            session.cache[index] = _moved(features.index(k), session.inference_state_device if elsewhere else None)
        session.next_frame_idx = first + len(pixel_values)

        def cached(index: int) -> MrcfaFrameFeatures:
            return _moved(session.cache[index], session.inference_device if elsewhere else None)

        # Encoding is batched; the temporal head runs one clip at a time: its [B*R*s, c, H/8, W/8] affinity maps are
        # memory-bound, and one clip's maps stay in cache (batching clips made it ~3x slower per frame on CPU).
        logits = []
        for index, clip in clips.items():
            target = cached(index)
            if len(clip) == 1:
                logits.append(target.logits)
                continue
            references = MrcfaFrameFeatures.stack([MrcfaFrameFeatures.stack([cached(j) for j in clip[:-1]])])
            size = (2 * target.fused_eighth.shape[-2], 2 * target.fused_eighth.shape[-1])  # the 1/4 grid
            logits.append(backend.stream_target_logits(MrcfaFrameFeatures.stack([target]), references, size)[0])

        horizon = -min(offsets)  # a clip reaches back at most this many frames
        for index in list(session.cache):
            later_targets = range(session.next_frame_idx, index + horizon + 1)
            if not any(index in test_clip_indices(t, offsets) for t in later_targets):
                del session.cache[index]  # no later clip needs it
            elif index in clips:  # predicted: from now on the frame only serves as a reference
                kept = session.cache[index]
                session.cache[index] = MrcfaFrameFeatures(
                    reference_tokens=kept.reference_tokens, value_tokens=kept.value_tokens
                )
    return MrcfaStreamingOutput(logits=torch.stack(logits), frame_idx=first)


def propagate_in_video(
    backend: MrcfaStreamingBackend,
    inference_session: MrcfaVideoInferenceSession,
    start_frame_idx: int | None = None,
    max_frame_num_to_track: int | None = None,
    show_progress_bar: bool = False,
) -> Iterator[MrcfaStreamingOutput]:
    """Predict the frames of a preloaded video one by one (`model.propagate_in_video_iterator`, as Sam2Video's).

    Args:
        backend: the model (`MrcfaStreamingBackend`).
        inference_session: a session with a preloaded video (`processor.init_video_session(video=...)`).
        start_frame_idx: the first frame to predict; the session's `next_frame_idx` (the default) is the only
            possible one, as MRCFA is causal.
        max_frame_num_to_track: predict at most this many frames (default: up to the end of the video).
        show_progress_bar: show a tqdm bar.

    Yields:
        `MrcfaStreamingOutput` of each frame (`logits` `[1, num_labels, H/4, W/4]`, `frame_idx`).
    """
    session = inference_session  # checked now, not at the first frame
    _check_session(session)
    if session.processed_frames is None:
        raise ValueError(
            "propagate_in_video_iterator needs a session with a preloaded video: "
            "processor.init_video_session(video=...)."
        )
    start = session.next_frame_idx if start_frame_idx is None else start_frame_idx
    end = session.num_frames
    if max_frame_num_to_track is not None:
        if max_frame_num_to_track < 0:
            raise ValueError(f"max_frame_num_to_track must be >= 0, got {max_frame_num_to_track}.")
        end = min(end, start + max_frame_num_to_track)
    frames = tqdm(range(start, end), desc="propagate in video", disable=not show_progress_bar)
    return (backend(inference_session=session, frame_idx=frame_idx) for frame_idx in frames)
