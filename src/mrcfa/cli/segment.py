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
from collections import deque
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..hub_paths import check_model_name_or_path
from ..models.mrcfa.video_io_mrcfa import CorruptFrameError, VideoReadError, iter_named_frames, probe_video
from ..threads import configure_threads
from ..visualization import draw_legend, frame_legend, overlay_frame, preview_image
from ._common import CliError, check_device, check_writable_dir, check_writable_file, standalone_main

__all__ = ["OverlayVideoWriter", "colorize", "legend_entries", "load_model", "main", "palette_for", "run"]

NAME = "segment"
HELP = "segment a video (file, folder of frames or VSPW video folder) with an MRCFA model"
DESCRIPTION = __doc__
USER_ERRORS = (VideoReadError, FileNotFoundError, ValueError)

#: Containers the overlay video (MPEG-4 part 2) can be written to, by file name suffix.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".m4v")
#: How the model runs: `auto` picks `onnxruntime` for an `mrcfa export-onnx` folder (see `model_backend`).
BACKENDS = ("auto", "pytorch", "onnxruntime")
#: The file `mrcfa export-onnx` writes (`mrcfa.onnx_export.METADATA_FILE`; not imported here: that imports torch).
ONNX_METADATA_FILE = "mrcfa_onnx.json"
#: Weight files of a PyTorch model folder (`save_pretrained`, sharded or not).
WEIGHT_PATTERNS = ("model.safetensors", "model-*.safetensors", "pytorch_model.bin", "pytorch_model-*.bin")
#: Frame rate of the overlay video when the input has none (a folder of frames): VSPW's frames are 15 per second.
DEFAULT_FPS = 15


def palette_for(num_labels: int) -> np.ndarray:
    """`[num_labels, 3]` uint8 colours: VSPW's palette, extended deterministically beyond 124 classes."""
    from ..constants import VSPW_PALETTE  # imports transformers: not before the arguments are checked

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


def legend_entries(counts: np.ndarray, id2label: dict, palette: np.ndarray) -> list[dict]:
    """One `{"id", "name", "color", "pixels"}` entry per class (the format of `legend.json`)."""
    return [
        {"id": i, "name": id2label.get(i, str(i)), "color": palette[i].tolist(), "pixels": int(counts[i])}
        for i in range(len(counts))
    ]


class OverlayVideoWriter:
    """Writes RGB frames to a video file with PyAV, opened at the first frame (odd sizes lose their last row/column).

    `codec`: a PyAV encoder name ("mpeg4"; "libx264" in .mp4 or "libvpx-vp9" in .webm play in browsers); `rate`: the
    frame rate (an int or a `fractions.Fraction`). Use as a context manager, or call `close()`.
    """

    def __init__(self, path, rate, codec: str = "mpeg4", options: dict[str, str] | None = None):
        try:
            import av
        except ImportError as err:
            raise CliError("writing a video needs PyAV: pip install av (or 'mrcfa[video]').") from err
        self._av, self.path, self.rate, self.codec, self.options = av, path, rate, codec, options or {}
        self._container = self._stream = None

    def write(self, rgb: np.ndarray) -> None:
        """Append one `[H, W, 3]` uint8 frame."""
        if self._stream is None:
            self._container = self._av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream(self.codec, rate=self.rate, options=self.options)
            self._stream.width, self._stream.height = rgb.shape[1] - rgb.shape[1] % 2, rgb.shape[0] - rgb.shape[0] % 2
            self._stream.pix_fmt = "yuv420p"
        frame = np.ascontiguousarray(rgb[: self._stream.height, : self._stream.width])
        for packet in self._stream.encode(self._av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file (nothing is written when no frame came)."""
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._stream = None

    def __enter__(self) -> OverlayVideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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


def model_backend(model_id: str, backend: str = "auto") -> str:
    """`"pytorch"` or `"onnxruntime"`: how `model_id` runs with `--backend backend` (`CliError` if it cannot).

    `auto` is `onnxruntime` for a local folder written by `mrcfa export-onnx` (it holds `mrcfa_onnx.json`) without
    PyTorch weights, `pytorch` otherwise (a model folder, or a Hub id).
    """
    if backend not in BACKENDS:
        raise CliError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    folder = Path(model_id).expanduser()
    exported = (folder / ONNX_METADATA_FILE).is_file()
    if backend == "auto":
        weights = any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS) if folder.is_dir() else True
        return "onnxruntime" if exported and not weights else "pytorch"
    if backend == "onnxruntime" and not exported:
        raise CliError(
            f"--backend onnxruntime runs a folder written by `mrcfa export-onnx`, but --model {model_id!r} has no "
            f"{ONNX_METADATA_FILE} (export it first: mrcfa export-onnx {model_id} OUT_DIR)."
        )
    return backend


def load_onnx_model(directory: str, device: str = "cpu", threads: int | None = None):
    """`(runner, processor)` of an `mrcfa export-onnx` folder: an `OnnxStreamingModel` on `device` (`cpu`, or `cuda`
    / `cuda:N` with ONNX Runtime's CUDA execution provider), and the export's processor.

    A device ONNX Runtime cannot use, or a folder it cannot load, raises `CliError` with a one-line message.
    """
    import torch

    from ..models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor
    from ..onnx_runtime import OnnxStreamingModel, import_onnxruntime

    try:
        ort = import_onnxruntime()
    except ImportError as err:
        raise CliError(f"--model {directory} is an ONNX export: {err}") from err
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise CliError(f"--device {device!r} is not a device (expected cpu, cuda or cuda:N): {err}") from err
    if parsed.type == "cpu":
        providers = ["CPUExecutionProvider"]
    elif parsed.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise CliError(
                f"--device {device}: this onnxruntime ({ort.__version__}) has no CUDA execution provider (it has "
                f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu, or use --device cpu."
            )
        providers = [("CUDAExecutionProvider", {"device_id": parsed.index or 0}), "CPUExecutionProvider"]
    else:
        raise CliError(f"--device {device}: the ONNX Runtime backend runs on cpu or cuda, not {parsed.type}.")
    try:
        runner = OnnxStreamingModel(directory, providers=providers, threads=threads)
    except (OSError, ValueError, RuntimeError) as err:  # onnxruntime's load errors are RuntimeError subclasses
        raise CliError(f"cannot load the ONNX export {directory!r}: {' '.join(str(err).split())}") from err
    return runner, runner.processor or MrcfaImageProcessor()


def load_model(model_id: str, device: str = "cpu", trust_remote_code: bool = False):
    """`(model, processor)` of an MRCFA checkpoint (folder or Hub id), the model in eval mode on `device`.

    A model that cannot be loaded, or is not an MRCFA model, raises `CliError` with a one-line message.
    """
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    from .. import register
    from ..models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

    register()  # the mrcfa command defers registration with the Auto classes to here

    check_model_name_or_path(model_id, argument="--model")  # a missing folder is not reported as a bad Hub id
    check_device(device)
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        where = "" if Path(model_id).exists() else "no such folder, and the Hub lookup failed: "
        raise CliError(f"cannot load the model {model_id!r}: {where}{err}") from err
    if not hasattr(model, "decode_head") or not hasattr(model.decode_head, "clip_forward"):
        raise CliError(f"{model_id!r} is a {type(model).__name__}, not an MRCFA model.")
    try:
        processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        processor = MrcfaImageProcessor()  # no preprocessor config: the official test preprocessing
    return model.to(device).eval(), processor


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
    if not Path(args.input).exists():
        raise CliError(f"input not found: {args.input}")
    check_model_name_or_path(args.model, argument="--model")
    if model_backend(args.model, args.backend) == "pytorch":
        check_device(args.device)  # ONNX Runtime's devices are checked when the export is loaded
    output = check_writable_dir(args.output, "--output")
    files = [
        check_writable_file(path, flag)
        for flag, path in (("--overlay", args.overlay), ("--preview", args.preview))
        if path
    ]
    existing = [p for p in files if p.exists()]
    if output.is_dir():
        existing += sorted(output.glob("*.png")) + [p for p in (output / "legend.json",) if p.exists()]
    if existing and not args.overwrite:
        raise CliError(
            f"{output} already holds results ({existing[0].name}, ...): pass --overwrite to replace them, or choose "
            "another --output."
        )
    return output


def _prepare_output(output: Path, overwrite: bool, files: list[Path]) -> bool:
    """Create `output` (and the folders of `files`), or empty it of earlier results; whether it was created."""
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for path in [*output.glob("*.png"), output / "legend.json", output / "legend.txt", output / "summary.json"]:
            path.unlink(missing_ok=True)
    return created


def run(args: argparse.Namespace) -> int:
    """Segment `args.input` (see `add_arguments`); returns the exit status."""
    output = _check_arguments(args)  # everything that needs no model, before any work (and torch) starts
    from tqdm.auto import tqdm

    from ..models.mrcfa.streaming_mrcfa import segment_video

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
    files = [Path(p) for p in (args.overlay, args.preview) if p]
    created = _prepare_output(output, args.overwrite, files)
    palette = palette_for(model.config.num_labels)
    id2label = model.config.id2label

    info = probe_video(source)
    total = info.num_frames if args.max_frames is None else min(info.num_frames or args.max_frames, args.max_frames)
    middle = None if total is None else (total - 1) // 2  # the preview's frame (with temporal context)
    fps = (Fraction(args.fps) if args.fps else info.fps or Fraction(DEFAULT_FPS)).limit_denominator(1001)
    writer = OverlayVideoWriter(args.overlay, rate=fps) if args.overlay else None
    progress = tqdm(total=total, unit="frame", disable=args.quiet, desc="segmenting")

    skipped: list[dict] = []
    pending: deque[tuple[int, str, Image.Image]] = deque()  # (position in the input, name, frame) not yet predicted
    position = 0

    def on_skip(name: str, error: CorruptFrameError) -> None:
        nonlocal position
        position += 1
        skipped.append({"frame": name, "error": str(error)})
        tqdm.write(f"warning: skipping frame {name}: {error}", file=sys.stderr)

    def frames():
        nonlocal position
        named = iter_named_frames(source, max_frames=args.max_frames, skip_corrupt=args.skip_corrupt, on_skip=on_skip)
        for name, frame in named:
            pending.append((position, name, frame))
            position += 1
            yield frame

    counts = np.zeros(model.config.num_labels, dtype=np.int64)
    preview = None
    written = 0
    failure: BaseException | None = None
    try:
        for labels in segment_video(model, frames(), processor=processor, batch_size=args.batch_size, device=device):
            index, name, frame = pending.popleft()
            label_map = labels.cpu().numpy()
            colorize(label_map, palette).save(output / f"{name}.png")
            counts += np.bincount(label_map.ravel(), minlength=len(counts))[: len(counts)]
            written += 1
            title = f"frame {index}" + (f" ({name})" if name != f"{index:05d}" else "")
            if writer is not None:
                rgb = overlay_frame(frame, label_map, palette)
                if args.legend:
                    entries = frame_legend(label_map, id2label, palette)
                    rgb = np.asarray(draw_legend(Image.fromarray(rgb), entries, title))
                writer.write(rgb)
            # the first frame at or after the middle (the last power-of-two position when the length is unknown)
            if preview is None or (preview[0] < middle if middle is not None else index & (index - 1) == 0):
                preview = (index, title, frame, label_map)
            progress.update(1)
    except BaseException as err:  # noqa: BLE001 - what was written stays consistent, then the error is reported
        failure = err
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if failure is not None and written == 0:  # nothing to keep (e.g. the input cannot be opened)
        if created and not any(output.iterdir()):
            output.rmdir()
        raise failure

    legend = legend_entries(counts, id2label, palette)
    (output / "legend.json").write_text(json.dumps(legend, indent=1))
    (output / "legend.txt").write_text(
        "".join(f"{e['id']}\t{e['name']}\t#{bytes(e['color']).hex()}\t{e['pixels']}\n" for e in legend)
    )
    if args.preview and preview is not None:
        _, title, frame, label_map = preview
        preview_image(frame, label_map, palette, id2label, title).save(args.preview)
    summary = {
        "input": str(source),
        "model": args.model,
        "backend": backend,
        "complete": failure is None,
        "frames_written": written,
        "frames_skipped": skipped,
        "error": None if failure is None else " ".join(str(failure).split()) or type(failure).__name__,
        "overlay": args.overlay and {"path": args.overlay, "fps": str(fps)},
        "preview_frame": None if preview is None or not args.preview else preview[1],
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
