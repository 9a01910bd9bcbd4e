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
import time

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.clips import test_clip_indices
from mrcfa.inference import segment_video
from mrcfa.models.mrcfa.modeling_mrcfa_head import MrcfaFrameFeatures


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="b1")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=864)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--recompute_frames", type=int, default=None, help="frames timed for recompute (default all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
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
    print(f"MRCFA-{args.preset.upper()} {args.height}x{args.width}, {n} frames, {args.threads} threads")

    with torch.no_grad():
        segformer(frames[0][None])  # warm-up
        model(frames[0][None])
        t_segformer, _ = timed(lambda: [segformer(f[None]) for f in frames])
        streaming = {}
        for bs in args.batch_sizes:
            t, out = timed(lambda bs=bs: list(segment_video(model, frames, output="logits", batch_size=bs)))
            streaming[bs] = (t, out)
        m = args.recompute_frames or n
        t_recompute, ref = timed(
            lambda: [model(torch.stack([frames[j] for j in test_clip_indices(i)])[None]).logits[0] for i in range(m)]
        )
        max_err = max((streaming[args.batch_sizes[0]][1][i] - ref[i]).abs().max().item() for i in range(m))

        # profile of the streaming work: encoder, per-frame head, temporal head (clips of frames >= 3)
        t_enc = t_frame_head = t_clip_head = 0.0
        for i in range(min(n, 16)):
            dt, enc = timed(lambda i=i: model.segformer(frames[i][None], output_hidden_states=True))
            t_enc += dt
            dt, (feat, _) = timed(lambda enc=enc: model.decode_head.frame_features(tuple(enc.hidden_states)))
            t_frame_head += dt
            feat0 = feat.index(0)
            target = MrcfaFrameFeatures.stack([feat0])
            refs = MrcfaFrameFeatures.stack([MrcfaFrameFeatures.stack([feat0] * (config.num_clips - 1))])
            dt, _ = timed(
                lambda t=target, r=refs, f=feat0: model.decode_head.clip_forward(t, r, tuple(f.logits.shape[-2:]))
            )
            t_clip_head += dt
        k = min(n, 16)

    per = {bs: t / n for bs, (t, _) in streaming.items()}
    seg = t_segformer / n
    rec = t_recompute / m
    print(f"  SegFormer (single images)   {seg:7.3f} s/frame")
    print(f"  recompute every clip        {rec:7.3f} s/frame   (over {m} frames)")
    for bs, t in per.items():
        print(f"  streaming, batch_size={bs:<3}   {t:7.3f} s/frame")
    best = min(per.values())
    print(f"  ratio streaming / recompute {best / rec:7.3f}   (target <= 0.33)")
    print(f"  ratio streaming / SegFormer {best / seg:7.3f}   (target <= 1.25, goal <= 1.0)")
    print(f"  max |streaming - recompute| logits {max_err:.2e}")
    total = t_enc + t_frame_head + t_clip_head
    print(f"  profile per frame (batch 1, {k} frames): encoder {t_enc / k:.3f} s ({100 * t_enc / total:.0f}%), "
          f"per-frame head {t_frame_head / k:.3f} s ({100 * t_frame_head / total:.0f}%), "
          f"temporal head {t_clip_head / k:.3f} s ({100 * t_clip_head / total:.0f}%)")  # fmt: skip


if __name__ == "__main__":
    main()
