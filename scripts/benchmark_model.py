#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Clip forward time of MRCFA against SegFormer on one frame, measured in one run on this machine.

    python scripts/benchmark_model.py --preset b1 --height 480 --width 864 --threads 2 --repeats 5

Prints the median time of an MRCFA clip forward (T = num_clips, batch 1, eval, no grad), of transformers'
SegformerForSemanticSegmentation of the same size on one frame, and their ratio; plus the time of the head alone.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=864)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = MrcfaConfig.from_preset(args.preset)
    mrcfa = MrcfaForVideoSemanticSegmentation(config).eval()
    segformer_config = SegformerConfig(
        **{k: getattr(config, k) for k in ("hidden_sizes", "depths", "num_attention_heads", "decoder_hidden_size")},
        num_labels=config.num_labels,
    )
    segformer = SegformerForSemanticSegmentation(segformer_config).eval()
    clip = torch.randn(1, config.num_clips, 3, args.height, args.width)
    frame = clip[:, -1]

    with torch.no_grad():
        t_clip = median_time(lambda: mrcfa(clip), args.repeats)
        t_frame = median_time(lambda: mrcfa(frame), args.repeats)
        t_segformer = median_time(lambda: segformer(frame), args.repeats)
        t_encoder = median_time(lambda: mrcfa.segformer(clip.flatten(0, 1), output_hidden_states=True), args.repeats)

    print(
        f"MRCFA-{args.preset.upper()} {args.height}x{args.width}, T={config.num_clips}, batch 1, {args.threads} threads"
    )
    print(f"  MRCFA clip forward          {t_clip * 1000:8.1f} ms")
    print(f"    of which encoder (T frames) {t_encoder * 1000:8.1f} ms")
    print(f"  MRCFA single frame          {t_frame * 1000:8.1f} ms")
    print(f"  SegFormer one frame         {t_segformer * 1000:8.1f} ms")
    print(f"  ratio clip / SegFormer frame  {t_clip / t_segformer:6.2f}")
    print(f"  ratio MRCFA frame / SegFormer {t_frame / t_segformer:6.2f}")


if __name__ == "__main__":
    main()
