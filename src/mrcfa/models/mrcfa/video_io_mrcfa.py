# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Reading videos as frames: a video file (PyAV, optional), a folder of frames, a VSPW video folder, or a list; and
writing frames to a video file (`VideoWriter`, PyAV).

`iter_named_frames` / `iter_frames` read lazily; with `skip_corrupt=True` an unreadable image of a folder or an
undecodable frame of a video file is skipped (reported through `on_skip`, by default a warning naming it) instead of
ending the video with a `VideoReadError`, as the data loader's `skip_corrupt` does. `probe_video` gives the number of
frames, the frame rate and the frame size when the source knows them, without decoding it.

Frames are read as a viewer or a player shows them:

- the frames of a folder are in *natural order* (`order_frame_files`): the numbers in their names are compared as
  numbers, so `frame_2.png` comes before `frame_10.png`. Names that do not give one order (two names for the same
  number, `1.png` and `01.png`; or names that differ in more than their numbers, `frame_1.png` and `thumb.png`) raise
  a `FrameOrderError` naming both files. The VSPW data loader lists its frames with the same rule.
- an image file's EXIF orientation is applied (`read_image`, with `PIL.ImageOps.exif_transpose`), and a 16-bit image
  (PIL modes `I;16*`) is scaled to 8 bits as image tools do (0..65535 onto 0..255, `round(v / 257)`); 32-bit integer
  and float images (modes `I`, `F`) have no standard 8-bit scale and are refused.
- a video file's display matrix (the rotation a phone records) is applied to its decoded frames when it is a multiple
  of 90 degrees, with or without a mirror; any other angle is reported with a warning and not applied.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}

__all__ = [
    "CorruptFrameError",
    "FrameOrderError",
    "VideoInfo",
    "VideoReadError",
    "VideoWriter",
    "display_transpose",
    "frame_names",
    "iter_frames",
    "iter_named_frames",
    "natural_sort_key",
    "order_frame_files",
    "probe_video",
    "read_image",
    "to_rgb",
]


class VideoReadError(ValueError):
    """A video or one of its frames cannot be read."""


class CorruptFrameError(VideoReadError):
    """One frame cannot be read (an image file of a folder, a packet of a video file): `skip_corrupt` skips it."""


class FrameOrderError(VideoReadError):
    """The names of a folder's frames do not give one time order (see `order_frame_files`)."""


_DIGITS = re.compile(r"([0-9]+)")


def natural_sort_key(name: str) -> tuple[str | int, ...]:
    """`name` split into its text and its runs of digits, the digits as numbers: `"frame_10"` -> `("frame_", 10, "")`.

    Keys of names that differ only in their numbers compare as those numbers (`frame_2` < `frame_10`); text and number
    parts alternate, starting with text (maybe empty), so any two keys compare."""
    return tuple(int(part) if i % 2 else part for i, part in enumerate(_DIGITS.split(name)))


def order_frame_files(names: Iterable[str], where: str | Path = "the folder") -> list[str]:
    """File names of the frames of one video in time order: the natural order of their stems.

    The stems (names without their suffix) are compared by `natural_sort_key`: `frame_2.png` before `frame_10.png`,
    `00009.jpg` before `00010.jpg`; stems without digits in alphabetical order. Raises `FrameOrderError`, naming two
    of the files, when the names do not give one order:

    - two files with the same stem up to the zeros of a number (`1.png` and `01.png`) or up to the suffix
      (`0001.jpg` and `0001.png`): the same frame twice;
    - names that differ in more than their numbers while some of them hold numbers (`frame_1.png` and `img_1.png`,
      `frame_1.png` and `thumb.png`): there is no telling where one sequence goes in the other.

    Args:
        names: file names (not paths) of one folder.
        where: the folder, for the error message.
    """
    keyed = sorted((natural_sort_key(Path(name).stem), name) for name in names)
    for (key, name), (next_key, next_name) in zip(keyed, keyed[1:]):
        if key == next_key:
            raise FrameOrderError(
                f"cannot order the frames of {where}: {name} and {next_name} name the same frame (their names differ "
                "only in leading zeros or in the suffix): keep one of them."
            )
    patterns: dict[tuple, str] = {}
    for key, name in keyed:
        patterns.setdefault(key[::2], name)  # the text between the numbers
    if len(patterns) > 1 and any(len(key) > 1 for key, _ in keyed):
        first, second = sorted(patterns.values())[:2]
        raise FrameOrderError(
            f"cannot order the frames of {where}: {first} and {second} differ in more than their numbers. Frames are "
            "ordered by the numbers in their names (frame_2.png before frame_10.png), so the names of one video must "
            "differ only in those numbers: rename or move the other files."
        )
    return [name for _, name in keyed]


# PIL modes of 16-bit images (PNG and TIFF files open as I;16); 32-bit ones have no standard range to scale from
def to_rgb(frame: Any) -> Image.Image:
    """A frame as an RGB PIL image.

    Grayscale, palette and RGBA images are converted; 16-bit and 32-bit images are first brought to 8 bits by the
    processor's rule (`image_transforms_mrcfa.to_8bit_scale`: 16-bit modes `I;16*` scaled 0..65535 onto 0..255, as
    image tools do; modes `I` and `F` kept when their values lie in 0..255, refused otherwise). Arrays must be uint8.
    """
    if isinstance(frame, Image.Image):
        if frame.mode.startswith("I") or frame.mode == "F":  # 16- and 32-bit modes: the processor's one rule
            from .image_transforms_mrcfa import to_8bit_scale  # imports torch: only for such images

            try:
                frame = to_8bit_scale(frame)
            except ValueError as err:
                raise VideoReadError(str(err)) from None
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


def read_image(path: str | Path) -> Image.Image:
    """An image file as an RGB frame, as image viewers show it: EXIF orientation applied, 16-bit scaled to 8 bits.

    Raises `CorruptFrameError` when the file cannot be decoded, `VideoReadError` when its pixels have no 8-bit
    reading (32-bit images; see `to_rgb`)."""
    try:
        with Image.open(path) as image:
            image.load()
            oriented = ImageOps.exif_transpose(image)  # a copy: usable once the file is closed
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptFrameError(f"cannot read image {path}: {err}") from err
    try:
        return to_rgb(oriented)
    except VideoReadError as err:
        raise VideoReadError(f"image {path}: {err}") from err


def _image_files(folder: Path) -> list[Path]:
    """The image files of `folder` in time order (`order_frame_files`)."""
    names = [p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return [folder / name for name in order_frame_files(names, folder)]


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


# The display matrix's rotation-and-mirror part `(a, b, c, d)`, which maps a stored pixel (x, y) to
# (a x + c y, b x + d y) on screen (FFmpeg's AV_FRAME_DATA_DISPLAYMATRIX, y pointing down), for each of the eight
# ways a picture can be turned or mirrored, as the PIL transpose that does the same.
_DISPLAY_TRANSPOSES = {
    (1, 0, 0, 1): None,
    (-1, 0, 0, 1): Image.Transpose.FLIP_LEFT_RIGHT,
    (1, 0, 0, -1): Image.Transpose.FLIP_TOP_BOTTOM,
    (-1, 0, 0, -1): Image.Transpose.ROTATE_180,
    (0, -1, 1, 0): Image.Transpose.ROTATE_90,  # counter-clockwise: PyAV's `frame.rotation == 90`
    (0, 1, -1, 0): Image.Transpose.ROTATE_270,  # clockwise: a phone held upright (`frame.rotation == -90`)
    (0, 1, 1, 0): Image.Transpose.TRANSPOSE,
    (0, -1, -1, 0): Image.Transpose.TRANSVERSE,
}


def display_transpose(matrix: Iterable[int]) -> Image.Transpose | None:
    """The PIL transpose that shows a decoded frame as players do, from its display matrix.

    `matrix`: the 9 int32 values of FFmpeg's display matrix (16.16 fixed point for the first two columns). Returns
    None for the identity; raises `ValueError` for a matrix that is not a turn by a multiple of 90 degrees, with or
    without a mirror (other angles, scaling), which PIL's transposes cannot apply."""
    values = [int(v) for v in matrix]
    if len(values) != 9:
        raise ValueError(f"a display matrix has 9 values, got {len(values)}.")
    part = tuple(values[i] / 65536 for i in (0, 1, 3, 4))
    rounded = tuple(round(v) for v in part)
    if rounded not in _DISPLAY_TRANSPOSES or max(abs(v - r) for v, r in zip(part, rounded)) > 1e-3:
        raise ValueError(f"the display matrix {values} is not a turn by a multiple of 90 degrees.")
    return _DISPLAY_TRANSPOSES[rounded]


def _display_angle(matrix: list[int]) -> int:
    """The counter-clockwise turn of a display matrix in whole degrees (as `VideoFrame.rotation`, but rounded)."""
    return round(math.degrees(math.atan2(-matrix[1], matrix[0])))


def _display_matrix(frame: Any) -> list[int] | None:
    """The display matrix PyAV attaches to a decoded frame (`None` when the video has none)."""
    data = frame.side_data.get("DISPLAYMATRIX")
    return None if data is None else np.frombuffer(bytes(data), dtype=np.int32).tolist()


def _iter_video_file(path: Path) -> Iterator[_Item]:
    container = _open_video(path)
    count = index = 0
    warned = False
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
                image = frame.to_image().convert("RGB")
                matrix = _display_matrix(frame)
                if matrix is not None:
                    try:
                        transpose = display_transpose(matrix)
                    except ValueError:
                        transpose = None
                        if not warned:
                            warnings.warn(
                                f"video {path} is meant to be shown turned by {_display_angle(matrix)} degrees, not a "
                                "multiple of 90: its frames are read as stored, not turned.",
                                UserWarning,
                                stacklevel=2,
                            )
                            warned = True
                    if transpose is not None:
                        image = image.transpose(transpose)
                yield f"{index - 1:05d}", image
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

    `source` is a video file (decoded with PyAV, its display rotation applied), a folder of frames (in natural order:
    `order_frame_files`), a VSPW video folder (frames in `origin/`), an image file, or a list of frames (PIL images or
    uint8 arrays). Image files are read with `read_image` (EXIF orientation applied, 16-bit scaled to 8 bits). Every
    frame must have the size of the first. The name is the file stem for folders, the frame's position (`00007`) for
    video files and lists.

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
            frame = read_image(path)
        except CorruptFrameError as error:
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
