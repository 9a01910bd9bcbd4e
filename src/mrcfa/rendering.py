# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The per-frame loop of every front end that segments a video and shows the result (`mrcfa segment`, the app).

`iter_segmented_frames` reads a video (file, folder of frames or VSPW video folder), segments it with streaming
inference (`mrcfa.segment_video`: each frame encoded once, its official test clip) and yields one `SegmentedFrame`
per frame, in order: where the frame is in the video, the RGB frame, its label map and the pixels of each class,
plus the pictures made of them (the palette PNG, the overlay, the preview). The front ends only write them:
`mrcfa segment` its PNGs, overlay video, preview and `legend.json`; the app its overlay video, label PNGs, zip and
per-frame shares. `write_legend` writes the legend files both share. `placed_frames` and `segmented_frame` are the
two ends of that loop, for loops over several videos at once (`mrcfa.segmenting.segment_to_folders`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .models.mrcfa.video_io_mrcfa import CorruptFrameError, iter_named_frames
from .visualization import (
    colorize,
    draw_legend,
    frame_legend,
    legend_entries,
    overlay_frame,
    palette_for,
    preview_image,
)

__all__ = ["SegmentedFrame", "iter_segmented_frames", "placed_frames", "segmented_frame", "write_legend"]

#: The key of `PIL.Image.Image.info` under which a frame carries its place in the video, from reading to its result.
_PLACE = "mrcfa.place"


@dataclass(frozen=True, eq=False)
class SegmentedFrame:
    """One frame of a video and its segmentation (compared by identity: it holds arrays).

    Attributes:
        index: the frame's position in the video (unreadable frames skipped before it count).
        name: its name: the file stem for a folder of frames, else the position (`00007`).
        frame: the frame, an RGB PIL image of size `W x H`.
        labels: `[H, W]` int64 label map (class ids).
        counts: `[num_labels]` int64, the pixels of each class in `labels`.
        palette: `[num_labels, 3]` uint8 class colours. `id2label`: the class names.
    """

    index: int
    name: str
    frame: Image.Image
    labels: np.ndarray
    counts: np.ndarray
    palette: np.ndarray = field(repr=False)
    id2label: Mapping[int, str] = field(repr=False)

    @property
    def title(self) -> str:
        """`frame 7`, with the name when it is not the position: `frame 5 (img005)`."""
        return f"frame {self.index}" + (f" ({self.name})" if self.name != f"{self.index:05d}" else "")

    def label_image(self) -> Image.Image:
        """The label map as a palette ("P" mode) image, VSPW's mask format (save it as PNG)."""
        return colorize(self.labels, self.palette)

    def overlay(self, legend: bool = False) -> np.ndarray:
        """`[H, W, 3]` uint8: the class colours and boundaries over the frame (`visualization.overlay_frame`); with
        `legend`, this frame's classes and their pixel share, and the `title`, drawn on it."""
        rgb = overlay_frame(self.frame, self.labels, self.palette)
        if legend:
            entries = frame_legend(self.labels, self.id2label, self.palette)
            rgb = np.asarray(draw_legend(Image.fromarray(rgb), entries, self.title))
        return rgb

    def preview(self) -> Image.Image:
        """The frame and its segmentation side by side, with the legend and the `title` (`preview_image`)."""
        return preview_image(self.frame, self.labels, self.palette, self.id2label, self.title)


def iter_segmented_frames(
    model,
    source: str | Path,
    *,
    processor,
    palette: np.ndarray | None = None,
    id2label: Mapping[int, str] | None = None,
    batch_size: int = 1,
    device=None,
    max_frames: int | None = None,
    skip_corrupt: bool = False,
    on_skip: Callable[[str, CorruptFrameError], None] | None = None,
    on_read: Callable[[int, str], None] | None = None,
) -> Iterator[SegmentedFrame]:
    """Segment the video `source` frame by frame; yields a `SegmentedFrame` per frame, in order, as soon as it is known.

    Args:
        model: an MRCFA model, or a runner with its streaming interface (e.g. `mrcfa.onnx_runtime.OnnxStreamingModel`).
        source: a video file (PyAV), a folder of frames or a VSPW video folder (`iter_named_frames` reads it).
        processor: the model's `MrcfaImageProcessor`.
        palette, id2label: the class colours and names (default: `palette_for(num_labels)`, the model's config).
        batch_size, device: as `mrcfa.segment_video` (the results do not depend on `batch_size`).
        max_frames, skip_corrupt: as `iter_named_frames`: only the first frames; skip unreadable frames instead of
            raising `CorruptFrameError`, calling `on_skip(name, error)` for each (default: a `UserWarning`).
        on_read: called with `(index, name)` for each frame read, before it is segmented (frames read ahead of the
            results, e.g. a batch in flight when reading or segmenting fails, are counted too).

    Raises what reading raises (`FileNotFoundError`, `VideoReadError`) and what `segment_video` raises (frames of
    different sizes, non-finite pixels): the frames yielded before stay valid.
    """
    from .models.mrcfa.streaming_mrcfa import segment_video  # imports torch

    palette = palette_for(model.config.num_labels) if palette is None else np.asarray(palette)
    id2label = model.config.id2label if id2label is None else id2label
    frames = placed_frames(source, max_frames=max_frames, skip_corrupt=skip_corrupt, on_skip=on_skip, on_read=on_read)
    pairs = segment_video(model, frames, processor=processor, batch_size=batch_size, device=device, with_frames=True)
    for frame, labels in pairs:
        yield segmented_frame(frame, labels, palette, id2label)


def placed_frames(
    source: str | Path,
    *,
    max_frames: int | None = None,
    skip_corrupt: bool = False,
    on_skip: Callable[[str, CorruptFrameError], None] | None = None,
    on_read: Callable[[int, str], None] | None = None,
) -> Iterator[Image.Image]:
    """The frames of the video `source` (`iter_named_frames`; the arguments as `iter_segmented_frames`'), each RGB
    PIL image carrying its place in the video -- position (skipped frames count) and name -- for `segmented_frame`,
    which turns it and its label map into a `SegmentedFrame`. The frames can go through any segmentation loop that
    hands the frame back with its result (`segment_video` / `segment_videos` with `with_frames=True`)."""
    position = 0  # of the next frame read, in the video (skipped frames count)

    def skip(name: str, error: CorruptFrameError) -> None:
        nonlocal position
        position += 1
        if on_skip is not None:
            on_skip(name, error)
        else:
            warnings.warn(f"skipping frame {name}: {error}", UserWarning, stacklevel=2)

    for name, frame in iter_named_frames(source, max_frames=max_frames, skip_corrupt=skip_corrupt, on_skip=skip):
        if _PLACE in frame.info:  # the same image object twice (a list of frames): each carries its own place
            frame = frame.copy()
        frame.info[_PLACE] = (position, name)
        if on_read is not None:
            on_read(position, name)
        position += 1
        yield frame


def segmented_frame(frame: Image.Image, labels, palette: np.ndarray, id2label: Mapping[int, str]) -> SegmentedFrame:
    """The `SegmentedFrame` of a frame from `placed_frames` and its `[H, W]` label map (a tensor)."""
    index, name = frame.info.pop(_PLACE)
    label_map = labels.cpu().numpy()
    counts = np.bincount(label_map.ravel(), minlength=len(palette))[: len(palette)]
    return SegmentedFrame(index, name, frame, label_map, counts, palette, id2label)


def write_legend(folder: str | Path, counts: np.ndarray, id2label: Mapping[int, str], palette, *, text: bool = True):
    """Write `legend.json` (every class: id, name, colour, pixels; `visualization.legend_entries`) into `folder`, and
    with `text` also `legend.txt` (one line per class: id, name, `#rrggbb`, pixels, tab-separated). Returns the
    entries."""
    legend = legend_entries(counts, id2label, palette)
    folder = Path(folder)
    (folder / "legend.json").write_text(json.dumps(legend, indent=1))
    if text:
        (folder / "legend.txt").write_text(
            "".join(f"{e['id']}\t{e['name']}\t#{bytes(e['color']).hex()}\t{e['pixels']}\n" for e in legend)
        )
    return legend
