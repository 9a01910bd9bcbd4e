# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa export-parquet`: write a VSPW folder as Hub-ready Parquet shards (one row per video, image bytes embedded)
plus a dataset card.

    mrcfa export-parquet /data/VSPW_480p /data/vspw_parquet [--splits train val] [--max-shard-mb 500]

Then `hf upload <org>/<name> /data/vspw_parquet --repo-type dataset` (check VSPW's terms first), and
`mrcfa.data.load_vspw("<org>/<name>", "val", mode="eval")` streams the same clips as the raw folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._common import standalone_main

__all__ = ["main", "run"]

NAME = "export-parquet"
HELP = "write a VSPW folder as Hub-ready Parquet shards with a dataset card"
DESCRIPTION = __doc__
USER_ERRORS = (ValueError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="raw VSPW folder (train.txt, val.txt, test.txt, data/)")
    parser.add_argument("output_dir", help="output folder (data/{split}-*.parquet, README.md)")
    parser.add_argument("--splits", nargs="+", default=None, help="splits to export (default: all present)")
    parser.add_argument("--max-shard-mb", type=float, default=500.0, help="approximate maximum shard size in MB")
    parser.add_argument("--num-classes", type=int, default=None, help="class count (default: from the source)")


def run(args: argparse.Namespace) -> int:
    """Export and print the shard count of each split; returns the exit status."""
    from ..data.parquet import export_vspw_parquet

    if args.max_shard_mb <= 0:
        raise ValueError(f"--max-shard-mb must be > 0, got {args.max_shard_mb:g}")
    written = export_vspw_parquet(
        args.source,
        args.output_dir,
        splits=args.splits,
        max_shard_bytes=int(args.max_shard_mb * 1024 * 1024),
        num_classes=args.num_classes,
    )
    for split, paths in written.items():
        print(f"{split}: {len(paths)} shard(s)")
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "mrcfa export-parquet") -> int:
    """`mrcfa export-parquet` as a program of its own (`scripts/export_vspw_parquet.py`)."""
    return standalone_main(sys.modules[__name__], prog, argv)
