# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa segment` (alias `mrcfa-segment`): segment a video with an MRCFA model.

    mrcfa segment INPUT --model MODEL --output DIR [--overlay out.mp4] [--preview preview.png]

INPUT is a video file (decoded with PyAV), a folder of frames or a VSPW video folder. DIR receives one palette PNG
per frame (VSPW palette; the class names and colours are in `legend.json` / `legend.txt`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..constants import VSPW_PALETTE
from ..models.mrcfa.video_io_mrcfa import VideoReadError, frame_names, iter_frames
from ._common import CliError, standalone_main

__all__ = ["main", "palette_for", "colorize", "run"]

NAME = "segment"
HELP = "segment a video (file, folder of frames or VSPW video folder) with an MRCFA model"
DESCRIPTION = __doc__
USER_ERRORS = (VideoReadError, FileNotFoundError, ValueError)


def palette_for(num_labels: int) -> np.ndarray:
    """`[num_labels, 3]` uint8 colours: VSPW's palette, extended deterministically beyond 124 classes."""
    colours = np.array(VSPW_PALETTE, dtype=np.uint8)
    if num_labels > len(colours):
        extra = np.random.default_rng(0).integers(0, 256, size=(num_labels - len(colours), 3), dtype=np.uint8)
        colours = np.concatenate([colours, extra])
    return colours[:num_labels]


def colorize(labels: np.ndarray, palette: np.ndarray) -> Image.Image:
    """A palette ("P" mode) PNG image of an `[H, W]` label map."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette
    image.putpalette(flat.flatten().tolist())
    return image


def _overlay(frame: Image.Image, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    rgb = np.asarray(frame, dtype=np.float32)
    colour = palette[labels].astype(np.float32)
    return (rgb * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="video file, folder of frames, or VSPW video folder")
    parser.add_argument("--model", required=True, help="model directory or Hub id")
    parser.add_argument("--output", required=True, help="output directory for the per-frame label PNGs")
    parser.add_argument("--overlay", default=None, help="also write an overlay video (e.g. out.mp4; needs PyAV)")
    parser.add_argument("--preview", default=None, help="also write a side-by-side preview image (PNG)")
    parser.add_argument("--fps", type=float, default=15.0, help="frame rate of the overlay video")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--batch-size", type=int, default=1, help="frames encoded together")
    parser.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="only the first N frames (default: all)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing results in --output")
    parser.add_argument("--trust-remote-code", action="store_true", help="load the model's own code (without mrcfa)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _load(model_id: str, device: str, trust_remote_code: bool):
    import torch
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    from .. import MrcfaImageProcessor  # noqa: F401 - registers the Auto classes

    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise CliError(f"invalid --device {device!r}: {err}") from err
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        raise CliError(f"cannot load the model {model_id!r}: {err}") from err
    if not hasattr(model, "decode_head") or not hasattr(model.decode_head, "clip_forward"):
        raise CliError(f"{model_id!r} is a {type(model).__name__}, not an MRCFA model.")
    try:
        processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        processor = MrcfaImageProcessor()  # no preprocessor config: the official test preprocessing
    return model.to(device).eval(), processor


def _prepare_output(output: Path, overwrite: bool, files: list[Path]) -> None:
    if output.exists() and not output.is_dir():
        raise CliError(f"--output {output} exists and is not a directory.")
    existing = [p for p in files if p.exists()]
    if output.is_dir():
        existing += [p for p in output.glob("*.png")]
    if existing and not overwrite:
        raise CliError(
            f"{output} already holds results ({existing[0].name}, ...): pass --overwrite to replace them, or choose "
            "another --output."
        )
    output.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for path in output.glob("*.png"):
            path.unlink()


def run(args: argparse.Namespace) -> int:
    """Segment `args.input` (see `add_arguments`); returns the exit status."""
    from tqdm.auto import tqdm

    from ..models.mrcfa.streaming_mrcfa import segment_video

    if args.batch_size < 1:
        raise CliError("--batch-size must be >= 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise CliError("--max-frames must be >= 1")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    source = Path(args.input)
    if not source.exists():
        raise CliError(f"input not found: {source}")
    output = Path(args.output)
    extra = [Path(p) for p in (args.overlay, args.preview) if p]
    _prepare_output(output, args.overwrite, extra)
    model, processor = _load(args.model, args.device, args.trust_remote_code)
    palette = palette_for(model.config.num_labels)
    names = frame_names(source)

    writer = None
    if args.overlay:
        try:
            import av
        except ImportError as err:
            raise CliError("--overlay needs PyAV: pip install av (or 'mrcfa[video]').") from err

    frames_seen: list[Image.Image] = []

    def frames():
        for frame in iter_frames(source, max_frames=args.max_frames):
            frames_seen.append(frame)
            yield frame

    counts = np.zeros(model.config.num_labels, dtype=np.int64)
    preview = None
    total = None if names is None else min(len(names), args.max_frames or len(names))
    progress = tqdm(total=total, unit="frame", disable=args.quiet, desc="segmenting")
    index = -1
    try:
        for index, labels in enumerate(
            segment_video(model, frames(), processor=processor, batch_size=args.batch_size, device=args.device)
        ):
            frame = frames_seen.pop(0)
            label_map = labels.cpu().numpy()
            name = names[index] if names is not None else f"{index:05d}"
            colorize(label_map, palette).save(output / f"{name}.png")
            counts += np.bincount(label_map.ravel(), minlength=len(counts))[: len(counts)]
            if args.overlay:
                if writer is None:
                    container = av.open(str(args.overlay), mode="w")
                    stream = container.add_stream("mpeg4", rate=round(args.fps))
                    stream.width, stream.height = frame.size[0] - frame.size[0] % 2, frame.size[1] - frame.size[1] % 2
                    stream.pix_fmt = "yuv420p"
                    writer = (container, stream)
                container, stream = writer
                blended = _overlay(frame, label_map, palette)[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(blended), format="rgb24")):
                    container.mux(packet)
            if preview is None or index == (total or 0) // 2:
                preview = (frame, label_map)
            progress.update(1)
    finally:
        progress.close()
        if writer is not None:
            container, stream = writer
            for packet in stream.encode():
                container.mux(packet)
            container.close()
    num_frames = index + 1

    legend = [
        {"id": i, "name": model.config.id2label.get(i, str(i)), "color": palette[i].tolist(), "pixels": int(counts[i])}
        for i in range(model.config.num_labels)
    ]
    (output / "legend.json").write_text(json.dumps(legend, indent=1))
    (output / "legend.txt").write_text(
        "".join(f"{e['id']}\t{e['name']}\t#{bytes(e['color']).hex()}\t{e['pixels']}\n" for e in legend)
    )
    if args.preview and preview is not None:
        frame, label_map = preview
        side = Image.new("RGB", (frame.size[0] * 2, frame.size[1]))
        side.paste(frame, (0, 0))
        side.paste(Image.fromarray(_overlay(frame, label_map, palette, alpha=1.0)), (frame.size[0], 0))
        side.save(args.preview)
    present = [e for e in sorted(legend, key=lambda e: -e["pixels"]) if e["pixels"]][:5]
    summary = ", ".join(f"{e['name']} {100 * e['pixels'] / max(counts.sum(), 1):.0f}%" for e in present)
    print(f"segmented {num_frames} frames -> {output} ({summary})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `mrcfa-segment` (the same as `mrcfa segment`)."""
    return standalone_main(sys.modules[__name__], "mrcfa-segment", argv)
