# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Export a VSPW folder as Hub-ready Parquet shards (one row per video, image bytes embedded).

Layout written under ``output_dir``::

    README.md                               dataset card (YAML: one config, data_files per split), rendered from
                                            the template ``mrcfa/templates/dataset_card.md``
    data/{split}-00000-of-0000N.parquet     rows {video_id, frame_names, frames, masks}; one row group per video

``frames`` / ``masks`` are ``List(Image)`` columns holding the original JPEG / PNG bytes (no re-encoding), so
``datasets.load_dataset(output_dir)`` (or the Hub repo made from it) restores PIL images, and
``mrcfa.data.load_vspw(output_dir, ...)`` yields exactly the clips of the raw folder. Splits without masks (VSPW's
test) have no ``masks`` column. The schema metadata ``mrcfa`` holds ``{"num_classes": K}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from ..checks import check_outputs_apart
from .sources import PARQUET_METADATA_KEY, VspwSplit, list_vspw_videos, resolve_source

__all__ = ["export_vspw_parquet", "video_features"]

DEFAULT_MAX_SHARD_BYTES = 500 * 1024 * 1024
#: The Jinja template of the dataset card written next to the shards (shipped as package data).
DATASET_CARD_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "dataset_card.md"


def video_features(with_masks: bool) -> datasets.Features:
    """Features of one exported row (one video)."""
    features = {
        "video_id": datasets.Value("string"),
        "frame_names": datasets.List(datasets.Value("string")),
        "frames": datasets.List(datasets.Image()),
    }
    if with_masks:
        features["masks"] = datasets.List(datasets.Image())
    return datasets.Features(features)


def _video_row(listing: VspwSplit, index: int) -> dict:
    video = listing.videos[index]
    row = {
        "video_id": video.video_id,
        "frame_names": list(video.frame_names),
        "frames": [
            {"bytes": Path(f).read_bytes(), "path": f"{video.video_id}/origin/{os.path.basename(f)}"}
            for f in video.frame_files
        ],
    }
    if listing.labelled:
        row["masks"] = [
            {"bytes": Path(f).read_bytes(), "path": f"{video.video_id}/mask/{os.path.basename(f)}"}
            for f in video.mask_files
        ]
    return row


def _plan_shards(listing: VspwSplit, max_shard_bytes: int) -> list[list[int]]:
    shards: list[list[int]] = [[]]
    size = 0
    for i, video in enumerate(listing.videos):
        video_bytes = sum(os.path.getsize(f) for f in video.frame_files)
        video_bytes += sum(os.path.getsize(f) for f in video.mask_files or ())
        if shards[-1] and size + video_bytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(i)
        size += video_bytes
    return shards


def _dataset_card(splits: dict[str, dict], num_classes: int, source_name: str) -> str:
    """The export's ``README.md``: `DATASET_CARD_TEMPLATE` rendered with ``DatasetCard.from_template``."""
    data = DatasetCardData(
        pretty_name="VSPW (Parquet export for MRCFA)",
        configs=[
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": f"data/{split}-*"} for split in splits],
            }
        ],
        task_categories=["image-segmentation"],
        tags=["video-semantic-segmentation", "vspw", "mrcfa"],
    )
    card = DatasetCard.from_template(
        data,
        template_path=str(DATASET_CARD_TEMPLATE),
        source_name=os.path.basename(os.path.normpath(source_name)),
        num_classes=num_classes,
        splits=[{"name": split, **info} for split, info in splits.items()],
    )
    return str(card)


def export_vspw_parquet(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    splits: Sequence[str] | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    num_classes: int | None = None,
) -> dict[str, list[str]]:
    """Write the VSPW folder `source` as Parquet shards under `output_dir`; returns ``{split: [shard paths]}``.

    Args:
        source: a raw VSPW folder.
        output_dir: output folder (``data/`` and ``README.md`` are written; existing shards of the exported splits
            are replaced).
        splits: splits to export (default: those whose ``<split>.txt`` lists videos; an empty listing is no split).
        max_shard_bytes: approximate upper bound of a shard's size (a video is never split).
        num_classes: class count stored in the metadata (default: the source's, else 124).
    """
    src = resolve_source(source)
    if src.kind != "folder":
        raise ValueError(f"export_vspw_parquet needs a raw VSPW folder, got a {src.kind} source {src.name!r}.")
    check_outputs_apart({"output folder": output_dir}, {"VSPW folder": source})  # before anything is written
    if splits is None:  # the splits whose listing names videos (`mrcfa synthetic --test 0` writes an empty test.txt)
        listed = [s for s in ("train", "val", "test") if (Path(src.root) / f"{s}.txt").is_file()]
        if not listed:
            raise FileNotFoundError(f"{src.name!r} has no train.txt, val.txt or test.txt.")
        splits = [s for s in listed if (Path(src.root) / f"{s}.txt").read_text().split()]
        if not splits:
            raise ValueError(f"{src.name!r}: {', '.join(f'{s}.txt' for s in listed)} list no videos.")
    out = Path(output_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    summary: dict[str, dict] = {}
    classes = None
    for split in splits:
        listing = list_vspw_videos(src, split, num_classes=num_classes)
        classes = listing.num_classes
        for old in (out / "data").glob(f"{split}-*.parquet"):
            old.unlink()
        features = video_features(listing.labelled)
        schema = features.arrow_schema
        metadata = dict(schema.metadata or {})
        metadata[PARQUET_METADATA_KEY] = json.dumps({"num_classes": listing.num_classes}).encode()
        schema = schema.with_metadata(metadata)
        plan = _plan_shards(listing, max_shard_bytes)
        paths = []
        for shard_index, video_indices in enumerate(plan):
            path = out / "data" / f"{split}-{shard_index:05d}-of-{len(plan):05d}.parquet"
            with pq.ParquetWriter(path, schema) as writer:
                for i in video_indices:
                    writer.write_table(pa.Table.from_pylist([_video_row(listing, i)], schema=schema))
            paths.append(str(path))
        written[split] = paths
    # the card covers every split present in the output folder (also those exported by earlier calls)
    present = sorted({p.name.split("-")[0] for p in (out / "data").glob("*-*.parquet")}, key=_split_order)
    for split in present:
        listing = list_vspw_videos(out, split)
        summary[split] = {
            "videos": len(listing.videos),
            "frames": sum(v.num_frames for v in listing.videos),
            "labelled": listing.labelled,
        }
        classes = classes or listing.num_classes
    (out / "README.md").write_text(_dataset_card(summary, classes, src.name))
    return written


def _split_order(split: str) -> tuple[int, str]:
    return ({"train": 0, "val": 1, "test": 2}.get(split, 3), split)
