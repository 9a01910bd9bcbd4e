# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Reading videos as frames: a video file (PyAV, optional), a folder of frames, a VSPW video folder, or a list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

__all__ = ["VideoReadError", "frame_names", "iter_frames", "to_rgb"]


class VideoReadError(ValueError):
    """A video or one of its frames cannot be read."""


def to_rgb(frame: Any) -> Image.Image:
    """A frame as an RGB PIL image (grayscale, palette and RGBA frames are converted; arrays must be uint8)."""
    if isinstance(frame, Image.Image):
        return frame if frame.mode == "RGB" else frame.convert("RGB")
    array = np.asarray(frame)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise VideoReadError(f"a frame must be [H, W], [H, W, 3] or [H, W, 4], got shape {array.shape}.")
    if array.dtype != np.uint8:
        raise VideoReadError(f"frame arrays must be uint8 (0-255), got {array.dtype}.")
    return Image.fromarray(array).convert("RGB")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _frames_folder(source: Path) -> Path:
    """The folder holding the frames: `source`, or `source/origin` for a VSPW video folder."""
    if (source / "origin").is_dir():
        return source / "origin"
    return source


def frame_names(source: str | Path | list) -> list[str] | None:
    """Names for the frames of `source` (file stems of a folder; None for a video file or a list)."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return [p.stem for p in _image_files(_frames_folder(Path(source)))]
    return None


def _iter_folder(folder: Path) -> Iterator[Image.Image]:
    files = _image_files(folder)
    if not files:
        raise VideoReadError(f"no frames in {folder} (expected image files: {', '.join(sorted(IMAGE_SUFFIXES))}).")
    yield from _iter_folder_of(files)


def _iter_video_file(path: Path) -> Iterator[Image.Image]:
    try:
        import av
    except ImportError as err:
        raise VideoReadError(
            f"reading {path} needs PyAV: pip install av (or 'mrcfa[video]'), or pass a folder of frames."
        ) from err
    try:
        container = av.open(str(path))
    except Exception as err:  # noqa: BLE001 - PyAV raises many error types for unreadable files
        raise VideoReadError(f"cannot open video {path}: {err}") from err
    count = 0
    try:
        with container:
            if not container.streams.video:
                raise VideoReadError(f"{path} has no video stream.")
            for frame in container.decode(video=0):
                count += 1
                yield frame.to_image().convert("RGB")
    except VideoReadError:
        raise
    except Exception as err:  # noqa: BLE001
        raise VideoReadError(f"cannot decode video {path} after {count} frames: {err}") from err
    if count == 0:
        raise VideoReadError(f"video {path} has no frames.")


def iter_frames(source: str | Path | list | tuple, *, max_frames: int | None = None) -> Iterator[Image.Image]:
    """Frames of a video as RGB PIL images, in order, read lazily.

    `source` is a video file (decoded with PyAV), a folder of frames (sorted by name), a VSPW video folder (frames in
    `origin/`), or a list of frames (PIL images or uint8 arrays). Every frame must have the size of the first.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise VideoReadError("the list of frames is empty.")
        frames: Iterator = (to_rgb(f) for f in source)
        name = "the list of frames"
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if path.is_dir():
            frames = _iter_folder(_frames_folder(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            frames = _iter_folder_of([path])
        else:
            frames = _iter_video_file(path)
    size = None
    for index, frame in enumerate(frames):
        if max_frames is not None and index >= max_frames:
            return
        if size is None:
            size = frame.size
        elif frame.size != size:
            raise VideoReadError(
                f"frame {index} of {name} is {frame.size[0]}x{frame.size[1]} but the first frame is "
                f"{size[0]}x{size[1]}: all frames of a video must have the same size."
            )
        yield frame


def _iter_folder_of(files: list[Path]) -> Iterator[Image.Image]:
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                yield to_rgb(image)
        except (UnidentifiedImageError, OSError) as err:
            raise VideoReadError(f"cannot read image {path}: {err}") from err
