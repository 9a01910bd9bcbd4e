#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Per-frame CPU time of streaming inference with ONNX Runtime against PyTorch, measured in one run.

    python scripts/benchmark_onnx.py --preset b1 --height 256 --width 448 --frames 20 --threads 2 --repeats 5

Builds the preset with random weights (or loads `--model`), exports it with `mrcfa.onnx_export` (or reuses
`--onnx_dir`), then streams the same preprocessed video through `mrcfa.segment_video` with the PyTorch model and
with `mrcfa.onnx_runtime.OnnxStreamingModel`, timed in turns (`mrcfa.benchmarking.time_interleaved`, medians of
`--repeats` passes over the video), with the same number of threads for both. Prints seconds per frame, the ratio
ONNX Runtime / PyTorch and the largest logits difference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation, segment_video
from mrcfa.benchmarking import report, set_threads, time_interleaved


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1", help="b0 .. b5 (random weights)")
    parser.add_argument("--model", default=None, help="a model folder instead of --preset")
    parser.add_argument(
        "--onnx_dir", default=None, help="export folder: reused if it holds an export of the same model, else written"
    )
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=448)
    parser.add_argument("--threads", type=int, default=2, help="torch threads and ONNX Runtime intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the video per backend")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    from mrcfa.onnx_export import export_streaming_onnx
    from mrcfa.onnx_runtime import OnnxStreamingModel

    threads = set_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        model = MrcfaForVideoSemanticSegmentation.from_pretrained(args.model).eval()
        name = args.model
    else:
        model = MrcfaForVideoSemanticSegmentation(MrcfaConfig.from_preset(args.preset)).eval()
        name = f"MRCFA-{args.preset.upper()} (random weights)"

    with tempfile.TemporaryDirectory() as scratch:
        onnx_dir = Path(args.onnx_dir or scratch)
        export_seconds = None
        if not (onnx_dir / "mrcfa_onnx.json").is_file():
            start = time.perf_counter()
            export_streaming_onnx(model, onnx_dir)
            export_seconds = time.perf_counter() - start
        runner = OnnxStreamingModel(onnx_dir, threads=threads)

        ys = torch.linspace(0, 6.28, args.height)[:, None]
        xs = torch.linspace(0, 6.28, args.width)[None, :]
        frames = [
            torch.stack([torch.sin(ys + 0.1 * i + c) * torch.cos(xs - 0.05 * i) for c in range(3)])
            for i in range(args.frames)
        ]
        print(f"{name}, {args.height}x{args.width}, {args.frames} frames, {threads} threads")
        with torch.no_grad():
            timings = time_interleaved(
                {
                    "PyTorch streaming": lambda: list(segment_video(model, frames, output="logits")),
                    "ONNX Runtime streaming": lambda: list(segment_video(runner, frames, output="logits")),
                },
                repeats=args.repeats,
                warmup=1,
            )
    ratios = report(
        timings, ratios=[("ONNX Runtime streaming", "PyTorch streaming")], unit="s", per=args.frames, per_name="frame"
    )
    torch_logits, onnx_logits = timings["PyTorch streaming"].result, timings["ONNX Runtime streaming"].result
    max_error = max((a - b).abs().max().item() for a, b in zip(onnx_logits, torch_logits))
    print(f"  max |ONNX Runtime - PyTorch| logits {max_error:.2e}")
    if export_seconds is not None:
        print(f"  export: {export_seconds:.0f} s")
    result = {
        "model": name,
        "size": [args.height, args.width],
        "frames": args.frames,
        "threads": threads,
        "repeats": args.repeats,
        "seconds_per_frame": {k: timing.median / args.frames for k, timing in timings.items()},
        "seconds_per_frame_all": {k: [t / args.frames for t in timing.times] for k, timing in timings.items()},
        "ratios": ratios,
        "max_abs_logits_difference": max_error,
        "export_seconds": export_seconds,
        "torch": torch.__version__,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
