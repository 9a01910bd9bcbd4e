# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Video evaluation: whole videos, each frame predicted with its official test clip through streaming inference
(`mrcfa.segment_video`, one `MrcfaVideoInferenceSession` per video), or alone (the image baseline), scored by
`VideoSegmentationMetrics` (mIoU, mVC8, mVC16).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..metrics import VC_WINDOW_SIZES, VideoSegmentationMetrics
from ..models.mrcfa.streaming_mrcfa import segment_video

__all__ = [
    "evaluate_videos",
    "flatten_metrics",
    "gather_video_metrics",
    "load_eval_videos",
    "single_frame_predictions",
]


def _decoded(image: Any, mode: str | None = None) -> Any:
    """`image` itself, or the PIL image of an undecoded `datasets.Image` value (`{"path", "bytes"}`)."""
    if isinstance(image, Mapping):
        import datasets

        return datasets.Image(mode=mode).decode_example(dict(image))
    return image


def _video_frames(clips: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Hashable, Iterator[tuple]]]:
    """Group eval clips (one per frame, video then frame order) into (video_id, [(frame, mask), ...] iterator).

    Only the target (last) frame and mask of each clip are used, and decoded here when the clips hold undecoded
    images (see :func:`load_eval_videos`).
    """
    for video_id, group in itertools.groupby(clips, key=lambda ex: ex["video_id"]):
        yield video_id, _frames_until_gap(video_id, group)


def _frames_until_gap(video_id: Hashable, clips: Iterable[Mapping[str, Any]]) -> Iterator[tuple]:
    """(frame, mask) of the clips of one video, up to the first frame whose clip is missing (`skip_corrupt` skips
    the clips that use a bad file): the frames after it would be predicted from the wrong references."""
    for expected, ex in enumerate(clips):
        target = ex["frame_indices"][-1] if "frame_indices" in ex else expected
        if target != expected:
            kept = f"only its frames 0..{expected - 1} are evaluated" if expected else "it is not evaluated"
            warnings.warn(
                f"video {video_id!r}: the clip of frame {expected} was skipped (skip_corrupt), so {kept}.",
                UserWarning,
                stacklevel=2,
            )
            return
        yield _decoded(ex["frames"][-1], "RGB"), _decoded((ex.get("masks") or [None])[-1])


@torch.no_grad()
def single_frame_predictions(model, frames: Iterable[Any], processor, batch_size: int) -> Iterator[torch.Tensor]:
    """Per-frame predictions with no temporal context (the image baseline): `model(frame).logits` of each frame."""
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    model.eval()
    frames = iter(frames)
    while True:
        chunk = list(itertools.islice(frames, batch_size))
        if not chunk:
            return
        inputs = processor(images=chunk, return_tensors="pt")
        outputs = model(pixel_values=inputs["pixel_values"].to(device, dtype=dtype))
        yield from processor.post_process_semantic_segmentation(outputs, target_sizes=inputs["original_sizes"])


def evaluate_videos(
    model,
    clips: Iterable[Mapping[str, Any]],
    processor,
    *,
    num_labels: int,
    single_frame: bool = False,
    batch_size: int = 1,
    max_videos: int | None = None,
    video_index: Mapping[Hashable, int] | None = None,
    progress: bool = False,
    total_videos: int | None = None,
    protocol: str = "official",
) -> VideoSegmentationMetrics:
    """Predict and score whole videos.

    Args:
        model: an `MrcfaForVideoSemanticSegmentation` (put in eval mode).
        clips: eval clips of `load_vspw(..., mode="eval")` (one per frame, video then frame order); only the target
            (last) frame and mask of each clip are used: the frames are re-read as a video by streaming inference.
            A video whose clips stop being consecutive (`skip_corrupt=True` skipped a clip) is evaluated up to the
            first missing frame, with a warning.
        processor: the `MrcfaImageProcessor` of the test preprocessing.
        num_labels: classes of the model; masks are raw VSPW masks (0 = others, k = class k - 1).
        single_frame: predict every frame alone (`model(frame)`, the image baseline) instead of with its official
            test clip through `mrcfa.segment_video`.
        batch_size: frames encoded together.
        max_videos: evaluate only the first `max_videos` videos: of the split when `video_index` (video id -> position
            in the split) is given -- the clips must then come in increasing position, as a `load_vspw` eval stream
            split by video does -- else of `clips`.
        progress: show a tqdm bar over videos (`total_videos` as its length).

    Returns:
        The (local) `VideoSegmentationMetrics`, with every evaluated video ended.
    """
    metric = VideoSegmentationMetrics(num_labels, reduce_labels=True, protocol=protocol)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_videos, desc="Evaluating videos", unit="video", leave=False)
    done = 0
    was_training = model.training
    model.eval()
    try:
        for video_id, items in _video_frames(clips):
            position = done if video_index is None else video_index.get(video_id, done)
            if max_videos is not None and position >= max_videos:
                break
            first = next(items, None)  # None: the clip of its first frame was skipped (`_frames_until_gap`)
            if first is not None:
                _score_video(
                    metric, video_id, itertools.chain([first], items), model, processor, single_frame, batch_size
                )
            done += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return metric


def _score_video(metric, video_id, items, model, processor, single_frame: bool, batch_size: int) -> None:
    """Predict the (frame, mask) `items` of one video and add them to `metric` (ending the video)."""
    masks: list[Any] = []

    def frames():
        for frame, mask in items:
            if mask is None:
                raise ValueError(f"video {video_id!r} has no masks: evaluation needs a labelled split.")
            masks.append(mask)
            yield frame

    if single_frame:
        predictions = single_frame_predictions(model, frames(), processor, batch_size)
    else:
        predictions = segment_video(model, frames(), processor=processor, batch_size=batch_size)
    for index, prediction in enumerate(predictions):
        reference = np.asarray(masks[index])
        masks[index] = None
        metric.add_frame(video_id, prediction.cpu().numpy(), reference)
    metric.end_video(video_id)


def gather_video_metrics(
    local: VideoSegmentationMetrics, order: Sequence[Hashable] | None = None
) -> VideoSegmentationMetrics:
    """All-gather the metrics of every process (no-op without torch.distributed) and merge them."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return VideoSegmentationMetrics.merge([local], order)
    parts = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, local)
    return VideoSegmentationMetrics.merge(parts, order)


def flatten_metrics(
    result: Mapping[str, Any], prefix: str = "eval", id2label: Mapping[int, str] | None = None
) -> dict[str, float]:
    """Scalar metrics of `VideoSegmentationMetrics.compute()` as `{prefix}_{name}` floats (per-class IoU included)."""
    keys = ["mIoU", "mAcc", "aAcc", *(f"mVC{n}" for n in VC_WINDOW_SIZES)]
    keys += [f"num_windows_vc{n}" for n in VC_WINDOW_SIZES] + ["num_videos", "num_frames"]
    keys += [k for k in ("official_mIoU", "official_pixel_accuracy", "official_class_accuracy") if k in result]
    out = {f"{prefix}_{k}": float(result[k]) for k in keys if k in result}
    if "skipped_videos" in result:
        out[f"{prefix}_num_skipped_videos"] = float(len(result["skipped_videos"]))
    for index, value in enumerate(result.get("per_class_iou", [])):
        name = id2label.get(index, str(index)) if id2label else str(index)
        out[f"{prefix}_iou_{name}"] = float(value)
    return out


def load_eval_videos(source: str, split: str, *, rank: int = 0, world_size: int = 1, **load_kwargs):
    """This process's share of the eval videos: `load_vspw(source, split, mode="eval")` split by video across
    `world_size` processes; with fewer videos than processes, process 0 evaluates them all (the others get `[]`).

    Other keyword arguments go to `load_vspw`. Frames and masks stay undecoded (`Image(decode=False)`):
    `evaluate_videos` decodes only the target frame of each clip, not the three references that the streaming
    inference never reads from the clip (each frame would otherwise be decoded up to four times).
    """
    import datasets
    from datasets.distributed import split_dataset_by_node

    from ..data import load_vspw

    dataset = load_vspw(source, split, mode="eval", **load_kwargs)
    for column in ("frames", "masks"):
        if column in dataset.features:
            dataset = dataset.cast_column(column, datasets.List(datasets.Image(decode=False)))
    if world_size > 1:
        if dataset.num_shards >= world_size:
            return split_dataset_by_node(dataset, rank=rank, world_size=world_size, strategy="shards")
        if rank > 0:
            return []
    return dataset
