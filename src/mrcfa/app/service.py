# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""What the app computes, without the web page: one shared model, a video or an image in, files and tables out.

`SegmentationService` holds the model, its processor and the image-segmentation pipeline built on the same model
instance. `segment_video` streams a video through `mrcfa.segment_video` (each frame encoded once, official test
clips) and writes, per request, into a folder of its own: the overlay video (browser-playable, at the input's frame
rate), one palette PNG per frame and their zip (with `legend.json`, as `mrcfa segment` writes). `segment_image` runs
transformers' image-segmentation pipeline (what the Hub widget shows). Every mistake in the inputs raises
`AppInputError`, whose message is one readable line for the page.

This module does not import gradio: the page (`mrcfa.app.blocks`) is a thin layer over it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..cli._common import CliError
from ..cli.segment import OverlayVideoWriter, colorize, legend_entries, load_model, palette_for
from ..models.mrcfa.streaming_mrcfa import segment_video
from ..models.mrcfa.video_io_mrcfa import VideoReadError, iter_frames
from ..visualization import overlay_frame

logger = logging.getLogger(__name__)

__all__ = [
    "AppInputError",
    "ImageResult",
    "LegendRow",
    "Limits",
    "SegmentationService",
    "VideoInfo",
    "VideoResult",
    "browser_video_format",
    "parse_resolution",
    "probe_video",
]

#: Video containers the upload box suggests (anything PyAV decodes is accepted).
VIDEO_HINT = "an MP4, WebM, MOV, MKV or AVI video"


class AppInputError(ValueError):
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
class VideoInfo:
    """What the container says about a video: size, frame count (None when unknown) and frame rate."""

    width: int
    height: int
    frames: int | None
    fps: Fraction


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


def browser_video_format() -> tuple[str, str, dict[str, str]]:
    """`(encoder, suffix, options)` of a video browsers play: H.264 in MP4 when PyAV has libx264, else VP9 in WebM."""
    import av

    if "libx264" in av.codecs_available:
        return "libx264", ".mp4", {"crf": "18", "preset": "veryfast"}
    if "libvpx-vp9" in av.codecs_available:
        return "libvpx-vp9", ".webm", {"crf": "24", "b": "0", "deadline": "realtime"}
    raise CliError("this PyAV build has neither libx264 nor libvpx-vp9: no browser-playable video can be written.")


def probe_video(path: str | Path, name: str | None = None) -> VideoInfo:
    """Open `path` with PyAV and read its first video stream's size, frame count and frame rate.

    Raises `AppInputError` ("cannot be read as a video ...") when PyAV cannot open it or it has no video stream. `name` is the
    file name shown in messages (default: the path's name).
    """
    import av

    name = name or Path(path).name
    try:
        container = av.open(str(path))
    except Exception as err:  # noqa: BLE001 - PyAV raises many error types for unreadable files
        raise AppInputError(
            f"{name} cannot be read as a video ({_reason(err, path, name)}): it is not a video, or it is "
            f"damaged. Upload {VIDEO_HINT}."
        ) from err
    with container:
        if not container.streams.video:
            raise AppInputError(f"{name} has no video stream. Upload {VIDEO_HINT}.")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        frames = stream.frames or None
    if not width or not height:
        raise AppInputError(f"{name} has a video stream without a frame size: the file is damaged.")
    fps = Fraction(rate) if rate and 0 < rate <= 240 else Fraction(25)
    return VideoInfo(width=width, height=height, frames=frames, fps=fps)


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
        """Load `model_id` (a folder or a Hub id) with `mrcfa.cli.segment.load_model`; `CliError` if it fails."""
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
        info = probe_video(path, name)
        self.limits.check_size(info.width, info.height, name)
        if info.frames is not None and info.frames > self.limits.max_frames:
            raise self.limits.too_many_frames(info.frames, name)
        total = info.frames

        folder = self._new_folder("video")
        labels_dir = folder / "labels"
        labels_dir.mkdir()
        codec, suffix, options = browser_video_format()
        overlay_path = folder / f"segmentation{suffix}"
        frames_seen: list[Image.Image] = []
        counts: list[np.ndarray] = []
        label_files: list[Path] = []
        num_labels = len(self.palette)

        def frames() -> Iterator[Image.Image]:
            for index, frame in enumerate(iter_frames(path, max_frames=self.limits.max_frames + 1)):
                if index == self.limits.max_frames:
                    raise self.limits.too_many_frames(f"more than {self.limits.max_frames}", name)
                frames_seen.append(frame)
                yield frame

        try:
            with OverlayVideoWriter(overlay_path, rate=info.fps, codec=codec, options=options) as writer:
                for index, labels in enumerate(segment_video(self.model, frames(), processor=self.processor)):
                    frame = frames_seen.pop(0)
                    label_map = labels.cpu().numpy()
                    label_file = labels_dir / f"{index:05d}.png"
                    colorize(label_map, self.palette).save(label_file)
                    label_files.append(label_file)
                    counts.append(np.bincount(label_map.ravel(), minlength=num_labels)[:num_labels])
                    writer.write(overlay_frame(frame, label_map, self.palette))
                    if progress is not None:
                        progress(index + 1, total)
        except VideoReadError as err:
            raise AppInputError(self._video_error(err, path, name)) from err

        per_frame = np.stack(counts).astype(np.int64)
        total_counts = per_frame.sum(axis=0)
        (labels_dir / "legend.json").write_text(
            json.dumps(legend_entries(total_counts, self.id2label, self.palette), indent=1)
        )
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
            fps=info.fps,
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
            with Image.open(path) as opened:
                opened.load()
                image = ImageOps.exif_transpose(opened).convert("RGB")  # as cameras meant it (and gr.Image shows it)
        except (UnidentifiedImageError, OSError) as err:
            raise AppInputError(
                f"{name} is not an image that can be read ({_reason(err, path, name)}). Upload a PNG, JPEG or WebP image."
            ) from err
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
