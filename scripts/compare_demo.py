#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Does the temporal head help? Train the built-in demo twice (MRCFA, then the single-frame baseline) and compare.

    python scripts/compare_demo.py                          # both demo runs (~8 min on 2 CPU cores), then the table
    python scripts/compare_demo.py --skip_training          # only re-score the models already in --output_dir
    python scripts/compare_demo.py -- --seed 1 --max_steps 800      # arguments after "--" go to both runs

Both runs are `scripts/run_vss.py` with the same arguments (same synthetic set, steps, schedule, augmentation and
seed); the baseline adds `--num_frames 1` (every frame of the same clips trained as an image, each frame predicted
alone). The table has the demo's own metrics (mIoU, mVC8, mVC16 on the synthetic validation videos, official VC
protocol), the wall time of each run, and pixel accuracy split by what the synthetic generator drew there
(`mrcfa.data.object_visibility`): moving objects showing their class, moving objects with the neutral look (their
class is only known from other frames: what the temporal head is for) and the background. Results also go to
`<output_dir>/comparison.json`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from transformers import HfArgumentParser

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor, segment_video
from mrcfa.data import object_visibility
from mrcfa.training import SyntheticVspwArguments, single_frame_predictions

RUN_VSS = Path(__file__).resolve().parent / "run_vss.py"
RUNS = {"mrcfa": [], "single_frame": ["--num_frames", "1"]}
CATEGORIES = {"visible objects": 0, "hidden objects": 1, "background": -1}
METRICS = ("eval_mIoU", "eval_mVC8", "eval_mVC16")


def pixel_accuracy_by_visibility(model_dir: Path, root: Path, split: str, single_frame: bool) -> dict[str, float]:
    """Pixel accuracy of a saved model on a synthetic split, per `object_visibility` category (labelled pixels)."""
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval()
    processor = MrcfaImageProcessor.from_pretrained(model_dir)
    correct = dict.fromkeys(CATEGORIES, 0)
    total = dict.fromkeys(CATEGORIES, 0)
    for video in (root / f"{split}.txt").read_text().split():
        folder = root / "data" / video
        frames = [Image.open(p).convert("RGB") for p in sorted((folder / "origin").glob("*.jpg"))]
        masks = [np.asarray(Image.open(p)) for p in sorted((folder / "mask").glob("*.png"))]
        visibility = object_visibility(root, split, video)
        if single_frame:
            predictions = single_frame_predictions(model, frames, processor, batch_size=8)
        else:
            predictions = segment_video(model, frames, processor=processor)
        for t, prediction in enumerate(predictions):
            target = masks[t].astype(np.int64) - 1  # raw VSPW masks: 0 = others (ignored), k = class k - 1
            hit = prediction.numpy() == target
            for name, value in CATEGORIES.items():
                selected = (visibility[t] == value) & (target >= 0)
                correct[name] += int(hit[selected].sum())
                total[name] += int(selected.sum())
    return {name: correct[name] / total[name] if total[name] else float("nan") for name in CATEGORIES}


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    forwarded = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="runs/demo-comparison", help="holds mrcfa/, single_frame/ and results")
    parser.add_argument("--skip_training", action="store_true", help="re-score the runs already in --output_dir")
    args = parser.parse_args(own)
    output_dir = Path(args.output_dir)
    if any(a == "--dataset_name" or a.startswith("--dataset_name=") for a in forwarded):
        parser.error("compare_demo.py compares the built-in synthetic demo; --dataset_name is not supported.")
    if any(
        a in ("--num_frames", "--output_dir") or a.startswith(("--num_frames=", "--output_dir=")) for a in forwarded
    ):
        parser.error("--num_frames and --output_dir are set by compare_demo.py itself.")

    synthetic, rest = HfArgumentParser(SyntheticVspwArguments).parse_args_into_dataclasses(
        forwarded, return_remaining_strings=True
    )
    root = synthetic.ensure_synthetic_vspw()  # generated once here, so that neither run's time includes it
    eval_split = next((rest[i + 1] for i, a in enumerate(rest[:-1]) if a == "--eval_split"), "val")

    results: dict[str, dict] = {}
    for name, extra in RUNS.items():
        run_dir = output_dir / name
        wall = None
        if not args.skip_training:
            command = [sys.executable, str(RUN_VSS), *forwarded, *extra, "--output_dir", str(run_dir)]
            print(f"[compare_demo] {name}: {' '.join(command[1:])}", flush=True)
            start = time.perf_counter()
            subprocess.run(command, check=True)
            wall = time.perf_counter() - start
        metrics_file = run_dir / "all_results.json"
        if not metrics_file.is_file():
            raise SystemExit(f"{metrics_file} does not exist: run without --skip_training first.")
        metrics = json.loads(metrics_file.read_text())
        results[name] = {
            **{key: metrics[key] for key in METRICS},
            "train_runtime_s": metrics.get("train_runtime"),
            "wall_time_s": wall,
            "pixel_accuracy": pixel_accuracy_by_visibility(run_dir, root, eval_split, name == "single_frame"),
        }

    mrcfa, single = results["mrcfa"], results["single_frame"]
    rows = [(key.removeprefix("eval_"), mrcfa[key], single[key]) for key in METRICS]
    rows += [(f"accuracy, {k}", mrcfa["pixel_accuracy"][k], single["pixel_accuracy"][k]) for k in CATEGORIES]
    print(f"\n{'':28s}{'MRCFA':>9s}{'1 frame':>9s}{'MRCFA - 1 frame':>17s}")
    for label, a, b in rows:
        print(f"{label:28s}{a:9.4f}{b:9.4f}{a - b:+17.4f}")
    for label, key in (("train time (s)", "train_runtime_s"), ("wall time (s)", "wall_time_s")):
        if mrcfa[key] is not None and single[key] is not None:
            print(f"{label:28s}{mrcfa[key]:9.1f}{single[key]:9.1f}")
    wins = all(mrcfa[key] > single[key] for key in METRICS)
    print(f"\nMRCFA {'beats' if wins else 'does not beat'} the single-frame baseline on mIoU, mVC8 and mVC16.")
    summary = {"synthetic_vspw": str(root), "forwarded_arguments": forwarded, "mrcfa_wins_all": wins, **results}
    (output_dir / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
