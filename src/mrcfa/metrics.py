# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Video semantic segmentation metrics: mmseg mIoU / mAcc / aAcc and VSPW video consistency (mVC8, mVC16).

Everything here is incremental and numpy-only. :class:`VideoSegmentationMetrics` keeps

* one ``[num_labels, num_labels]`` confusion matrix over all frames (rows: ground truth, columns: prediction),
* per video: its own confusion matrix (until the video ends), its frame count, the previous frame and two
  per-pixel run-length maps (``uint8``), and two integers per temporal window,

so its memory does not grow with the number of frames. See docs/design.md (Metrics) and the fixture
``vspw_metric_ref.json`` for the reference numbers this module reproduces.

**Video consistency (VC_n).** For a window of ``n`` consecutive frames, let ``G`` be the pixels whose ground truth
is identical in all ``n`` frames (pixels ignored in all of them count too: the label ``ignore_index`` is compared
like any other value) and ``P`` the pixels whose prediction is identical in all ``n`` frames. The window's score is
``|G ∩ P| / |G|`` (NaN when ``G`` is empty), and mVC_n is the ``nanmean`` over all windows of all evaluated videos
(windows are pooled; long videos weigh more). A pixel is constant over the window ending at frame ``t`` exactly
when its run of equal values ending at ``t`` is at least ``n`` frames long, so a run-length map per video replaces
the ``n - 1`` buffered frames of the official script, with identical integer counts.

**Protocols.**

* ``"official"`` reproduces the official ``VC_perclip.py`` (as shipped with MRCFA): videos with ``<= 16`` frames are
  skipped entirely, and a video of ``N`` frames uses the windows starting at ``0 .. N - n - 1`` (the last possible
  window is *not* used). It additionally reports the script's own confusion-matrix metrics over the non-skipped
  videos (keys ``official_*``) and its ``good_videos`` list (videos whose own VC_perclip mIoU is ``> 0.7``).
* ``"all_windows"`` uses every window (``N - n + 1`` per video) of every video.

The mmseg keys (``mIoU``, ``mAcc``, ``aAcc``, ``per_class_iou``, ``per_class_accuracy``) always cover all frames
of all videos, whatever the protocol.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "OFFICIAL_GOOD_VIDEO_MIOU",
    "OFFICIAL_MIN_FRAMES",
    "PROTOCOLS",
    "VC_WINDOW_SIZES",
    "VideoSegmentationMetrics",
    "evaluate_module_path",
    "mmseg_metrics",
    "reduce_vspw_labels",
    "vspw_evaluator_metrics",
]

#: Supported video-consistency protocols.
PROTOCOLS = ("official", "all_windows")

#: Window lengths of the reported video consistency scores (``mVC8``, ``mVC16``).
VC_WINDOW_SIZES = (8, 16)

#: The official script evaluates only videos with more than ``clip_num = 16`` frames.
OFFICIAL_MIN_FRAMES = 17

#: The official script lists a video as "good" when its own (VC_perclip) mIoU is above this value.
OFFICIAL_GOOD_VIDEO_MIOU = 0.7

_MAX_WINDOW = max(VC_WINDOW_SIZES)


def evaluate_module_path() -> str:
    """Directory of the bundled ``evaluate`` module, for ``evaluate.load(evaluate_module_path())`` (works offline)."""
    return str(Path(__file__).resolve().parent / "evaluate_metrics" / "vspw_video_segmentation")


def reduce_vspw_labels(mask: Any, ignore_index: int = 255) -> np.ndarray:
    """Raw VSPW mask values to class ids: ``0`` ("others") -> `ignore_index`, ``k`` -> ``k - 1``.

    `ignore_index` itself stays `ignore_index` (as in mmseg's ``reduce_zero_label`` and ``VC_perclip.py``).

    Args:
        mask: integer array of any shape (e.g. ``[H, W]`` or ``[n, H, W]``) of raw VSPW label values.
        ignore_index: the label value that marks ignored pixels.

    Returns:
        ``int64`` array of the same shape.
    """
    raw = np.asarray(mask)
    _check_integer(raw, "reference")
    raw = raw.astype(np.int64, copy=False)
    reduced = raw - 1
    reduced[(raw == 0) | (raw == ignore_index)] = ignore_index
    return reduced


def _host_array(values: Any) -> np.ndarray:
    """`values` as a numpy array; torch tensors on any device (e.g. CUDA label maps) are copied to the host first."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _nanmean(values: np.ndarray) -> float:
    """``np.nanmean`` without the "Mean of empty slice" warning (NaN when nothing is finite)."""
    values = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(values)
    if not valid.any():
        return math.nan
    return float(np.mean(values[valid]))


def mmseg_metrics(confusion_matrix: Any) -> dict[str, Any]:
    """mmseg's ``eval_metrics(..., metrics=['mIoU'])`` from a confusion matrix.

    Args:
        confusion_matrix: ``[C, C]`` array, rows = ground-truth class, columns = predicted class, counting the
            pixels whose ground truth is not ignored.

    Returns:
        ``aAcc`` (correct / valid pixels), ``per_class_iou`` ``[C]`` (NaN for classes absent from both ground truth
        and prediction; a class predicted but absent from the ground truth gets IoU 0), ``per_class_accuracy``
        ``[C]`` (NaN for classes absent from the ground truth), ``mIoU`` and ``mAcc`` (``nanmean`` of those).
    """
    cm = np.asarray(confusion_matrix, dtype=np.float64)
    intersect = np.diag(cm)
    area_label = cm.sum(axis=1)
    area_pred = cm.sum(axis=0)
    union = area_label + area_pred - intersect
    with np.errstate(divide="ignore", invalid="ignore"):
        a_acc = intersect.sum() / area_label.sum() if area_label.sum() > 0 else math.nan
        per_class_iou = intersect / union
        per_class_accuracy = intersect / area_label
    return {
        "mIoU": _nanmean(per_class_iou),
        "mAcc": _nanmean(per_class_accuracy),
        "aAcc": float(a_acc),
        "per_class_iou": per_class_iou,
        "per_class_accuracy": per_class_accuracy,
    }


def vspw_evaluator_metrics(confusion_matrix: Any) -> dict[str, float]:
    """The ``Evaluator`` of the official ``VC_perclip.py`` (also printed by MRCFA's mmseg) from a confusion matrix.

    Args:
        confusion_matrix: ``[C, C]`` array, rows = ground-truth class, columns = predicted class.

    Returns:
        ``pixel_accuracy`` (correct / valid pixels), ``class_accuracy`` (``nanmean`` of per-class recall, classes
        absent from the ground truth skipped), ``mIoU`` (mean IoU over the classes present in the ground truth
        only: unlike mmseg, a class only predicted does not count) and ``FWIoU`` (IoU weighted by ground-truth
        class frequency). NaN when the matrix is empty.
    """
    cm = np.asarray(confusion_matrix, dtype=np.float64)
    diag = np.diag(cm)
    rows = cm.sum(axis=1)
    cols = cm.sum(axis=0)
    total = cm.sum()
    present = rows > 0
    if total == 0:
        return {"pixel_accuracy": math.nan, "class_accuracy": math.nan, "mIoU": math.nan, "FWIoU": math.nan}
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = diag / (rows + cols - diag)
        recall = diag / rows
    freq = rows / total
    return {
        "pixel_accuracy": float(diag.sum() / total),
        "class_accuracy": _nanmean(recall),
        "mIoU": float(iou[present].sum() / present.sum()),
        "FWIoU": float((freq[present] * iou[present]).sum()),
    }


def _check_integer(array: np.ndarray, name: str) -> None:
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise ValueError(
            f"{name} must hold integer class ids, got dtype {array.dtype} (take the argmax of logits and cast, "
            "e.g. `logits.argmax(1).numpy()`)."
        )


@dataclass
class _VideoState:
    """Per-video accumulation state. The frame buffers are dropped when the video ends."""

    num_labels: int
    height: int
    width: int
    n_frames: int = 0
    confusion: np.ndarray | None = None  # [C, C] int64, until the video ends
    prev_reference: np.ndarray | None = None  # [H, W]
    prev_prediction: np.ndarray | None = None  # [H, W]
    run_reference: np.ndarray | None = None  # [H, W] uint8, length (capped) of the current constant run
    run_prediction: np.ndarray | None = None  # [H, W] uint8
    # window size -> (numerators, denominators), one entry per complete window, in temporal order
    windows: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)
    ended: bool = False
    vspw_miou: float = math.nan  # the video's own VC_perclip mIoU, fixed when it ends

    def __post_init__(self) -> None:
        self.confusion = np.zeros((self.num_labels, self.num_labels), dtype=np.int64)
        self.windows = {n: ([], []) for n in VC_WINDOW_SIZES}

    def own_miou(self) -> float:
        return self.vspw_miou if self.ended else vspw_evaluator_metrics(self.confusion)["mIoU"]

    def window_scores(self, n: int, protocol: str) -> list[float]:
        nums, dens = self.windows[n]
        if protocol == "official":  # the official range(N - n) leaves out the last possible window
            nums, dens = nums[:-1], dens[:-1]
        return [num / den if den > 0 else math.nan for num, den in zip(nums, dens)]


class VideoSegmentationMetrics:
    """Incremental mmseg segmentation metrics and VSPW video consistency over a set of videos.

    Feed whole videos with :meth:`add_video` or frames with :meth:`add_frame`, then call :meth:`compute`.

    * State is kept per ``video_id``: frames of different videos may be interleaved, but the frames of one video
      must arrive in temporal order. Only the previous frame and two ``uint8`` run-length maps are kept per open
      video (plus its ``[C, C]`` confusion matrix), never the predictions themselves.
    * :meth:`add_video` adds a complete video and ends it. A video fed with :meth:`add_frame` stays open until
      :meth:`end_video` (which frees its frame buffers; call it to bound memory when streaming many videos).
      :meth:`compute` treats videos still open as complete without ending them, so more frames may follow.
    * Adding frames to an ended video raises a ``ValueError``.

    Args:
        num_labels: number of classes ``C``; predictions must lie in ``[0, C)``.
        ignore_index: reference value of ignored pixels (after label reduction). Must be outside ``[0, C)``.
        reduce_labels: if True, references are raw VSPW masks: ``0`` -> `ignore_index`, ``k`` -> ``k - 1``
            (`ignore_index` stays ignored). Predictions are never reduced.
        protocol: default video-consistency protocol of :meth:`compute`, ``"official"`` (the official
            ``VC_perclip.py``: videos with ``<= 16`` frames skipped, last window of each video left out) or
            ``"all_windows"`` (every window of every video).

    Example:
        >>> import numpy as np
        >>> metric = VideoSegmentationMetrics(num_labels=3, protocol="all_windows")
        >>> frames = np.zeros((20, 4, 4), dtype=np.int64)
        >>> metric.add_video("v0", predictions=frames, references=frames)
        >>> result = metric.compute()
        >>> result["mIoU"], result["mVC8"], result["mVC16"]
        (1.0, 1.0, 1.0)
    """

    def __init__(
        self, num_labels: int, ignore_index: int = 255, reduce_labels: bool = False, protocol: str = "official"
    ) -> None:
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive integer, got {num_labels!r}.")
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise ValueError(f"ignore_index must be an integer, got {ignore_index!r}.")
        if 0 <= ignore_index < num_labels:
            raise ValueError(
                f"ignore_index={ignore_index} is a valid class id for num_labels={num_labels}; use a value outside "
                f"[0, {num_labels}) (e.g. 255)."
            )
        self._check_protocol(protocol)
        self.num_labels = int(num_labels)
        self.ignore_index = int(ignore_index)
        self.reduce_labels = bool(reduce_labels)
        self.protocol = protocol
        # the previous frame of each open video is kept in the smallest signed type holding every label value
        low, high = min(0, self.ignore_index), max(self.num_labels - 1, self.ignore_index)
        self._buffer_dtype = next(
            t for t in (np.int16, np.int32, np.int64) if np.iinfo(t).min <= low and high <= np.iinfo(t).max
        )
        self.reset()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget everything added so far."""
        self._confusion = np.zeros((self.num_labels, self.num_labels), dtype=np.int64)
        self._official_confusion_ended = np.zeros((self.num_labels, self.num_labels), dtype=np.int64)
        self._videos: dict[Hashable, _VideoState] = {}

    @property
    def video_ids(self) -> list[Hashable]:
        """Ids of the videos seen so far, in order of first appearance."""
        return list(self._videos)

    @property
    def confusion_matrix(self) -> np.ndarray:
        """``[C, C]`` ``int64`` confusion matrix over all frames so far (rows: ground truth, columns: prediction)."""
        return self._confusion.copy()

    @staticmethod
    def _check_protocol(protocol: str) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")

    # ------------------------------------------------------------------ input

    def _prepare(self, predictions: Any, references: Any, ndim: int, what: str) -> tuple[np.ndarray, np.ndarray]:
        predictions = _host_array(predictions)
        references = _host_array(references)
        shape_doc = "[n, H, W]" if ndim == 3 else "[H, W]"
        for name, array in (("predictions", predictions), ("references", references)):
            if array.ndim != ndim:
                raise ValueError(f"{what} expects {name} of shape {shape_doc}, got an array of shape {array.shape}.")
            _check_integer(array, name)
        if predictions.shape != references.shape:
            raise ValueError(
                f"predictions and references must have the same shape, got {predictions.shape} and {references.shape}."
            )
        if predictions.size == 0:
            raise ValueError(f"{what} got empty arrays of shape {predictions.shape}.")
        lo, hi = int(predictions.min()), int(predictions.max())
        if lo < 0 or hi >= self.num_labels:
            raise ValueError(
                f"prediction values must lie in [0, num_labels={self.num_labels}), got values in [{lo}, {hi}]."
            )
        predictions = predictions.astype(np.int64, copy=False)
        if self.reduce_labels:
            raw = references.astype(np.int64, copy=False)
            bad = (raw != self.ignore_index) & ((raw < 0) | (raw > self.num_labels))
            if bad.any():
                raise ValueError(
                    f"raw VSPW reference values must be 0 (others), 1..{self.num_labels} or ignore_index="
                    f"{self.ignore_index} with reduce_labels=True, got e.g. {np.unique(raw[bad])[:5].tolist()}."
                )
            references = reduce_vspw_labels(raw, self.ignore_index)
        else:
            references = references.astype(np.int64, copy=False)
            bad = (references != self.ignore_index) & ((references < 0) | (references >= self.num_labels))
            if bad.any():
                raise ValueError(
                    f"reference values must lie in [0, num_labels={self.num_labels}) or equal ignore_index="
                    f"{self.ignore_index}, got e.g. {np.unique(references[bad])[:5].tolist()} (raw VSPW masks need "
                    "reduce_labels=True)."
                )
        return predictions, references

    def _state_for(self, video_id: Hashable, height: int, width: int, new_video: bool) -> _VideoState:
        state = self._videos.get(video_id)
        if state is None:
            return _VideoState(self.num_labels, height, width)
        if new_video or state.ended:
            raise ValueError(
                f"video {video_id!r} was already added{' and ended' if state.ended else ''}; "
                + ("add_video takes a whole video once." if new_video else "it cannot receive more frames.")
            )
        if (height, width) != (state.height, state.width):
            raise ValueError(
                f"all frames of video {video_id!r} must have the same size: expected {(state.height, state.width)} "
                f"(its first frame), got {(height, width)}."
            )
        return state

    def _accumulate(self, state: _VideoState, predictions: np.ndarray, references: np.ndarray) -> None:
        """Add ``[n, H, W]`` validated frames (predictions in ``[0, C)``, references reduced) to a video."""
        num_labels = self.num_labels
        valid = references != self.ignore_index
        counts = np.bincount(
            references[valid] * num_labels + predictions[valid], minlength=num_labels * num_labels
        ).reshape(num_labels, num_labels)
        self._confusion += counts
        state.confusion += counts

        for reference, prediction in zip(references, predictions):
            if state.n_frames == 0:
                state.run_reference = np.ones(reference.shape, dtype=np.uint8)
                state.run_prediction = np.ones(reference.shape, dtype=np.uint8)
            else:
                for run, frame, prev in (
                    (state.run_reference, reference, state.prev_reference),
                    (state.run_prediction, prediction, state.prev_prediction),
                ):
                    same = frame == prev
                    np.add(run, 1, out=run, where=same & (run < _MAX_WINDOW))
                    run[~same] = 1
            state.prev_reference = reference.astype(self._buffer_dtype)
            state.prev_prediction = prediction.astype(self._buffer_dtype)
            state.n_frames += 1
            for n in VC_WINDOW_SIZES:
                if state.n_frames >= n:  # the window of frames [t - n + 1, t] is complete
                    constant_gt = state.run_reference >= n
                    nums, dens = state.windows[n]
                    dens.append(int(np.count_nonzero(constant_gt)))
                    nums.append(int(np.count_nonzero(constant_gt & (state.run_prediction >= n))))

    def _end(self, state: _VideoState) -> None:
        state.vspw_miou = vspw_evaluator_metrics(state.confusion)["mIoU"]
        if state.n_frames >= OFFICIAL_MIN_FRAMES:
            self._official_confusion_ended += state.confusion
        state.confusion = None
        state.prev_reference = state.prev_prediction = None
        state.run_reference = state.run_prediction = None
        state.ended = True

    def add_video(self, video_id: Hashable, predictions: Any, references: Any) -> None:
        """Add a complete video (and end it).

        Args:
            video_id: hashable id of a video not seen before (e.g. the VSPW video name).
            predictions: ``[n, H, W]`` integer array of predicted class ids in ``[0, num_labels)``.
            references: ``[n, H, W]`` integer array of ground truth (raw VSPW masks if ``reduce_labels``).

        Frames are in temporal order (frame ``t`` of a VSPW video is its ``t``-th mask file in sorted order).
        """
        predictions, references = self._prepare(predictions, references, 3, "add_video")
        state = self._state_for(video_id, *references.shape[1:], new_video=True)
        self._accumulate(state, predictions, references)
        self._videos[video_id] = state
        self._end(state)

    def add_frame(self, video_id: Hashable, prediction: Any, reference: Any) -> None:
        """Add the next frame of a video (streaming); the video stays open until :meth:`end_video`.

        Args:
            video_id: hashable id of the video the frame belongs to; videos may be interleaved.
            prediction: ``[H, W]`` integer array of predicted class ids in ``[0, num_labels)``.
            reference: ``[H, W]`` integer array of ground truth (a raw VSPW mask if ``reduce_labels``). All frames
                of a video must have the same ``[H, W]``.
        """
        prediction, reference = self._prepare(prediction, reference, 2, "add_frame")
        state = self._state_for(video_id, *reference.shape, new_video=False)
        self._accumulate(state, prediction[None], reference[None])
        self._videos[video_id] = state

    def end_video(self, video_id: Hashable) -> None:
        """Mark a video streamed with :meth:`add_frame` as complete and free its frame buffers."""
        state = self._videos.get(video_id)
        if state is None:
            raise ValueError(f"unknown video {video_id!r}.")
        if not state.ended:
            self._end(state)

    @classmethod
    def merge(
        cls, parts: Sequence[VideoSegmentationMetrics], order: Sequence[Hashable] | None = None
    ) -> VideoSegmentationMetrics:
        """Combine metrics accumulated on disjoint sets of ended videos (e.g. by several processes).

        Args:
            parts: metrics with the same `num_labels` and `ignore_index`; every video must be ended.
            order: video ids fixing the order of the videos in the result (default: the order of `parts`).
        """
        if not parts:
            raise ValueError("nothing to merge.")
        first = parts[0]
        merged = cls(
            first.num_labels,
            ignore_index=first.ignore_index,
            reduce_labels=first.reduce_labels,
            protocol=first.protocol,
        )
        videos: dict[Hashable, _VideoState] = {}
        for part in parts:
            if (part.num_labels, part.ignore_index) != (first.num_labels, first.ignore_index):
                raise ValueError("cannot merge metrics with different num_labels / ignore_index.")
            merged._confusion += part._confusion
            merged._official_confusion_ended += part._official_confusion_ended
            for video_id, state in part._videos.items():
                if video_id in videos:
                    raise ValueError(
                        f"video {video_id!r} was evaluated twice (it is in several of the merged metrics)."
                    )
                if not state.ended:
                    raise ValueError(f"video {video_id!r} is still open: call end_video() before merging.")
                videos[video_id] = state
        if order is not None:
            rank = {video_id: i for i, video_id in enumerate(order)}
            videos = dict(sorted(videos.items(), key=lambda item: rank.get(item[0], len(rank))))
        merged._videos = videos
        return merged

    # ------------------------------------------------------------------ output

    def compute(self, protocol: str | None = None) -> dict[str, Any]:
        """Metrics over everything added so far (does not modify the state).

        Args:
            protocol: ``"official"`` or ``"all_windows"``; defaults to the constructor's `protocol`.

        Returns:
            A dict with

            * ``mIoU``, ``mAcc``, ``aAcc`` (floats), ``per_class_iou``, ``per_class_accuracy`` (``[C]`` float64,
              NaN where undefined): mmseg's definitions (:func:`mmseg_metrics`) over all frames of all videos;
            * ``confusion_matrix``: ``[C, C]`` int64 over all frames (rows: ground truth, columns: prediction);
            * ``mVC8``, ``mVC16``: video consistency (NaN if no window has a constant ground-truth pixel);
            * ``protocol``, ``num_videos``, ``num_frames`` (all videos), ``num_windows_vc8`` /
              ``num_windows_vc16`` (windows used, NaN-scored windows included);
            * ``per_video``: ``{video_id: {"n_frames", "vc8_windows", "vc16_windows" (lists of window scores in
              temporal order), "mVC8", "mVC16" (their ``nanmean``), "mIoU" (the video's own VC_perclip mIoU)}}``
              for the videos used by the protocol, in order of first appearance;
            * with ``protocol="official"`` only: ``skipped_videos`` (``<= 16`` frames), ``good_videos`` (used videos
              whose own mIoU is ``> 0.7``) and the official script's metrics over the used videos:
              ``official_pixel_accuracy``, ``official_class_accuracy``, ``official_mIoU`` (classes present in the
              ground truth only), ``official_FWIoU`` and ``official_confusion_matrix`` (``[C, C]`` int64).
        """
        protocol = self.protocol if protocol is None else protocol
        self._check_protocol(protocol)

        result: dict[str, Any] = mmseg_metrics(self._confusion)
        result["confusion_matrix"] = self._confusion.copy()

        used = {
            video_id: state
            for video_id, state in self._videos.items()
            if protocol == "all_windows" or state.n_frames >= OFFICIAL_MIN_FRAMES
        }
        per_video: dict[Hashable, dict[str, Any]] = {}
        pooled: dict[int, list[float]] = {n: [] for n in VC_WINDOW_SIZES}
        for video_id, state in used.items():
            entry: dict[str, Any] = {"n_frames": state.n_frames}
            for n in VC_WINDOW_SIZES:
                scores = state.window_scores(n, protocol)
                pooled[n].extend(scores)
                entry[f"vc{n}_windows"] = scores
                entry[f"mVC{n}"] = _nanmean(scores)
            entry["mIoU"] = state.own_miou()
            per_video[video_id] = entry

        for n in VC_WINDOW_SIZES:
            result[f"mVC{n}"] = _nanmean(pooled[n])
            result[f"num_windows_vc{n}"] = len(pooled[n])
        result["protocol"] = protocol
        result["num_videos"] = len(self._videos)
        result["num_frames"] = sum(state.n_frames for state in self._videos.values())
        result["per_video"] = per_video

        if protocol == "official":
            official_cm = self._official_confusion_ended.copy()
            for state in used.values():
                if not state.ended:
                    official_cm += state.confusion
            for key, value in vspw_evaluator_metrics(official_cm).items():
                result[f"official_{key}"] = value
            result["official_confusion_matrix"] = official_cm
            result["good_videos"] = [
                video_id for video_id, entry in per_video.items() if entry["mIoU"] > OFFICIAL_GOOD_VIDEO_MIOU
            ]
            result["skipped_videos"] = [video_id for video_id in self._videos if video_id not in used]
        return result
