# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Where VSPW videos come from: a raw ``VSPW_480p`` folder, a folder of Parquet shards, or a Hub dataset id.

This module lists the videos of a split (:func:`list_vspw_videos`), reads their frames and masks, and checks them,
raising errors that name the file or video and say what was expected.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps

from ..constants import IGNORE_INDEX, VSPW_NUM_CLASSES
from ..models.mrcfa.video_io_mrcfa import order_frame_files

__all__ = [
    "CorruptImageError",
    "DataFileError",
    "InvalidMaskError",
    "VspwSource",
    "VspwSplit",
    "VspwVideoInfo",
    "list_vspw_videos",
    "resolve_source",
]

FRAME_EXTENSIONS = (".jpg", ".jpeg")
MASK_EXTENSION = ".png"
CLASS_FILE = "label_num_dic_final.json"
PARQUET_METADATA_KEY = b"mrcfa"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")


def _skip_fix(action: str) -> str:
    """The fix of a bad file: `action`, or how to go on without it, in the form of each entry point."""
    return f"{action}, or skip the clips that use it: --skip_corrupt (run_vss.py), skip_corrupt=True (load_vspw)."


class DataFileError(ValueError):
    """A frame or mask file that cannot be used. The message says what is wrong with the file (``.problem``), then
    how to fix it (the `fix` argument); ``.file`` names the file.

    A DataLoader worker passes an error to the main process as its type and its formatted traceback only
    (``type(err)(text)``): built that way, the error keeps just its own message (the last line of that traceback),
    so that it still reads as one line, and ``.file`` is None.
    """

    def __init__(self, message: str, file: str | None = None, fix: str | None = None):
        if file is None and message.startswith(f"Caught {type(self).__name__} "):
            message = _original_message(message, type(self))
        super().__init__(f"{message} {fix}" if fix else message)
        self.problem = message
        self.file = file


def _original_message(text: str, kind: type) -> str:
    """The message of the `kind` error whose formatted traceback ends `text` (`text` if there is none)."""
    prefixes = (f"{kind.__module__}.{kind.__qualname__}: ", f"{kind.__qualname__}: ")
    for line in reversed(text.splitlines()):
        for prefix in prefixes:
            if line.startswith(prefix):
                return line[len(prefix) :]
    return text


class CorruptImageError(DataFileError):
    """A frame or mask file that cannot be decoded (truncated or not an image)."""


class InvalidMaskError(DataFileError):
    """A mask that decodes but does not fit: several channels, another size than its frame, values beyond the
    classes."""


@dataclass(frozen=True)
class VspwSource:
    """A resolved VSPW source.

    ``kind`` is ``"folder"`` (raw VSPW layout) or ``"parquet"`` (``data/{split}-*.parquet``); ``root`` is a local
    path or, for a Hub dataset, an ``hf://datasets/<repo>[@<revision>]`` URL; ``storage_options`` go to fsspec.
    """

    kind: str
    root: str
    name: str
    storage_options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_remote(self) -> bool:
        return self.root.startswith("hf://")


@dataclass(frozen=True)
class VspwVideoInfo:
    """One video of a split.

    ``frame_names`` are the frame file stems in time order, the natural order of
    :func:`mrcfa.models.mrcfa.video_io_mrcfa.order_frame_files` (clip ``frame_indices`` are positions in this list).
    For folder sources ``frame_files`` / ``mask_files`` are local paths (``mask_files`` is None when the split has no
    masks); for Parquet sources ``parquet_file``, ``row_group`` and ``row`` (within the row group) locate the video.
    """

    video_id: str
    frame_names: tuple[str, ...]
    has_masks: bool
    frame_files: tuple[str, ...] | None = None
    mask_files: tuple[str, ...] | None = None
    parquet_file: str | None = None
    row_group: int | None = None
    row: int | None = None

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)


@dataclass(frozen=True)
class VspwSplit:
    """The videos of one split, in split order, whether the split is labelled, and the number of classes."""

    source: VspwSource
    split: str
    videos: tuple[VspwVideoInfo, ...]
    labelled: bool
    num_classes: int


# ----------------------------------------------------------------------------------------------------------------------
# Source resolution
# ----------------------------------------------------------------------------------------------------------------------
def resolve_source(
    source: str | os.PathLike | VspwSource, *, revision: str | None = None, token: str | bool | None = None
) -> VspwSource:
    """Decide what `source` is: a local VSPW folder, a local Parquet export, or a Hub dataset id.

    A local folder holding ``data/*.parquet`` is a Parquet export; a folder holding ``train.txt`` / ``val.txt`` /
    ``test.txt`` or ``data/`` is a raw VSPW folder. A string ``org/name`` that is not a local path is a Hub dataset
    (read as Parquet shards, like a local export).
    """
    if isinstance(source, VspwSource):
        return source
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise NotADirectoryError(
                f"VSPW source {text!r} is a file; expected a VSPW folder (train.txt, val.txt, test.txt, data/) or a "
                "folder of Parquet shards (data/<split>-*.parquet)."
            )
        root = str(path.resolve())
        if any((path / "data").glob("*.parquet")):
            return VspwSource("parquet", root, text)
        if any((path / f"{s}.txt").is_file() for s in ("train", "val", "test")) or (path / "data").is_dir():
            return VspwSource("folder", root, text)
        raise FileNotFoundError(
            f"{text!r} is neither a VSPW folder (expected train.txt, val.txt, test.txt and data/<video>/origin/*.jpg) "
            "nor a Parquet export (expected data/<split>-*.parquet)."
        )
    if _HUB_ID.fullmatch(text) and not text.startswith("."):
        rev = f"@{revision.replace('/', '%2F')}" if revision else ""
        options = {} if token is None else {"token": token}
        return VspwSource("parquet", f"hf://datasets/{text}{rev}", text, options)
    raise FileNotFoundError(
        f"VSPW source {text!r} not found: there is no such local folder and it is not a Hub dataset id ('org/name')."
    )


def _num_classes_from_folder(root: str) -> int | None:
    path = Path(root) / CLASS_FILE
    if not path.is_file():
        return None
    try:
        values = [int(v) for v in json.loads(path.read_text()).values()]
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} must map class names to integer ids ({err}).") from err
    return max(values) if values else None


# ----------------------------------------------------------------------------------------------------------------------
# Listing
# ----------------------------------------------------------------------------------------------------------------------
def list_vspw_videos(
    source: str | os.PathLike | VspwSource,
    split: str,
    *,
    num_classes: int | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
) -> VspwSplit:
    """List the videos of `split` with their frame names in time order, checking the layout.

    Works for the three kinds of source (see :func:`resolve_source`). For a raw folder it checks that the split file
    exists, that every listed video has ``data/<video>/origin`` with JPEG frames whose names give one order (natural
    order, numbers compared as numbers: ``order_frame_files``, the rule of every frame folder), and, when the split is labelled
    (its videos have ``mask/`` folders), that every frame has ``mask/<frame>.png``. Returns a :class:`VspwSplit`
    (``.videos`` in split-file order, ``.labelled``, ``.num_classes``). `num_classes` overrides the class count read
    from ``label_num_dic_final.json`` / the Parquet metadata (default: VSPW's 124).
    """
    src = resolve_source(source, revision=revision, token=token)
    if src.kind == "folder":
        listing = _list_folder(src, split)
    else:
        listing = _list_parquet(src, split)
    videos, labelled, found_classes = listing
    classes = num_classes if num_classes is not None else (found_classes or VSPW_NUM_CLASSES)
    if not 1 <= classes <= 254:
        raise ValueError(f"num_classes must be in 1..254, got {classes}.")
    return VspwSplit(src, split, tuple(videos), labelled, int(classes))


def _list_folder(src: VspwSource, split: str) -> tuple[list[VspwVideoInfo], bool, int | None]:
    root = Path(src.root)
    split_file = root / f"{split}.txt"
    if not split_file.is_file():
        raise FileNotFoundError(
            f"split file {split_file} not found: a VSPW folder lists the videos of each split in <split>.txt "
            f"(train.txt, val.txt, test.txt)."
        )
    names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"video {name!r} is listed twice in {split_file}.")
        seen.add(name)
    if not names:
        raise ValueError(f"split file {split_file} lists no video.")
    entries = []
    for name in names:
        origin = root / "data" / name / "origin"
        if not origin.is_dir():
            raise FileNotFoundError(
                f"video {name!r} is listed in {split_file} but its frame folder {origin} does not exist "
                "(expected data/<video>/origin/*.jpg)."
            )
        frames = order_frame_files((f for f in os.listdir(origin) if f.lower().endswith(FRAME_EXTENSIONS)), origin)
        if not frames:
            raise FileNotFoundError(f"video {name!r}: no JPEG frame (*.jpg) in {origin}.")
        mask_dir = root / "data" / name / "mask"
        entries.append((name, origin, frames, mask_dir, mask_dir.is_dir()))
    with_masks = [e[0] for e in entries if e[4]]
    labelled = bool(with_masks)
    if labelled and len(with_masks) != len(entries):
        missing = next(e for e in entries if not e[4])
        raise FileNotFoundError(
            f"video {missing[0]!r} of split {split!r} has no mask folder {missing[3]}, but other videos of the split "
            f"(e.g. {with_masks[0]!r}) have masks: every video of a labelled split needs data/<video>/mask/*.png."
        )
    videos = []
    for name, origin, frames, mask_dir, _ in entries:
        stems = tuple(os.path.splitext(f)[0] for f in frames)
        mask_files = None
        if labelled:
            available = set(os.listdir(mask_dir))
            for frame, stem in zip(frames, stems):
                if stem + MASK_EXTENSION not in available:
                    raise FileNotFoundError(
                        f"frame {origin / frame} has no mask: expected {mask_dir / (stem + MASK_EXTENSION)} "
                        f"(split {split!r} is labelled)."
                    )
            mask_files = tuple(str(mask_dir / (s + MASK_EXTENSION)) for s in stems)
        videos.append(
            VspwVideoInfo(
                video_id=name,
                frame_names=stems,
                has_masks=labelled,
                frame_files=tuple(str(origin / f) for f in frames),
                mask_files=mask_files,
            )
        )
    return videos, labelled, _num_classes_from_folder(src.root)


def _hub_filesystem(src: VspwSource):
    from huggingface_hub import HfFileSystem

    return HfFileSystem(**src.storage_options)


def _fs_open(src: VspwSource, path: str):
    """Open a local path or an ``hf://`` URL of `src` for binary reading."""
    if src.is_remote:
        return _hub_filesystem(src).open(path[len("hf://") :], "rb")
    return open(path, "rb")


def parquet_files(src: VspwSource, split: str) -> list[str]:
    """Sorted Parquet shards ``data/{split}-*.parquet`` of a Parquet source (local paths or ``hf://`` URLs)."""
    pattern = f"data/{split}-*.parquet"
    if src.is_remote:
        try:
            fs = _hub_filesystem(src)
            files = sorted("hf://" + p for p in fs.glob(src.root[len("hf://") :] + "/" + pattern))
        except Exception as err:  # any Hub failure means the source cannot be read
            raise FileNotFoundError(
                f"VSPW source {src.name!r} is not a local folder; reading it as a Hub dataset id failed: {err}"
            ) from err
    else:
        files = sorted(str(p) for p in Path(src.root).glob(pattern))
    if not files:
        raise FileNotFoundError(f"no Parquet shard for split {split!r} in {src.name!r}: expected {pattern}.")
    return files


def _list_parquet(src: VspwSource, split: str) -> tuple[list[VspwVideoInfo], bool, int | None]:
    import pyarrow.parquet as pq

    videos: list[VspwVideoInfo] = []
    labelled_per_file = []
    num_classes = None
    for file in parquet_files(src, split):
        with _fs_open(src, file) as handle:
            pf = pq.ParquetFile(handle)
            names = set(pf.schema_arrow.names)
            missing = {"video_id", "frame_names", "frames"} - names
            if missing:
                raise ValueError(
                    f"Parquet shard {file} lacks the column(s) {sorted(missing)}: expected one row per video with "
                    "video_id, frame_names, frames (and masks in labelled splits), as written by export_vspw_parquet."
                )
            labelled_per_file.append("masks" in names)
            meta = (pf.schema_arrow.metadata or {}).get(PARQUET_METADATA_KEY)
            if meta:
                num_classes = json.loads(meta).get("num_classes", num_classes)
            for group in range(pf.num_row_groups):
                table = pf.read_row_group(group, columns=["video_id", "frame_names"])
                for row, (vid, frames) in enumerate(
                    zip(table.column("video_id").to_pylist(), table.column("frame_names").to_pylist())
                ):
                    if not frames:
                        raise ValueError(f"video {vid!r} in {file} has no frame.")
                    videos.append(
                        VspwVideoInfo(
                            video_id=vid,
                            frame_names=tuple(frames),
                            has_masks="masks" in names,
                            parquet_file=file,
                            row_group=group,
                            row=row,
                        )
                    )
    if len(set(labelled_per_file)) > 1:
        raise ValueError(
            f"the Parquet shards of split {split!r} in {src.name!r} disagree: some have a masks column, some do not."
        )
    seen: set[str] = set()
    for video in videos:
        if video.video_id in seen:
            raise ValueError(f"video {video.video_id!r} appears twice in the Parquet shards of split {split!r}.")
        seen.add(video.video_id)
    return videos, labelled_per_file[0], num_classes


# ----------------------------------------------------------------------------------------------------------------------
# Reading and checking frames / masks
# ----------------------------------------------------------------------------------------------------------------------
def decode_image(data: bytes | str, name: str, what: str) -> Image.Image:
    """Open and fully decode an image from a local path or bytes; `name` is used in error messages."""
    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data)
        image.load()
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{what} file {name} not found.") from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(
            f"corrupt or unreadable {what} {name}: {err}. Expected a valid {'JPEG' if what == 'frame' else 'PNG'} "
            "file.",
            file=name,
            fix=_skip_fix("Replace it"),
        ) from err
    return image


def _as_shown(image: Image.Image) -> Image.Image:
    """`image` with its EXIF orientation applied, as ``datasets.Image`` decodes it (itself when it has none)."""
    if image.getexif().get(ExifTags.Base.Orientation) is None:
        return image
    return ImageOps.exif_transpose(image)


def check_mask(
    mask: Image.Image,
    name: str,
    frame_size: tuple[int, int],
    frame_name: str,
    num_classes: int,
    *,
    frame_turned: bool = False,
):
    """Check a raw mask: single channel, same size as its frame, values in {0..num_classes, 255}; raises
    `InvalidMaskError`.

    `frame_size` is the size of the frame as shown (EXIF orientation applied); `frame_turned` says that its EXIF
    orientation turned it by 90 degrees, which the error message then names."""
    if mask.mode not in ("L", "P"):
        raise InvalidMaskError(
            f"mask {name} has image mode {mask.mode!r}: expected a single-channel PNG (mode 'L' or 'P') whose pixel "
            "values are class ids.",
            file=name,
            fix=_skip_fix("Fix the mask"),
        )
    if mask.size != frame_size:
        turned = (
            " once turned by its EXIF orientation (masks label the frame as viewers show it)" if frame_turned else ""
        )
        raise InvalidMaskError(
            f"frame {frame_name} is {frame_size[0]}x{frame_size[1]} (WxH){turned} but its mask {name} is "
            f"{mask.size[0]}x{mask.size[1]}: a frame and its mask must have the same size.",
            file=name,
            fix=_skip_fix("Fix the mask"),
        )
    array = np.asarray(mask)
    if int(array.max(initial=0)) > num_classes:
        bad = (array > num_classes) & (array != IGNORE_INDEX)
        if bad.any():
            y, x = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidMaskError(
                f"mask {name} has value {int(array[y, x])} at (y={y}, x={x}) but the dataset has {num_classes} "
                f"classes: expected 0 (others), 1..{num_classes} or {IGNORE_INDEX} (ignored).",
                file=name,
                fix=_skip_fix(
                    f"If the dataset has more classes, list them in {CLASS_FILE} (or pass num_classes=...); else fix "
                    "the mask"
                ),
            )


class VideoReader:
    """Decodes and checks the frames (and masks) of one video on demand, caching what the next clips reuse.

    ``get(i) -> (frame, mask_or_None, frame_ref, mask_ref)``: ``frame`` is an RGB PIL image, ``mask`` the raw mask
    (mode L or P), both with their EXIF orientation applied, as the ``datasets.Image`` features decode them for the
    examples; the refs are ``{"path", "bytes"}`` dicts of the undecoded files.
    """

    def __init__(self, video: VspwVideoInfo, split: VspwSplit, row: dict | None = None):
        self.video = video
        self.split = split
        self.row = row
        self.cache: dict[int, tuple] = {}

    def _refs(self, index: int) -> tuple[dict, dict | None, str, str | None]:
        video = self.video
        stem = video.frame_names[index]
        if self.row is None:
            frame_path = video.frame_files[index]
            mask_path = video.mask_files[index] if video.mask_files else None
            return (
                {"path": frame_path, "bytes": None},
                None if mask_path is None else {"path": mask_path, "bytes": None},
                frame_path,
                mask_path,
            )
        frames = self.row["frames"]
        masks = self.row.get("masks") if self.split.labelled else None
        where = f"{video.parquet_file} (video {video.video_id!r}, frame {stem!r})"
        if len(frames) != video.num_frames or (masks is not None and len(masks) != video.num_frames):
            raise DataFileError(
                f"video {video.video_id!r} in {video.parquet_file} has {video.num_frames} frame names, "
                f"{len(frames)} frames and {len(masks) if masks is not None else 0} masks: expected equal counts.",
                file=video.parquet_file,
            )
        if self.split.labelled and masks is None:
            raise DataFileError(
                f"video {video.video_id!r} in {video.parquet_file} has no masks but its split is labelled.",
                file=video.parquet_file,
            )
        frame_ref = frames[index]
        mask_ref = masks[index] if masks is not None else None
        for ref, what in ((frame_ref, "frame"), (mask_ref, "mask")):
            if ref is not None and not ref.get("bytes"):
                raise DataFileError(
                    f"{what} of {where} has no embedded bytes: expected images embedded in the Parquet.",
                    file=video.parquet_file,
                )
        return frame_ref, mask_ref, f"{where} image", None if mask_ref is None else f"{where} mask"

    def get(self, index: int):
        if index in self.cache:
            return self.cache[index]
        frame_ref, mask_ref, frame_name, mask_name = self._refs(index)
        # oriented as the examples' datasets.Image features will decode them, so that the checks see what users get
        stored = decode_image(frame_ref["bytes"] or frame_ref["path"], frame_name, "frame")
        frame = _as_shown(stored)
        if frame.mode != "RGB":
            frame = frame.convert("RGB")
        mask = None
        if mask_ref is not None:
            mask = _as_shown(decode_image(mask_ref["bytes"] or mask_ref["path"], mask_name, "mask"))
            turned = frame.size != stored.size
            check_mask(mask, mask_name, frame.size, frame_name, self.split.num_classes, frame_turned=turned)
        item = (frame, mask, frame_ref, mask_ref)
        self.cache[index] = item
        return item

    def evict_below(self, index: int) -> None:
        for key in [k for k in self.cache if k < index]:
            del self.cache[key]


def read_parquet_rows(src: VspwSource, file: str, row_group: int) -> list[dict]:
    """All rows (videos) of one row group of a Parquet shard, as Python dicts (image bytes included)."""
    import pyarrow.parquet as pq

    with _fs_open(src, file) as handle:
        table = pq.ParquetFile(handle).read_row_group(row_group)
    return table.to_pylist()
