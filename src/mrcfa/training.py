# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Training MRCFA with transformers' `Trainer`: the official recipe, a resumable clip stream, video evaluation.

Used by `scripts/run_vss.py`; every piece also works on its own:

* `official_param_groups` / `get_official_poly_schedule`: the official optimiser and schedule (SPEC §9): AdamW with
  the head (`decode_head.*`) at 10x the learning rate, no weight decay on the encoder's norms, polynomial decay to 0
  with mmcv's linear warm-up (starting at `warmup_ratio` of the learning rate).
* `TrainClipStream`: an endless stream of augmented train clips for one process, read from a `load_vspw` dataset
  already split by video across processes. Its order is a pure function of (seed, data epoch, position), so
  `start_batch` fast-forwards it exactly (whole data epochs are skipped without reading anything; inside an epoch the
  skipped clips are read but not augmented). `TrainerCallback`s that reseed the global RNGs at every optimiser step
  (`StepSeedCallback`) make dropout / DropPath a pure function of the step too: a run killed and resumed from a
  checkpoint ends with the same weights, bit for bit on CPU, as an uninterrupted one.
* `evaluate_videos`: whole videos, each frame predicted with its official test clip through streaming inference
  (`mrcfa.segment_video`), scored by `VideoSegmentationMetrics` (mIoU, mVC8, mVC16); `merge_video_metrics` merges the
  per-process results of a distributed evaluation.
* `MrcfaTrainer`: a `Trainer` wiring the above together (optimizer, scheduler, train dataloader, `evaluate`, resume,
  model card).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import os
import random
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from transformers import Trainer, TrainerCallback

from .metrics import VC_WINDOW_SIZES, VideoSegmentationMetrics

logger = logging.getLogger(__name__)

__all__ = [
    "HEAD_PREFIX",
    "NO_DECAY_KEYS",
    "MrcfaTrainer",
    "StepSeedCallback",
    "TrainClipStream",
    "TrainCollator",
    "WeightSyncCallback",
    "clips_per_shard",
    "evaluate_videos",
    "flatten_metrics",
    "make_train_dataloader",
    "single_frame_predictions",
    "gather_video_metrics",
    "get_official_poly_schedule",
    "merge_video_metrics",
    "official_param_groups",
    "official_poly_factor",
    "step_seed",
]

#: Parameters whose name starts with this get `head_lr_mult` x the learning rate (the official `'head'` key).
HEAD_PREFIX = "decode_head."
#: Substrings of parameter names without weight decay (the official `'norm'` and `'pos_block'` keys).
NO_DECAY_KEYS = ("norm", "pos_block")
_UINT32 = (1 << 32) - 1


# ----------------------------------------------------------------------------------------------------------------------
# Optimiser and schedule (SPEC §9)
# ----------------------------------------------------------------------------------------------------------------------
def official_param_groups(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    head_lr_mult: float = 10.0,
    no_decay_keys: Sequence[str] = NO_DECAY_KEYS,
) -> list[dict[str, Any]]:
    """AdamW parameter groups of the official recipe (mmcv `paramwise_cfg` with custom keys `head`, `norm`,
    `pos_block`).

    As in mmcv, the first matching key wins and `head` is checked before `norm`: every head parameter
    (`decode_head.*`) gets `head_lr_mult * learning_rate` and the usual weight decay; encoder parameters whose name
    contains one of `no_decay_keys` (the LayerNorms) get no weight decay; everything else gets `learning_rate` and
    `weight_decay`. Frozen parameters are left out. Empty groups are dropped; each group has a `"group_name"`.
    """
    groups: dict[str, dict[str, Any]] = {
        "encoder": {"params": [], "lr": learning_rate, "weight_decay": weight_decay},
        "encoder_no_decay": {"params": [], "lr": learning_rate, "weight_decay": 0.0},
        "head": {"params": [], "lr": learning_rate * head_lr_mult, "weight_decay": weight_decay},
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith(HEAD_PREFIX) or f".{HEAD_PREFIX}" in name:
            key = "head"
        elif any(k in name for k in no_decay_keys):
            key = "encoder_no_decay"
        else:
            key = "encoder"
        groups[key]["params"].append(param)
    return [{"group_name": k, **g} for k, g in groups.items() if g["params"]]


def official_poly_factor(
    step: int, num_training_steps: int, num_warmup_steps: int, warmup_ratio: float = 1e-6, power: float = 1.0
) -> float:
    """Learning-rate factor of optimiser step `step` (0-based) in the official schedule.

    mmcv `PolyLrUpdaterHook(power, min_lr=0, by_epoch=False, warmup='linear', warmup_ratio)`: the regular factor is
    `(1 - step / num_training_steps) ** power`; during the first `num_warmup_steps` steps it is multiplied by
    `1 - (1 - step / num_warmup_steps) * (1 - warmup_ratio)` (so step 0 uses `warmup_ratio`).
    """
    progress = min(step, num_training_steps) / max(num_training_steps, 1)
    factor = (1.0 - progress) ** power
    if step < num_warmup_steps:
        factor *= 1.0 - (1.0 - step / num_warmup_steps) * (1.0 - warmup_ratio)
    return factor


def get_official_poly_schedule(
    optimizer: torch.optim.Optimizer,
    num_training_steps: int,
    num_warmup_steps: int,
    warmup_ratio: float = 1e-6,
    power: float = 1.0,
    last_epoch: int = -1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """`LambdaLR` of :func:`official_poly_factor` (every parameter group keeps its own base learning rate)."""
    if num_training_steps < 1:
        raise ValueError(f"num_training_steps must be >= 1, got {num_training_steps}.")
    if num_warmup_steps < 0:
        raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}.")
    factor = partial(
        official_poly_factor,
        num_training_steps=num_training_steps,
        num_warmup_steps=num_warmup_steps,
        warmup_ratio=warmup_ratio,
        power=power,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor, last_epoch=last_epoch)


# ----------------------------------------------------------------------------------------------------------------------
# Train data
# ----------------------------------------------------------------------------------------------------------------------
def _seed_sequence_int(*values: int) -> int:
    state = np.random.SeedSequence([int(v) & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(1, np.uint32)
    return int(state[0])


def clips_per_shard(listing, clips_per_video: int = 1, reference_offsets: Sequence[int] = (-9, -6, -3)) -> int | None:
    """Train clips yielded by every shard of `load_vspw(..., mode="train")` for `listing` (a `VspwSplit`), or None when
    shards differ in size.

    A shard is one video (raw folders) or the videos of one Parquet row group; videos with too few frames give no clip.
    When every shard holds one usable video, each yields `clips_per_video` clips per pass, so a process's data epoch
    has a known length and whole epochs can be skipped on resume without reading them.
    """
    first = -min(reference_offsets)
    usable = [v for v in listing.videos if v.num_frames > first]
    sizes, previous = [], None
    for video in usable:
        key = (video.parquet_file, video.row_group)
        if video.parquet_file is not None and key == previous:
            sizes[-1] += 1
        else:
            sizes.append(1)
        previous = key
    if not sizes or len(set(sizes)) != 1:
        return None
    return sizes[0] * int(clips_per_video)


class TrainClipStream(IterableDataset):
    """Endless, resumable stream of augmented train clips for one process.

    Args:
        dataset: a `datasets.IterableDataset` of raw train clips (`load_vspw(..., mode="train")`), already split across
            processes (`split_dataset_by_node(..., strategy="shards")`: whole videos per process).
        transform: raw clip -> `{"pixel_values", "labels"}` (e.g. `VspwTrainTransform`), applied after skipping.
        batch_size: DataLoader batch size (clips per batch), used to convert `start_batch` into clips.
        seed: data seed; data epoch `e` iterates the dataset with `set_epoch(1 + hash(seed, e))` (a new video order and
            new clips for every epoch, reproducible).
        clips_per_shard: clips in every shard per data epoch (see :func:`clips_per_shard`), or None if unknown: then a
            resume reads every clip it skips.
        start_batch: batches (of this process) already consumed: the stream starts right after them.

    With DataLoader workers, worker `w` of `W` iterates its share of the shards and produces batches `w, w + W, ...`
    of the process (the DataLoader's round robin); all workers are endless, so this stays exact.
    """

    def __init__(
        self,
        dataset,
        transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
        *,
        batch_size: int,
        seed: int = 0,
        clips_per_shard: int | None = None,
        start_batch: int = 0,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.dataset = dataset
        self.transform = transform
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.clips_per_shard = clips_per_shard
        self.start_batch = int(start_batch)

    @property
    def num_shards(self) -> int:
        return int(self.dataset.num_shards)

    def epoch_key(self, epoch: int) -> int:
        """Value given to `dataset.set_epoch` for data epoch `epoch` (never 0: epoch 0 of `datasets` is unshuffled)."""
        return 1 + _seed_sequence_int(self.seed, epoch) % (1 << 30)

    def _worker(self) -> tuple[int, int]:
        info = get_worker_info()
        return (0, 1) if info is None else (info.id, info.num_workers)

    def start_position(self, worker: int = 0, num_workers: int = 1) -> tuple[int, int]:
        """(data epoch, clips to skip inside it) where worker `worker` of `num_workers` resumes.

        The DataLoader asks its workers for batches in turn starting with worker 0, while the batch following
        `start_batch` comes from worker `start_batch % num_workers`: the workers before that one re-yield their last
        consumed batch, which `make_train_dataloader` drops (`leading_batches_to_drop`).
        """
        batches = len(range(worker, self.start_batch, num_workers))
        if worker < self.leading_batches_to_drop(num_workers):
            batches -= 1
        skip = batches * self.batch_size
        if self.clips_per_shard and skip:
            shards = len(range(worker, self.num_shards, num_workers))
            per_epoch = shards * self.clips_per_shard
            if per_epoch:
                return divmod(skip, per_epoch)
        return 0, skip

    def leading_batches_to_drop(self, num_workers: int) -> int:
        """Batches to drop at the start of a resumed DataLoader with `num_workers` workers (see `start_position`)."""
        return self.start_batch % num_workers if num_workers > 1 else 0

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        worker, num_workers = self._worker()
        epoch, skip = self.start_position(worker, num_workers)
        # A private copy: `datasets` keeps the epoch in shared memory, common to all DataLoader workers.
        dataset = copy.deepcopy(self.dataset)
        current = epoch
        while True:
            dataset.set_epoch(self.epoch_key(current))
            count = 0
            for example in dataset:
                count += 1
                if skip:
                    skip -= 1
                    continue
                yield dict(self.transform(example)) if self.transform is not None else example
            if count == 0:
                raise RuntimeError(
                    "the train stream of this process (or DataLoader worker) yielded no clip in a whole data epoch: "
                    "it has no video. Use fewer processes / dataloader workers than videos."
                )
            current += 1


class _DropFirstBatches:
    """Iterable over a DataLoader without its first `count` batches."""

    def __init__(self, loader: DataLoader, count: int):
        self.loader = loader
        self.dataset = loader.dataset
        self.count = count

    def __iter__(self):
        return itertools.islice(iter(self.loader), self.count, None)


def make_train_dataloader(
    stream: TrainClipStream,
    collate_fn: Callable | None = None,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    prefetch_factor: int | None = None,
) -> Iterable:
    """The DataLoader of a `TrainClipStream` (batch size `stream.batch_size`), resuming exactly at
    `stream.start_batch` whatever the number of workers (capped at the stream's number of shards)."""
    if num_workers > stream.num_shards:
        logger.warning(
            f"dataloader_num_workers={num_workers} but this process has only {stream.num_shards} videos (shards): "
            f"using {stream.num_shards} workers."
        )
        num_workers = stream.num_shards
    loader = DataLoader(
        stream,
        batch_size=stream.batch_size,
        collate_fn=collate_fn,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
    )
    drop = stream.leading_batches_to_drop(max(num_workers, 1))
    return _DropFirstBatches(loader, drop) if drop else loader


class TrainCollator:
    """Collate transformed clips into `pixel_values [B, T, 3, H, W]`, `labels [B, T, H, W]`.

    With `num_frames=1` (single-frame training, the image baseline) every frame of every clip becomes its own sample:
    `[B * T, 1, 3, H, W]` -- same frames and labels as clip training, no temporal head.
    """

    def __init__(self, num_frames: int):
        self.num_frames = int(num_frames)

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        from .data import collate_clips

        out = collate_clips(batch)
        if self.num_frames == 1:
            out = {key: value.flatten(0, 1).unsqueeze(1) for key, value in out.items()}
        elif out["pixel_values"].shape[1] != self.num_frames:
            raise ValueError(
                f"train clips have {out['pixel_values'].shape[1]} frames but num_frames={self.num_frames}."
            )
        return out


# ----------------------------------------------------------------------------------------------------------------------
# Reproducibility and distributed checks
# ----------------------------------------------------------------------------------------------------------------------
def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """Seed of the global RNGs for optimiser step `step` (0-based) on process `rank`."""
    return _seed_sequence_int(seed, step, rank)


class StepSeedCallback(TrainerCallback):
    """Reseeds torch / numpy / random at the start of every optimiser step from (seed, step, rank).

    Dropout and DropPath then depend only on the step, not on what ran before (data loading, evaluation, a restart),
    which makes resumed runs bit-identical to uninterrupted ones.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_step_begin(self, args, state, control, **kwargs):
        value = step_seed(self.seed, state.global_step, args.process_index)
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)


def parameter_checksum(model: torch.nn.Module) -> torch.Tensor:
    """float64 vector: per parameter, its sum and its sum of squares (cheap, and enough to catch diverging replicas).

    Buffers (BatchNorm running statistics) are left out: each process updates them with its own batch, and DDP
    broadcasts process 0's at the start of every forward pass.
    """
    with torch.no_grad():
        values = [
            torch.stack([p.detach().double().sum(), p.detach().double().square().sum()]) for p in model.parameters()
        ]
    return torch.cat(values).cpu() if values else torch.zeros(0, dtype=torch.float64)


class WeightSyncCallback(TrainerCallback):
    """Every `every` optimiser steps, all-gathers a checksum of the parameters and raises if two processes differ.

    `checked_steps` counts the successful checks (logged at the end of training).
    """

    def __init__(self, every: int = 1):
        self.every = max(int(every), 1)
        self.checked_steps = 0

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()) or model is None:
            return
        if state.global_step % self.every:
            return
        local = parameter_checksum(model)
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, local)
        for rank, other in enumerate(gathered):
            if not torch.equal(other, gathered[0]):
                raise RuntimeError(
                    f"weights differ between process 0 and process {rank} after step {state.global_step}: "
                    "the replicas are out of sync."
                )
        self.checked_steps += 1

    def on_train_end(self, args, state, control, **kwargs):
        if self.checked_steps:
            world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
            logger.warning(
                f"weight sync check: weights identical on all {world} processes after each of "
                f"{self.checked_steps} checked steps"
            )


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------------------
def _video_frames(clips: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Hashable, list]]:
    """Group eval clips (one per frame, video then frame order) into (video_id, [(frame, mask), ...] iterator)."""
    for video_id, group in itertools.groupby(clips, key=lambda ex: ex["video_id"]):
        yield video_id, ((ex["frames"][-1], (ex.get("masks") or [None])[-1]) for ex in group)


@torch.no_grad()
def single_frame_predictions(model, frames: Iterable[Any], processor, batch_size: int) -> Iterator[torch.Tensor]:
    """Per-frame predictions with no temporal context (the image baseline): `model(frame).logits` of each frame."""
    from .inference import _frame_size

    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    model.eval()
    frames = iter(frames)
    while True:
        chunk = list(itertools.islice(frames, batch_size))
        if not chunk:
            return
        sizes = [_frame_size(f) for f in chunk]
        pixel_values = processor(images=chunk, return_tensors="pt")["pixel_values"].to(device, dtype=dtype)
        outputs = model(pixel_values=pixel_values)
        yield from processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)


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
        processor: the `MrcfaVideoProcessor` of the test preprocessing.
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
    from .inference import segment_video

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
            masks: list[Any] = []

            def frames(items=items, masks=masks, video_id=video_id):
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
            done += 1
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)
    return metric


def merge_video_metrics(
    parts: Sequence[VideoSegmentationMetrics], order: Sequence[Hashable] | None = None
) -> VideoSegmentationMetrics:
    """Merge metrics computed on disjoint sets of (ended) videos, e.g. by several processes.

    `order` (video ids) fixes the order of the videos in the result (by default: the order of `parts`).
    """
    return VideoSegmentationMetrics.merge(parts, order)


def gather_video_metrics(
    local: VideoSegmentationMetrics, order: Sequence[Hashable] | None = None
) -> VideoSegmentationMetrics:
    """All-gather the metrics of every process (no-op without torch.distributed) and merge them."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return merge_video_metrics([local], order)
    parts = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, local)
    return merge_video_metrics(parts, order)


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


# ----------------------------------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------------------------------
class MrcfaTrainer(Trainer):
    """`Trainer` for MRCFA video semantic segmentation.

    Extra arguments:
        train_collator: collate function of the train DataLoader (`TrainCollator`).
        eval_video_order: video ids of the eval split in split order (orders the merged metrics).
        eval_single_frame: evaluate with per-frame predictions (the image baseline).
        eval_max_videos: evaluate only the first this many videos of the split (None: all).
        eval_total_videos: number of eval videos (progress bar length).
        vc_protocol: `"official"` or `"all_windows"` (see `VideoSegmentationMetrics`).
        model_card_kwargs: extra arguments of `mrcfa.model_cards.render_model_card`.

    The train dataset must be a `TrainClipStream` (already split across processes), the eval dataset a
    `load_vspw(..., mode="eval")` stream of this process's videos. Optimizer, scheduler and resume follow the
    training arguments' `lr_schedule`, `head_lr_mult`, `warmup_start_ratio`, `poly_power`.
    """

    def __init__(
        self,
        *args,
        train_collator: Callable | None = None,
        eval_video_order: Sequence[Hashable] | None = None,
        eval_single_frame: bool = False,
        eval_max_videos: int | None = None,
        eval_total_videos: int | None = None,
        vc_protocol: str = "official",
        model_card_kwargs: Mapping[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # (MrcfaForVideoSemanticSegmentation.accepts_loss_kwargs is False: its loss is a per-batch mean, so Trainer
        # scales it for gradient accumulation itself.)
        self.train_collator = train_collator
        self.eval_video_order = list(eval_video_order) if eval_video_order is not None else None
        self._eval_video_index = (
            {video_id: i for i, video_id in enumerate(self.eval_video_order)} if self.eval_video_order else None
        )
        self.eval_single_frame = bool(eval_single_frame)
        self.eval_max_videos = eval_max_videos
        self.eval_total_videos = eval_total_videos
        self.vc_protocol = vc_protocol
        self.model_card_kwargs = dict(model_card_kwargs or {})
        self.last_eval_result: dict[str, Any] | None = None
        self.resumed_batches = 0

    # ---------------------------------------------------------------------------------------------- optimisation
    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            groups = official_param_groups(
                model,
                self.args.learning_rate,
                self.args.weight_decay,
                head_lr_mult=getattr(self.args, "head_lr_mult", 10.0),
            )
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=self.args.learning_rate,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
                weight_decay=self.args.weight_decay,
            )
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None and getattr(self.args, "lr_schedule", "official_poly") == "official_poly":
            optimizer = self.optimizer if optimizer is None else optimizer
            self.lr_scheduler = get_official_poly_schedule(
                optimizer,
                num_training_steps=num_training_steps,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                warmup_ratio=getattr(self.args, "warmup_start_ratio", 1e-6),
                power=getattr(self.args, "poly_power", 1.0),
            )
            self._created_lr_scheduler = True
            return self.lr_scheduler
        return super().create_scheduler(num_training_steps, optimizer)

    # ------------------------------------------------------------------------------------------------------ data
    def get_train_dataloader(self) -> DataLoader:
        """A plain DataLoader over this process's `TrainClipStream` (not re-sharded by accelerate: the stream is
        already split by video, and its order must not depend on anything but the seed and the step)."""
        stream = self.train_dataset
        if not isinstance(stream, TrainClipStream):
            raise TypeError(f"MrcfaTrainer needs a TrainClipStream as train_dataset, got {type(stream).__name__}.")
        if stream.batch_size != self._train_batch_size:
            raise ValueError(
                f"the TrainClipStream has batch_size={stream.batch_size} but the Trainer uses {self._train_batch_size}."
            )
        return make_train_dataloader(
            stream,
            self.train_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            prefetch_factor=self.args.dataloader_prefetch_factor,
        )

    def _init_training_state(
        self, max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
    ):
        # Trainer would fast-forward by iterating (and augmenting) every consumed batch; the stream skips itself.
        epochs_trained, steps_trained = super()._init_training_state(
            max_steps, num_update_steps_per_epoch, num_train_epochs, resume_from_checkpoint, trial
        )
        if resume_from_checkpoint is not None and isinstance(self.train_dataset, TrainClipStream):
            batches = (
                0 if self.args.ignore_data_skip else self.state.global_step * self.args.gradient_accumulation_steps
            )
            self.train_dataset.start_batch = batches
            self.resumed_batches = batches
            if batches:
                logger.info(f"  Train stream fast-forwarded past {batches} batches of this process.")
            return epochs_trained, 0
        return epochs_trained, steps_trained

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Load a checkpoint's weights through `from_pretrained` (strict).

        `save_pretrained` (transformers 5) writes the SegFormer encoder under its legacy (transformers 4) key names,
        while `Trainer._load_from_checkpoint` calls `load_state_dict(strict=False)` without renaming them: the
        encoder would silently keep its pre-resume weights. `from_pretrained` applies the renaming.
        """
        from transformers import PreTrainedModel

        target = self.accelerator.unwrap_model(self.model if model is None else model)
        has_weights = any(
            os.path.isfile(os.path.join(resume_from_checkpoint, name))
            for name in ("model.safetensors", "model.safetensors.index.json")
        )
        if not isinstance(target, PreTrainedModel) or not has_weights or self.is_fsdp_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        loaded = type(target).from_pretrained(resume_from_checkpoint, config=target.config)
        target.load_state_dict(loaded.state_dict(), strict=True)
        del loaded

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        if best is not None and os.path.isdir(best):
            logger.info(f"Loading best model from {best} (score: {self.state.best_metric}).")
            self._load_from_checkpoint(best)
        else:
            super()._load_best_model()

    # ------------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Whole-video evaluation (official test clips, streaming inference): mIoU, mVC8, mVC16, ..."""
        self._memory_tracker.start()
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("MrcfaTrainer.evaluate needs an eval dataset (load_vspw(..., mode='eval')).")
        model = self.accelerator.unwrap_model(self.model)
        device = self.args.device
        if next(model.parameters()).device != device:
            model.to(device)
        start = time.time()
        local = evaluate_videos(
            model,
            dataset,
            self.processing_class,
            num_labels=model.config.num_labels,
            single_frame=self.eval_single_frame,
            batch_size=self.args.per_device_eval_batch_size,
            max_videos=self.eval_max_videos,
            video_index=self._eval_video_index,
            progress=not self.args.disable_tqdm and self.is_local_process_zero(),
            total_videos=self.eval_total_videos,
            protocol=self.vc_protocol,
        )
        merged = gather_video_metrics(local, self.eval_video_order)
        result = merged.compute(self.vc_protocol)
        self.last_eval_result = result
        metrics = flatten_metrics(result, metric_key_prefix, model.config.id2label)
        runtime = time.time() - start
        metrics[f"{metric_key_prefix}_runtime"] = round(runtime, 4)
        if result["num_frames"]:
            metrics[f"{metric_key_prefix}_frames_per_second"] = round(result["num_frames"] / runtime, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        self._memory_tracker.stop_and_update_metrics(metrics)
        return metrics

    # ------------------------------------------------------------------------------------------------ model card
    def create_model_card(self, model_name: str | None = None, **kwargs) -> None:
        """Write the MRCFA model card (`mrcfa.model_cards`) to `output_dir/README.md` (main process only)."""
        if not self.is_world_process_zero():
            return
        from .model_cards import render_model_card

        card_kwargs = dict(self.model_card_kwargs)
        if model_name is not None and self.args.hub_model_id is None:
            card_kwargs.setdefault("model_name", model_name)
        if self.args.hub_model_id is not None:
            card_kwargs.setdefault("model_name", self.args.hub_model_id)
        model = self.accelerator.unwrap_model(self.model)
        text = render_model_card(model.config, **card_kwargs)
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "README.md"), "w", encoding="utf-8") as handle:
            handle.write(text)


def nan_to_none(metrics: Mapping[str, float]) -> dict[str, float | None]:
    """JSON-friendly copy (NaN -> None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
