# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Clip transforms of the official MRCFA VSPW pipeline (docs/design.md, "Preprocessing").

Train (:class:`VspwTrainTransform`), for a clip of T frames (target last):

1. label reduction of the raw VSPW masks (0 "others" -> 255, k -> k - 1, 255 stays 255);
2. one random scale for the whole clip: ``ratio ~ U(0.5, 2.0)``, ``scale = (int(853 * ratio), int(480 * ratio))``,
   resize keeping the aspect ratio (mmcv ``imrescale``: factor ``min(long / long_side, short / short_side)``, new side
   ``int(side * factor + 0.5)``), bilinear for images, nearest for labels;
3. one random crop window, drawn on the **target frame's** label: a window is accepted when it holds at least two
   classes and none of them covers ``cat_max_ratio`` (75 %) or more of its non-ignored pixels; up to 10 windows are
   checked, after 10 rejections one more window is drawn and used unchecked (mmseg ``RandomCrop``);
4. one horizontal flip decision (p = 0.5) for the whole clip, images and labels together;
5. photometric distortion drawn **independently per frame** (brightness, contrast before or after the HSV steps,
   saturation, hue; each with p = 0.5; no channel swap);
6. normalisation (RGB mean / std, mmcv's rounding), then padding at the bottom / right to the crop size with 0
   for images (after normalisation, as mmseg ``Pad`` does) and 255 for labels.

Eval (:class:`VspwEvalTransform`) is the model's processor (``MrcfaImageProcessor``): keep-ratio rescale to
(853, 480), then a second resize of each side up to the next multiple of 32 (:func:`test_resize_shape`),
normalisation. Labels stay at the original frame size (metrics are computed there, after resizing the logits back).

One implementation of each operation the processor also performs, in ``mrcfa/models/mrcfa/image_transforms_mrcfa.py``
(the folder that ships with checkpoints), used here: the keep-ratio size, the cv2-exact ``INTER_LINEAR`` kernel for
images (computing only the crop window), the nearest kernel for labels, mmcv's normalisation with the official
mean / std, and the label reduction. Train label maps keep the index rule of this module (``floor(i * (src / dst))``,
``cv2_scale=False``): OpenCV computes the scale as ``1 / (dst / src)``, which floors one index lower on about 8 % of
the (side, resized side) pairs of VSPW training scales; kept so that train labels and crop windows do not change.
Images are RGB ``uint8`` arrays ``[H, W, 3]`` or PIL images; masks are raw VSPW masks (``uint8 [H, W]`` or mode ``L`` /
``P`` PIL images, values are class ids, not colours).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..constants import CROP_SIZE, IGNORE_INDEX, IMAGE_MEAN, IMAGE_SCALE, IMAGE_STD
from ..models.mrcfa import image_transforms_mrcfa as kernels
from ..models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

__all__ = [
    "VspwEvalTransform",
    "VspwTrainTransform",
    "choose_crop_window",
    "normalize_image",
    "pad_array",
    "photometric_distortion",
    "reduce_labels",
    "rescale_shape",
    "resize_bilinear",
    "resize_nearest",
    "test_resize_shape",
    "TEST_SIZE_DIVISOR",
]

#: Both sides of the official test input are multiples of this (``AlignedResize_clips(size_divisor=32)``).
TEST_SIZE_DIVISOR = 32


# ----------------------------------------------------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------------------------------------------------
def rescale_shape(height: int, width: int, scale: Sequence[int] = IMAGE_SCALE) -> tuple[int, int]:
    """Output ``(height, width)`` of a keep-ratio resize to `scale` (mmcv ``imrescale`` semantics).

    `scale` is ``(long, short)`` in either order: the image is scaled by ``min(long / max(h, w), short / min(h, w))``
    and each side becomes ``int(side * factor + 0.5)`` (``image_transforms_mrcfa.keep_ratio_size``).
    """
    return kernels.keep_ratio_size(height, width, max(scale), min(scale))


def test_resize_shape(
    height: int, width: int, scale: Sequence[int] = IMAGE_SCALE, size_divisor: int = TEST_SIZE_DIVISOR
) -> tuple[int, int]:
    """Input ``(height, width)`` of the official test pipeline for a frame of ``height x width``.

    Keep-ratio rescale to `scale` (:func:`rescale_shape`), then each side is rounded **up** to a multiple of
    `size_divisor`, as the official ``AlignedResize_clips._align`` (``ceil(side / 32) * 32``; docs/design.md,
    "Official behaviours we reproduce on purpose"). A 480x853 VSPW frame gives 480x864.
    """
    return kernels.keep_ratio_size(height, width, max(scale), min(scale), size_divisor)


# ----------------------------------------------------------------------------------------------------------------------
# Resampling (OpenCV-compatible sampling positions)
# ----------------------------------------------------------------------------------------------------------------------
def resize_bilinear(image: np.ndarray, out_h: int, out_w: int, window: Sequence[int] | None = None) -> np.ndarray:
    """cv2 ``INTER_LINEAR`` resize of a uint8 ``[H, W]`` / ``[H, W, C]`` array to ``out_h x out_w``, bit-exact.

    The processor's kernel (``image_transforms_mrcfa.resize_bilinear``) on channels-last numpy arrays. With
    ``window = (y0, y1, x0, x1)`` only that part of the resized image is computed (``[y1 - y0, x1 - x0, C]``),
    identical to resizing the whole image and cropping, at a fraction of the cost.
    """
    frames = torch.from_numpy(np.require(image, requirements="CW"))
    frames = frames.permute(2, 0, 1) if image.ndim == 3 else frames
    out = kernels.resize_bilinear(frames, out_h, out_w, window)
    return np.ascontiguousarray((out.permute(1, 2, 0) if image.ndim == 3 else out).numpy())


def resize_nearest(mask: np.ndarray, out_h: int, out_w: int, window: Sequence[int] | None = None) -> np.ndarray:
    """Nearest-neighbour resize of a label map ``[H, W]`` to ``out_h x out_w``: source index ``floor(i * src / dst)``.

    The processor's kernel (``image_transforms_mrcfa.resize_nearest``) with the index rule the train transform has
    always used (``cv2_scale=False``, see the module docstring). `window` as in :func:`resize_bilinear`; the dtype is
    kept.
    """
    return np.ascontiguousarray(kernels.resize_nearest(mask, out_h, out_w, window, cv2_scale=False))


# ----------------------------------------------------------------------------------------------------------------------
# Labels, crop, pad, normalise
# ----------------------------------------------------------------------------------------------------------------------
def reduce_labels(mask: Any) -> np.ndarray:
    """Raw VSPW mask (array or PIL image) -> training labels ``uint8 [H, W]``: 0 ("others") -> 255, k -> k - 1,
    255 stays 255 (``image_transforms_mrcfa.reduce_labels``, mmseg's ``reduce_zero_label``)."""
    return kernels.reduce_labels(_as_mask_array(mask), IGNORE_INDEX)


def choose_crop_window(
    label: np.ndarray,
    crop_size: Sequence[int],
    rng: np.random.Generator,
    cat_max_ratio: float = 0.75,
    ignore_index: int = IGNORE_INDEX,
    max_checks: int = 10,
) -> tuple[int, int, int, int]:
    """Random crop window ``(y0, y1, x0, x1)`` of at most `crop_size` ``(h, w)`` over ``label [H, W]`` (mmseg rule).

    Offsets are uniform in ``[0, H - crop_h]`` x ``[0, W - crop_w]`` (a side smaller than the crop is taken whole).
    With ``cat_max_ratio < 1`` a window is accepted when, ignoring `ignore_index`, it holds at least two classes
    and the largest covers less than `cat_max_ratio` of the counted pixels; up to `max_checks` windows are
    checked and, if all are rejected, one more is drawn and returned unchecked.
    """
    height, width = label.shape[:2]
    crop_h, crop_w = int(crop_size[0]), int(crop_size[1])
    margin_h, margin_w = max(height - crop_h, 0), max(width - crop_w, 0)

    def draw() -> tuple[int, int, int, int]:
        y0 = int(rng.integers(0, margin_h + 1))
        x0 = int(rng.integers(0, margin_w + 1))
        return y0, min(y0 + crop_h, height), x0, min(x0 + crop_w, width)

    window = draw()
    if cat_max_ratio < 1.0:
        for _ in range(max_checks):
            y0, y1, x0, x1 = window
            counts = np.bincount(label[y0:y1, x0:x1].ravel(), minlength=256)
            if 0 <= ignore_index < counts.size:
                counts[ignore_index] = 0
            present = counts[counts > 0]
            if present.size > 1 and present.max() / present.sum() < cat_max_ratio:
                break
            window = draw()
    return window


def pad_array(array: np.ndarray, size: Sequence[int], value: float) -> np.ndarray:
    """Pad the last two axes of `array` at the bottom / right to ``size = (h, w)`` with `value` (never crops)."""
    height, width = array.shape[-2:]
    pad_h, pad_w = max(int(size[0]) - height, 0), max(int(size[1]) - width, 0)
    if pad_h == 0 and pad_w == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, pad_h), (0, pad_w)]
    return np.pad(array, pad, mode="constant", constant_values=value)


def normalize_image(
    image: np.ndarray, mean: Sequence[float] = IMAGE_MEAN, std: Sequence[float] = IMAGE_STD
) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB -> ``float32 [3, H, W]`` ``(x - mean) / std`` (0-255 scale statistics).

    The processor's normalisation (``image_transforms_mrcfa.normalize``), rounded as ``mmcv.imnormalize``.
    """
    frames = torch.from_numpy(np.require(image, requirements="CW")).permute(2, 0, 1)
    return np.ascontiguousarray(kernels.normalize(frames, mean, std).numpy())


# ----------------------------------------------------------------------------------------------------------------------
# Photometric distortion (mmseg PhotoMetricDistortion semantics, HSV as OpenCV's 8-bit conversion)
# ----------------------------------------------------------------------------------------------------------------------
def _rgb_to_hsv_u8(image: np.ndarray) -> np.ndarray:
    """uint8 RGB ``[H, W, 3]`` -> uint8 HSV with OpenCV 8-bit ranges (H in [0, 180), S and V in [0, 255])."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    diff = (v - np.minimum(np.minimum(r, g), b)).astype(np.float32)
    rf, gf, bf = r.astype(np.float32), g.astype(np.float32), b.astype(np.float32)
    inv_diff = np.float32(60.0) / np.where(diff > 0, diff, np.float32(1.0))
    hue = np.where(
        v == r, (gf - bf) * inv_diff, np.where(v == g, (bf - rf) * inv_diff + 120, (rf - gf) * inv_diff + 240)
    )
    hue = np.where(hue < 0, hue + 360, hue)
    hsv = np.empty(image.shape, dtype=np.uint8)
    hsv[..., 0] = np.floor(hue * np.float32(0.5) + np.float32(0.5)).astype(np.int32) % 180
    sat = diff * np.float32(255.0) / np.where(v > 0, v, 1).astype(np.float32)
    hsv[..., 1] = np.floor(sat + np.float32(0.5))
    hsv[..., 2] = v
    return hsv


def _hsv_to_rgb_u8(hsv: np.ndarray) -> np.ndarray:
    """uint8 HSV (OpenCV 8-bit ranges) ``[H, W, 3]`` -> uint8 RGB.

    Uses ``c(n) = V - V * S * clip(min(k, 4 - k), 0, 1)`` with ``k = (n + H / 60) mod 6`` and n = 5, 3, 1 for R, G, B,
    which equals the usual six-sector formula.
    """
    h6 = hsv[..., 0].astype(np.float32) * np.float32(2.0 / 60.0)
    vs = hsv[..., 2].astype(np.float32) * (hsv[..., 1].astype(np.float32) * np.float32(1.0 / 255.0))
    v = hsv[..., 2].astype(np.float32)
    rgb = np.empty(hsv.shape, dtype=np.uint8)
    for channel, n in enumerate((5.0, 3.0, 1.0)):
        k = np.mod(h6 + np.float32(n), np.float32(6.0))
        weight = np.clip(np.minimum(k, np.float32(4.0) - k), 0.0, 1.0)
        rgb[..., channel] = np.clip(np.floor(v - vs * weight + np.float32(0.5)), 0, 255)
    return rgb


def _convert(values: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """``clip(x * alpha + beta, 0, 255)`` truncated to uint8 (mmseg ``PhotoMetricDistortion.convert``)."""
    return np.clip(values.astype(np.float32) * np.float32(alpha) + np.float32(beta), 0, 255).astype(np.uint8)


def photometric_distortion(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness_delta: int = 32,
    contrast_range: Sequence[float] = (0.5, 1.5),
    saturation_range: Sequence[float] = (0.5, 1.5),
    hue_delta: int = 18,
) -> np.ndarray:
    """Random photometric distortion of one ``uint8 [H, W, 3]`` RGB frame (mmseg ``PhotoMetricDistortion``).

    In order, each step applied with probability 0.5: brightness ``+U(-delta, delta)``; contrast ``*U(range)``
    (here when ``mode == 1``); saturation ``*U(range)`` in HSV; hue ``+randint(-18, 18) mod 180`` (OpenCV 8-bit hue
    units, i.e. +-36 degrees); contrast (here when ``mode == 0``). ``mode`` is a fair coin. Each step truncates to
    uint8 like mmseg; saturation and hue share one HSV round trip. Returns a new array.
    """
    img = image
    if rng.integers(2):
        img = _convert(img, beta=rng.uniform(-brightness_delta, brightness_delta))
    mode = int(rng.integers(2))
    if mode == 1 and rng.integers(2):
        img = _convert(img, alpha=rng.uniform(contrast_range[0], contrast_range[1]))
    saturation = rng.uniform(saturation_range[0], saturation_range[1]) if rng.integers(2) else None
    hue = (int(rng.integers(-hue_delta, hue_delta)) if hue_delta > 0 else 0) if rng.integers(2) else None
    if saturation is not None or hue is not None:
        # one HSV round trip for both steps (mmseg converts back to RGB in between; this saves a conversion and
        # differs from it by at most one uint8 rounding)
        hsv = _rgb_to_hsv_u8(img)
        if saturation is not None:
            hsv[..., 1] = _convert(hsv[..., 1], alpha=saturation)
        if hue is not None:
            hsv[..., 0] = (hsv[..., 0].astype(np.int16) + hue) % 180
        img = _hsv_to_rgb_u8(hsv)
    if mode == 0 and rng.integers(2):
        img = _convert(img, alpha=rng.uniform(contrast_range[0], contrast_range[1]))
    return img if img is not image else image.copy()


# ----------------------------------------------------------------------------------------------------------------------
# Clip transforms
# ----------------------------------------------------------------------------------------------------------------------
def _as_image_array(image: Any) -> np.ndarray:
    """PIL image or array -> ``uint8 [H, W, 3]`` RGB."""
    if isinstance(image, np.ndarray):
        array = image
    else:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3], got shape {array.shape} and dtype {array.dtype}.")
    return array


def _as_mask_array(mask: Any) -> np.ndarray:
    """Raw mask (PIL ``L`` / ``P`` image or array) -> ``uint8 [H, W]`` of class ids (palette indices, not colours)."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"expected a single-channel mask [H, W], got shape {array.shape}.")
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"mask values must lie in 0..255, got {array.min()}..{array.max()}.")
        array = array.astype(np.uint8)
    return array


def _clip_arrays(example: Mapping[str, Any]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    frames = [_as_image_array(f) for f in example["frames"]]
    if not frames:
        raise ValueError(f"clip of video {example.get('video_id')!r} has no frames.")
    masks = example.get("masks")
    masks = None if masks is None else [_as_mask_array(m) for m in masks]
    size = frames[0].shape[:2]
    for i, frame in enumerate(frames):
        if frame.shape[:2] != size:
            raise ValueError(
                f"clip of video {example.get('video_id')!r}: frame {i} is {frame.shape[0]}x{frame.shape[1]}, frame 0 is "
                f"{size[0]}x{size[1]}; all frames of a clip must have the same size."
            )
    if masks is not None:
        if len(masks) != len(frames):
            raise ValueError(
                f"clip of video {example.get('video_id')!r} has {len(frames)} frames but {len(masks)} masks."
            )
        for i, mask in enumerate(masks):
            if mask.shape != size:
                raise ValueError(
                    f"clip of video {example.get('video_id')!r}: mask {i} is {mask.shape[0]}x{mask.shape[1]}, its frame "
                    f"is {size[0]}x{size[1]}."
                )
    return frames, masks


def example_rng(example: Mapping[str, Any], seed: int) -> np.random.Generator:
    """The per-clip random generator of the train transform: from `seed` and the clip's ``clip_seed``.

    ``load_vspw`` gives every clip a ``clip_seed`` derived from (seed, epoch, video, repeat, draw), so augmentation is
    reproducible and independent of the number of DataLoader workers. Without it, the seed is hashed from the
    video id and the frame indices.
    """
    clip_seed = example.get("clip_seed")
    if clip_seed is None:
        text = f"{example.get('video_id')}|{list(example.get('frame_indices') or [])}"
        clip_seed = zlib.crc32(text.encode("utf-8"))
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int(clip_seed)])


class VspwTrainTransform:
    """Official clip-consistent train augmentation: raw clip -> ``pixel_values`` and ``labels`` (see module doc).

    Args:
        crop_size: ``(h, w)`` of the random crop and of the output (official 480x480).
        scale: base keep-ratio scale ``(long, short)`` (official (853, 480)).
        ratio_range: range of the random scale ratio (official (0.5, 2.0)).
        cat_max_ratio: class cap of the crop window on the target label (official 0.75; 1.0 disables the check).
        flip_prob: probability of a horizontal flip of the whole clip.
        photometric: apply the per-frame photometric distortion.
        mean, std: RGB normalisation statistics (0-255 scale).
        seed: mixed with each clip's ``clip_seed`` to seed its ``numpy.random.Generator``.

    Call with an example ``{"frames": T images, "masks": T raw masks, "clip_seed": int, ...}``; returns
    ``{"pixel_values": float32 [T, 3, crop_h, crop_w], "labels": int64 [T, crop_h, crop_w]}`` (255 = ignored).
    """

    def __init__(
        self,
        crop_size: Sequence[int] = CROP_SIZE,
        scale: Sequence[int] = IMAGE_SCALE,
        ratio_range: Sequence[float] = (0.5, 2.0),
        cat_max_ratio: float = 0.75,
        flip_prob: float = 0.5,
        photometric: bool = True,
        mean: Sequence[float] = IMAGE_MEAN,
        std: Sequence[float] = IMAGE_STD,
        seed: int = 0,
    ):
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f"crop_size must be (height, width) > 0, got {crop_size}.")
        if ratio_range[0] <= 0 or ratio_range[0] > ratio_range[1]:
            raise ValueError(f"ratio_range must be (low, high) with 0 < low <= high, got {ratio_range}.")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale = (int(scale[0]), int(scale[1]))
        self.ratio_range = (float(ratio_range[0]), float(ratio_range[1]))
        self.cat_max_ratio = float(cat_max_ratio)
        self.flip_prob = float(flip_prob)
        self.photometric = bool(photometric)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.seed = int(seed)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(crop_size={self.crop_size}, scale={self.scale}, ratio_range={self.ratio_range}, "
            f"cat_max_ratio={self.cat_max_ratio}, flip_prob={self.flip_prob}, photometric={self.photometric}, "
            f"seed={self.seed})"
        )

    def sample_geometry(self, height: int, width: int, target_label: np.ndarray, rng: np.random.Generator) -> dict:
        """Draw the clip geometry: resized size, crop window on the resized target label, flip."""
        ratio = rng.uniform(self.ratio_range[0], self.ratio_range[1])
        scale = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        new_h, new_w = rescale_shape(height, width, scale)
        resized_target = resize_nearest(target_label, new_h, new_w)
        window = choose_crop_window(resized_target, self.crop_size, rng, self.cat_max_ratio)
        flip = bool(rng.random() < self.flip_prob)
        return {"ratio": ratio, "size": (new_h, new_w), "window": window, "flip": flip}

    def __call__(self, example: Mapping[str, Any]) -> dict[str, np.ndarray]:
        frames, masks = _clip_arrays(example)
        if masks is None:
            raise ValueError(
                f"clip of video {example.get('video_id')!r} has no masks: the train transform needs labelled clips."
            )
        rng = example_rng(example, self.seed)
        height, width = frames[0].shape[:2]
        labels = [reduce_labels(m) for m in masks]
        geometry = self.sample_geometry(height, width, labels[-1], rng)
        new_h, new_w = geometry["size"]
        window = geometry["window"]
        pixel_values, label_out = [], []
        for frame, label in zip(frames, labels):
            image = resize_bilinear(frame, new_h, new_w, window)
            lab = resize_nearest(label, new_h, new_w, window)
            if geometry["flip"]:
                image, lab = image[:, ::-1], lab[:, ::-1]
            if self.photometric:
                image = photometric_distortion(image, rng)
            pixel_values.append(pad_array(normalize_image(image, self.mean, self.std), self.crop_size, 0.0))
            label_out.append(pad_array(lab.astype(np.int64), self.crop_size, IGNORE_INDEX))
        return {"pixel_values": np.stack(pixel_values), "labels": np.stack(label_out)}


class VspwEvalTransform:
    """Official test preprocessing of a clip: the model's processor; labels reduced but unchanged in size.

    Returns ``{"pixel_values": float32 [T, 3, H', W'], "labels": int64 [T, H, W] (reduced, only when the clip has
    masks), "original_size": (H, W)}`` where ``H' x W' = test_resize_shape(H, W, scale, size_divisor)``.

    ``pixel_values`` are computed by `processor`, by default an ``MrcfaImageProcessor`` configured with `scale`,
    `size_divisor`, `mean` and `std` (the official values by default), so that evaluation sees exactly what inference
    sees (``None`` and ``"auto"`` both mean this default); pass a processor instance (e.g. a checkpoint's) to use that
    one instead.
    """

    def __init__(
        self,
        scale: Sequence[int] = IMAGE_SCALE,
        size_divisor: int = TEST_SIZE_DIVISOR,
        mean: Sequence[float] = IMAGE_MEAN,
        std: Sequence[float] = IMAGE_STD,
        processor: MrcfaImageProcessor | str | None = None,
    ):
        self.scale = (int(scale[0]), int(scale[1]))
        self.size_divisor = int(size_divisor)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        if processor is None or processor == "auto":  # "auto": the former name of the default
            processor = MrcfaImageProcessor(
                size={"longest_edge": max(self.scale), "shortest_edge": min(self.scale)},
                size_divisor=self.size_divisor,
                image_mean=list(self.mean),
                image_std=list(self.std),
            )
        elif not callable(processor):
            raise ValueError(f"processor must be an MrcfaImageProcessor, None or 'auto', got {processor!r}.")
        self.processor = processor

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(scale={self.scale}, size_divisor={self.size_divisor}, "
            f"processor={type(self.processor).__name__})"
        )

    def __call__(self, example: Mapping[str, Any]) -> dict[str, Any]:
        frames, masks = _clip_arrays(example)
        clip = np.stack(frames)  # [T, H, W, 3] uint8
        pixel_values = self.processor(videos=[clip], return_tensors="np", input_data_format="channels_last")
        out: dict[str, Any] = {
            "pixel_values": np.ascontiguousarray(pixel_values["pixel_values"][0], dtype=np.float32),
            "original_size": tuple(frames[0].shape[:2]),
        }
        if masks is not None:
            out["labels"] = np.stack([reduce_labels(m).astype(np.int64) for m in masks])
        return out
