# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Pictures of a segmentation a person can read: class colours, label maps as palette PNGs, overlays with class
boundaries, a legend, the preview image.

What every front end draws (`mrcfa segment`, the app; per frame through `mrcfa.rendering`): numpy and PIL only
(`ImageDraw`, PIL's bundled scalable font).

* `palette_for`: the class colours (VSPW's palette, extended beyond 124 classes).
* `colorize`: a label map as a palette ("P" mode) image, the format of VSPW's masks.
* `legend_entries`: every class with its colour and pixel count (the format of `legend.json`).
* `overlay_frame`: the frame blended with the class colours, with the class boundaries drawn in a colour that
  contrasts with each class's colour (white around dark colours, black around light ones), so that a region whose
  palette colour is as dark as the frame stays visible.
* `frame_legend`: the classes present in a label map, largest first, with their pixel share.
* `draw_legend`: that legend (colour swatch, class name, pixel share) and a title such as the frame index, drawn on
  an image in a translucent box scaled to the image.
* `share_text`: a pixel share as it is shown (`41%`, `<1%` for a small class that is present).
* `preview_image`: the frame and its overlay side by side, the legend and the frame index drawn on the overlay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "class_boundaries",
    "colorize",
    "draw_legend",
    "frame_legend",
    "legend_entries",
    "overlay_frame",
    "palette_for",
    "preview_image",
    "share_text",
]

#: Luminance (ITU-R BT.601) under which a class colour counts as dark: its boundary is drawn white, else black.
DARK_LUMINANCE = 110.0


def palette_for(num_labels: int) -> np.ndarray:
    """`[num_labels, 3]` uint8 colours: VSPW's palette, extended deterministically beyond 124 classes (the shipped
    `configuration_mrcfa.palette_for`, which the checkpoints' endpoint handler uses too)."""
    # imports transformers: not before a command's arguments are checked
    from .models.mrcfa.configuration_mrcfa import palette_for as shipped_palette_for

    return shipped_palette_for(num_labels)


def colorize(labels: np.ndarray, palette: np.ndarray) -> Image.Image:
    """A palette ("P" mode) PNG image of an `[H, W]` label map."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    flat = np.zeros((256, 3), dtype=np.uint8)
    flat[: len(palette)] = palette
    image.putpalette(flat.flatten().tolist())
    return image


def legend_entries(counts: np.ndarray, id2label: Mapping[int, str], palette: np.ndarray) -> list[dict]:
    """One `{"id", "name", "color", "pixels"}` entry per class, in class order (the format of `legend.json`)."""
    return [
        {"id": i, "name": id2label.get(i, str(i)), "color": palette[i].tolist(), "pixels": int(counts[i])}
        for i in range(len(counts))
    ]


def class_boundaries(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """`[H, W]` bool: the pixels next to another class (4-neighbourhood, both sides), grown to `width` pixels."""
    labels = np.asarray(labels)
    edges = np.zeros(labels.shape, dtype=bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    edges[1:, :] |= vertical
    edges[:-1, :] |= vertical
    for _ in range(max(width, 1) - 1):  # grow by one pixel in each direction per step
        grown = edges.copy()
        grown[1:] |= edges[:-1]
        grown[:-1] |= edges[1:]
        grown[:, 1:] |= edges[:, :-1]
        grown[:, :-1] |= edges[:, 1:]
        edges = grown
    return edges


def _boundary_width(height: int, width: int) -> int:
    return max(1, round(min(height, width) / 360))


def overlay_frame(
    frame: Image.Image | np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    alpha: float = 0.5,
    boundaries: bool = True,
) -> np.ndarray:
    """`[H, W, 3]` uint8: `frame` blended with the colours of its `[H, W]` label map (`alpha`: the colours' weight),
    with the class boundaries drawn (`boundaries`) white inside dark-coloured classes and black inside light ones."""
    rgb = np.asarray(frame.convert("RGB") if isinstance(frame, Image.Image) else frame, dtype=np.float32)
    labels = np.asarray(labels)
    palette = np.asarray(palette, dtype=np.uint8)
    out = (rgb * (1 - alpha) + palette[labels].astype(np.float32) * alpha).round().astype(np.uint8)
    if boundaries:
        edges = class_boundaries(labels, _boundary_width(*labels.shape))
        luminance = palette.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        contrast = np.where(luminance[:, None] < DARK_LUMINANCE, 255, 0).astype(np.uint8).repeat(3, axis=1)
        out[edges] = contrast[labels[edges]]
    return out


def frame_legend(
    labels: np.ndarray, id2label: Mapping[int, str], palette: np.ndarray, counts: np.ndarray | None = None
) -> list[dict]:
    """The classes present in `labels` (or with non-zero `counts`, e.g. summed over a video), largest first:
    `{"id", "name", "color", "pixels", "share"}` (`share` in [0, 1])."""
    if counts is None:
        counts = np.bincount(np.asarray(labels).ravel(), minlength=len(palette))
    counts = np.asarray(counts)
    total = max(int(counts.sum()), 1)
    return [
        {
            "id": int(i),
            "name": str(id2label.get(int(i), str(int(i)))),
            "color": [int(c) for c in palette[i]],
            "pixels": int(counts[i]),
            "share": float(counts[i]) / total,
        }
        for i in sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    ]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # PIL without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def share_text(share: float) -> str:
    """A share in [0, 1] as a person reads it: whole percents, `<1%` for a present class that rounds to 0 (or 1),
    `>99%` for one that rounds to 100 while others are present; `0%` and `100%` only when exact. The legend drawn on
    frames and the `mrcfa segment` command's last line both use it."""
    percent = 100 * share
    if percent <= 0 or percent >= 100:
        return f"{percent:.0f}%"
    if percent < 1:
        return "<1%"
    if percent > 99:
        return ">99%"
    return f"{percent:.0f}%"


def draw_legend(
    image: Image.Image,
    entries: Sequence[Mapping],
    title: str | None = None,
    *,
    font_size: int | None = None,
    max_rows: int | None = None,
) -> Image.Image:
    """Draw a legend on `image` (in place; also returned): `title` (e.g. "frame 12 / 40"), then one row per entry of
    `frame_legend` (colour swatch, class name, pixel share), in a translucent dark box at the top-left corner.

    The font scales with the image (`font_size`, default `height / 24` clamped to 10..32 pixels); rows that do not
    fit (or beyond `max_rows`) are summed up in a last row "+N more".
    """
    width, height = image.size
    size = font_size or int(min(max(height / 24, 10), 32))
    font = _font(size)
    row = int(size * 1.35)
    pad = max(2, size // 3)
    fitting = max(0, (height - 2 * pad) // row - (1 if title else 0))
    limit = min(fitting, max_rows if max_rows is not None else len(entries))
    shown = list(entries[:limit])
    if len(entries) > limit and limit > 0:  # the last row says how many more
        shown = shown[:-1]
    hidden = len(entries) - len(shown)
    lines: list[tuple[tuple[int, int, int] | None, str]] = [(None, title)] if title else []
    lines += [(tuple(entry["color"]), f"{entry['name']} {share_text(entry['share'])}") for entry in shown]
    if hidden:
        lines.append((None, f"+{hidden} more"))
    if not lines:
        return image

    draw = ImageDraw.Draw(image, "RGBA")
    swatch = size
    text_widths = [draw.textlength(text, font=font) + (swatch + pad if colour else 0) for colour, text in lines]
    box_width = min(width, int(max(text_widths)) + 2 * pad)
    box_height = min(height, len(lines) * row + 2 * pad)
    draw.rectangle((0, 0, box_width, box_height), fill=(0, 0, 0, 160))
    y = pad
    for colour, text in lines:
        x = pad
        if colour is not None:
            top = y + (row - swatch) // 2
            draw.rectangle((x, top, x + swatch - 1, top + swatch - 1), fill=(*colour, 255), outline=(255, 255, 255))
            x += swatch + pad
        draw.text((x, y + (row - size) // 2), text, font=font, fill=(255, 255, 255, 255))
        y += row
    return image


def preview_image(
    frame: Image.Image,
    labels: np.ndarray,
    palette: np.ndarray,
    id2label: Mapping[int, str],
    title: str | None = None,
) -> Image.Image:
    """The frame (left) and its segmentation (right: class colours over the frame, boundaries, the legend of this
    frame's classes with their pixel share, and `title`, e.g. the frame index), side by side, RGB."""
    frame = frame.convert("RGB")
    colours = Image.fromarray(overlay_frame(frame, labels, palette, alpha=0.75))
    draw_legend(colours, frame_legend(labels, id2label, palette), title)
    side = Image.new("RGB", (frame.size[0] * 2, frame.size[1]))
    side.paste(frame, (0, 0))
    side.paste(colours, (frame.size[0], 0))
    return side
