#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Write a VSPW folder as Hub-ready Parquet shards (one row per video, image bytes embedded) plus a dataset card.

    python scripts/export_vspw_parquet.py /data/VSPW_480p /data/vspw_parquet [--splits train val] [--max-shard-mb 500]

Then ``huggingface-cli upload <org>/<name> /data/vspw_parquet --repo-type dataset`` (check VSPW's terms first), and
``mrcfa.data.load_vspw("<org>/<name>", "val", mode="eval")`` streams the same clips as the raw folder.
"""

from __future__ import annotations

import argparse
import sys

from mrcfa.data.parquet import export_vspw_parquet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="raw VSPW folder (train.txt, val.txt, test.txt, data/)")
    parser.add_argument("output_dir", help="output folder (data/{split}-*.parquet, README.md)")
    parser.add_argument("--splits", nargs="+", default=None, help="splits to export (default: all present)")
    parser.add_argument("--max-shard-mb", type=float, default=500.0, help="approximate maximum shard size in MB")
    parser.add_argument("--num-classes", type=int, default=None, help="class count (default: from the source)")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
