#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Per-frame cost of video segmentation, measured in one run on this machine.

    python scripts/benchmark_video.py --frames 40 --height 480 --width 864 --threads 2

Compares, on the same preprocessed video (B1 preset by default, random weights, eval, no grad):
  * streaming  - `mrcfa.segment_video` (each frame encoded once, official test clips, cached features);
  * recompute  - `model(clip)` on every frame's official clip (what the official test script does);
  * SegFormer  - transformers' SegformerForSemanticSegmentation of the same size on single images.
Prints seconds per frame, the ratios streaming / recompute and streaming / SegFormer, and a profile of where the
streaming time goes (encoder, per-frame head, temporal head).
"""

from __future__ import annotations

import argparse

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.benchmarking import report, set_threads, time_call, time_interleaved
from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaFrameFeatures
from mrcfa.models.mrcfa.streaming_mrcfa import segment_video
from mrcfa.models.mrcfa.video_clips_mrcfa import test_clip_indices


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=864)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--recompute_frames", type=int, default=None, help="frames timed for recompute (default all)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes over the video of each method")
    args = parser.parse_args(argv)
    threads = set_threads(args.threads)
    torch.manual_seed(0)

    config = MrcfaConfig.from_preset(args.preset)
    model = MrcfaForVideoSemanticSegmentation(config).eval()
    segformer = SegformerForSemanticSegmentation(
        SegformerConfig(
            **{
                k: getattr(config, k) for k in ("hidden_sizes", "depths", "num_attention_heads", "decoder_hidden_size")
            },
            num_labels=config.num_labels,
        )
    ).eval()
    # a smooth moving pattern (values ~ normalised images)
    ys = torch.linspace(0, 6.28, args.height)[:, None]
    xs = torch.linspace(0, 6.28, args.width)[None, :]
    frames = [
        torch.stack([torch.sin(ys + 0.1 * i + c) * torch.cos(xs - 0.05 * i) for c in range(3)])
        for i in range(args.frames)
    ]
    n = args.frames
    m = args.recompute_frames or n
    print(f"MRCFA-{args.preset.upper()} {args.height}x{args.width}, {n} frames, {threads} threads")

    with torch.no_grad():
        segformer(frames[0][None])  # warm-up (one frame each: the timed calls are whole videos)
        model(frames[0][None])
        methods = {"SegFormer (single images)": lambda: [segformer(f[None]) for f in frames]}
        for bs in args.batch_sizes:
            methods[f"streaming, batch_size={bs}"] = lambda bs=bs: list(
                segment_video(model, frames, output="logits", batch_size=bs)
            )
        timings = time_interleaved(methods, repeats=args.repeats, warmup=0)
        recompute = time_call(
            lambda: [model(torch.stack([frames[j] for j in test_clip_indices(i)])[None]).logits[0] for i in range(m)],
            repeats=args.repeats,
            warmup=0,
            name="recompute every clip",
        )
        streamed = timings[f"streaming, batch_size={args.batch_sizes[0]}"].result
        max_err = max((streamed[i] - recompute.result[i]).abs().max().item() for i in range(m))

        # profile of the streaming work: encoder, per-frame head, temporal head (clips of frames >= 3)
        t_enc = t_frame_head = t_clip_head = 0.0
        k = min(n, 16)
        for i in range(k):
            enc = time_call(
                lambda i=i: model.segformer(frames[i][None], output_hidden_states=True), repeats=1, warmup=0
            )
            head = time_call(
                lambda enc=enc.result: model.decode_head.frame_features(tuple(enc.hidden_states)), repeats=1, warmup=0
            )
            feat0 = head.result[0].index(0)
            target = MrcfaFrameFeatures.stack([feat0])
            refs = MrcfaFrameFeatures.stack([MrcfaFrameFeatures.stack([feat0] * (config.num_clips - 1))])
            clip_head = time_call(
                lambda t=target, r=refs, f=feat0: model.decode_head.clip_forward(t, r, tuple(f.logits.shape[-2:])),
                repeats=1,
                warmup=0,
            )
            t_enc += enc.median
            t_frame_head += head.median
            t_clip_head += clip_head.median

    # report() divides every time by n frames; the recompute pass covers m <= n frames
    recompute.times = [t * n / m for t in recompute.times]
    timings[recompute.name] = recompute
    best = min((name for name in timings if name.startswith("streaming")), key=lambda name: timings[name].median)
    ratios = report(
        timings,
        ratios=[(best, recompute.name), (best, "SegFormer (single images)")],
        unit="s",
        per=n,
        per_name="frame",
    )
    print("  targets: streaming / recompute <= 0.33; streaming / SegFormer <= 1.25, goal <= 1.0")
    print(f"  max |streaming - recompute| logits {max_err:.2e} (over {m} frames)")
    total = t_enc + t_frame_head + t_clip_head
    print(f"  profile per frame (batch 1, {k} frames): encoder {t_enc / k:.3f} s ({100 * t_enc / total:.0f}%), "
          f"per-frame head {t_frame_head / k:.3f} s ({100 * t_frame_head / total:.0f}%), "
          f"temporal head {t_clip_head / k:.3f} s ({100 * t_clip_head / total:.0f}%)")  # fmt: skip
    return ratios


if __name__ == "__main__":
    main()
