# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""``load_vspw``: VSPW clips as a ``datasets`` (Iterable)Dataset.

Recommended use (training)::

    from torch.utils.data import DataLoader
    from mrcfa.data import VspwTrainTransform, collate_clips, load_vspw

    for epoch in range(num_epochs):  # new video order and new clips each epoch, reproducible
        train = load_vspw("/data/VSPW_480p", "train", mode="train", seed=0, epoch=epoch)  # IterableDataset of clips
        train = train.map(VspwTrainTransform(seed=0), remove_columns=["frames", "masks"])
        loader = DataLoader(train, batch_size=2, num_workers=2, collate_fn=collate_clips)
        for batch in loader:  # pixel_values [B, 4, 3, 480, 480], labels [B, 4, 480, 480]
            ...

(``train.set_epoch(e)`` of ``datasets`` would only reorder the videos, with the same clips: pass ``epoch=`` instead.)

Evaluation (one example per frame, official test clip, video then frame order)::

    val = load_vspw("/data/VSPW_480p", "val", mode="eval").map(VspwEvalTransform(), remove_columns=["frames", "masks"])
    loader = DataLoader(val, batch_size=1, collate_fn=collate_clips)  # clips have 1 or 4 frames: batch_size=1
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import datasets

from ..constants import REFERENCE_OFFSETS
from .builder import VspwBuilder
from .sources import VspwSplit, list_vspw_videos, resolve_source

__all__ = ["load_vspw", "list_vspw_videos", "vspw_builder"]


def vspw_builder(
    source: str | os.PathLike,
    split: str,
    *,
    mode: str = "train",
    seed: int = 0,
    epoch: int = 0,
    repeats: int = 1,
    clips_per_video: int = 1,
    reference_offsets: Sequence[int] = REFERENCE_OFFSETS,
    num_classes: int | None = None,
    skip_corrupt: bool = False,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    listing: VspwSplit | None = None,
) -> VspwBuilder:
    """A :class:`VspwBuilder` for one split of `source` (see :func:`load_vspw` for the arguments).

    `listing`: the split as already listed by an earlier builder of the same source and ``num_classes``
    (``builder.listing(split)``), reused instead of listing the split again (e.g. one builder per data epoch).
    """
    src = resolve_source(source, revision=revision, token=token)
    if listing is not None and (listing.split != split or listing.source.root != src.root):
        raise ValueError(
            f"the listing of split {listing.split!r} of {listing.source.name!r} cannot be reused for split {split!r} "
            f"of {src.name!r}."
        )
    if listing is not None and num_classes is not None and listing.num_classes != num_classes:
        raise ValueError(f"the listing has {listing.num_classes} classes but num_classes={num_classes}.")
    builder = VspwBuilder(
        dataset_name="vspw",
        cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        source=src.root if not src.is_remote else src.name,
        splits=(split,),
        mode=mode,
        seed=int(seed),
        epoch=int(epoch),
        repeats=int(repeats),
        clips_per_video=int(clips_per_video),
        reference_offsets=tuple(int(o) for o in reference_offsets),
        num_classes=num_classes,
        skip_corrupt=bool(skip_corrupt),
        revision=revision,
        token=token,
    )
    if listing is not None:
        builder.listings[split] = listing
    return builder


def load_vspw(
    source: str | os.PathLike,
    split: str,
    *,
    mode: str = "train",
    streaming: bool = True,
    seed: int = 0,
    epoch: int = 0,
    repeats: int = 1,
    clips_per_video: int = 1,
    reference_offsets: Sequence[int] = REFERENCE_OFFSETS,
    num_classes: int | None = None,
    skip_corrupt: bool = False,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> datasets.IterableDataset | datasets.Dataset:
    """VSPW clips of one split as a ``datasets.IterableDataset`` (``streaming=True``) or ``datasets.Dataset``.

    Args:
        source: a local ``VSPW_480p`` folder, a local folder of Parquet shards (``mrcfa export-parquet``),
            or a Hub dataset id made from such an export.
        split: ``"train"``, ``"val"`` or ``"test"`` (any ``<split>.txt`` / ``data/<split>-*.parquet``).
        mode: ``"train"``: per video and pass, ``clips_per_video`` clips drawn with the official rule (random reversal,
            target among positions 9..n-1, references at -9, -6, -3); videos with <= 9 frames are skipped with one
            warning that counts them. ``"eval"``: one clip per frame of every video, the official test-time clip,
            in video order then frame order.
        streaming: stream clips (decodes only the frames of the yielded clips, no Arrow cache). ``False`` writes an
            Arrow cache of the clips (frames stored as file references or bytes) -- meant for small eval sets; train
            clips are then frozen at the draw of `epoch`.
        seed: train sampling seed. Clips are a deterministic function of (seed, epoch, video) and do not depend on
            the number of workers or ranks.
        epoch: data epoch. Epoch 0 reads the videos in split order; epoch e > 0 reads them in the order that
            ``IterableDataset.set_epoch(e)`` of datasets 5 gives (a permutation drawn with
            ``numpy.random.default_rng(e)``) and, in train mode, draws new clips (a sampling key derived from seed
            and e). Build one dataset per epoch with ``epoch=e`` for new clips: ``set_epoch(k)`` on the returned
            dataset is the plain ``datasets`` behaviour, which only reorders its videos (shards), with the same clips.
        repeats: passes over the videos per epoch (train mode).
        clips_per_video: clips per video per pass (train mode; one read of the video serves all of them).
        reference_offsets: reference frame offsets (official ``(-9, -6, -3)``).
        num_classes: class count used to check mask values (default: ``label_num_dic_final.json`` / Parquet
            metadata, else 124).
        skip_corrupt: skip the clips that use a corrupt JPEG / PNG or a mask that does not fit (another size than
            its frame, values beyond the classes, several channels), with a warning naming the file, instead of
            raising a :class:`~mrcfa.data.sources.DataFileError`.
        revision, token: for a Hub dataset id.
        cache_dir: ``datasets`` cache folder (only written when ``streaming=False``).

    Returns:
        Examples ``{"video_id": str, "frame_indices": list[int] (target last), "frames": list[PIL.Image] (RGB),
        "masks": list[PIL.Image] (raw masks, mode L/P; column absent when the split has no masks), "clip_seed": int}``.
    """
    builder = vspw_builder(
        source,
        split,
        mode=mode,
        seed=seed,
        epoch=epoch,
        repeats=repeats,
        clips_per_video=clips_per_video,
        reference_offsets=reference_offsets,
        num_classes=num_classes,
        skip_corrupt=skip_corrupt,
        revision=revision,
        token=token,
        cache_dir=cache_dir,
    )
    builder.listing(split)  # list and check the split now, in the calling process
    if streaming:
        return builder.as_streaming_dataset(split)
    builder.download_and_prepare(download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD)
    return builder.as_dataset(split)
