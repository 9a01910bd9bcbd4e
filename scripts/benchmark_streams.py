#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Frames per second of several videos streamed in lockstep as one batch (`mrcfa.segment_videos(..., streams=N)`),
for N = 1, 2, 4, measured in one run on this machine.

    python scripts/benchmark_streams.py --height 480 --width 864 --threads 2

The same `--videos` preprocessed videos (smooth moving patterns, `--frames` frames each, one size) go through
`segment_videos` with each number of streams, timed in turns (`mrcfa.benchmarking.measure_streams`: medians of
`--repeats` passes after one untimed pass of each), MRCFA preset `--preset` (B1) with random weights, eval, no grad.
Every frame's logits are compared with those of N = 1 (each video streamed alone). Then the temporal head alone:
seconds per clip with 1, 2 and 4 clips per call (`stream_target_logits` on `[B]` targets), since batched streams run
their full clips together. For the CUDA numbers, `scripts/benchmark_gpu.py` has the same table.
"""

from __future__ import annotations

import argparse
import json

import torch

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.benchmarking import measure_streams, set_threads, time_interleaved


def video(frames: int, height: int, width: int, phase: float) -> list[torch.Tensor]:
    """A smooth moving pattern with values of normalised images, `[3, H, W]` frames (`phase` makes videos differ)."""
    ys = torch.linspace(0, 6.28, height)[:, None]
    xs = torch.linspace(0, 6.28, width)[None, :]
    return [
        torch.stack([torch.sin(ys + 0.1 * i + c + phase) * torch.cos(xs - 0.05 * i - phase) for c in range(3)])
        for i in range(frames)
    ]


def head_per_clip(model, height: int, width: int, clips_per_call: list[int], repeats: int) -> dict[int, float]:
    """Median seconds per clip of the temporal head with `B` clips per call, for each `B`."""
    frames = model.config.num_clips
    most = max(clips_per_call)
    features = model.encode_stream_frames(torch.randn(most * frames, 3, height, width)).unflatten(most, frames)
    targets, references = features.index((slice(None), -1)), features.index((slice(None), slice(0, frames - 1)))
    size = (height // 4, width // 4)

    def run(b: int):
        return [
            model.stream_target_logits(targets.index(slice(i, i + b)), references.index(slice(i, i + b)), size)
            for i in range(0, most, b)
        ]

    timings = time_interleaved({str(b): (lambda b=b: run(b)) for b in clips_per_call}, repeats=repeats, warmup=1)
    return {b: timings[str(b)].median / most for b in clips_per_call}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=864)
    parser.add_argument("--videos", type=int, default=4, help="videos per pass (at least the largest --streams)")
    parser.add_argument("--frames", type=int, default=12, help="frames of each video")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(MrcfaConfig.from_preset(args.preset)).eval()
    videos = [video(args.frames, args.height, args.width, phase=0.7 * k) for k in range(args.videos)]
    print(
        f"MRCFA-{args.preset.upper()} (random weights) {args.height}x{args.width}, {args.videos} videos x "
        f"{args.frames} frames, {threads} threads, medians of {args.repeats}",
        flush=True,
    )
    with torch.no_grad():
        rows = measure_streams(model, videos, args.streams, repeats=args.repeats, warmup=1)
        head = head_per_clip(model, args.height, args.width, [1, 2, 4], args.repeats)
    print("\n| streams | frames/s | s/frame | vs 1 stream | max logits difference vs 1 stream | labels equal |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['streams']} | {row['frames_per_second']:.3f} | {row['ms_per_frame'] / 1e3:.3f} | "
            f"{row['speedup']:.2f}x | {row['max_abs_logits_vs_first']:.1e} | {row['labels_equal_first']} |"
        )
    print("\ntemporal head alone: " + ", ".join(f"{b} clips/call {t:.3f} s/clip" for b, t in head.items()))
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"rows": rows, "head_seconds_per_clip": head, "threads": threads, **vars(args)}, file, indent=1)
    return rows


if __name__ == "__main__":
    main()
