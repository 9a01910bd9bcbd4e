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

Several videos advance in lockstep as one batch with `streaming_step_batch(model, sessions, frames)`: the next
frame of each session, the encoder running once over all of them and the temporal head over all their full clips
(sessions of different input sizes are grouped by size). Each session's logits equal those of its own steps.

`MrcfaStreamingBackend` is what a model must provide for it: the PyTorch `MrcfaForVideoSemanticSegmentation` and
`mrcfa.onnx_runtime.OnnxStreamingModel` both implement it, and both run `streaming_step` /
`streaming_step_batch` / `propagate_in_video` below, the one implementation of the session logic.
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
    "MrcfaPropagationMixin",
    "MrcfaStreamError",
    "MrcfaStreamingBackend",
    "MrcfaStreamingOutput",
    "MrcfaVideoInferenceSession",
    "propagate_in_video",
    "streaming_step",
    "streaming_step_batch",
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
        several = isinstance(session, (list, tuple)) and session and all(hasattr(s, "cache") for s in session)
        raise TypeError(
            "inference_session must be an MrcfaVideoInferenceSession (processor.init_video_session()), got "
            f"{type(session).__name__}"
            + (
                ": to advance several videos at once, use streaming_step_batch(model, sessions, frames)."
                if several
                else "."
            )
        )


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same (`cuda` is the current CUDA device, e.g. `cuda:0`)."""
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


@dataclass
class _Push:
    """One session's part of a step: its checked frames `[n, 3, H, W]`, the index of the first one in the video and
    the video's input size."""

    session: MrcfaVideoInferenceSession
    pixel_values: torch.Tensor
    first: int
    input_size: tuple[int, int]


def _frames(
    session: MrcfaVideoInferenceSession,
    backend: MrcfaStreamingBackend,
    frame: torch.Tensor | Sequence[torch.Tensor] | None,
    frame_idx: int | None,
) -> _Push:
    """The step's frames `[N, 3, H, W]` (checked, on the inference device, in the backend's dtype), the index of the
    first one and the input size, without changing the session. The checks of the model input of a session step (the
    model's forward checks clips)."""
    if not _same_device(session.inference_device, torch.device(backend.device)):
        raise ValueError(
            f"the session's inference_device is {session.inference_device} but the model runs on {backend.device}: "
            "create the session with inference_device=model.device."
        )
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
    return _Push(session, pixel_values, expected, input_size)


def _advance(backend: MrcfaStreamingBackend, pushes: list[_Push], clip_batch_size: int | None) -> list[torch.Tensor]:
    """Run one step of the sessions of `pushes` (accepted frames of one input size): their frames encoded as one
    batch, cached, predicted, and the caches trimmed. Returns each push's logits `[n, num_labels, H/4, W/4]`.

    Frames predicted alone (the first ones of a video) take their per-frame logits; the others go through the
    temporal head, `clip_batch_size` clips per call (`None`: all of the step's clips of one length in one call).
    """
    offsets = tuple(backend.config.reference_offsets)
    # (push, frame index) -> its clip, in push order then frame order
    clips = {
        (k, index): test_clip_indices(index, offsets)
        for k, push in enumerate(pushes)
        for index in range(push.first, push.first + len(push.pixel_values))
    }
    # the per-frame logits serve only the frames predicted alone (the first ones of a video)
    alone = any(len(clip) == 1 for clip in clips.values())
    pixel_values = pushes[0].pixel_values if len(pushes) == 1 else torch.cat([p.pixel_values for p in pushes])
    features = backend.encode_stream_frames(pixel_values, frame_logits=alone)
    row = 0
    for push in pushes:
        session = push.session
        # the cache lives on the inference_state_device (features move there and back only when it differs)
        elsewhere = not _same_device(session.inference_state_device, session.inference_device)
        for index in range(push.first, push.first + len(push.pixel_values)):
            session.cache[index] = _moved(features.index(row), session.inference_state_device if elsewhere else None)
            row += 1
        session.next_frame_idx = push.first + len(push.pixel_values)
        session.input_size = push.input_size

    def cached(k: int, index: int) -> MrcfaFrameFeatures:
        session = pushes[k].session
        elsewhere = not _same_device(session.inference_state_device, session.inference_device)
        return _moved(session.cache[index], session.inference_device if elsewhere else None)

    logits: dict[tuple[int, int], torch.Tensor] = {}
    by_length: dict[int, list[tuple[int, int]]] = {}  # clips of one length (number of references) run together
    for key, clip in clips.items():
        if len(clip) == 1:
            logits[key] = cached(*key).logits
        else:
            by_length.setdefault(len(clip), []).append(key)
    for keys in by_length.values():
        step = clip_batch_size or len(keys)
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            targets = [cached(*key) for key in chunk]
            references = MrcfaFrameFeatures.stack(
                [MrcfaFrameFeatures.stack([cached(k, j) for j in clips[(k, index)][:-1]]) for k, index in chunk]
            )
            size = (2 * targets[0].fused_eighth.shape[-2], 2 * targets[0].fused_eighth.shape[-1])  # the 1/4 grid
            predicted = backend.stream_target_logits(MrcfaFrameFeatures.stack(targets), references, size)
            logits.update(zip(chunk, predicted))

    horizon = -min(offsets)  # a clip reaches back at most this many frames
    for k, push in enumerate(pushes):
        session = push.session
        for index in list(session.cache):
            later_targets = range(session.next_frame_idx, index + horizon + 1)
            if not any(index in test_clip_indices(t, offsets) for t in later_targets):
                del session.cache[index]  # no later clip needs it
            elif (k, index) in clips:  # predicted: from now on the frame only serves as a reference
                kept = session.cache[index]
                session.cache[index] = MrcfaFrameFeatures(
                    reference_tokens=kept.reference_tokens, value_tokens=kept.value_tokens
                )
    return [
        torch.stack([logits[(k, index)] for index in range(push.first, push.first + len(push.pixel_values))])
        for k, push in enumerate(pushes)
    ]


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
    with torch.no_grad():
        push = _frames(inference_session, backend, frame, frame_idx)
        # Encoding is batched; the temporal head runs one clip at a time: its [B*R*s, c, H/8, W/8] affinity maps are
        # memory-bound, and one clip's maps stay in cache (batching clips made it ~3x slower per frame on CPU before
        # the refinement ran in chunks; since then it is about even: docs/deployment.md, "Several videos at once").
        (logits,) = _advance(backend, [push], clip_batch_size=1)
    return MrcfaStreamingOutput(logits=logits, frame_idx=push.first)


class MrcfaStreamError(ValueError):
    """The frame(s) given for one session of `streaming_step_batch` were refused; no session changed.

    Attributes:
        stream (`int`): the position of that session in the step's `inference_sessions`.
    """

    def __init__(self, stream: int, message: str):
        super().__init__(message)
        self.stream = stream


def streaming_step_batch(
    backend: MrcfaStreamingBackend,
    inference_sessions: Sequence[MrcfaVideoInferenceSession],
    frames: Sequence[torch.Tensor | Sequence[torch.Tensor] | None] | None = None,
    *,
    clip_batch_size: int | None = None,
) -> list[MrcfaStreamingOutput]:
    """Advance several videos in lockstep, as one batch: the next frame of each session, predicted as its own
    `streaming_step` would (the same logits up to float rounding, <= 1e-5).

    The sessions' frames of one input size are encoded in one `encode_stream_frames` call (`[S, 3, H, W]` for `S`
    sessions of that size), and the targets among them that have a full clip go through the temporal head together
    (`stream_target_logits` on `[B]` targets and `[B, R]` references); targets predicted alone (frames 0-2 of a video
    with the official offsets) take their per-frame logits. Sessions of different input sizes cannot share a batch:
    each size is a group of its own, run one after the other. Any `MrcfaStreamingBackend` works, the PyTorch model and
    `mrcfa.onnx_runtime.OnnxStreamingModel` (its graphs have a dynamic batch) alike.

    Args:
        backend: the model (`MrcfaStreamingBackend`).
        inference_sessions: `S` distinct sessions, each of one video (updated in place).
        frames: one entry per session, what `streaming_step` takes as `frame`: the session's next frame `[3, H, W]`
            (a `[S, 3, H, W]` tensor gives one frame per session), several consecutive frames of it (`[n, 3, H, W]` or
            a list), or `None` for the next frame of a preloaded video. `None` (the default): `None` for every session.
        clip_batch_size: clips per temporal-head call (default: all of a group's clips at once; `1` runs them one by
            one, as `streaming_step` does).

    Returns:
        One `MrcfaStreamingOutput` per session, in order (`logits` `[n, num_labels, H/4, W/4]`, `frame_idx`).

    Raises:
        MrcfaStreamError: a session's frames were refused (the message says which session and why; `.stream` is its
            position). Everything is checked before any session changes, so after the error no session has moved:
            the step can be run again without that session.
    """
    sessions = list(inference_sessions) if isinstance(inference_sessions, Sequence) else None
    if not sessions:
        raise ValueError(
            "inference_sessions must be a non-empty list of MrcfaVideoInferenceSession (one per video), got "
            f"{type(inference_sessions).__name__}{'' if sessions is None else ' with no sessions'}."
        )
    for session in sessions:
        _check_session(session)
    if len({id(session) for session in sessions}) != len(sessions):
        raise ValueError("a session appears twice in inference_sessions: each video advances once per step.")
    if frames is None:
        frames = [None] * len(sessions)
    elif isinstance(frames, torch.Tensor) and frames.ndim == 4 or isinstance(frames, Sequence):
        frames = list(frames)
    else:
        raise ValueError(
            "frames must hold one entry per session (a [3, H, W] frame, consecutive frames, or None for a preloaded "
            f"video), got {type(frames).__name__}."
        )
    if len(frames) != len(sessions):
        raise ValueError(f"frames has {len(frames)} entries for {len(sessions)} sessions: give one per session.")
    if clip_batch_size is not None and clip_batch_size < 1:
        raise ValueError(f"clip_batch_size must be >= 1 or None, got {clip_batch_size}.")
    if isinstance(backend, torch.nn.Module) and backend.training:
        raise ValueError("streaming inference runs in eval mode: call model.eval() first.")
    with torch.no_grad():
        pushes = []
        for k, (session, frame) in enumerate(zip(sessions, frames)):
            try:
                pushes.append(_frames(session, backend, frame, None))
            except ValueError as err:
                raise MrcfaStreamError(k, f"stream {k}: {err}") from err
        groups: dict[tuple[int, int], list[int]] = {}  # input size -> positions of its sessions
        for k, push in enumerate(pushes):
            groups.setdefault(push.input_size, []).append(k)
        logits: dict[int, torch.Tensor] = {}
        for members in groups.values():
            logits.update(zip(members, _advance(backend, [pushes[k] for k in members], clip_batch_size)))
    return [MrcfaStreamingOutput(logits=logits[k], frame_idx=push.first) for k, push in enumerate(pushes)]


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


class MrcfaPropagationMixin:
    """Sam2Video's `propagate_in_video_iterator` for an `MrcfaStreamingBackend` (the PyTorch model and the ONNX
    Runtime runner both inherit it)."""

    def propagate_in_video_iterator(
        self,
        inference_session: MrcfaVideoInferenceSession,
        start_frame_idx: int | None = None,
        max_frame_num_to_track: int | None = None,
        show_progress_bar: bool = False,
    ) -> Iterator[MrcfaStreamingOutput]:
        """Predict the frames of a preloaded video (`processor.init_video_session(video=...)`) one at a time, as
        Sam2Video's method does; yields an `MrcfaStreamingOutput` per frame (see `propagate_in_video`)."""
        return propagate_in_video(self, inference_session, start_frame_idx, max_frame_num_to_track, show_progress_bar)
