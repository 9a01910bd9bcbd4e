# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""A deterministic synthetic VSPW: small videos in exactly the ``VSPW_480p`` layout.

Layout written under ``root``::

    train.txt, val.txt, test.txt         video names, one per line (in generation order, not sorted)
    label_num_dic_final.json             {"others": 0, "synthetic_1": 1, ...} like VSPW's class file
    generator.json                       the generator's arguments (read by `object_visibility`)
    data/<video>/origin/00000001.jpg     RGB frames (JPEG, fixed quality)
    data/<video>/mask/00000001.png       raw masks (palette PNG): 0 = others (ignored), k = class k (1..num_classes)

The test split has no masks (like VSPW) unless ``test_masks=True``.

Each video is a scene seen by a moving camera: a two-region background (a wavy horizon between two "stuff"
classes) that scrolls with the camera, 1..`max_objects` moving textured objects (ellipses / rectangles) drawn in a
random depth order so they occlude each other, sometimes a vertical "others" pole (label 0) sweeping across, and a
few degraded frames (strong noise, washed-out colours) where a single frame is ambiguous but its neighbours are not.
A class is recognisable from its appearance alone (a fixed colour plus a fixed pattern: stripes at a class-specific
angle and period, a checkerboard or dots), so a small model learns it quickly.

Everything is drawn from ``numpy.random.default_rng([seed, split, video])``; files are byte-identical for identical
arguments (fixed JPEG quality, fixed PNG compression). Command line: ``mrcfa synthetic OUT_DIR [options]`` (alias
``mrcfa-synthetic-vspw``).
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["SPLITS", "class_appearance", "make_synthetic_vspw", "object_visibility", "render_video"]

SPLITS = ("train", "val", "test")
_SPLIT_IDS = {name: i for i, name in enumerate(SPLITS)}
_GOLDEN = 0.6180339887498949


def class_appearance(k: int) -> dict:
    """Appearance of raw class ``k`` (>= 1), independent of the seed: base and accent colours, pattern, angle, period."""
    if k < 1:
        raise ValueError(f"class ids start at 1, got {k}.")
    hue = (k * _GOLDEN) % 1.0
    sat = 0.55 + 0.35 * ((k * 0.37) % 1.0)
    val = 0.55 + 0.35 * ((k * 0.71) % 1.0)
    base = np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255.0
    accent = np.array(colorsys.hsv_to_rgb((hue + 0.08) % 1.0, min(1.0, sat + 0.1), 0.45 * val)) * 255.0
    return {
        "base": base.astype(np.float32),
        "accent": accent.astype(np.float32),
        "pattern": ("stripes", "checker", "dots")[(k - 1) % 3],
        "angle": math.radians((k * 47) % 180),
        "period": 5.0 + 3.0 * ((k - 1) // 3 % 4),
    }


def _texture(k: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """RGB texture ``float32 [N, 3]`` of class `k` at texture coordinates ``u, v`` ``[N]`` (pixels)."""
    app = class_appearance(k)
    period = app["period"]
    if app["pattern"] == "stripes":
        t = np.sin(2 * np.pi * (u * math.cos(app["angle"]) + v * math.sin(app["angle"])) / period)
        mix = (t > 0).astype(np.float32)
    elif app["pattern"] == "checker":
        cu = np.floor(u * math.cos(app["angle"]) + v * math.sin(app["angle"])) // period
        cv = np.floor(-u * math.sin(app["angle"]) + v * math.cos(app["angle"])) // period
        mix = ((cu + cv) % 2).astype(np.float32)
    else:
        d = np.cos(2 * np.pi * u / period) * np.cos(2 * np.pi * v / period)
        mix = (d > 0.5).astype(np.float32)
    mix = 0.8 * mix[:, None]
    return app["base"][None, :] * (1.0 - mix) + app["accent"][None, :] * mix


def _neutral_texture(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The class-free look of a hidden object: grey, fine diagonal grain, the same for every class."""
    t = np.sin(2 * np.pi * (u + v) / 3.0)
    grey = 128.0 + 20.0 * (t > 0).astype(np.float32)
    return np.repeat(grey[:, None], 3, axis=1).astype(np.float32)


def _mask_palette() -> list[int]:
    from ..constants import VSPW_PALETTE

    palette = [0, 0, 0]
    for k in range(1, 256):
        palette += list(VSPW_PALETTE[(k - 1) % len(VSPW_PALETTE)]) if k < 255 else [255, 255, 255]
    return palette


def render_video(
    rng: np.random.Generator,
    num_frames: int,
    height: int,
    width: int,
    num_classes: int,
    max_objects: int = 3,
    occluder_prob: float = 0.5,
    degraded_prob: float = 0.1,
    motion_scale: float = 1.0,
    hidden_prob: float = 0.0,
    shared_object_class: bool = False,
    return_visibility: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one video: frames ``uint8 [T, H, W, 3]`` and raw masks ``uint8 [T, H, W]`` (0 = others, 1..K).

    `degraded_prob`: share of frames (after the first) whose appearance is degraded (grey-washed, strong noise).
    `motion_scale`: multiplies every velocity (camera, objects, occluder) and the objects' growth rate.
    `hidden_prob`: chance, per object and frame (after the first), that the object shows a neutral look (a grey
    texture, the same for every class) instead of its class texture: in such a frame its class cannot be told from
    that frame alone, only from the frames where it is visible. `shared_object_class`: every object of the video
    has the class of the first one (a scene-consistent class, as in real videos). The defaults reproduce the original
    generator byte for byte (no random numbers are drawn for a zero `hidden_prob`).
    `return_visibility`: also return ``int8 [T, H, W]``: 1 where the visible pixel belongs to a hidden object, 0 to a
    moving object showing its class, -1 elsewhere (background, "others" pole); it does not change the video.
    """
    classes = np.arange(1, num_classes + 1)
    bg = rng.choice(classes, size=2, replace=num_classes < 2)
    horizon = height * rng.uniform(0.35, 0.65)
    wave_amp, wave_len, wave_phase = height * rng.uniform(0.02, 0.12), rng.uniform(40, 120), rng.uniform(0, 2 * np.pi)
    # camera velocity (dy, dx) in pixels per frame: always a visible horizontal pan
    cam_v = np.array([rng.uniform(-0.75, 0.75), rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 2.5)]) * motion_scale
    cam_start = rng.uniform(-50, 50, size=2)

    object_classes = np.setdiff1d(classes, bg) if num_classes >= 3 else classes
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.choice(object_classes))
        objects.append(
            {
                "cls": objects[0]["cls"] if shared_object_class and objects else cls,
                "shape": ("ellipse", "rect")[int(rng.integers(2))],
                "half": np.array([rng.uniform(0.12, 0.3) * height, rng.uniform(0.08, 0.2) * width]),
                "pos": np.array([rng.uniform(0.2, 0.8) * height, rng.uniform(0.1, 0.9) * width]),
                "vel": rng.uniform(-3.0, 3.0, size=2) * np.array([0.5, 1.0]) * motion_scale,
                "grow": rng.uniform(-0.01, 0.01) * motion_scale,
            }
        )
    occluder = None
    if rng.random() < occluder_prob:
        occluder = {
            "x": rng.uniform(0, width),
            "vx": rng.choice([-1.0, 1.0]) * rng.uniform(2.0, 5.0) * motion_scale,
            "half": rng.uniform(2.5, 5.0),
        }

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    masks = np.empty((num_frames, height, width), dtype=np.uint8)
    visibility = np.full((num_frames, height, width), -1, dtype=np.int8) if return_visibility else None
    for t in range(num_frames):
        cam = cam_start + cam_v * t + rng.normal(0.0, 0.4, size=2)
        wy, wx = yy + cam[0], xx + cam[1]
        sky = wy < horizon + wave_amp * np.sin(2 * np.pi * wx / wave_len + wave_phase)
        label = np.where(sky, bg[0], bg[1]).astype(np.uint8)
        image = np.empty((height, width, 3), dtype=np.float32)
        for k in np.unique(label):
            sel = label == k
            image[sel] = _texture(int(k), wx[sel], wy[sel])
        for obj in objects:
            pos = obj["pos"] + obj["vel"] * t
            # bounce inside the frame (mirror the trajectory at the borders)
            for axis, size in enumerate((height, width)):
                span = 2.0 * size
                p = pos[axis] % span
                pos[axis] = p if p < size else span - p
            half = obj["half"] * (1.0 + obj["grow"] * t)
            dy, dx = (yy - pos[0]) / half[0], (xx - pos[1]) / half[1]
            inside = (dy**2 + dx**2 <= 1.0) if obj["shape"] == "ellipse" else (np.abs(dy) <= 1) & (np.abs(dx) <= 1)
            hidden = hidden_prob > 0 and t > 0 and rng.random() < hidden_prob
            if inside.any():
                label[inside] = obj["cls"]
                if visibility is not None:
                    visibility[t][inside] = 1 if hidden else 0
                if hidden:
                    image[inside] = _neutral_texture(xx[inside] - pos[1], yy[inside] - pos[0])
                else:
                    image[inside] = _texture(obj["cls"], xx[inside] - pos[1], yy[inside] - pos[0])
        if occluder is not None:
            x = (occluder["x"] + occluder["vx"] * t) % (width + 40) - 20
            pole = np.abs(xx - x) <= occluder["half"]
            if pole.any():
                label[pole] = 0
                if visibility is not None:
                    visibility[t][pole] = -1
                image[pole] = 90.0 + 40.0 * np.sin(yy[pole] * 0.9)[:, None]
        image += rng.normal(0.0, 4.0, size=image.shape).astype(np.float32)
        image += rng.uniform(-10, 10)
        if t > 0 and rng.random() < degraded_prob:
            grey = image.mean(axis=-1, keepdims=True)
            image = 0.35 * image + 0.65 * grey + rng.normal(0.0, 35.0, size=image.shape).astype(np.float32)
        frames[t] = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        masks[t] = label
    if visibility is not None:
        return frames, masks, visibility
    return frames, masks


#: What `make_synthetic_vspw` writes at a dataset's top level (besides `data/`).
SYNTHETIC_FILES = ("train.txt", "val.txt", "test.txt", "label_num_dic_final.json", "generator.json")


def prepare_synthetic_root(root: str | os.PathLike, overwrite: bool = False) -> Path:
    """Make `root` ready for `make_synthetic_vspw` without destroying anyone's files: a new or empty folder is used as
    it is; a synthetic dataset written earlier (its `generator.json`) is removed first with `overwrite`, and
    refused without; a folder holding anything else (a real dataset, other files) is refused, even with `overwrite`.
    Raises `UsageError` (one line)."""
    from ..errors import UsageError

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file: the synthetic dataset is written into a folder; choose a new folder.")
    held = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if not held:
        return root
    listing = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
    if not (root / "generator.json").is_file():
        raise UsageError(
            f"{root} already holds files that are not a synthetic dataset ({listing}): choose a new or empty folder "
            "(they are never replaced, even with --overwrite)."
        )
    foreign = [name for name in held if name != "data" and name not in SYNTHETIC_FILES]
    if foreign:
        raise UsageError(
            f"{root} holds a synthetic dataset and other files ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}): choose a new or empty folder (they are never replaced)."
        )
    if not overwrite:
        raise UsageError(
            f"{root} already holds a synthetic dataset: pass --overwrite to replace it, or choose another folder."
        )
    if (root / "data").exists():
        shutil.rmtree(root / "data")
    for name in SYNTHETIC_FILES:
        (root / name).unlink(missing_ok=True)
    return root


def make_synthetic_vspw(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    num_classes: int = 5,
    num_videos: Sequence[int] = (6, 3, 2),
    num_frames: Sequence[int] = (17, 28),
    height: int = 96,
    width: int = 160,
    max_objects: int = 3,
    test_masks: bool = False,
    jpeg_quality: int = 90,
    video_frame_counts: dict[str, Sequence[int]] | None = None,
    degraded_prob: float = 0.1,
    motion_scale: float = 1.0,
    hidden_prob: float = 0.0,
    shared_object_class: bool = False,
) -> Path:
    """Write a synthetic VSPW dataset under `root` and return its path.

    Args:
        root: output folder (created; existing files of the same names are overwritten).
        seed: everything is a deterministic function of the arguments.
        num_classes: number of classes K (raw mask values 1..K, 0 = others); 1 <= K <= 254.
        num_videos: videos in (train, val, test).
        num_frames: inclusive range (min, max) of frames per video.
        height, width: frame size in pixels.
        max_objects: moving objects per video are 1..max_objects.
        test_masks: also write masks for the test split (VSPW has none).
        jpeg_quality: JPEG quality of the frames.
        video_frame_counts: optional exact frame counts per split, e.g. ``{"train": [5, 12]}`` (overrides
            `num_videos` and `num_frames` for that split), for tests of short videos.
        degraded_prob: share of frames (after the first of each video) with degraded appearance (grey-washed,
            noisy).
        motion_scale: multiplies the speed of the camera, the objects and the occluder (1.0: up to ~5 px / frame).
        hidden_prob: chance per object and frame (after the first) that the object shows a neutral, class-free look:
            its class is then only known from other frames of the video (temporal context). 0.0: never.
        shared_object_class: all moving objects of a video have the same class (so a hidden object's class is the
            class of the objects visible in the other frames).
    """
    if not 1 <= num_classes <= 254:
        raise ValueError(f"num_classes must be in 1..254 (255 is the ignore value), got {num_classes}.")
    if len(num_videos) != 3 or min(num_videos) < 0:
        raise ValueError(f"num_videos must be (train, val, test) counts >= 0, got {num_videos}.")
    if len(num_frames) != 2 or not 1 <= num_frames[0] <= num_frames[1]:
        raise ValueError(f"num_frames must be an inclusive range (min, max) with 1 <= min <= max, got {num_frames}.")
    if height < 8 or width < 8:
        raise ValueError(f"frames must be at least 8x8, got {height}x{width}.")
    for name, value in (("degraded_prob", degraded_prob), ("hidden_prob", hidden_prob)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}.")
    if motion_scale < 0:
        raise ValueError(f"motion_scale must be >= 0, got {motion_scale}.")
    root = Path(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    palette = _mask_palette()
    render_kwargs = {
        "height": height,
        "width": width,
        "num_classes": num_classes,
        "max_objects": max_objects,
        "degraded_prob": degraded_prob,
        "motion_scale": motion_scale,
        "hidden_prob": hidden_prob,
        "shared_object_class": shared_object_class,
    }
    names = {"others": 0, **{f"synthetic_{k}": k for k in range(1, num_classes + 1)}}
    (root / "label_num_dic_final.json").write_text(json.dumps(names, indent=1) + "\n")
    counts_override = dict(video_frame_counts or {})
    unknown = set(counts_override) - set(SPLITS)
    if unknown:
        raise ValueError(f"video_frame_counts has unknown splits {sorted(unknown)}; expected some of {SPLITS}.")
    for split, count in zip(SPLITS, num_videos):
        split_rng = np.random.default_rng([seed, _SPLIT_IDS[split], 1_000_003])
        if split in counts_override:
            lengths = [int(n) for n in counts_override[split]]
        else:
            lengths = [int(n) for n in split_rng.integers(num_frames[0], num_frames[1] + 1, size=count)]
        video_names = []
        for index, length in enumerate(lengths):
            tag = "".join(split_rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), size=6))
            name = f"{_SPLIT_IDS[split] * 1000 + index + 1}_{tag}"
            video_names.append(name)
            frames, masks = render_video(_video_rng(seed, split, index), length, **render_kwargs)
            origin = root / "data" / name / "origin"
            origin.mkdir(parents=True, exist_ok=True)
            write_masks = split != "test" or test_masks
            if write_masks:
                (root / "data" / name / "mask").mkdir(parents=True, exist_ok=True)
            for t in range(length):
                stem = f"{t + 1:08d}"
                Image.fromarray(frames[t], "RGB").save(origin / f"{stem}.jpg", format="JPEG", quality=jpeg_quality)
                if write_masks:
                    mask = Image.frombytes("P", (width, height), masks[t].tobytes())
                    mask.putpalette(palette)
                    mask.save(root / "data" / name / "mask" / f"{stem}.png", format="PNG", compress_level=6)
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in video_names))
    (root / "generator.json").write_text(json.dumps({"seed": seed, **render_kwargs}, indent=1) + "\n")
    return root


def _video_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLIT_IDS[split], index])


def object_visibility(root: str | os.PathLike, split: str, video: str) -> np.ndarray:
    """Which pixels of a generated video show a hidden object: ``int8 [T, H, W]`` (see `render_video`).

    1 = a moving object with its neutral (class-free) look, 0 = a moving object showing its class, -1 = background
    or "others". Re-renders the video from ``generator.json`` (written by `make_synthetic_vspw`); used to score
    models separately on the pixels whose class only temporal context can tell.
    """
    root = Path(root)
    try:
        params = json.loads((root / "generator.json").read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{root} has no generator.json: not written by make_synthetic_vspw.") from None
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}.")
    names = (root / f"{split}.txt").read_text().split()
    if video not in names:
        raise ValueError(f"video {video!r} is not in {root / f'{split}.txt'}.")
    length = len(list((root / "data" / video / "origin").glob("*.jpg")))
    seed = params.pop("seed")
    _, masks, visibility = render_video(
        _video_rng(seed, split, names.index(video)), length, **params, return_visibility=True
    )
    mask_dir = root / "data" / video / "mask"
    first = mask_dir / "00000001.png"
    if first.is_file() and not np.array_equal(np.asarray(Image.open(first)), masks[0]):
        raise ValueError(f"{video}: the masks on disk do not match generator.json (was the set modified?).")
    return visibility
