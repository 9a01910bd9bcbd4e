# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""What the app computes, without the web page: one shared model, a video or an image in, files and tables out.

`SegmentationService` holds the model, its processor and the image-segmentation pipeline built on the same model
instance. `segment_video` streams a video through the front ends' shared loop (`mrcfa.rendering`, over
`mrcfa.segment_video`: each frame encoded once, official test clips) and writes, per request, into a folder of its own: the overlay video (browser-playable, at the input's frame
rate), one palette PNG per frame and their zip (with `legend.json`, as `mrcfa segment` writes). `segment_image` runs
transformers' image-segmentation pipeline (what the Hub widget shows). Every mistake in the inputs raises
`AppInputError`, whose message is one readable line for the page.

This module does not import gradio: the page (`mrcfa.app.blocks`) is a thin layer over it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..loading import load_model
from ..models.mrcfa.video_io_mrcfa import CorruptFrameError, VideoInfo, VideoReadError, probe_video, read_image
from ..rendering import iter_segmented_frames, write_legend
from ..video_writer import OverlayVideoWriter, browser_video_format
from ..visualization import colorize, legend_entries, overlay_frame, palette_for

logger = logging.getLogger(__name__)

__all__ = [
    "AppInputError",
    "ImageResult",
    "LegendRow",
    "Limits",
    "SegmentationService",
    "VideoResult",
    "parse_resolution",
]

#: Video containers the upload box suggests (anything PyAV decodes is accepted).
VIDEO_HINT = "an MP4, WebM, MOV, MKV or AVI video"


class AppInputError(UsageError):
    """A mistake in what a user sent (not a video, too long, ...): its message is shown in the page as it is."""


@dataclass(frozen=True)
class Limits:
    """What one request may cost: at most `max_frames` frames, frames at most `max_resolution` (long x short side,
    either orientation). The defaults keep a video under about 3 minutes on a 2-core CPU Space with MRCFA-B1."""

    max_frames: int = 300
    max_resolution: tuple[int, int] = (1920, 1080)

    def __post_init__(self):
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}.")
        if len(self.max_resolution) != 2 or min(self.max_resolution) < 1:
            raise ValueError(f"max_resolution takes (long side, short side) >= 1, got {self.max_resolution}.")

    def check_size(self, width: int, height: int, what: str) -> None:
        long_side, short_side = max(self.max_resolution), min(self.max_resolution)
        if max(width, height) > long_side or min(width, height) > short_side:
            raise AppInputError(
                f"{what} is {width}x{height} pixels; this app takes at most {long_side}x{short_side} (either "
                f"orientation). Scale it down, or run `mrcfa segment` on your own machine."
            )

    def too_many_frames(self, frames: int | str, name: str) -> AppInputError:
        return AppInputError(
            f"{name} has {frames} frames; this app segments at most {self.max_frames} frames per video. Trim it, or "
            "run `mrcfa segment` on your own machine."
        )


def parse_resolution(text: str) -> tuple[int, int]:
    """`"1920x1080"` -> `(1920, 1080)`; `ValueError` with a readable message otherwise."""
    parts = str(text).lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"a resolution is WIDTHxHEIGHT in pixels (e.g. 1920x1080), got {text!r}.")
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class LegendRow:
    """One class found in the result: its id, name, colour (`#rrggbb`) and share of the pixels (0-100)."""

    id: int
    name: str
    color: str
    share: float


@dataclass
class VideoResult:
    """The outputs of one video: files in `folder`, the legend, and each class's share of each frame."""

    folder: Path
    overlay_video: Path
    labels_zip: Path
    label_files: list[Path]
    legend: list[LegendRow]
    #: `[frames, num_labels]`: share (0-100) of each class in each frame.
    frame_shares: np.ndarray
    fps: Fraction
    size: tuple[int, int]
    seconds: float
    id2label: dict[int, str] = field(repr=False, default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.label_files)

    def shares_table(self):
        """A long pandas DataFrame `frame, class, share (%)` for the classes of the legend (the plot's data)."""
        import pandas as pd

        rows = [
            {"frame": index, "class": row.name, "share (%)": round(float(self.frame_shares[index, row.id]), 3)}
            for row in self.legend
            for index in range(self.num_frames)
        ]
        return pd.DataFrame(rows, columns=["frame", "class", "share (%)"])


@dataclass
class ImageResult:
    """The outputs of one image: the overlay, the palette PNG of the label map (in `folder`) and the legend."""

    folder: Path
    overlay: np.ndarray
    label_file: Path
    labels: np.ndarray
    legend: list[LegendRow]


def _probe(path: Path, name: str) -> VideoInfo:
    """`probe_video(path)`; a file that is not a video raises `AppInputError` naming the upload `name`."""
    try:
        return probe_video(path)
    except VideoReadError as err:
        if isinstance(err.__cause__, ImportError):
            raise  # PyAV is missing: the server's problem, not the user's
        if err.__cause__ is not None:  # PyAV cannot open it
            raise AppInputError(
                f"{name} cannot be read as a video ({_reason(err.__cause__, path, name)}): it is not a video, or it "
                f"is damaged. Upload {VIDEO_HINT}."
            ) from err
        raise AppInputError(f"{str(err).replace(str(path), name).rstrip('.')}. Upload {VIDEO_HINT}.") from err


def _reason(err: Exception, path: str | Path, name: str) -> str:
    """An error's message on one line, the (temporary) path of the upload replaced by its file name."""
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).replace(str(path), name).split()).rstrip(".")


class SegmentationService:
    """One MRCFA model shared by every request (video and image), with the limits of a request.

    Nothing here keeps per-request state: each call streams its video with a fresh `StreamingVideoSegmenter` and
    writes into a new folder under `workdir`; only the newest `keep_results` folders are kept (the web page copies
    its outputs into its own cache when a request ends).

    Args:
        model, processor: an MRCFA model (eval mode) and its `MrcfaImageProcessor`.
        model_name: how the page names the model (its folder or Hub id).
        limits: see `Limits`.
        workdir: parent folder of the result folders (default: a new temporary folder).
    """

    def __init__(
        self,
        model,
        processor,
        *,
        model_name: str,
        limits: Limits | None = None,
        workdir: str | Path | None = None,
        keep_results: int = 16,
    ):
        from transformers import pipeline

        self.model = model.eval()
        self.processor = processor
        self.model_name = model_name
        self.limits = limits or Limits()
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="mrcfa-app-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.palette = palette_for(model.config.num_labels)
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}
        # the Hub widget's path, on the same model instance (no second copy of the weights)
        self.image_pipeline = pipeline("image-segmentation", model=self.model, image_processor=processor)
        self._label2id = {name: i for i, name in self.id2label.items()}
        self._results: deque[Path] = deque()
        self._keep_results = keep_results
        self._lock = threading.Lock()

    @classmethod
    def from_pretrained(
        cls, model_id: str, *, device: str = "cpu", trust_remote_code: bool = False, **kwargs
    ) -> SegmentationService:
        """Load `model_id` (a folder or a Hub id) with `mrcfa.loading.load_model`; `UsageError` if it fails."""
        logging.getLogger("transformers").setLevel(logging.ERROR)
        model, processor = load_model(model_id, device, trust_remote_code)
        return cls(model, processor, model_name=model_id, **kwargs)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def _new_folder(self, kind: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.workdir))
        with self._lock:
            self._results.append(folder)
            while len(self._results) > self._keep_results:
                shutil.rmtree(self._results.popleft(), ignore_errors=True)
        return folder

    def _legend(self, counts: np.ndarray) -> list[LegendRow]:
        total = max(int(counts.sum()), 1)
        rows = [
            LegendRow(e["id"], e["name"], "#" + bytes(e["color"]).hex(), 100.0 * e["pixels"] / total)
            for e in legend_entries(counts, self.id2label, self.palette)
            if e["pixels"]
        ]
        return sorted(rows, key=lambda row: (-row.share, row.id))

    # ---------------------------------------------------------------------------------------------------- video
    def segment_video(
        self,
        path: str | Path,
        progress: Callable[[int, int | None], None] | None = None,
        *,
        name: str | None = None,
    ) -> VideoResult:
        """Segment the video file `path`, streamed frame by frame; `progress(done, total)` after every frame."""
        start = time.perf_counter()
        path = Path(path)
        name = name or path.name
        info = _probe(path, name)
        if not info.width or not info.height:
            raise AppInputError(f"{name} has a video stream without a frame size: the file is damaged.")
        self.limits.check_size(info.width, info.height, name)
        if info.num_frames is not None and info.num_frames > self.limits.max_frames:
            raise self.limits.too_many_frames(info.num_frames, name)
        total = info.num_frames
        fps = info.fps if info.fps and 0 < info.fps <= 240 else Fraction(25)

        folder = self._new_folder("video")
        labels_dir = folder / "labels"
        labels_dir.mkdir()
        codec, suffix, options = browser_video_format()
        overlay_path = folder / f"segmentation{suffix}"
        counts: list[np.ndarray] = []
        label_files: list[Path] = []
        segmented_frames = iter_segmented_frames(
            self.model,
            path,
            processor=self.processor,
            palette=self.palette,
            id2label=self.id2label,
            max_frames=self.limits.max_frames + 1,  # one more: a video longer than the limit is refused
        )
        try:
            with OverlayVideoWriter(overlay_path, rate=fps, codec=codec, options=options) as writer:
                for segmented in segmented_frames:
                    if segmented.index == self.limits.max_frames:
                        raise self.limits.too_many_frames(f"more than {self.limits.max_frames}", name)
                    label_file = labels_dir / f"{segmented.index:05d}.png"
                    segmented.label_image().save(label_file)
                    label_files.append(label_file)
                    counts.append(segmented.counts)
                    writer.write(segmented.overlay())
                    if progress is not None:
                        progress(segmented.index + 1, total)
        except VideoReadError as err:
            raise AppInputError(self._video_error(err, path, name)) from err

        per_frame = np.stack(counts).astype(np.int64)
        total_counts = per_frame.sum(axis=0)
        write_legend(labels_dir, total_counts, self.id2label, self.palette, text=False)
        labels_zip = folder / "labels.zip"
        with zipfile.ZipFile(labels_zip, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in [*label_files, labels_dir / "legend.json"]:
                archive.write(file, f"labels/{file.name}")
        frame_shares = 100.0 * per_frame / per_frame.sum(axis=1, keepdims=True)
        return VideoResult(
            folder=folder,
            overlay_video=overlay_path,
            labels_zip=labels_zip,
            label_files=label_files,
            legend=self._legend(total_counts),
            frame_shares=frame_shares,
            fps=fps,
            size=(info.width, info.height),
            seconds=time.perf_counter() - start,
            id2label=self.id2label,
        )

    @staticmethod
    def _video_error(err: VideoReadError, path: Path, name: str) -> str:
        message = str(err).replace(str(path), name)
        if message.startswith("cannot decode video"):
            return f"{message.rstrip('.')}. The file is damaged or truncated; upload {VIDEO_HINT}."
        return message

    # ---------------------------------------------------------------------------------------------------- image
    def segment_image(self, path: str | Path, *, name: str | None = None) -> ImageResult:
        """Segment one image file with the image-segmentation pipeline (the Hub widget's output, as a label map)."""
        path = Path(path)
        name = name or path.name
        try:
            image = read_image(path)  # as cameras meant it (EXIF, and gr.Image shows it so), 16-bit scaled to 8 bits
        except CorruptFrameError as err:
            raise AppInputError(
                f"{name} is not an image that can be read ({_reason(err.__cause__ or err, path, name)}). Upload a PNG, "
                "JPEG or WebP image."
            ) from err
        except VideoReadError as err:  # pixels without an 8-bit reading (32-bit values beyond 0-255)
            raise AppInputError(f"{name}: {str(err.__cause__ or err)}") from err
        self.limits.check_size(image.size[0], image.size[1], name)
        results = self.image_pipeline(image)
        labels = np.zeros((image.size[1], image.size[0]), dtype=np.int64)
        for result in results:
            labels[np.asarray(result["mask"]) > 0] = self._label2id[result["label"]]
        folder = self._new_folder("image")
        label_file = folder / "labels.png"
        colorize(labels, self.palette).save(label_file)
        counts = np.bincount(labels.ravel(), minlength=len(self.palette))[: len(self.palette)]
        return ImageResult(
            folder=folder,
            overlay=overlay_frame(image, labels, self.palette),
            label_file=label_file,
            labels=labels,
            legend=self._legend(counts),
        )
