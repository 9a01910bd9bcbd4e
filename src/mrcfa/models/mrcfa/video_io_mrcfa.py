# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Reading videos as frames: a video file (PyAV, optional), a folder of frames, a VSPW video folder, or a list; and
writing frames to a video file (`VideoWriter`, PyAV).

`iter_named_frames` / `iter_frames` read lazily; with `skip_corrupt=True` an unreadable image of a folder or an
undecodable frame of a video file is skipped (reported through `on_skip`, by default a warning naming it) instead of
ending the video with a `VideoReadError`, as the data loader's `skip_corrupt` does. `probe_video` gives the number of
frames, the frame rate and the frame size when the source knows them, without decoding it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

__all__ = [
    "CorruptFrameError",
    "VideoInfo",
    "VideoReadError",
    "VideoWriter",
    "frame_names",
    "iter_frames",
    "iter_named_frames",
    "probe_video",
    "to_rgb",
]


class VideoReadError(ValueError):
    """A video or one of its frames cannot be read."""


class CorruptFrameError(VideoReadError):
    """One frame cannot be read (an image file of a folder, a packet of a video file): `skip_corrupt` skips it."""


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
        raise VideoReadError(
            f"frame arrays must be uint8 (0-255), got {array.dtype}: convert them, or give float frames to "
            "mrcfa.segment_video with a processor."
        )
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


# Each reader yields (name, frame) or, for a frame that cannot be read, (name, VideoReadError): the caller raises it
# or, with skip_corrupt, skips the frame. Errors that end the whole video (no file, no stream) are raised directly.
_Item = tuple[str, "Image.Image | CorruptFrameError"]


def _iter_folder(folder: Path) -> Iterator[_Item]:
    files = _image_files(folder)
    if not files:
        raise VideoReadError(f"no frames in {folder} (expected image files: {', '.join(sorted(IMAGE_SUFFIXES))}).")
    yield from _iter_folder_of(files)


def _open_video(path: Path):
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
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path} has no video stream.")
    return container


def _iter_video_file(path: Path) -> Iterator[_Item]:
    container = _open_video(path)
    count = index = 0
    with container:
        stream = container.streams.video[0]
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except Exception as err:  # noqa: BLE001 - the container itself is unreadable from here on
                raise VideoReadError(f"cannot read video {path} after {count} frames: {err}") from err
            try:
                frames = packet.decode()  # one packet at a time, so that a corrupt one can be skipped
            except Exception as err:  # noqa: BLE001 - PyAV raises many error types for corrupt data
                message = f"cannot decode frame {index} of video {path} (after {count} good frames): {err}"
                yield f"{index:05d}", CorruptFrameError(message)
                index += 1
                continue
            for frame in frames:
                count += 1
                index += 1
                yield f"{index - 1:05d}", frame.to_image().convert("RGB")
    if count == 0:
        raise VideoReadError(f"video {path} has no frames.")


def _iter_list(frames: list | tuple) -> Iterator[_Item]:
    for index, frame in enumerate(frames):
        try:
            rgb = to_rgb(frame)
        except VideoReadError as err:
            raise VideoReadError(f"frame {index} of the list of frames: {err}") from err
        yield f"{index:05d}", rgb


def iter_named_frames(
    source: str | Path | list | tuple,
    *,
    max_frames: int | None = None,
    skip_corrupt: bool = False,
    on_skip: Callable[[str, CorruptFrameError], None] | None = None,
) -> Iterator[tuple[str, Image.Image]]:
    """`(name, frame)` for each frame of a video, as RGB PIL images, in order, read lazily.

    `source` is a video file (decoded with PyAV), a folder of frames (sorted by name), a VSPW video folder (frames in
    `origin/`), or a list of frames (PIL images or uint8 arrays). Every frame must have the size of the first. The
    name is the file stem for folders, the frame's position (`00007`) for video files and lists.

    Args:
        max_frames: only the first `max_frames` frames of the source (skipped ones count).
        skip_corrupt: skip an image file that cannot be read or a frame that cannot be decoded instead of raising
            `CorruptFrameError` (a `VideoReadError`, which ends the video there).
        on_skip: called with `(name, error)` for each skipped frame; by default a `UserWarning` names it.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise VideoReadError("the list of frames is empty.")
        items: Iterator[_Item] = _iter_list(source)
        what = "the list of frames"
    else:
        path = Path(source)
        what = str(path)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if path.is_dir():
            items = _iter_folder(_frames_folder(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            items = _iter_folder_of([path])
        else:
            items = _iter_video_file(path)
    size = None
    for index, (name, frame) in enumerate(items):
        if max_frames is not None and index >= max_frames:
            return
        if isinstance(frame, CorruptFrameError):
            if not skip_corrupt:
                raise frame
            if on_skip is not None:
                on_skip(name, frame)
            else:
                warnings.warn(f"skipping frame {name}: {frame}", UserWarning, stacklevel=2)
            continue
        if size is None:
            size = frame.size
        elif frame.size != size:
            raise VideoReadError(
                f"frame {index} of {what} is {frame.size[0]}x{frame.size[1]} but the first frame is "
                f"{size[0]}x{size[1]}: all frames of a video must have the same size."
            )
        yield name, frame


def iter_frames(
    source: str | Path | list | tuple, *, max_frames: int | None = None, skip_corrupt: bool = False
) -> Iterator[Image.Image]:
    """Frames of a video as RGB PIL images, in order, read lazily (see `iter_named_frames`)."""
    for _, frame in iter_named_frames(source, max_frames=max_frames, skip_corrupt=skip_corrupt):
        yield frame


def _iter_folder_of(files: list[Path]) -> Iterator[_Item]:
    for path in files:
        try:
            with Image.open(path) as image:
                image.load()
                frame = to_rgb(image)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            error = CorruptFrameError(f"cannot read image {path}: {err}")
            error.__cause__ = err
            yield path.stem, error
            continue
        yield path.stem, frame


class VideoInfo(NamedTuple):
    """What a source tells about itself before decoding, `None` when unknown: `num_frames` (counted by the container,
    or the image files of a folder), `fps` (folders and lists have none), the frame size `width` x `height` (the
    container's, or the first image's) and the `duration` of a video file in seconds."""

    num_frames: int | None
    fps: Fraction | None
    width: int | None = None
    height: int | None = None
    duration: Fraction | None = None

    @property
    def expected_frames(self) -> int | None:
        """`num_frames`, or for a video file that does not count its frames, the estimate `duration x fps`."""
        if self.num_frames is not None:
            return self.num_frames
        if self.duration and self.fps:
            return round(self.duration * self.fps) or None
        return None


def _image_size(path: Path) -> tuple[int | None, int | None]:
    """`(width, height)` from an image file's header (nothing decoded); `(None, None)` when it cannot be read."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, None


def probe_video(source: str | Path | list | tuple) -> VideoInfo:
    """What `source` (as `iter_named_frames` takes it) tells about itself without decoding it: container metadata for
    a video file, the image files of a folder, the length of a list.

    Raises what reading would raise at its start: `FileNotFoundError` for a path that does not exist, and
    `VideoReadError` for a video file that cannot be opened (no PyAV, not a video, no video stream; its `__cause__`
    is PyAV's error, when there is one). A folder or image that cannot be read is reported when it is read, not here:
    its fields are `None` (or 0 frames for a folder without images).
    """
    if isinstance(source, (list, tuple)):
        return VideoInfo(len(source), None)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if path.is_dir():
        try:
            files = _image_files(_frames_folder(path))
        except OSError:
            return VideoInfo(None, None)
        return VideoInfo(len(files), None, *(_image_size(files[0]) if files else (None, None)))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return VideoInfo(1, None, *_image_size(path))
    with _open_video(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = stream.duration * stream.time_base if stream.duration and stream.time_base else None
        return VideoInfo(
            num_frames=int(stream.frames or 0) or None,
            fps=Fraction(rate) if rate else None,
            width=stream.codec_context.width or None,
            height=stream.codec_context.height or None,
            duration=Fraction(duration) if duration else None,
        )


class VideoWriter:
    """Writes RGB frames to a video file with PyAV, opened at the first frame, at the frames' size.

    `codec`: a PyAV encoder name ("mpeg4"; "libx264" in .mp4 or "libvpx-vp9" in .webm play in browsers); `rate`: the
    frame rate (an int or a `fractions.Fraction`); `pix_fmt`: the pixel format encoded. An odd width or height is
    kept when the encoder takes it in `pix_fmt` (mpeg4 and libvpx-vp9 do in yuv420p); otherwise (libx264 in yuv420p)
    the last row / column is dropped: `size` is the `(width, height)` written, `None` before the first frame. Use as a
    context manager, or call `close()`.
    """

    def __init__(self, path, rate, codec: str = "mpeg4", options: dict[str, str] | None = None, pix_fmt="yuv420p"):
        try:
            import av
        except ImportError as err:
            raise ImportError("writing a video needs PyAV: pip install av (or 'mrcfa[video]').") from err
        self._av, self.path, self.rate, self.codec, self.options = av, path, rate, codec, options or {}
        self.pix_fmt = pix_fmt
        self.size: tuple[int, int] | None = None
        self._container = self._stream = None

    def _encodes(self, width: int, height: int) -> bool:
        """Whether the encoder opens at `width` x `height` in `pix_fmt` (tried on a codec context of its own)."""
        context = self._av.CodecContext.create(self.codec, "w")
        context.width, context.height, context.pix_fmt = width, height, self.pix_fmt
        context.time_base = 1 / Fraction(self.rate)
        context.framerate = Fraction(self.rate)
        try:
            context.open()
        except (self._av.FFmpegError, ValueError):
            return False
        return True

    def write(self, rgb: np.ndarray) -> None:
        """Append one `[H, W, 3]` uint8 frame."""
        if self._stream is None:
            height, width = rgb.shape[:2]
            if (width % 2 or height % 2) and not self._encodes(width, height):
                width, height = width - width % 2, height - height % 2  # e.g. libx264 takes no odd yuv420p size
            self._container = self._av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream(self.codec, rate=self.rate, options=self.options)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, self.pix_fmt
            self.size = (width, height)
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

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
