# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Segmenting one video into a folder: what `mrcfa segment` writes for each video, as a library function.

`segment_to_folder(model, processor, source, output, options)` reads a video (a file, a folder of frames or a VSPW
video folder), segments it with streaming inference (`mrcfa.rendering.iter_segmented_frames`) and writes into
`output`:

* one palette PNG per frame (VSPW's mask format), named as the frame: the file stem of a folder's image, else its
  position (`00007.png`);
* `legend.json` / `legend.txt`: every class with its colour and its pixels over the frames written;
* `summary.json`: what the video declares and what was read, skipped and written (`segment_to_folder` lists the
  fields), whether the run is complete and why not;
* on request an overlay video (`options.overlay`) and a preview image (`options.preview`).

A video segmented to its end returns the summary. One that stops early -- an unreadable frame without `skip_corrupt`,
or fewer frames than its header declares (a truncated file) -- keeps what was written, with the legend and a summary
saying `"complete": false`, and raises `IncompleteVideoError` (a `UsageError`: one line). One that cannot be read at
all raises what reading raises (`VideoReadError`, `FileNotFoundError`) and leaves nothing behind. `result_line`
reads a finished folder back as the one line `mrcfa segment` prints; `remove_results` removes what an earlier run
wrote there, and nothing else. `mrcfa segment` calls these for one video, and `mrcfa.collection` for each video of a
collection.
"""

from __future__ import annotations

import json
import re
import sys
import time
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import UsageError
from .models.mrcfa.video_io_mrcfa import (
    IMAGE_SUFFIXES,
    CorruptFrameError,
    VideoReadError,
    frame_names,
    iter_named_frames,
    probe_video,
)
from .rendering import SegmentedFrame, iter_segmented_frames, write_legend
from .video_writer import OverlayVideoWriter
from .visualization import palette_for, share_text

__all__ = [
    "DEFAULT_FPS",
    "RESULT_FILES",
    "IncompleteVideoError",
    "SegmentationOptions",
    "missing_tail_message",
    "remove_results",
    "result_line",
    "segment_to_folder",
]

#: Frame rate of the overlay video when the input has none (a folder of frames): VSPW's frames are 15 per second.
DEFAULT_FPS = 15
#: The files `segment_to_folder` writes besides the frames' PNGs (and the overlay and preview it is asked for).
RESULT_FILES = ("legend.json", "legend.txt", "summary.json")
#: Errors that mean the video is at fault (unreadable, truncated, frames of different sizes), not the program.
INPUT_ERRORS = (VideoReadError, FileNotFoundError, ValueError)
#: The name of a video file's frame PNG: its position, `00007` (six digits and more past 99999).
_POSITION_NAME = re.compile(r"\d{5,}")


@dataclass(frozen=True)
class SegmentationOptions:
    """How `segment_to_folder` segments a video and what it writes (the `mrcfa segment` options of one video).

    Attributes:
        model_name: the model as given (`--model`), and `backend` how it runs (`pytorch`, `onnxruntime`): both are
            recorded in summary.json.
        device, batch_size: as `mrcfa.segment_video` (the labels do not depend on `batch_size`).
        max_frames, skip_corrupt: as `iter_named_frames`: only the first frames; skip unreadable frames (each is
            reported and listed in summary.json) instead of stopping there.
        overlay: path of the overlay video (None: none), `legend`: draw each frame's legend into it, `fps`: its frame
            rate (default: the input's, else `DEFAULT_FPS`).
        preview: path of the preview image (None: none): the middle frame next to its segmentation.
        progress: a progress bar over the frames (tqdm, on stderr).
    """

    model_name: str
    backend: str = "pytorch"
    device: str = "cpu"
    batch_size: int = 1
    max_frames: int | None = None
    skip_corrupt: bool = False
    overlay: str | Path | None = None
    legend: bool = False
    fps: float | None = None
    preview: str | Path | None = None
    progress: bool = True


class IncompleteVideoError(UsageError):
    """A video stopped before its end. `output` holds the frames written, the legend and `summary` (its
    summary.json, `"complete": false`, the reason in `summary["error"]`)."""

    def __init__(self, message: str, summary: dict, output: Path):
        super().__init__(message)
        self.summary, self.output = summary, output


def missing_tail_message(declared: int, read: int, skipped: int = 0) -> str:
    """`the video declares 40 frames; 9 were read: frames 9-39 are missing (truncated?)` (`skipped` unreadable frames
    count as reached: `...; 7 were read and 2 skipped: ...`)."""
    first = read + skipped
    what = f"{read} were read" + (f" and {skipped} skipped" if skipped else "")
    tail = f"frame {first} is missing" if first == declared - 1 else f"frames {first}-{declared - 1} are missing"
    return f"the video declares {declared} frames; {what}: {tail} (truncated?)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def remove_results(output: str | Path, source: str | Path, options: SegmentationOptions) -> None:
    """Remove from `output` what `segment_to_folder(..., source, output, options)` writes, and nothing else: the PNG
    of each frame of `source` (a folder's frame names; for a video file, PNGs named by a position, `00007.png`), the
    `RESULT_FILES`, and the overlay and preview of `options`."""
    output, source = Path(output), Path(source)
    if not output.is_dir():
        return
    names = frame_names(source) if source.is_dir() else [source.stem] if source.suffix in IMAGE_SUFFIXES else None
    if names is None:
        frames = [path for path in output.glob("*.png") if _POSITION_NAME.fullmatch(path.stem)]
    else:
        frames = [output / f"{name}.png" for name in names]
    extras = [Path(path) for path in (options.overlay, options.preview) if path]
    for path in [*frames, *(output / name for name in RESULT_FILES), *extras]:
        if path.is_file():
            path.unlink()


def _frame_at(source: Path, index: int) -> tuple[str, Image.Image]:
    """`(name, frame)` of the frame at position `index` of `source` (unreadable frames before it count), read again."""
    position = 0

    def skipped(name: str, error: CorruptFrameError) -> None:
        nonlocal position
        position += 1

    for name, frame in iter_named_frames(source, max_frames=index + 1, skip_corrupt=True, on_skip=skipped):
        if position == index:
            return name, frame
        position += 1
    raise VideoReadError(f"frame {index} of {source} could not be read again (for the preview).")


def segment_to_folder(
    model,
    processor,
    source: str | Path,
    output: str | Path,
    options: SegmentationOptions,
    *,
    progress_position: int = 0,
    progress_desc: str = "segmenting",
) -> dict:
    """Segment the video `source` into the folder `output` (see the module docstring); returns its summary.

    `progress_position` / `progress_desc`: the progress bar's line (0: the first; a nested bar is removed when done)
    and label. Earlier results in `output` are replaced (`remove_results` first; the caller decides whether they may
    be). The summary (summary.json) holds:

    * `input`, `model`, `backend`, `max_frames`: what was segmented, with what;
    * `complete`: every frame was read (or skipped, with `skip_corrupt`) and segmented, to the end of the video;
    * `frames_declared`: the frame count the container's header gives (a folder: its images), at most `max_frames`;
      null when unknown;
    * `frames_read`: frames decoded; `frames_skipped`: `{"frame", "error"}` of each unreadable frame skipped;
      `frames_written`: PNGs written; `frames_missing`: `{"first", "last"}` of the frames the header declares
      that the file does not hold (never reached), else null;
    * `error`: why the run is not complete (one line), else null;
    * `overlay`: `{"path", "fps", "size"}` (`size`: `WxH` written; `cropped_from` when the encoder took off an odd
      row / column), else null; `preview_frame`: the preview's frame (`frame 7`), else null;
    * `seconds`: how long it took.

    The preview is the first frame written at or after the middle of the frames read, also when the video does not
    give its frame count: then that frame is read again once the video is done, and its labels taken from its PNG.

    Raises `IncompleteVideoError` after writing what it could when the video stops early; what reading raises when
    nothing could be written (`output` is then left as it was found, less earlier results); an interruption or a
    program error after writing the summary.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    source, output = Path(source), Path(output)
    if source.is_dir() and output.resolve() in (source.resolve(), (source / "origin").resolve()):
        raise UsageError(f"{output} holds the frames of the input {source}: its PNGs would replace them.")
    info = probe_video(source)  # a video that cannot be opened is reported here, before anything is written
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    remove_results(output, source, options)
    for path in (options.overlay, options.preview):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    palette = palette_for(model.config.num_labels)
    id2label = model.config.id2label

    def capped(count: int | None) -> int | None:
        return count if options.max_frames is None or count is None else min(count, options.max_frames)

    declared = capped(info.num_frames)
    total = info.expected_frames  # for the progress bar: the header's count, or its estimate from the duration
    if options.max_frames is not None:
        total = min(total or options.max_frames, options.max_frames)
    guess = None if total is None else (total - 1) // 2  # the middle, if the count (or its estimate) is right
    rate = Fraction(options.fps) if options.fps else info.fps or Fraction(DEFAULT_FPS)
    fps = rate.limit_denominator(1001)
    writer = OverlayVideoWriter(options.overlay, rate=fps) if options.overlay else None
    progress = tqdm(
        total=total,
        unit="frame",
        disable=not options.progress,
        desc=progress_desc,
        position=progress_position,
        leave=progress_position == 0,
    )

    skipped: list[dict] = []
    read = 0

    def on_skip(name: str, error: CorruptFrameError) -> None:
        skipped.append({"frame": name, "error": str(error)})
        tqdm.write(f"warning: skipping frame {name}: {error}", file=sys.stderr)

    def on_read(index: int, name: str) -> None:
        nonlocal read
        read += 1

    segmented_frames = iter_segmented_frames(
        model,
        source,
        processor=processor,
        palette=palette,
        id2label=id2label,
        batch_size=options.batch_size,
        device=options.device,
        max_frames=options.max_frames,
        skip_corrupt=options.skip_corrupt,
        on_skip=on_skip,
        on_read=on_read,
    )
    counts = np.zeros(len(palette), dtype=np.int64)
    written = array("q")  # the index of each frame written, in order
    candidate: SegmentedFrame | None = None  # the preview, if `guess` is the middle
    frame_size = None
    failure: BaseException | None = None
    try:
        for segmented in segmented_frames:
            segmented.label_image().save(output / f"{segmented.name}.png")
            counts += segmented.counts
            written.append(segmented.index)
            frame_size = segmented.frame.size
            if writer is not None:
                writer.write(segmented.overlay(legend=options.legend))
            if options.preview and guess is not None and (candidate is None or candidate.index < guess):
                candidate = segmented
            progress.update(1)
    except BaseException as err:  # noqa: BLE001 - what was written stays consistent, then the error is reported
        failure = err
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if failure is not None and not written:  # nothing to keep (e.g. the input has no frames)
        if created and not any(output.iterdir()):
            output.rmdir()
        raise failure

    write_legend(output, counts, id2label, palette)
    preview = None
    if options.preview and (failure is None or isinstance(failure, Exception)):
        middle = (read + len(skipped) - 1) // 2
        index = written[min(bisect_left(written, middle), len(written) - 1)]
        preview = candidate
        if preview is None or preview.index != index:  # the count was unknown or wrong: read that frame again
            name, frame = _frame_at(source, index)
            with Image.open(output / f"{name}.png") as image:
                labels = np.asarray(image, dtype=np.int64)
            frame_counts = np.bincount(labels.ravel(), minlength=len(palette))[: len(palette)]
            preview = SegmentedFrame(index, name, frame, labels, frame_counts, palette, id2label)
        preview.preview().save(options.preview)

    missing = None
    error = None if failure is None else _one_line(failure)
    if failure is None and declared is not None and read + len(skipped) < declared:
        missing = {"first": read + len(skipped), "last": declared - 1}
        error = missing_tail_message(declared, read, len(skipped))
    overlay = None
    if writer is not None:
        overlay = {"path": str(options.overlay), "fps": str(fps), "size": "x".join(map(str, writer.size or ()))}
        if writer.size is not None and writer.size != frame_size:
            overlay["cropped_from"] = "x".join(map(str, frame_size))
    summary = {
        "input": str(source),
        "model": options.model_name,
        "backend": options.backend,
        "max_frames": options.max_frames,
        "complete": error is None,
        "frames_declared": declared,
        "frames_read": read,
        "frames_skipped": skipped,
        "frames_written": len(written),
        "frames_missing": missing,
        "error": error,
        "overlay": overlay,
        "preview_frame": None if preview is None else preview.title,
        "seconds": round(time.perf_counter() - started, 3),
    }
    (output / "summary.json").write_text(json.dumps(summary, indent=1))
    if failure is not None and not isinstance(failure, INPUT_ERRORS):
        raise failure  # interrupted, or a bug: the outputs above are consistent all the same
    if error is not None:
        hint = " Pass --skip-corrupt to skip unreadable frames." if isinstance(failure, CorruptFrameError) else ""
        raise IncompleteVideoError(
            f"{error} -- stopped after {len(written)} frames: {output} holds them with legend.json and summary.json "
            f'("complete": false).{hint}',
            summary,
            output,
        ) from failure
    return summary


def result_line(output: str | Path) -> str:
    """The one line that reports the results in `output` (from its summary.json and legend.json): `segmented 14
    frames -> out (road 41%, sky 30%, ..., pole <1%)`, the five largest classes, and what was skipped or changed."""
    output = Path(output)
    summary = json.loads((output / "summary.json").read_text())
    legend = json.loads((output / "legend.json").read_text())
    total = max(sum(entry["pixels"] for entry in legend), 1)
    present = sorted((entry for entry in legend if entry["pixels"]), key=lambda entry: -entry["pixels"])[:5]
    shares = ", ".join(f"{entry['name']} {share_text(entry['pixels'] / total)}" for entry in present)
    notes = []
    if summary["frames_skipped"]:
        notes.append(f"skipped {len(summary['frames_skipped'])} unreadable frames (summary.json)")
    overlay = summary.get("overlay") or {}
    if overlay.get("cropped_from"):
        notes.append(
            f"the overlay is {overlay['size']}: its encoder cannot keep the odd size {overlay['cropped_from']}, the "
            "last row / column is left out"
        )
    if summary.get("error"):
        notes.append(summary["error"])
    return f"segmented {summary['frames_written']} frames -> {output} ({shares})" + "".join(f"; {n}" for n in notes)
