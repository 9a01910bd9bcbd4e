# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa segment` (alias `mrcfa-segment`): segment a video with an MRCFA model.

    mrcfa segment INPUT --model MODEL --output DIR [--overlay out.mp4 [--legend]] [--preview preview.png]

INPUT is a video file (decoded with PyAV), a folder of frames or a VSPW video folder. MODEL is a model folder or Hub
id, or a folder written by `mrcfa export-onnx`, which runs with ONNX Runtime instead of PyTorch (`--backend`). DIR receives one palette PNG
per frame (VSPW palette; the class names and colours are in `legend.json` / `legend.txt`) and `summary.json` (frames
written, frames skipped, whether the run completed). The overlay video keeps the input's frame rate and outlines
the classes; the preview shows a frame from the middle of the video with its legend.

Every argument is checked before the model is loaded. A frame that cannot be read stops the run with what was
written so far, plus the legend and `summary.json` ("complete": false), and exit status 2; `--skip-corrupt` skips
such frames instead (each is reported, and listed in `summary.json`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..checks import check_device, check_outputs_apart, check_writable_dir, check_writable_file
from ..hub_paths import check_model_name_or_path
from ..loading import BACKENDS, load_model, load_onnx_model, model_backend
from ..models.mrcfa.video_io_mrcfa import CorruptFrameError, VideoReadError, probe_video
from ..rendering import SegmentedFrame, iter_segmented_frames, write_legend
from ..threads import configure_threads
from ..video_writer import VIDEO_SUFFIXES, OverlayVideoWriter
from ..visualization import palette_for
from ._common import CliError, standalone_main

__all__ = ["main", "run"]

NAME = "segment"
HELP = "segment a video (file, folder of frames or VSPW video folder) with an MRCFA model"
DESCRIPTION = __doc__
USER_ERRORS = (VideoReadError, FileNotFoundError, ValueError)

#: Frame rate of the overlay video when the input has none (a folder of frames): VSPW's frames are 15 per second.
DEFAULT_FPS = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="video file, folder of frames, or VSPW video folder")
    parser.add_argument("--model", required=True, help="model directory or Hub id")
    parser.add_argument("--output", required=True, help="output directory for the per-frame label PNGs")
    parser.add_argument(
        "--overlay", default=None, metavar="VIDEO",
        help=f"also write an overlay video ({', '.join(VIDEO_SUFFIXES)}; needs PyAV): class colours and boundaries "
        "over the frames, at the input's frame rate",
    )  # fmt: skip
    parser.add_argument(
        "--legend", action="store_true",
        help="draw the legend (each frame's classes and pixel share) and the frame index into the overlay video",
    )  # fmt: skip
    parser.add_argument(
        "--preview", default=None, metavar="IMAGE",
        help="also write a preview image (e.g. preview.png): a frame from the middle of the video next to its "
        "segmentation, with the legend and the frame index",
    )  # fmt: skip
    parser.add_argument(
        "--fps", type=float, default=None,
        help=f"frame rate of the overlay video (default: the input video's; {DEFAULT_FPS} for folders of frames)",
    )  # fmt: skip
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="run the model with PyTorch, or an `mrcfa export-onnx` folder with ONNX Runtime (default: auto, "
        "onnxruntime for a folder with mrcfa_onnx.json and no PyTorch weights, pytorch otherwise)",
    )  # fmt: skip
    parser.add_argument(
        "--device", default="cpu",
        help="device (cpu, cuda, cuda:1, ...; with ONNX Runtime, cuda needs its CUDA execution provider)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1, help="frames encoded together")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads (default: $OMP_NUM_THREADS, else the cores available to this process)",
    )  # fmt: skip
    parser.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="only the first N frames (default: all)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing results in --output")
    parser.add_argument(
        "--skip-corrupt", action="store_true",
        help="skip frames that cannot be read or decoded (each is reported and listed in summary.json) instead of "
        "stopping there",
    )  # fmt: skip
    parser.add_argument("--trust-remote-code", action="store_true", help="load the model's own code (without mrcfa)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_arguments(args: argparse.Namespace) -> Path:
    """Every check that needs no model, before any work starts (one line each); returns the `--output` folder."""
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be >= 1, got {args.threads}.")
    if args.max_frames is not None and args.max_frames < 1:
        raise CliError(f"--max-frames must be >= 1, got {args.max_frames}.")
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise CliError(f"--fps must be a positive number of frames per second, got {args.fps:g}.")
    if args.legend and not args.overlay:
        raise CliError("--legend draws the legend into the overlay video: pass --overlay VIDEO too.")
    if args.overlay:
        suffix = Path(args.overlay).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            image = suffix in Image.registered_extensions()
            raise CliError(
                f"--overlay {args.overlay}: the overlay is a video, expected a file name ending in "
                f"{', '.join(VIDEO_SUFFIXES)}{' (for an image of one frame, use --preview)' if image else ''}."
            )
        try:
            import av  # noqa: F401
        except ImportError as err:
            raise CliError("--overlay needs PyAV: pip install av (or 'mrcfa[video]').") from err
    if args.preview:
        suffix = Path(args.preview).suffix.lower()
        if Image.registered_extensions().get(suffix) not in Image.SAVE or suffix in (".gif", ".pdf"):
            raise CliError(
                f"--preview {args.preview}: the preview is an image, expected a file name ending in .png, .jpg or "
                f".webp{' (for a video, use --overlay)' if suffix in VIDEO_SUFFIXES else ''}."
            )
    source = Path(args.input)
    if not source.exists():
        raise CliError(f"input not found: {args.input}")
    check_model_name_or_path(args.model, argument="--model")
    # no output may be, hold or lie inside what the run reads (--overwrite would delete it, writing would replace it)
    check_outputs_apart(
        {"--output": args.output, "--overlay": args.overlay, "--preview": args.preview},
        {f"input {'frames folder' if source.is_dir() else 'video'}": source, "model folder (--model)": args.model},
    )
    if model_backend(args.model, args.backend) == "pytorch":
        check_device(args.device)  # ONNX Runtime's devices are checked when the export is loaded
    output = check_writable_dir(args.output, "--output")
    files = {
        flag: check_writable_file(path, flag)
        for flag, path in (("--overlay", args.overlay), ("--preview", args.preview))
        if path
    }
    if not args.overwrite:  # name the path that holds the earlier results
        held = _results_in(output)
        if held:
            more = ", ..." if len(held) > 1 else ""
            raise CliError(
                f"{output} already holds results ({held[0].name}{more}): pass --overwrite to replace them, or "
                "choose another --output."
            )
        for flag, path in files.items():
            if path.exists():
                raise CliError(
                    f"{flag} {path} already exists: pass --overwrite to replace it, or choose another {flag}."
                )
    return output


def _results_in(output: Path) -> list[Path]:
    """The results of an earlier run in the folder `output` (what `--overwrite` replaces): label PNGs, legend,
    summary."""
    if not output.is_dir():
        return []
    named = [output / name for name in ("legend.json", "legend.txt", "summary.json")]
    return sorted(output.glob("*.png")) + [path for path in named if path.exists()]


def _prepare_output(output: Path, overwrite: bool, files: list[Path]) -> bool:
    """Create `output` (and the folders of `files`), or empty it of earlier results; whether it was created."""
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for path in _results_in(output):
            path.unlink()
    return created


def run(args: argparse.Namespace) -> int:
    """Segment `args.input` (see `add_arguments`); returns the exit status."""
    output = _check_arguments(args)  # everything that needs no model, before any work (and torch) starts
    from tqdm.auto import tqdm

    logging.getLogger("transformers").setLevel(logging.ERROR)
    if args.quiet:  # transformers' "Loading weights" bar too
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    source = Path(args.input)
    choice = configure_threads(args.threads)
    backend = model_backend(args.model, args.backend)
    if not args.quiet:
        print(choice, file=sys.stderr)
        if backend == "onnxruntime":
            print(
                f"ONNX Runtime: {args.model} with {choice.threads} intra-op threads on {args.device}", file=sys.stderr
            )
    if backend == "onnxruntime":
        model, processor = load_onnx_model(args.model, args.device, choice.threads)
        device = "cpu"  # ONNX Runtime takes and returns host arrays, whatever its execution provider
    else:
        model, processor = load_model(args.model, args.device, args.trust_remote_code)
        device = args.device
    info = probe_video(source)  # a video that cannot be opened is reported here, before anything is written
    files = [Path(p) for p in (args.overlay, args.preview) if p]
    created = _prepare_output(output, args.overwrite, files)
    palette = palette_for(model.config.num_labels)
    id2label = model.config.id2label

    total = info.expected_frames
    total = total if args.max_frames is None else min(total or args.max_frames, args.max_frames)
    middle = None if total is None else (total - 1) // 2  # the preview's frame (with temporal context)
    fps = (Fraction(args.fps) if args.fps else info.fps or Fraction(DEFAULT_FPS)).limit_denominator(1001)
    writer = OverlayVideoWriter(args.overlay, rate=fps) if args.overlay else None
    progress = tqdm(total=total, unit="frame", disable=args.quiet, desc="segmenting")

    skipped: list[dict] = []

    def on_skip(name: str, error: CorruptFrameError) -> None:
        skipped.append({"frame": name, "error": str(error)})
        tqdm.write(f"warning: skipping frame {name}: {error}", file=sys.stderr)

    segmented_frames = iter_segmented_frames(
        model,
        source,
        processor=processor,
        palette=palette,
        id2label=id2label,
        batch_size=args.batch_size,
        device=device,
        max_frames=args.max_frames,
        skip_corrupt=args.skip_corrupt,
        on_skip=on_skip,
    )
    counts = np.zeros(len(palette), dtype=np.int64)
    preview: SegmentedFrame | None = None
    written = 0
    failure: BaseException | None = None
    try:
        for segmented in segmented_frames:
            segmented.label_image().save(output / f"{segmented.name}.png")
            counts += segmented.counts
            written += 1
            if writer is not None:
                writer.write(segmented.overlay(legend=args.legend))
            # the first frame at or after the middle (the last power-of-two position when the length is unknown)
            index = segmented.index
            if preview is None or (preview.index < middle if middle is not None else index & (index - 1) == 0):
                preview = segmented
            progress.update(1)
    except BaseException as err:  # noqa: BLE001 - what was written stays consistent, then the error is reported
        failure = err
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if failure is not None and written == 0:  # nothing to keep (e.g. the input has no frames)
        if created and not any(output.iterdir()):
            output.rmdir()
        raise failure

    legend = write_legend(output, counts, id2label, palette)
    if args.preview and preview is not None:
        preview.preview().save(args.preview)
    summary = {
        "input": str(source),
        "model": args.model,
        "backend": backend,
        "complete": failure is None,
        "frames_written": written,
        "frames_skipped": skipped,
        "error": None if failure is None else " ".join(str(failure).split()) or type(failure).__name__,
        "overlay": args.overlay and {"path": args.overlay, "fps": str(fps)},
        "preview_frame": None if preview is None or not args.preview else preview.title,
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=1))
    if failure is not None:
        if not isinstance(failure, USER_ERRORS):
            raise failure  # interrupted, or a bug: the outputs above are consistent all the same
        hint = " Pass --skip-corrupt to skip unreadable frames." if isinstance(failure, CorruptFrameError) else ""
        raise CliError(
            f"{summary['error']} -- stopped after {written} frames: {output} holds them with legend.json and "
            f'summary.json ("complete": false).{hint}'
        ) from failure
    present = [e for e in sorted(legend, key=lambda e: -e["pixels"]) if e["pixels"]][:5]
    shares = ", ".join(f"{e['name']} {100 * e['pixels'] / max(counts.sum(), 1):.0f}%" for e in present)
    note = f"; skipped {len(skipped)} unreadable frames (summary.json)" if skipped else ""
    print(f"segmented {written} frames -> {output} ({shares}){note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `mrcfa-segment` (the same as `mrcfa segment`)."""
    return standalone_main(sys.modules[__name__], "mrcfa-segment", argv)
