# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The ``datasets`` builder of VSPW clips (the "loading script", shipped in the package for datasets >= 5).

:class:`VspwBuilder` is a ``datasets.GeneratorBasedBuilder`` whose examples are **clips**::

    video_id       str
    frame_indices  list[int]   positions in the video's sorted frame list, target last
    frames         list[PIL.Image]  RGB frames of the clip
    masks          list[PIL.Image]  raw VSPW masks (mode L / P, 0 = others, k = class k); no such column when no
                   exposed split has masks (None for an unlabelled split exposed next to a labelled one)
    clip_seed      int         per-clip seed for the train augmentation (reproducible, worker-independent)

``mode="eval"``: one clip per frame of every listed video (official test-time clip, :func:`mrcfa.models.mrcfa.video_clips_mrcfa.test_clip_indices`),
in video order then frame order. ``mode="train"``: the official train sampling (:func:`sample_train_clip`).

Sharding: the split's videos are the ``gen_kwargs`` list, so there is one shard per video (times ``repeats``) and
``datasets`` distributes whole videos over DataLoader workers and ``split_dataset_by_node`` ranks (with a number of
shards that is not a multiple of the world size, ``datasets`` falls back to keeping every n-th clip: still no
duplicate and no loss, but every rank then reads every video -- prefer ``strategy="shards"``). Streaming
(``as_streaming_dataset``) decodes only the frames of the clips it yields and writes no Arrow cache; a Parquet shard
reads the bytes of its row group (one video), then decodes only the clip frames.

Examples are yielded in encoded form (frames and masks as ``{"path", "bytes"}`` references to the original JPEG / PNG
files, never re-encoded) and decoded by the ``datasets.Image`` features; the generator still decodes and checks them
first, for errors that name the file (:class:`~mrcfa.data.sources.DataFileError`) and for ``skip_corrupt``.

Epochs: the config's ``epoch`` fixes the clips. Epoch 0 is the split order with sampling key ``seed``; epoch e > 0
is the shard order that ``IterableDataset.set_epoch(e)`` gives in datasets 5 (a permutation drawn with
``numpy.random.default_rng(e)``) with sampling key ``_mix(seed, default_rng(e).integers(0, 2**63 - 1))``. So the
train clips (and their ``clip_seed``) are a deterministic function of ``(seed, epoch)`` -- identical for any number
of workers or ranks -- and differ between epochs. ``set_epoch`` on the built dataset only reorders its shards (the
``datasets`` behaviour): build a new dataset with ``epoch=`` for new clips.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import datasets
import numpy as np

from ..constants import REFERENCE_OFFSETS
from ..models.mrcfa.video_clips_mrcfa import test_clip_indices, train_clip_indices
from .sources import (
    DataFileError,
    VideoReader,
    VspwSplit,
    VspwVideoInfo,
    list_vspw_videos,
    read_parquet_rows,
    resolve_source,
)

__all__ = ["VspwBuilder", "VspwBuilderConfig", "clip_features", "epoch_order", "sample_train_clip"]

_UINT63 = (1 << 63) - 1


def clip_features(with_masks: bool = True) -> datasets.Features:
    """The ``datasets.Features`` of a clip example."""
    features = {
        "video_id": datasets.Value("string"),
        "frame_indices": datasets.List(datasets.Value("int32")),
        "frames": datasets.List(datasets.Image(mode="RGB")),
    }
    if with_masks:
        features["masks"] = datasets.List(datasets.Image())
    features["clip_seed"] = datasets.Value("int64")
    return datasets.Features(features)


def _mix(*values: int) -> int:
    """A 63-bit integer hash of non-negative integers (via numpy's SeedSequence)."""
    state = np.random.SeedSequence([int(v) & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(2, np.uint32)
    return ((int(state[0]) << 32) | int(state[1])) & _UINT63


def _video_hash(video_id: str) -> int:
    return zlib.crc32(video_id.encode("utf-8"))


def epoch_order(shards: list, seed: int, epoch: int) -> tuple[list, int]:
    """The shards of data epoch `epoch`, in order, and the train sampling key of that epoch.

    Epoch 0 keeps the split order and samples with `seed`. Epoch e > 0 permutes the shards as
    ``IterableDataset.set_epoch(e)`` does in datasets 5 (``numpy.random.default_rng(e).shuffle`` of the shard indices)
    and samples with ``_mix(seed, default_rng(e).integers(0, 2**63 - 1))`` (a fresh generator for each).
    """
    shards = list(shards)
    if epoch == 0:
        return shards, int(seed)
    key = _mix(seed, int(np.random.default_rng(epoch).integers(0, _UINT63)))
    indices = list(range(len(shards)))
    np.random.default_rng(epoch).shuffle(indices)
    return [shards[i] for i in indices], key


def sample_train_clip(
    num_frames: int,
    rng: np.random.Generator,
    offsets: tuple[int, ...] = REFERENCE_OFFSETS,
) -> tuple[int, ...] | None:
    """The official train clip of a video of `num_frames` frames, as positions in the sorted frame list (target last).

    The frame list is reversed with probability 0.5, the target is drawn uniformly among positions
    ``-offsets[0] .. n - 1`` (9..n-1) of that list, and the clip is ``[j + o for o in offsets] + [j]`` of that list,
    mapped back to positions of the original list. Returns None when the video has too few frames (<= 9).
    """
    first = -min(offsets)
    if num_frames <= first:
        return None
    reverse = bool(rng.random() < 0.5)
    target = int(rng.integers(first, num_frames))
    positions = train_clip_indices(target, offsets)
    if reverse:
        positions = tuple(num_frames - 1 - p for p in positions)
    return positions


@dataclass
class VspwBuilderConfig(datasets.BuilderConfig):
    """Configuration of :class:`VspwBuilder`.

    Args:
        source: local VSPW folder, local folder of Parquet shards, or Hub dataset id.
        splits: splits to expose (listing happens only for these).
        mode: ``"train"`` (official random clips) or ``"eval"`` (one clip per frame).
        seed: seed of the train clip sampling (and of each clip's ``clip_seed``).
        epoch: data epoch: fixes the shard (video) order and, in train mode, the clips (see :func:`epoch_order`).
        repeats: passes over the video list per epoch in train mode (the official RepeatDataset).
        clips_per_video: clips drawn from each video per pass in train mode.
        reference_offsets: offsets of the reference frames (official ``(-9, -6, -3)``).
        num_classes: class count used to check mask values (default: read from the source, else 124).
        skip_corrupt: skip (with a warning naming the file) the clips that use an undecodable frame or mask, or a
            mask that does not fit its frame or the classes, instead of raising.
        revision: for a Hub dataset id (the token is the builder's ``token`` argument).
    """

    source: str | None = None
    splits: tuple[str, ...] = ("train", "val", "test")
    mode: str = "eval"
    seed: int = 0
    epoch: int = 0
    repeats: int = 1
    clips_per_video: int = 1
    reference_offsets: tuple[int, ...] = REFERENCE_OFFSETS
    num_classes: int | None = None
    skip_corrupt: bool = False
    revision: str | None = None

    def validate(self) -> None:
        """Check and normalise the fields (``datasets`` sets config kwargs with setattr, after ``__post_init__``)."""
        if self.mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {self.mode!r}.")
        if int(self.repeats) < 1 or int(self.clips_per_video) < 1:
            raise ValueError(
                f"repeats and clips_per_video must be >= 1, got {self.repeats} and {self.clips_per_video}."
            )
        if self.mode == "eval" and (self.repeats != 1 or self.clips_per_video != 1):
            raise ValueError("repeats and clips_per_video only apply to mode='train'.")
        offsets = tuple(int(o) for o in self.reference_offsets)
        if not offsets or any(o >= 0 for o in offsets) or list(offsets) != sorted(set(offsets)):
            raise ValueError(f"reference_offsets must be negative and increasing, got {self.reference_offsets}.")
        self.reference_offsets = offsets
        self.splits = tuple(self.splits)
        if not 0 <= int(self.seed) <= _UINT63:
            raise ValueError(f"seed must be a non-negative 63-bit integer, got {self.seed}.")
        if not 0 <= int(self.epoch) <= _UINT63:
            raise ValueError(f"epoch must be a non-negative 63-bit integer, got {self.epoch}.")
        self.seed, self.epoch = int(self.seed), int(self.epoch)


class VspwBuilder(datasets.GeneratorBasedBuilder):
    """``datasets`` builder of VSPW clips from a raw folder, a Parquet export or a Hub dataset id.

    Example::

        builder = VspwBuilder(source="/data/VSPW_480p", splits=("val",), mode="eval")
        clips = builder.as_streaming_dataset("val")  # IterableDataset, no Arrow cache

    Prefer :func:`mrcfa.data.load_vspw`, which also drops the ``masks`` column of unlabelled splits.
    """

    BUILDER_CONFIG_CLASS = VspwBuilderConfig
    BUILDER_CONFIGS = [VspwBuilderConfig(name="default")]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.validate()
        self.listings: dict[str, VspwSplit] = {}

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="VSPW video semantic segmentation clips (MRCFA official clip rules).",
            features=clip_features(with_masks=True),
            homepage="https://www.vspwdataset.com/",
        )

    def listing(self, split: str) -> VspwSplit:
        """The (cached) :class:`VspwSplit` of `split`."""
        if split not in self.listings:
            cfg = self.config
            if cfg.source is None:
                raise ValueError("VspwBuilder needs source=<VSPW folder, Parquet folder or Hub dataset id>.")
            src = resolve_source(cfg.source, revision=cfg.revision, token=self.token)
            self.listings[split] = list_vspw_videos(src, split, num_classes=cfg.num_classes)
        return self.listings[split]

    def _split_generators(self, dl_manager):
        listings = [self.listing(split) for split in self.config.splits]
        # A masks column only when some exposed split has masks (load_vspw exposes one split).
        self.info.features = clip_features(with_masks=any(listing.labelled for listing in listings))
        generators = []
        for listing in listings:
            shards, sampling_key = epoch_order(self._shards(listing), self.config.seed, self.config.epoch)
            generators.append(
                datasets.SplitGenerator(
                    name=listing.split, gen_kwargs={"shards": shards, "sampling_key": sampling_key}
                )
            )
        return generators

    def _shards(self, listing: VspwSplit) -> list[tuple[str, int, tuple[VspwVideoInfo, ...]]]:
        """One shard per video (per Parquet row group), repeated `repeats` times: ``(split, repeat, videos)``."""
        cfg = self.config
        videos = list(listing.videos)
        if cfg.mode == "train":
            if not listing.labelled:
                raise ValueError(
                    f"split {listing.split!r} of {listing.source.name!r} has no masks: mode='train' needs a labelled "
                    "split."
                )
            first = -min(cfg.reference_offsets)
            short = [v.video_id for v in videos if v.num_frames <= first]
            if short:
                warnings.warn(
                    f"{len(short)} of {len(videos)} videos of split {listing.split!r} have <= {first} frames and give "
                    f"no train clip (official rule); skipped: {', '.join(short[:5])}{', ...' if len(short) > 5 else ''}",
                    UserWarning,
                    stacklevel=2,
                )
            videos = [v for v in videos if v.num_frames > first]
            if not videos:
                raise ValueError(f"no video of split {listing.split!r} has more than {first} frames: no train clip.")
        units: list[tuple[VspwVideoInfo, ...]] = []
        for video in videos:
            key = (video.parquet_file, video.row_group)
            if video.parquet_file is not None and units and (units[-1][0].parquet_file, units[-1][0].row_group) == key:
                units[-1] = units[-1] + (video,)
            else:
                units.append((video,))
        return [(listing.split, repeat, unit) for repeat in range(cfg.repeats) for unit in units]

    # ------------------------------------------------------------------------------------------------------------------
    def _generate_examples(self, shards, sampling_key: int):
        for split, repeat, videos in shards:
            listing = self.listing(split)
            rows = None
            if videos[0].parquet_file is not None:
                rows = read_parquet_rows(listing.source, videos[0].parquet_file, videos[0].row_group)
            for video in videos:
                reader = VideoReader(video, listing, None if rows is None else rows[video.row])
                if rows is not None and rows[video.row]["video_id"] != video.video_id:
                    raise DataFileError(
                        f"{video.parquet_file} changed while reading: expected video {video.video_id!r}.",
                        file=video.parquet_file,
                    )
                yield from self._video_clips(reader, repeat, sampling_key)

    def _video_clips(self, reader: VideoReader, repeat: int, sampling_key: int):
        cfg = self.config
        video = reader.video
        if cfg.mode == "eval":
            lowest = min(cfg.reference_offsets)
            for target in range(video.num_frames):
                reader.evict_below(target + lowest)
                positions = test_clip_indices(target, cfg.reference_offsets)
                clip_seed = _mix(_video_hash(video.video_id), target)
                example = self._example(reader, positions, clip_seed)
                if example is not None:
                    yield f"{video.video_id}/{target}", example
            return
        for draw in range(cfg.clips_per_video):
            rng = np.random.default_rng([sampling_key, _video_hash(video.video_id), repeat, draw])
            positions = sample_train_clip(video.num_frames, rng, cfg.reference_offsets)
            if positions is None:  # only for Parquet row groups holding several videos
                continue
            clip_seed = int(rng.integers(0, _UINT63))
            example = self._example(reader, positions, clip_seed)
            if example is not None:
                yield f"{video.video_id}/{repeat}/{draw}", example

    def _example(self, reader: VideoReader, positions: tuple[int, ...], clip_seed: int) -> dict | None:
        try:
            items = [reader.get(p) for p in positions]
        except DataFileError as err:
            if not self.config.skip_corrupt:
                raise
            warnings.warn(
                f"skipping the clip of video {reader.video.video_id!r} with frames {list(positions)}: {err.problem}",
                UserWarning,
                stacklevel=2,
            )
            return None
        # encoded: the {"path", "bytes"} refs of the checked files, decoded by the Image features (never re-encoded)
        example = {
            "video_id": reader.video.video_id,
            "frame_indices": list(positions),
            "frames": [item[2] for item in items],
        }
        if "masks" in self.info.features:
            example["masks"] = [item[3] for item in items] if reader.split.labelled else None
        example["clip_seed"] = clip_seed
        return example
