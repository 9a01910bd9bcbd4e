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

import contextlib
import json
import re
import sys
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
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
from .rendering import SegmentedFrame, placed_frames, segmented_frame, write_legend
from .video_writer import OverlayVideoWriter
from .visualization import palette_for, share_text

__all__ = [
    "DEFAULT_FPS",
    "RESULT_FILES",
    "FolderJob",
    "FolderResult",
    "IncompleteVideoError",
    "label_png_clash",
    "SegmentationOptions",
    "missing_tail_message",
    "remove_results",
    "result_line",
    "segment_to_folder",
    "segment_to_folders",
    "VideoFolderWriter",
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


def _label_names(source: Path) -> list[str] | None:
    """The names of the label PNGs of `source`'s frames: a folder's frame names, an image's stem; None for a video
    file (its frames' positions, `00007`)."""
    if source.is_dir():
        return frame_names(source)
    return [source.stem] if source.suffix.lower() in IMAGE_SUFFIXES else None


def label_png_clash(source: str | Path, output: str | Path, path: str | Path) -> str | None:
    """The name of the frame whose label PNG `segment_to_folder(..., source, output, ...)` writes at `path` (e.g. a
    preview named like a frame, in the output folder), or None when no label PNG goes there."""
    path, output = Path(path), Path(output)
    if path.suffix.lower() != ".png" or path.parent.resolve() != output.resolve():
        return None
    names = _label_names(Path(source))
    if names is None:
        return path.stem if _POSITION_NAME.fullmatch(path.stem) else None
    return path.stem if path.stem in names else None


def remove_results(output: str | Path, source: str | Path, options: SegmentationOptions) -> None:
    """Remove from `output` what `segment_to_folder(..., source, output, options)` writes, and nothing else: the PNG
    of each frame of `source` (a folder's frame names; for a video file, PNGs named by a position, `00007.png`), the
    `RESULT_FILES`, and the overlay and preview of `options`."""
    output, source = Path(output), Path(source)
    if not output.is_dir():
        return
    names = _label_names(source)
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


class VideoFolderWriter:
    """What `segment_to_folder` writes for one video, as it is segmented: open it, feed it the video's frames
    (`frames()`) to any segmentation loop, `add` each `SegmentedFrame` in order, and `finish` it.

    Opening checks the folder and the video (`probe_video`: a video that cannot be opened is reported here, before
    anything is written), replaces earlier results (`remove_results`), and opens the overlay writer and the progress
    bar. `finish(failure)` writes the legend, the preview and summary.json and returns the summary, or raises (see
    `segment_to_folder`). Several writers can be open at once, one per video in flight (`segment_to_folders`).
    """

    def __init__(
        self,
        config,
        source: str | Path,
        output: str | Path,
        options: SegmentationOptions,
        *,
        progress_position: int = 0,
        progress_desc: str = "segmenting",
    ):
        from tqdm.auto import tqdm

        self.started = time.perf_counter()
        source, output = Path(source), Path(output)
        if source.is_dir() and output.resolve() in (source.resolve(), (source / "origin").resolve()):
            raise UsageError(f"{output} holds the frames of the input {source}: its PNGs would replace them.")
        info = probe_video(source)  # a video that cannot be opened is reported here, before anything is written
        self.source, self.output, self.options = source, output, options
        self.created = not output.exists()
        output.mkdir(parents=True, exist_ok=True)
        remove_results(output, source, options)
        for path in (options.overlay, options.preview):
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.palette = palette_for(config.num_labels)
        self.id2label = config.id2label
        max_frames = options.max_frames
        self.declared = (
            info.num_frames if max_frames is None or info.num_frames is None else min(info.num_frames, max_frames)
        )
        total = info.expected_frames  # for the progress bar: the header's count, or its estimate from the duration
        if max_frames is not None:
            total = min(total or max_frames, max_frames)
        self.guess = None if total is None else (total - 1) // 2  # the middle, if the count (or its estimate) is right
        rate = Fraction(options.fps) if options.fps else info.fps or Fraction(DEFAULT_FPS)
        self.fps = rate.limit_denominator(1001)
        self.writer = OverlayVideoWriter(options.overlay, rate=self.fps) if options.overlay else None
        self.progress = tqdm(
            total=total,
            unit="frame",
            disable=not options.progress,
            desc=progress_desc,
            position=progress_position,
            leave=progress_position == 0,
        )
        self.skipped: list[dict] = []
        self.read = 0
        self.counts = np.zeros(len(self.palette), dtype=np.int64)
        self.written = array("q")  # the index of each frame written, in order
        self.candidate: SegmentedFrame | None = None  # the preview, if `guess` is the middle
        self.frame_size = None

    def frames(self) -> Iterator[Image.Image]:
        """The video's frames, read lazily (`rendering.placed_frames`: unreadable frames skipped with
        `options.skip_corrupt` are reported and recorded, frames read are counted)."""
        from tqdm.auto import tqdm

        def on_skip(name: str, error: CorruptFrameError) -> None:
            self.skipped.append({"frame": name, "error": str(error)})
            tqdm.write(f"warning: skipping frame {name}: {error}", file=sys.stderr)

        def on_read(index: int, name: str) -> None:
            self.read += 1

        options = self.options
        return placed_frames(
            self.source,
            max_frames=options.max_frames,
            skip_corrupt=options.skip_corrupt,
            on_skip=on_skip,
            on_read=on_read,
        )

    def segmented(self, frame: Image.Image, labels) -> SegmentedFrame:
        """The `SegmentedFrame` of one of `frames()` and its `[H, W]` label map."""
        return segmented_frame(frame, labels, self.palette, self.id2label)

    def add(self, segmented: SegmentedFrame) -> None:
        """Write the next frame's results: its PNG, its overlay frame; count its classes."""
        segmented.label_image().save(self.output / f"{segmented.name}.png")
        self.counts += segmented.counts
        self.written.append(segmented.index)
        self.frame_size = segmented.frame.size
        if self.writer is not None:
            self.writer.write(segmented.overlay(legend=self.options.legend))
        if (
            self.options.preview
            and self.guess is not None
            and (self.candidate is None or self.candidate.index < self.guess)
        ):
            self.candidate = segmented
        self.progress.update(1)

    def finish(self, failure: BaseException | None = None) -> dict:
        """Close the video: `failure` is what stopped it (None: it ended). Returns the summary, or raises as
        `segment_to_folder` does."""
        options, output, written = self.options, self.output, self.written
        self.progress.close()
        if self.writer is not None:
            self.writer.close()
        if failure is not None and not written:  # nothing to keep (e.g. the input has no frames)
            if self.created and output.is_dir() and not any(output.iterdir()):
                output.rmdir()
            raise failure

        write_legend(output, self.counts, self.id2label, self.palette)
        preview = None
        if options.preview and (failure is None or isinstance(failure, Exception)):
            middle = (self.read + len(self.skipped) - 1) // 2
            index = written[min(bisect_left(written, middle), len(written) - 1)]
            preview = self.candidate
            if preview is None or preview.index != index:  # the count was unknown or wrong: read that frame again
                name, frame = _frame_at(self.source, index)
                with Image.open(output / f"{name}.png") as image:
                    labels = np.asarray(image, dtype=np.int64)
                frame_counts = np.bincount(labels.ravel(), minlength=len(self.palette))[: len(self.palette)]
                preview = SegmentedFrame(index, name, frame, labels, frame_counts, self.palette, self.id2label)
            preview.preview().save(options.preview)

        missing = None
        error = None if failure is None else _one_line(failure)
        reached = self.read + len(self.skipped)
        if failure is None and self.declared is not None and reached < self.declared:
            missing = {"first": reached, "last": self.declared - 1}
            error = missing_tail_message(self.declared, self.read, len(self.skipped))
        overlay = None
        if self.writer is not None:
            size = self.writer.size
            overlay = {"path": str(options.overlay), "fps": str(self.fps), "size": "x".join(map(str, size or ()))}
            if size is not None and size != self.frame_size:
                overlay["cropped_from"] = "x".join(map(str, self.frame_size))
        summary = {
            "input": str(self.source),
            "model": options.model_name,
            "backend": options.backend,
            "max_frames": options.max_frames,
            "complete": error is None,
            "frames_declared": self.declared,
            "frames_read": self.read,
            "frames_skipped": self.skipped,
            "frames_written": len(written),
            "frames_missing": missing,
            "error": error,
            "overlay": overlay,
            "preview_frame": None if preview is None else preview.title,
            "seconds": round(time.perf_counter() - self.started, 3),
        }
        (output / "summary.json").write_text(json.dumps(summary, indent=1))
        if failure is not None and not isinstance(failure, INPUT_ERRORS):
            raise failure  # interrupted, or a bug: the outputs above are consistent all the same
        if error is not None:
            hint = " Pass --skip-corrupt to skip unreadable frames." if isinstance(failure, CorruptFrameError) else ""
            raise IncompleteVideoError(
                f"{error} -- stopped after {len(written)} frames: {output} holds them with legend.json and "
                f'summary.json ("complete": false).{hint}',
                summary,
                output,
            ) from failure
        return summary


@dataclass(frozen=True)
class FolderJob:
    """One video of `segment_to_folders`: `source` into the folder `output` with `options` (their `batch_size` and
    `device` are the run's: `segment_to_folders`' arguments), its progress bar labelled `label`."""

    source: Path
    output: Path
    options: SegmentationOptions
    label: str = "segmenting"


@dataclass(frozen=True)
class FolderResult:
    """How one video of `segment_to_folders` ended: its `summary` (summary.json) when it was segmented to its end,
    else the `error` `segment_to_folder` would raise (an `IncompleteVideoError` after writing what it could, what
    reading raises, a program error); `seconds` from opening the video to its end."""

    job: FolderJob
    summary: dict | None
    error: Exception | None
    seconds: float


class _OpenJob:
    """A job whose video `segment_videos` has opened: its writer once the video could be opened."""

    def __init__(self, job: FolderJob, config, positions: list[int]):
        self.job, self.config, self.positions = job, config, positions
        self.position: int | None = None
        self.writer: VideoFolderWriter | None = None
        self.started: float | None = None

    def __iter__(self) -> Iterator[Image.Image]:  # opened when the video takes a slot, read as the slot needs
        return self._frames()

    def _frames(self) -> Iterator[Image.Image]:
        self.started = time.perf_counter()
        self.position = self.positions.pop(0)  # at most `streams` videos are open: a line is free
        job = self.job
        self.writer = VideoFolderWriter(
            self.config, job.source, job.output, job.options, progress_position=self.position, progress_desc=job.label
        )
        yield from self.writer.frames()

    def finish(self, failure: BaseException | None) -> FolderResult:
        """The video's result: its summary, or why it failed (its writer's `finish`)."""
        if self.position is not None:
            self.positions.append(self.position)
            self.positions.sort()
            self.position = None
        seconds = 0.0 if self.started is None else round(time.perf_counter() - self.started, 3)
        try:
            if self.writer is None:
                raise failure if failure is not None else RuntimeError("the video was never opened")
            return FolderResult(self.job, self.writer.finish(failure), None, seconds)
        except Exception as err:  # noqa: BLE001 - the video's own result, for the caller to report
            return FolderResult(self.job, None, err, seconds)


def segment_to_folders(
    model,
    processor,
    jobs: Iterable[FolderJob],
    *,
    streams: int = 1,
    batch_size: int = 1,
    device=None,
    progress_position: int = 0,
) -> Iterator[FolderResult]:
    """Segment several videos, each into its folder as `segment_to_folder` does, streaming up to `streams` of them in
    lockstep as one batch (`mrcfa.segment_videos`); yields a `FolderResult` for each video as it ends (its summary,
    or the error `segment_to_folder` would raise). The labels are those of `segment_to_folder` on each video alone (the same
    logits up to float rounding, <= 1e-5; exactly the same with `streams=1`).

    `jobs` is read lazily, one video at a time as a slot frees up. `batch_size`: consecutive frames of each video
    encoded together; `device`: where the model runs. The progress bars of the open videos take the lines from
    `progress_position` on. An error that is no video's own (the model failing) ends the videos in flight with that
    error and the run goes on with the next videos; an interruption (`KeyboardInterrupt`) closes every open video
    (their summaries say so) and is raised.
    """
    from .models.mrcfa.streaming_mrcfa import VideoFailed, VideoFinished, VideoFrameResult, segment_videos

    positions = list(range(progress_position, progress_position + streams))  # the free progress bar lines
    pending = iter(jobs)

    def videos(opened: dict[int, _OpenJob]) -> Iterator[_OpenJob]:
        for index, job in enumerate(pending):  # segment_videos numbers its videos 0, 1, ... as it takes them
            opened[index] = _OpenJob(job, model.config, positions)
            yield opened[index]

    while True:
        opened: dict[int, _OpenJob] = {}  # the videos in flight, by their index in this round of segment_videos
        events = segment_videos(
            model,
            videos(opened),
            processor=processor,
            streams=streams,
            batch_size=batch_size,
            device=device,
            with_frames=True,
        )
        try:
            for event in events:
                item = opened[event.video_index]
                if isinstance(event, VideoFrameResult):
                    item.writer.add(item.writer.segmented(event.frame, event.result))
                elif isinstance(event, (VideoFinished, VideoFailed)):
                    del opened[event.video_index]
                    yield item.finish(event.error if isinstance(event, VideoFailed) else None)
            return
        except Exception as err:  # noqa: BLE001 - not a video's own error: the videos in flight end with it
            failure = err
        except BaseException as err:  # an interruption: every open video's summary says so, then it goes on up
            for item in opened.values():
                with contextlib.suppress(BaseException):
                    item.finish(err)
            raise
        for index in sorted(opened):
            yield opened[index].finish(failure)


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
    job = FolderJob(Path(source), Path(output), options, progress_desc)
    runs = segment_to_folders(
        model,
        processor,
        [job],
        batch_size=options.batch_size,
        device=options.device,
        progress_position=progress_position,
    )
    (result,) = runs
    if result.error is not None:
        raise result.error
    return result.summary


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
