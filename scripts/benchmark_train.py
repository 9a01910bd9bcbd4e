#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Seconds per MRCFA training step and peak memory (official setting by default: B1, 480x480 crops, 4-frame clips).

    python scripts/benchmark_train.py                      # B1, 480x480, T=4, batch 1, CPU
    python scripts/benchmark_train.py --preset b0 --batch_size 2 --device cuda

A step is what `run_vss.py` does per optimiser step: forward with the official loss, backward, AdamW step with the
official parameter groups and the learning-rate schedule. Inputs are random (the data pipeline is not measured).
Peak memory: on CPU the process's peak resident set size (and its growth from before the first step); on CUDA
`torch.cuda.max_memory_allocated`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys

import torch

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.benchmarking import set_threads, time_call
from mrcfa.training import get_official_poly_schedule, official_param_groups


def _peak_rss_mib() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1", help="b0 .. b5")
    parser.add_argument("--size", type=int, nargs=2, default=(480, 480), metavar=("H", "W"), help="crop size")
    parser.add_argument("--num_frames", type=int, default=4, help="frames per clip (4, or 1 for single frames)")
    parser.add_argument("--batch_size", type=int, default=1, help="clips per step")
    parser.add_argument("--num_labels", type=int, default=124)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)

    config = MrcfaConfig.from_preset(args.preset, num_labels=args.num_labels)
    model = MrcfaForVideoSemanticSegmentation(config).to(device).train()
    optimizer = torch.optim.AdamW(official_param_groups(model, 6e-5, 0.01), lr=6e-5, betas=(0.9, 0.999))
    scheduler = get_official_poly_schedule(optimizer, 160_000, 1_500)
    height, width = args.size
    pixel_values = torch.randn(args.batch_size, args.num_frames, 3, height, width, device=device)
    labels = torch.randint(0, args.num_labels, (args.batch_size, args.num_frames, height, width), device=device)
    labels[:, :, :8] = 255  # a few ignored pixels, as in padded crops

    rss_before = _peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        loss = model(pixel_values=pixel_values, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    timing = time_call(step, repeats=args.steps, warmup=args.warmup, device=device, name="training step")
    loss = timing.result
    result = {
        "preset": args.preset,
        "size": [height, width],
        "num_frames": args.num_frames,
        "batch_size": args.batch_size,
        "device": str(device),
        "threads": threads,
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "seconds_per_step_mean": round(timing.mean, 3),
        "seconds_per_step_median": round(timing.median, 3),
        "seconds_per_step_min": round(timing.min, 3),
        "steps_timed": len(timing.times),
        "loss": round(float(loss), 4),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    if device.type == "cuda":
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    else:
        peak = _peak_rss_mib()
        result["peak_rss_mib"] = round(peak, 1)
        result["peak_rss_growth_mib"] = round(peak - rss_before, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"MRCFA-{args.preset.upper()} training step, {args.batch_size} x {args.num_frames} x {height}x{width} on "
            f"{device} ({result['threads']} threads): {result['seconds_per_step_mean']:.2f} s/step mean, "
            f"{result['seconds_per_step_median']:.2f} median, {result['seconds_per_step_min']:.2f} min over "
            f"{len(timing.times)} steps"
        )
        if device.type == "cuda":
            print(f"peak CUDA memory: {result['peak_memory_mib']:.0f} MiB")
        else:
            print(
                f"peak resident memory: {result['peak_rss_mib']:.0f} MiB "
                f"(+{result['peak_rss_growth_mib']:.0f} MiB during training)"
            )
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
