#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""MRCFA on a GPU: streaming FPS against transformers' SegFormer, clip forward, training step and peak memory, in
one run that writes one JSON file (a few minutes on one CUDA device).

    python scripts/benchmark_gpu.py --output benchmark_gpu.json            # CUDA, MRCFA-B1, 480x864
    python scripts/benchmark_gpu.py --device cpu --tiny --output tiny.json # a tiny model on CPU (what the test runs)

Measured (random weights; `mrcfa.benchmarking.time_interleaved`, synchronised with the device, medians):
  * streaming  - `mrcfa.segment_video` over a preprocessed video already on the device, for each precision
                 (fp32; bf16 = bf16 autocast) and each batch size (frames encoded together), against transformers'
                 `SegformerForSemanticSegmentation` of the same size on batches of single images: frames per
                 second and the per-frame time ratio MRCFA / SegFormer;
  * streams    - `mrcfa.segment_videos` with N = 1, 2, 4 videos streamed in lockstep as one batch (`--streams`;
                 `--stream_videos` videos of `--frames` frames, on the device), for each precision: frames per second
                 (`mrcfa.benchmarking.measure_streams`), with each frame's logits against N = 1's;
  * clip       - `model(clip)`, one clip of T = num_clips frames, against SegFormer on one frame;
  * train      - one optimiser step (forward with the official loss, backward, AdamW with the official parameter
                 groups) at batch 2, T = 4, 480x480 crops, fp32 and bf16 autocast, with the peak memory
                 (`torch.cuda.max_memory_allocated`);
  * checks     - streaming == recomputed clips on the device, bf16 / fp16 autocast against fp32 (max logits
                 difference, argmax agreement, same STM selection), the video pipeline with `device=`.
A section that fails records its error in the JSON and the others still run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

import mrcfa
from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation, segment_video
from mrcfa.benchmarking import measure_streams, set_threads, synchronize, time_call, time_interleaved
from mrcfa.models.mrcfa.video_clips_mrcfa import test_clip_indices

TINY = dict(
    hidden_sizes=(16, 32, 64, 128), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 4), decoder_hidden_size=32
)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str):
    """The context of a precision: nothing for fp32, autocast to bf16 / fp16 otherwise."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def segformer_like(config: MrcfaConfig) -> SegformerForSemanticSegmentation:
    """transformers' SegFormer with MRCFA's encoder and decoder sizes (B1 for the B1 preset)."""
    keys = ("hidden_sizes", "depths", "num_attention_heads", "decoder_hidden_size")
    return SegformerForSemanticSegmentation(
        SegformerConfig(**{k: getattr(config, k) for k in keys}, num_labels=config.num_labels)
    )


def video(frames: int, height: int, width: int, device: torch.device) -> list[torch.Tensor]:
    """A smooth moving pattern with values of normalised images, `[3, H, W]` frames on `device`."""
    ys = torch.linspace(0, 6.28, height, device=device)[:, None]
    xs = torch.linspace(0, 6.28, width, device=device)[None, :]
    return [
        torch.stack([torch.sin(ys + 0.1 * i + c) * torch.cos(xs - 0.05 * i) for c in range(3)]) for i in range(frames)
    ]


def streaming_section(model, segformer, frames, args, device) -> dict:
    results = {}
    n = len(frames)
    for precision in args.precisions:
        functions = {}
        for bs in args.batch_sizes:

            def stream(bs=bs, precision=precision):
                with autocast(device, precision):
                    return list(segment_video(model, frames, output="logits", batch_size=bs))

            def images(bs=bs, precision=precision):
                with autocast(device, precision):
                    return [segformer(torch.stack(frames[i : i + bs])).logits for i in range(0, n, bs)]

            functions[f"mrcfa_streaming_batch{bs}"] = stream
            functions[f"segformer_images_batch{bs}"] = images
        timings = time_interleaved(functions, repeats=args.repeats, warmup=1, device=device)
        entry = {}
        for bs in args.batch_sizes:
            mrcfa_s = timings[f"mrcfa_streaming_batch{bs}"].median / n
            segformer_s = timings[f"segformer_images_batch{bs}"].median / n
            entry[f"batch{bs}"] = {
                "mrcfa_streaming_fps": round(1 / mrcfa_s, 2),
                "segformer_fps": round(1 / segformer_s, 2),
                "mrcfa_ms_per_frame": round(1e3 * mrcfa_s, 3),
                "segformer_ms_per_frame": round(1e3 * segformer_s, 3),
                "ratio_mrcfa_over_segformer": round(mrcfa_s / segformer_s, 3),
            }
        results[precision] = entry
        print(f"streaming {precision}: {json.dumps(entry)}", flush=True)
    return results


def streams_section(model, frames, args, device) -> dict:
    """`segment_videos` with each number of `args.streams`, per precision: one row per number of streams."""
    # `stream_videos` videos, each the video started at another frame (one input size: a full batch of each size)
    videos = [frames[k:] + frames[:k] for k in range(0, args.stream_videos * 3, 3)]
    results = {}
    for precision in args.precisions:
        rows = measure_streams(
            model,
            videos,
            args.streams,
            repeats=args.repeats,
            warmup=1,
            device=device,
            context=lambda precision=precision: autocast(device, precision),
        )
        results[precision] = {f"streams{row['streams']}": row for row in rows}
        print(f"streams {precision}: {json.dumps(results[precision])}", flush=True)
    return results


def clip_section(model, segformer, frames, args, device) -> dict:
    clip = torch.stack(frames[: model.config.num_clips])[None]
    results = {}
    for precision in args.precisions:

        def clip_forward(precision=precision):
            with autocast(device, precision):
                return model(clip).logits

        def one_frame(precision=precision):
            with autocast(device, precision):
                return segformer(clip[:, -1]).logits

        timings = time_interleaved(
            {"clip": clip_forward, "segformer": one_frame}, repeats=args.repeats, warmup=1, device=device
        )
        results[precision] = {
            "mrcfa_clip_forward_ms": round(1e3 * timings["clip"].median, 3),
            "segformer_one_frame_ms": round(1e3 * timings["segformer"].median, 3),
            "ratio_clip_over_segformer_frame": round(timings["clip"].median / timings["segformer"].median, 3),
        }
        print(f"clip forward {precision}: {json.dumps(results[precision])}", flush=True)
    return results


def train_section(config, args, device) -> dict:
    from mrcfa.training import get_official_poly_schedule, official_param_groups

    height, width = args.train_size
    results = {}
    for precision in args.precisions:
        if precision == "fp16" and device.type != "cuda":
            continue
        torch.manual_seed(0)
        model = MrcfaForVideoSemanticSegmentation(config).to(device).train()
        optimizer = torch.optim.AdamW(official_param_groups(model, 6e-5, 0.01), lr=6e-5, betas=(0.9, 0.999))
        scheduler = get_official_poly_schedule(optimizer, 160_000, 1_500)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        pixel_values = torch.randn(args.train_batch, config.num_clips, 3, height, width, device=device)
        labels = torch.randint(
            0, config.num_labels, (args.train_batch, config.num_clips, height, width), device=device
        )
        labels[:, :, :8] = 255

        def step(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, precision=precision,
                 pixel_values=pixel_values, labels=labels):  # fmt: skip
            with autocast(device, precision):
                loss = model(pixel_values=pixel_values, labels=labels).loss
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            return loss.detach()

        if device.type == "cuda":
            synchronize(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        timing = time_call(step, repeats=args.repeats, warmup=1 if args.tiny else 2, device=device, name=precision)
        entry = {
            "batch_size": args.train_batch,
            "size": [height, width],
            "seconds_per_step_median": round(timing.median, 4),
            "seconds_per_step_min": round(timing.min, 4),
            "loss": round(float(timing.result), 4),
        }
        if device.type == "cuda":
            entry["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        results[precision] = entry
        print(f"train step {precision}: {json.dumps(entry)}", flush=True)
        del model, optimizer, scheduler
    return results


def checks_section(model, frames, args, device) -> dict:
    results = {}
    n = min(len(frames), 12)
    with torch.no_grad():
        streamed = list(segment_video(model, frames[:n], output="logits", batch_size=2))
        targets = [i for i in (2, 5, n - 1) if i < n]
        clips = {i: torch.stack([frames[j] for j in test_clip_indices(i)])[None] for i in targets}
        recomputed = {i: model(clips[i], output_affinities=True) for i in targets}
        results["stream_vs_clip_max_abs"] = max(
            (streamed[i] - recomputed[i].logits[0]).abs().max().item() for i in targets
        )
        full = n - 1  # a full clip (n >= 9): STM is part of it
        for precision in args.precisions + ["fp16"] * ("fp16" not in args.precisions):
            if precision == "fp32":
                continue
            with autocast(device, precision):
                out = model(clips[full], output_affinities=True)
            reference = recomputed[full]
            results[precision] = {
                "logits_max_abs_vs_fp32": (out.logits.float() - reference.logits).abs().max().item(),
                "argmax_agreement_vs_fp32": (out.logits.argmax(1) == reference.logits.argmax(1)).float().mean().item(),
                "stm_identical": bool(torch.equal(out.stm_mask, reference.stm_mask)),
                "finite": bool(torch.isfinite(out.logits).all()),
            }
    print(f"checks: {json.dumps(results)}", flush=True)
    return results


def pipeline_section(model, args, device) -> dict:
    """The video pipeline with `device=` from a saved checkpoint, against `segment_video` on the same frames."""
    import tempfile

    import numpy as np
    from PIL import Image
    from transformers import pipeline

    height, width = args.pipeline_size
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(10)]
    # the official test scale (frames resized to 480x864), or the frames' own size for --tiny
    processor = mrcfa.MrcfaImageProcessor(**({"size": (width, height)} if args.tiny else {}))
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        segmenter = pipeline("video-semantic-segmentation", model=folder, device=device)
        start = time.perf_counter()
        results = segmenter(images, batch_size=2)
        seconds = time.perf_counter() - start
    expected = list(segment_video(model, images, processor=processor, batch_size=2))
    same = all(torch.equal(r["labels"].cpu(), e.cpu()) for r, e in zip(results, expected))
    entry = {
        "pipeline_device": str(segmenter.device),
        "frames": len(results),
        "seconds": round(seconds, 3),
        "labels_equal_segment_video": same,
    }
    print(f"pipeline: {json.dumps(entry)}", flush=True)
    return entry


def run_section(results: dict, name: str, fn) -> None:
    start = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as err:  # noqa: BLE001 - one failing section must not lose the others' numbers
        results[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-4000:]}
        print(f"{name} failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
    if isinstance(results[name], dict):
        results[name]["section_seconds"] = round(time.perf_counter() - start, 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:1, cpu, ...")
    parser.add_argument("--tiny", action="store_true", help="a tiny model at a tiny size (a quick run, e.g. on CPU)")
    parser.add_argument("--preset", default="b1")
    parser.add_argument("--output", default="benchmark_gpu.json", help="the JSON file to write")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="default 480 864")
    parser.add_argument("--train_size", type=int, nargs=2, default=None, metavar=("H", "W"), help="default 480 480")
    parser.add_argument("--train_batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=None, help="video length for streaming (default 40)")
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4], help="videos streamed together")
    parser.add_argument("--stream_videos", type=int, default=4, help="videos of the streams section")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=sorted(PRECISIONS))
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions for fp32")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("CUDA is not available here: use --device cpu (with --tiny for a quick run).")
    tiny = args.tiny
    args.size = args.size or ((64, 96) if tiny else (480, 864))
    args.train_size = args.train_size or ((64, 96) if tiny else (480, 480))
    args.pipeline_size = (64, 96) if tiny else (240, 427)
    args.frames = args.frames or (10 if tiny else 40)
    args.repeats = args.repeats or (2 if tiny else 5)
    if "fp32" not in args.precisions:
        args.precisions = ["fp32", *args.precisions]
    threads = set_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True

    config = MrcfaConfig.from_preset(args.preset, **(TINY if tiny else {}))
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(config).to(device).eval()
    segformer = segformer_like(config).to(device).eval()
    frames = video(args.frames, *args.size, device)
    results = {
        "environment": {
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "mrcfa": mrcfa.__version__,
            "threads": threads,
            "tf32": args.tf32,
            "model": f"MRCFA-{args.preset.upper()}{' (tiny)' if tiny else ''}, random weights",
            "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "segformer_parameters_millions": round(sum(p.numel() for p in segformer.parameters()) / 1e6, 2),
            "size": list(args.size),
            "frames": args.frames,
            "streams": args.streams,
            "stream_videos": args.stream_videos,
            "repeats": args.repeats,
            "precisions": args.precisions,
        }
    }
    start = time.perf_counter()
    with torch.no_grad():
        run_section(results, "streaming", lambda: streaming_section(model, segformer, frames, args, device))
        run_section(results, "streams", lambda: streams_section(model, frames, args, device))
        run_section(results, "clip_forward", lambda: clip_section(model, segformer, frames, args, device))
    run_section(results, "checks", lambda: checks_section(model, frames, args, device))
    run_section(results, "pipeline", lambda: pipeline_section(model, args, device))
    run_section(results, "train_step", lambda: train_section(config, args, device))
    results["environment"]["total_seconds"] = round(time.perf_counter() - start, 1)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output} ({results['environment']['total_seconds']} s)")
    return results


if __name__ == "__main__":
    main()
