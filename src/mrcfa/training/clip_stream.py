# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The train data of one process: an endless, resumable stream of augmented clips and its DataLoader.

`TrainClipStream` reads, for each data epoch, a `load_vspw(..., mode="train", epoch=...)` dataset already split by
video across processes. Its order is a pure function of (seed, data epoch, position), so `start_batch` fast-forwards it
exactly: whole data epochs are skipped without reading anything; inside an epoch the skipped clips are read but not
augmented.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..data.collate import collate_clips
from .seeding import seed_from

logger = logging.getLogger(__name__)

__all__ = [
    "TrainClipStream",
    "TrainCollator",
    "TrainEpochDatasets",
    "build_train_stream",
    "clips_per_shard",
    "make_train_dataloader",
]


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
        dataset_for_epoch: `epoch -> datasets.IterableDataset` of raw train clips (`load_vspw(..., mode="train",
            epoch=epoch)`), already split across processes (`split_dataset_by_node(..., strategy="shards")`: whole
            videos per process), e.g. a :class:`TrainEpochDatasets`. It is called in each DataLoader worker (which
            then reads its share of the shards) and must be picklable for DataLoader workers that are spawned.
        transform: raw clip -> `{"pixel_values", "labels"}` (e.g. `VspwTrainTransform`), applied after skipping.
        batch_size: DataLoader batch size (clips per batch), used to convert `start_batch` into clips.
        num_shards: shards (videos) of this process in every data epoch (default: read from the dataset of data
            epoch 0).
        seed: data seed; data epoch `e` iterates `dataset_for_epoch(1 + hash(seed, e))` (a new video order and new
            clips for every epoch, reproducible).
        clips_per_shard: clips in every shard per data epoch (see :func:`clips_per_shard`), or None if unknown: then a
            resume reads every clip it skips.
        start_batch: batches (of this process) already consumed: the stream starts right after them.

    With DataLoader workers, worker `w` of `W` iterates its share of the shards and produces batches `w, w + W, ...`
    of the process (the DataLoader's round robin); all workers are endless, so this stays exact.
    """

    def __init__(
        self,
        dataset_for_epoch: Callable[[int], Any],
        transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
        *,
        batch_size: int,
        num_shards: int | None = None,
        seed: int = 0,
        clips_per_shard: int | None = None,
        start_batch: int = 0,
    ):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        if not callable(dataset_for_epoch):
            raise TypeError(
                "TrainClipStream takes a dataset factory `epoch -> datasets.IterableDataset` (e.g. TrainEpochDatasets "
                f"or lambda epoch: load_vspw(..., epoch=epoch)), got {type(dataset_for_epoch).__name__}."
            )
        self.dataset_for_epoch = dataset_for_epoch
        self.transform = transform
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.clips_per_shard = clips_per_shard
        self.start_batch = int(start_batch)
        if num_shards is None:
            num_shards = dataset_for_epoch(self.epoch_key(0)).num_shards
        self._num_shards = int(num_shards)

    @property
    def num_shards(self) -> int:
        return self._num_shards

    def epoch_key(self, epoch: int) -> int:
        """The `epoch` given to `dataset_for_epoch` for data epoch `epoch` (never 0, the unshuffled order)."""
        return 1 + seed_from(self.seed, epoch) % (1 << 30)

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
        current = epoch
        while True:
            # built in this worker: `datasets` gives the worker its share of the shards when iterated
            dataset = self.dataset_for_epoch(self.epoch_key(current))
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
                    "it has no video, or skip_corrupt skipped every clip. Use fewer processes / dataloader workers "
                    "than videos."
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
        out = collate_clips(batch)
        if self.num_frames == 1:
            out = {key: value.flatten(0, 1).unsqueeze(1) for key, value in out.items()}
        elif out["pixel_values"].shape[1] != self.num_frames:
            raise ValueError(
                f"train clips have {out['pixel_values'].shape[1]} frames but num_frames={self.num_frames}."
            )
        return out


class TrainEpochDatasets:
    """The `dataset_for_epoch` factory of :func:`build_train_stream` (picklable).

    `TrainEpochDatasets(source, split, rank=r, world_size=w, **load_kwargs)(epoch)` is
    `load_vspw(source, split, mode="train", epoch=epoch, **load_kwargs)` split by video
    (`split_dataset_by_node(strategy="shards")`) when `world_size > 1`. The split is listed (and checked) by the
    first call only; later calls reuse that listing and do not repeat its warnings.
    """

    def __init__(self, source: str, split: str, *, rank: int = 0, world_size: int = 1, **load_kwargs):
        for name in ("mode", "epoch", "streaming", "listing"):
            if name in load_kwargs:
                raise TypeError(f"TrainEpochDatasets sets {name!r} itself.")
        self.source = source
        self.split = split
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.load_kwargs = load_kwargs
        self.listing = None

    def __call__(self, epoch: int):
        from datasets.distributed import split_dataset_by_node

        from ..data import vspw_builder

        # After the first call, the same warning and the builder's "Using custom data configuration" INFO line
        # would repeat once per data epoch.
        builder_logger = logging.getLogger("datasets.builder")
        level = builder_logger.level
        with warnings.catch_warnings():
            if self.listing is not None:
                warnings.filterwarnings("ignore", message=".*give no train clip", category=UserWarning)
                builder_logger.setLevel(max(level, logging.WARNING))
            try:
                builder = vspw_builder(
                    self.source, self.split, mode="train", epoch=epoch, listing=self.listing, **self.load_kwargs
                )
                self.listing = builder.listing(self.split)
                dataset = builder.as_streaming_dataset(self.split)
            finally:
                builder_logger.setLevel(level)
        if self.world_size > 1:
            if dataset.num_shards < self.world_size:
                raise ValueError(
                    f"the train split has {dataset.num_shards} usable videos (shards) for {self.world_size} "
                    "processes: distributed training splits the data by video and needs at least one video per "
                    "process."
                )
            dataset = split_dataset_by_node(dataset, rank=self.rank, world_size=self.world_size, strategy="shards")
        return dataset


def build_train_stream(
    source: str,
    split: str,
    *,
    listing,
    transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
    batch_size: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    clips_per_video: int = 1,
    reference_offsets: Sequence[int] = (-9, -6, -3),
    **load_kwargs,
) -> TrainClipStream:
    """The `TrainClipStream` of process `rank` of `world_size`: for each data epoch,
    `load_vspw(source, split, mode="train", epoch=...)` split by video (`split_dataset_by_node(strategy="shards")`),
    augmented by `transform`.

    `listing` is the split's `VspwSplit` (`list_vspw_videos`); other keyword arguments go to `load_vspw`.
    """
    datasets_for_epoch = TrainEpochDatasets(
        source,
        split,
        rank=rank,
        world_size=world_size,
        seed=seed,
        clips_per_video=clips_per_video,
        reference_offsets=reference_offsets,
        **load_kwargs,
    )
    return TrainClipStream(
        datasets_for_epoch,
        transform,
        batch_size=batch_size,
        seed=seed,
        clips_per_shard=clips_per_shard(listing, clips_per_video, reference_offsets),
    )
