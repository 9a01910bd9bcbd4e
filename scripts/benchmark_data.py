#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Throughput of the VSPW train data pipeline: clips per second for decode + official augmentation.

    python scripts/benchmark_data.py                       # synthetic 480x854 videos, 0 and 2 workers
    python scripts/benchmark_data.py --source /data/VSPW_480p --clips 200 --workers 0 2 4

Each clip is 4 frames + 4 masks, decoded from JPEG / PNG, resized with a random ratio in [0.5, 2], cropped to
480x480 (class cap on the target label), flipped, photometrically distorted per frame, normalised and padded, then
collated into batches of 2 (``pixel_values [2, 4, 3, 480, 480]``). Timing includes DataLoader worker start-up.
"decode only" stops after decoding (PIL frames and masks, no augmentation).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time

from torch.utils.data import DataLoader

from mrcfa.benchmarking import set_threads, time_interleaved
from mrcfa.data import VspwTrainTransform, collate_clips, list_vspw_videos, load_vspw, make_synthetic_vspw


def load_clips(source: str, clips: int, workers: int, batch_size: int, augment: bool, repeats: int) -> int:
    """Iterate a fresh DataLoader until `clips` clips came out; returns how many did."""
    dataset = load_vspw(source, "train", mode="train", seed=0, repeats=repeats)
    if augment:
        dataset = dataset.map(VspwTrainTransform(seed=0), remove_columns=["frames", "masks"])
        collate = collate_clips
    else:
        collate = list  # decode only
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    seen = 0
    for batch in loader:
        seen += len(batch) if not augment else batch["pixel_values"].shape[0]
        if seen >= clips:
            break
    return seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=None, help="VSPW folder / Parquet export (default: synthetic 480p)")
    parser.add_argument("--clips", type=int, default=48, help="clips to time per setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each setting (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    set_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        if source is None:
            start = time.perf_counter()
            source = str(
                make_synthetic_vspw(
                    f"{tmp}/VSPW_480p", seed=0, num_videos=(4, 0, 0), num_frames=(20, 20), height=args.height,
                    width=args.width,
                )
            )  # fmt: skip
            print(f"synthetic VSPW: 4 train videos x 20 frames of {args.height}x{args.width} "
                  f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
        videos = len(list_vspw_videos(source, "train").videos)
        repeats = max(1, -(-args.clips * 2 // videos))  # enough clips whatever the number of workers
        print(f"{'workers':>7} | {'decode only (clips/s)':>21} | {'decode + augment + collate (clips/s)':>36}")
        for workers in args.workers:
            run = functools.partial(load_clips, source, args.clips, workers, args.batch_size, repeats=repeats)
            timings = time_interleaved(
                {"decode": functools.partial(run, augment=False), "full": functools.partial(run, augment=True)},
                repeats=args.repeats,
                warmup=0,  # worker start-up is part of what is measured
            )
            decode, full = (timings[name].result / timings[name].median for name in ("decode", "full"))
            print(f"{workers:>7} | {decode:>21.1f} | {full:>36.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
