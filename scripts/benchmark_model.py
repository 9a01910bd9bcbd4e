#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Clip forward time of MRCFA against SegFormer on one frame, measured in one run on this machine.

    python scripts/benchmark_model.py --preset b1 --height 480 --width 864 --threads 2 --repeats 5

Prints the median time of an MRCFA clip forward (T = num_clips, batch 1, eval, no grad), of its encoder on the T
frames, of MRCFA on a single frame, of transformers' SegformerForSemanticSegmentation of the same size on one frame,
and the ratios to SegFormer. The four are timed in turns after a warm-up (`mrcfa.benchmarking`).
"""

from __future__ import annotations

import argparse

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.benchmarking import report, set_threads, time_interleaved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1", help="b0 .. b5")
    parser.add_argument("--height", type=int, default=480, help="frame height (a multiple of 32)")
    parser.add_argument("--width", type=int, default=864, help="frame width (a multiple of 32)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls of each model first")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
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

    print(f"MRCFA-{args.preset.upper()} {args.height}x{args.width}, T={config.num_clips}, batch 1, {threads} threads")
    with torch.no_grad():
        timings = time_interleaved(
            {
                "MRCFA clip forward": lambda: mrcfa(clip),
                "MRCFA encoder (T frames)": lambda: mrcfa.segformer(clip.flatten(0, 1), output_hidden_states=True),
                "MRCFA single frame": lambda: mrcfa(frame),
                "SegFormer one frame": lambda: segformer(frame),
            },
            repeats=args.repeats,
            warmup=args.warmup,
        )
    return report(
        timings, ratios=[("MRCFA clip forward", "SegFormer one frame"), ("MRCFA single frame", "SegFormer one frame")]
    )


if __name__ == "__main__":
    main()
