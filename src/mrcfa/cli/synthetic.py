# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa synthetic` (alias `mrcfa-synthetic-vspw`): write a deterministic synthetic dataset in the VSPW_480p layout.

    mrcfa synthetic OUT_DIR [--train 6 --val 3 --test 2] [--hidden-prob 0.35 --motion-scale 0.3 ...]

Small videos of moving textured objects over a scrolling background, with train.txt / val.txt / test.txt,
data/<video>/origin/*.jpg and data/<video>/mask/*.png (see `mrcfa.data.make_synthetic_vspw`). The files are
byte-identical for identical arguments. OUT_DIR is a new or empty folder, or one holding a synthetic dataset written
before, replaced with --overwrite; a folder with anything else in it is refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._common import standalone_main

__all__ = ["main", "run"]

NAME = "synthetic"
HELP = "write a small deterministic synthetic dataset in the VSPW_480p layout"
DESCRIPTION = __doc__
USER_ERRORS = (ValueError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "output_dir", help="folder to write (VSPW_480p layout): new, empty, or a synthetic dataset to replace"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace a synthetic dataset written there before (a folder with other files is never written into)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="random seed (the files depend on it only)")
    parser.add_argument("--num-classes", type=int, default=5, help="classes K (raw mask values 1..K, 0 = others)")
    parser.add_argument("--train", type=int, default=6, help="number of train videos")
    parser.add_argument("--val", type=int, default=3, help="number of val videos")
    parser.add_argument("--test", type=int, default=2, help="number of test videos")
    parser.add_argument("--min-frames", type=int, default=17, help="fewest frames per video")
    parser.add_argument("--max-frames", type=int, default=28, help="most frames per video")
    parser.add_argument("--height", type=int, default=96, help="frame height in pixels")
    parser.add_argument("--width", type=int, default=160, help="frame width in pixels")
    parser.add_argument("--max-objects", type=int, default=3, help="most moving objects per video")
    parser.add_argument("--test-masks", action="store_true", help="also write masks for the test split")
    parser.add_argument("--degraded-prob", type=float, default=0.1, help="share of degraded frames")
    parser.add_argument("--motion-scale", type=float, default=1.0, help="speed multiplier of camera / objects")
    parser.add_argument(
        "--hidden-prob", type=float, default=0.0, help="chance per object and frame of a neutral (class-free) look"
    )
    parser.add_argument(
        "--shared-object-class", action="store_true", help="all moving objects of a video have the same class"
    )


def run(args: argparse.Namespace) -> int:
    """Write the dataset and print a summary; returns the exit status."""
    from ..data.synthetic import make_synthetic_vspw, prepare_synthetic_root

    prepare_synthetic_root(args.output_dir, overwrite=args.overwrite)  # before any file is written
    root = make_synthetic_vspw(
        args.output_dir,
        seed=args.seed,
        num_classes=args.num_classes,
        num_videos=(args.train, args.val, args.test),
        num_frames=(args.min_frames, args.max_frames),
        height=args.height,
        width=args.width,
        max_objects=args.max_objects,
        test_masks=args.test_masks,
        degraded_prob=args.degraded_prob,
        motion_scale=args.motion_scale,
        hidden_prob=args.hidden_prob,
        shared_object_class=args.shared_object_class,
    )
    total = sum(1 for _ in (root / "data").glob("*/origin/*.jpg"))
    print(f"wrote a synthetic VSPW dataset ({args.train}/{args.val}/{args.test} videos, {total} frames) to {root}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `mrcfa-synthetic-vspw` (the same as `mrcfa synthetic`)."""
    return standalone_main(sys.modules[__name__], "mrcfa-synthetic-vspw", argv)
