# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa segment` (alias `mrcfa-segment`): segment a video, or a collection of videos, with an MRCFA model.

    mrcfa segment INPUT --model MODEL --output DIR [--overlay out.mp4 [--legend]] [--preview preview.png]
    mrcfa segment INPUT [INPUT ...] --model MODEL --output DIR [--overlay overlay.mp4] [--preview preview.png]

One video: INPUT is a video file (decoded with PyAV), a folder of frames or a VSPW video folder. MODEL is a model
folder or Hub id, or a folder written by `mrcfa export-onnx`, which runs with ONNX Runtime instead of PyTorch
(`--backend`). DIR receives one palette PNG per frame (VSPW palette; the class names and colours are in
`legend.json` / `legend.txt`) and `summary.json` (frames declared by the video, read, skipped and written, whether
the run completed and why not). The overlay video keeps the input's frame rate and size and outlines the classes;
the preview shows the frame from the middle of the video with its legend.

A collection: several INPUTs, a folder of videos, a glob pattern (quoted: 'clips/*.mp4') or @LIST (a text file naming
one path per line; relative paths are relative to its folder). A folder is a collection when it holds video files and
no frames (image files, in it or in its origin/); a folder of frames or a VSPW video folder is one video. Each video is
written to DIR/<name>/ (its file stem; clip, clip-2, ... when names repeat), --overlay and --preview are file names
written into each video's folder, and DIR/manifest.jsonl has one line per video (input, output, frames, seconds,
status: done, skipped-complete, incomplete or failed, error). A rerun skips the videos an earlier run completed (their
summary.json, same input and model) and redoes partial ones; --overwrite redoes all. A bad video is recorded with its
error and the run goes on; the exit status is 2 when any video failed or is incomplete. --streams N segments N videos
at a time in lockstep, as one batch (the same files as one at a time; it pays where a larger batch fills the device).
Under `accelerate launch -m mrcfa segment ...` or `torchrun -m mrcfa segment ...`, each process segments a share of
the videos (balanced by frame count) on its own device, and the main process writes the manifest.

Every argument is checked before the model is loaded. A frame that cannot be read stops the video with what was
written so far, plus the legend and `summary.json` ("complete": false), and exit status 2; `--skip-corrupt` skips
such frames instead (each is reported, and listed in `summary.json`). A video that ends before the frame count its
header declares (a truncated file) is incomplete too, and says which frames are missing.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from PIL import Image

from ..checks import check_device, check_outputs_apart, check_writable_dir, check_writable_file
from ..collection import (
    MANIFEST,
    CollectionVideo,
    list_videos,
    merge_manifests,
    name_videos,
    segment_collection,
    video_weights,
)
from ..hub_paths import check_model_name_or_path
from ..loading import BACKENDS, load_model, load_onnx_model, model_backend
from ..models.mrcfa.video_io_mrcfa import VideoReadError
from ..segmenting import DEFAULT_FPS, SegmentationOptions, label_png_clash, result_line, segment_to_folder
from ..threads import configure_threads
from ..video_writer import VIDEO_SUFFIXES
from ..visualization import palette_for  # noqa: F401 - the command's class colours, by their old name here
from ._common import CliError, standalone_main

__all__ = ["main", "run"]

NAME = "segment"
HELP = "segment a video (file, folder of frames or VSPW video folder) or a collection of videos with an MRCFA model"
DESCRIPTION = __doc__
USER_ERRORS = (VideoReadError, FileNotFoundError, ValueError)

#: How long a process of a multi-process run waits for the others at the end (they finish their shares).
BARRIER_TIMEOUT = timedelta(days=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input", nargs="+",
        help="video file, folder of frames, or VSPW video folder; for a collection, several of them, a folder of "
        "videos, a glob pattern or @LIST (a text file, one path per line)",
    )  # fmt: skip
    parser.add_argument("--model", required=True, help="model directory or Hub id")
    parser.add_argument(
        "--output", required=True,
        help="output directory for the per-frame label PNGs (a collection: one folder per video, and manifest.jsonl)",
    )  # fmt: skip
    parser.add_argument(
        "--overlay", default=None, metavar="VIDEO",
        help=f"also write an overlay video ({', '.join(VIDEO_SUFFIXES)}; needs PyAV): class colours and boundaries "
        "over the frames, at the input's frame rate and size (a collection: a file name, in each video's folder)",
    )  # fmt: skip
    parser.add_argument(
        "--legend", action="store_true",
        help="draw the legend (each frame's classes and pixel share) and the frame index into the overlay video",
    )  # fmt: skip
    parser.add_argument(
        "--preview", default=None, metavar="IMAGE",
        help="also write a preview image (e.g. preview.png): the frame from the middle of the video next to its "
        "segmentation, with the legend and the frame index (a collection: a file name, in each video's folder)",
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
        "--device", default=None,
        help="device (cpu, cuda, cuda:1, ...; with ONNX Runtime, cuda needs its CUDA execution provider). Default: "
        "cpu; under accelerate launch / torchrun, each process's own device (cuda: cuda:<local rank>)",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1, help="consecutive frames of a video encoded together")
    parser.add_argument(
        "--streams", type=int, default=1, metavar="N",
        help="a collection: segment N videos at once, in lockstep as one batch (each step encodes the next frame of "
        "every open video together; a finished video's place goes to the next one). The labels are the same as with "
        "1; meant for GPUs, where a larger batch fills the device (on CPU it gains little)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads (default: $OMP_NUM_THREADS, else the cores available to this process)",
    )  # fmt: skip
    parser.add_argument(
        "--max-frames", type=int, default=None, metavar="N", help="only the first N frames (default: all)"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace existing results in --output (a collection: redo the videos an earlier run completed too)",
    )  # fmt: skip
    parser.add_argument(
        "--skip-corrupt", action="store_true",
        help="skip frames that cannot be read or decoded (each is reported and listed in summary.json) instead of "
        "stopping there",
    )  # fmt: skip
    parser.add_argument("--trust-remote-code", action="store_true", help="load the model's own code (without mrcfa)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_arguments(args: argparse.Namespace) -> tuple[Path, list[CollectionVideo] | None]:
    """Every check that needs no model, before any work starts (one line each); returns the `--output` folder and,
    for a collection, its videos (None for one video)."""
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be >= 1, got {args.batch_size}.")
    if args.streams < 1:
        raise CliError(f"--streams must be >= 1, got {args.streams}.")
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
    sources, collection = list_videos(args.input)  # "input not found: ...", patterns, lists
    check_model_name_or_path(args.model, argument="--model")
    # no output may be, hold or lie inside what the run reads (--overwrite would delete it, writing would replace it)
    inputs = {
        f"input {'frames folder' if source.is_dir() else 'video'}{f' {number}' if collection else ''}": source
        for number, source in enumerate(sources, 1)
    }
    outputs = {"--output": args.output}
    if not collection:  # in a collection, --overlay and --preview are file names inside each video's folder
        outputs.update({"--overlay": args.overlay, "--preview": args.preview})
    check_outputs_apart(outputs, {**inputs, "model folder (--model)": args.model})
    if model_backend(args.model, args.backend) == "pytorch" and args.device is not None:
        check_device(args.device)  # ONNX Runtime's devices are checked when the export is loaded
    output = check_writable_dir(args.output, "--output")
    if collection:
        return output, _check_collection_outputs(args, output, name_videos(sources))
    files = {
        flag: check_writable_file(path, flag)
        for flag, path in (("--overlay", args.overlay), ("--preview", args.preview))
        if path
    }
    if args.preview:
        _check_preview_name(Path(args.input[0]), output, Path(args.preview))
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
    return output, None


def _results_in(output: Path) -> list[Path]:
    """The results of an earlier run in the folder `output` (what `--overwrite` replaces): label PNGs, legend,
    summary."""
    if not output.is_dir():
        return []
    named = [output / name for name in ("legend.json", "legend.txt", "summary.json")]
    return sorted(output.glob("*.png")) + [path for path in named if path.exists()]


def _check_collection_outputs(
    args: argparse.Namespace, output: Path, videos: list[CollectionVideo]
) -> list[CollectionVideo]:
    """A collection's outputs: --overlay / --preview are file names (written into each video's folder), and each
    video's folder `output/<name>` is checked here, the one place per video."""
    for flag, name in (("--overlay", args.overlay), ("--preview", args.preview)):
        if name and Path(name).name != name:
            raise CliError(
                f"{flag} {name}: with several videos, {flag} is a file name written into each video's folder under "
                f"--output (e.g. {flag} {Path(name).name}), not a path."
            )
    for video in videos:
        check_writable_dir(output / video.name, "--output")
        if args.preview:
            _check_preview_name(video.source, output / video.name, output / video.name / args.preview)
    return videos


def _check_preview_name(source: Path, output: Path, preview: Path) -> None:
    """The preview may not be written where a frame's label PNG goes (one would replace the other)."""
    frame = label_png_clash(source, output, preview)
    if frame is not None:
        raise CliError(
            f"--preview {preview}: the label PNG of frame {frame} of {source} is written there; choose another name "
            "(e.g. preview.png) or another folder."
        )


def _process_state(device: str | None):
    """accelerate's `PartialState` of this process (one process when not launched by accelerate launch / torchrun),
    on CPU (gloo) when `device` is a CPU, or when no device is given and torch sees no accelerator."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    if device is not None:
        cpu = torch.device(device).type == "cpu"
    else:
        cpu = not torch.accelerator.is_available()
    return PartialState(cpu=cpu or parse_flag_from_env("ACCELERATE_USE_CPU"), timeout=BARRIER_TIMEOUT)


def _process_device(device: str | None, state) -> str:
    """The device this process runs on: `device` (default cpu) alone; in a multi-process launch each process's own,
    `PartialState().device` by default, `cuda:<local rank>` for a device type without index."""
    import torch

    if state.num_processes == 1:
        return device or "cpu"
    parsed = torch.device(device if device is not None else state.device)
    if parsed.type == "cpu":
        return "cpu"
    if device is None or parsed.index is None:
        return f"{parsed.type}:{state.local_process_index}"
    return device


def run(args: argparse.Namespace) -> int:
    """Segment `args.input` (see `add_arguments`); returns the exit status."""
    output, videos = _check_arguments(args)  # everything that needs no model, before any work (and torch) starts
    logging.getLogger("transformers").setLevel(logging.ERROR)
    state = _process_state(args.device)
    try:
        if videos is None and not state.is_main_process:
            return 0  # one video: the main process segments it
        quiet = args.quiet or not state.is_main_process
        if quiet:  # transformers' "Loading weights" bar too
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        device = _process_device(args.device, state)
        backend = model_backend(args.model, args.backend)
        choice = configure_threads(args.threads)
        if not quiet:
            print(choice, file=sys.stderr)
            if backend == "onnxruntime":
                print(
                    f"ONNX Runtime: {args.model} with {choice.threads} intra-op threads on {device}", file=sys.stderr
                )
        if backend == "onnxruntime":
            model, processor = load_onnx_model(args.model, device, choice.threads)
            device = "cpu"  # ONNX Runtime takes and returns host arrays, whatever its execution provider
        else:
            model, processor = load_model(args.model, device, args.trust_remote_code)
        options = SegmentationOptions(
            model_name=args.model,
            backend=backend,
            device=device,
            batch_size=args.batch_size,
            max_frames=args.max_frames,
            skip_corrupt=args.skip_corrupt,
            overlay=args.overlay,
            legend=args.legend,
            fps=args.fps,
            preview=args.preview,
            progress=not quiet,
        )
        if videos is None:
            segment_to_folder(model, processor, Path(args.input[0]), output, options)
            print(result_line(output))
            return 0
        return _run_collection(model, processor, videos, output, options, args, state)
    finally:
        if state.num_processes > 1:
            state.destroy_process_group()


def _run_collection(model, processor, videos, output: Path, options, args: argparse.Namespace, state) -> int:
    """Each process its share of `videos`; then the main process merges the manifest and reports (one line)."""
    weights = None
    if state.num_processes > 1:  # the main process plans, so that every process has the same plan
        from accelerate.utils import broadcast_object_list

        planned = [video_weights(videos, output, options) if state.is_main_process else None]
        weights = broadcast_object_list(planned, from_process=0)[0]
    segment_collection(
        model,
        processor,
        videos,
        output,
        options,
        process_index=state.process_index,
        num_processes=state.num_processes,
        weights=weights,
        overwrite=args.overwrite,
        streams=args.streams,
    )
    state.wait_for_everyone()
    if not state.is_main_process:
        return 0  # the main process reports for all
    records = merge_manifests(output, videos, state.num_processes)
    manifest = output / MANIFEST
    bad = [r for r in records if r["status"] in ("incomplete", "failed")]
    if bad:
        raise CliError(
            f"{len(bad)} of {len(records)} videos failed or are incomplete (the first: {bad[0]['input']}: "
            f"{bad[0]['error']}); {manifest} lists each video with its status and error."
        )
    done = [r for r in records if r["status"] == "done"]
    skipped = len(records) - len(done)
    note = f"; {skipped} complete from an earlier run, skipped" if skipped else ""
    print(f"segmented {len(done)} videos ({sum(r['frames'] for r in done)} frames){note} -> {output} ({MANIFEST})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `mrcfa-segment` (the same as `mrcfa segment`)."""
    return standalone_main(sys.modules[__name__], "mrcfa-segment", argv)
