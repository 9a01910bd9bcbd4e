# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The preprocessing operations of MRCFA, one implementation each: the processor and the data transforms use these.

This module ships inside every saved checkpoint with the processor (``trust_remote_code``): it imports only numpy,
PIL and torch. See docs/design.md, "Preprocessing".

* :func:`to_8bit_scale`: pixel values of a frame on the 0-255 scale: 16-bit frames (PIL ``I;16``, ``uint16``) scaled
  as image tools do (``round(v * 255 / 65535)``), frames of unknown bit depth (other integers or floats outside
  0-255, PIL ``I`` / ``F``) refused with the reason. The processor applies it to every frame; readers of image files
  use it too.

* :func:`keep_ratio_size`: mmcv's keep-ratio output size (``imrescale``), optionally rounded **up** to a multiple
  (the official ``AlignedResize._align`` uses ``np.ceil``: 427 -> 448, not the nearest 416).
* :func:`resize_bilinear`: OpenCV ``INTER_LINEAR``. On uint8 frames it reimplements cv2's fixed-point kernel (11-bit
  weights, the rounding of OpenCV's SIMD vertical pass, cv2's border rules): bit-exact against
  opencv-python-headless 4.10.0, 5.0.0 and 5.1.0 on random sizes (1..300 px, 2x up / down included) and on the
  VSPW-like sizes 480x854 -> 479x853 -> 480x864, 1080x1920 -> 480x853, 427x853 -> 448x864, 240x427 -> 480x854, and
  with a crop ``window`` identical to resizing then cropping. PIL is not used: its bilinear filter antialiases when
  downscaling, 73 grey levels away from cv2 on a 1080p -> 853x480 frame. Float frames (0-255 scale) go through
  ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``, as cv2 does for float images, without
  quantisation.
* :func:`resize_nearest`: OpenCV ``INTER_NEAREST`` for label maps (source index
  ``floor(dst * (1 / (dst_size / src_size)))`` in float64, clamped; bit-exact against OpenCV on 500 random sizes, where
  the exact-integer ``dst * src_size // dst_size`` differs in 43 of them), with a crop ``window`` too.
* :func:`normalize`: ``mmcv.imnormalize`` with the official float32 mean / std, bit-exact (float32 subtraction, then
  multiplication by the float64 inverse of the float32 std, rounded to float32).
* :func:`reduce_labels`: VSPW's label reduction (mmseg ``reduce_zero_label``).
"""

from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "IGNORE_INDEX",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "check_window",
    "keep_ratio_size",
    "normalize",
    "reduce_labels",
    "resize_bilinear",
    "resize_nearest",
    "to_8bit_scale",
]

#: Official normalisation statistics of MRCFA / SegFormer on VSPW: RGB, on the 0-255 scale.
IMAGE_MEAN = (123.675, 116.28, 103.53)
IMAGE_STD = (58.395, 57.12, 57.375)

#: Label value of ignored pixels (raw VSPW "others" after :func:`reduce_labels`, padding).
IGNORE_INDEX = 255

#: PIL modes of 16-bit unsigned samples (a 16-bit grayscale PNG or TIFF opens as "I;16").
PIL_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
#: PIL modes whose samples have no fixed range: 32-bit integers and 32-bit floats.
PIL_WIDE_MODES = ("I", "F")

#: The hint of every refusal of :func:`to_8bit_scale`.
_8BIT_HINT = (
    "pass 16-bit frames as uint16 arrays or PIL images of mode I;16 (scaled to 0-255 as image tools do), or scale "
    "the values to 0-255 first"
)

# cv2's fixed-point resize: weights are stored with INTER_RESIZE_COEF_BITS = 11 fractional bits.
_COEF_SCALE = 2048

Labels = TypeVar("Labels", np.ndarray, torch.Tensor)


def keep_ratio_size(
    height: int, width: int, longest_edge: int, shortest_edge: int, size_divisor: int | None = None
) -> tuple[int, int]:
    """Output ``(height, width)`` of mmcv's keep-ratio resize to the scale ``(longest_edge, shortest_edge)``.

    The factor is ``min(longest_edge / long side, shortest_edge / short side)`` and each side becomes
    ``int(side * factor + 0.5)`` (``mmcv.imrescale``); a 480x854 frame gives 479x853 for (853, 480). With
    `size_divisor` (not ``None`` nor 1) each side is then rounded **up** to a multiple of it, as the official
    ``AlignedResize_clips._align`` (``int(np.ceil(side / divisor)) * divisor``): 479x853 -> 480x864.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}.")
    factor = min(longest_edge / max(height, width), shortest_edge / min(height, width))
    size = (int(height * factor + 0.5), int(width * factor + 0.5))
    if not size_divisor or size_divisor == 1:
        return size
    return tuple(-(-side // size_divisor) * size_divisor for side in size)


@lru_cache(maxsize=256)
def _linear_taps(in_size: int, out_size: int, clamp_weights: bool) -> tuple[torch.Tensor, ...]:
    """Source indices and 11-bit weights of cv2's `INTER_LINEAR` along one axis.

    Returns `(index0, index1, weight0, weight1)`, each of shape `[out_size]`; the output is
    `(src[index0] * weight0 + src[index1] * weight1) / 2048`. cv2 clamps the weights at the borders of the
    horizontal axis (`clamp_weights=True`) but only the row indices of the vertical axis. Cached: do not modify.
    """
    scale = 1.0 / (out_size / in_size)
    position = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    index = np.floor(position)
    frac = (position - index).astype(np.float32)
    index = index.astype(np.int64)
    if clamp_weights:
        left = index < 0
        frac[left], index[left] = 0, 0
        right = index >= in_size - 1
        frac[right], index[right] = 0, in_size - 1
    weight0 = np.rint((np.float32(1) - frac) * np.float32(_COEF_SCALE)).astype(np.int32)
    weight1 = np.rint(frac * np.float32(_COEF_SCALE)).astype(np.int32)
    index0 = np.clip(index, 0, in_size - 1)
    index1 = np.clip(index + 1, 0, in_size - 1)
    return tuple(torch.from_numpy(a) for a in (index0, index1, weight0, weight1))


def check_window(height: int, width: int, window: Sequence[int] | None) -> tuple[int, int, int, int]:
    """`window = (y0, y1, x0, x1)` as ints, checked to lie in a `height` x `width` image (`None`: the whole image)."""
    if window is None:
        return 0, height, 0, width
    y0, y1, x0, x1 = (int(v) for v in window)
    if not (0 <= y0 < y1 <= height and 0 <= x0 < x1 <= width):
        raise ValueError(f"window {tuple(window)} is outside the {height}x{width} output.")
    return y0, y1, x0, x1


def resize_bilinear(
    frames: torch.Tensor, height: int, width: int, window: Sequence[int] | None = None
) -> torch.Tensor:
    """cv2 `INTER_LINEAR` resize of the last two axes of `frames` (``[..., H, W]``) to `height` x `width`.

    uint8 frames: cv2's fixed-point kernel, bit-exact, uint8 result. Any other dtype: ``F.interpolate`` bilinear
    (``align_corners=False``, no antialiasing), result of the same dtype. With ``window = (y0, y1, x0, x1)`` only
    that part of the resized image is returned (``[..., y1 - y0, x1 - x0]``), identical to resizing then cropping;
    for uint8 frames only the needed rows and columns are computed.
    """
    in_height, in_width = frames.shape[-2:]
    y0, y1, x0, x1 = check_window(height, width, window)
    if (in_height, in_width) == (height, width):
        return frames[..., y0:y1, x0:x1]
    if frames.dtype != torch.uint8:
        batch = frames if frames.ndim == 4 else frames.reshape(-1, 1, in_height, in_width)
        out = F.interpolate(batch, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
        return out.reshape(*frames.shape[:-2], height, width)[..., y0:y1, x0:x1]
    col0, col1, a0, a1 = (t[x0:x1].to(frames.device) for t in _linear_taps(in_width, width, True))
    row0, row1, b0, b1 = (t[y0:y1].to(frames.device) for t in _linear_taps(in_height, height, False))
    # Horizontal pass on the source rows the window needs only: exact integers with 11 fractional bits.
    rows, inverse = torch.unique(torch.cat([row0, row1]), return_inverse=True)
    src = frames.index_select(-2, rows)
    horizontal = src.index_select(-1, col0).to(torch.int32).mul_(a0)
    horizontal += src.index_select(-1, col1).to(torch.int32).mul_(a1)
    # Vertical pass, rounded as OpenCV's SIMD kernel does: ((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16) + 2 >> 2.
    out = horizontal.index_select(-2, inverse[: len(row0)]).bitwise_right_shift_(4).mul_(b0[:, None])
    out.bitwise_right_shift_(16)
    bottom = horizontal.index_select(-2, inverse[len(row0) :]).bitwise_right_shift_(4).mul_(b1[:, None])
    out += bottom.bitwise_right_shift_(16)
    return out.add_(2).bitwise_right_shift_(2).clamp_(0, 255).to(torch.uint8)


@lru_cache(maxsize=256)
def _nearest_index(in_size: int, out_size: int, cv2_scale: bool) -> np.ndarray:
    """Source indices of `INTER_NEAREST` along one axis: `[out_size]` int64. Cached: read-only."""
    scale = 1.0 / (out_size / in_size) if cv2_scale else in_size / out_size
    index = np.minimum(np.floor(np.arange(out_size, dtype=np.float64) * scale).astype(np.int64), in_size - 1)
    index.flags.writeable = False
    return index


def resize_nearest(
    labels: Labels, height: int, width: int, window: Sequence[int] | None = None, cv2_scale: bool = True
) -> Labels:
    """cv2 `INTER_NEAREST` resize of the last two axes of `labels` (numpy array or tensor ``[..., H, W]``).

    The source index of output ``i`` is ``floor(i * scale)``, clamped, with ``scale = 1 / (dst / src)`` in float64 as
    OpenCV computes it. ``cv2_scale=False`` uses ``scale = src / dst`` instead, the rule the package's train
    transform has always used for label maps (kept so that training labels and crops do not change): it floors one
    index higher at some exact multiples, on about 8 % of the (src, dst) pairs of VSPW training. `window` as in
    :func:`resize_bilinear`; the dtype is kept.
    """
    y0, y1, x0, x1 = check_window(height, width, window)
    if tuple(labels.shape[-2:]) == (height, width):
        return labels[..., y0:y1, x0:x1]
    rows = _nearest_index(labels.shape[-2], height, cv2_scale)[y0:y1]
    cols = _nearest_index(labels.shape[-1], width, cv2_scale)[x0:x1]
    if isinstance(labels, torch.Tensor):
        rows, cols = torch.from_numpy(rows.copy()).to(labels.device), torch.from_numpy(cols.copy()).to(labels.device)
    return labels[..., rows, :][..., cols]


def normalize(
    frames: torch.Tensor, mean: Sequence[float] = IMAGE_MEAN, std: Sequence[float] = IMAGE_STD
) -> torch.Tensor:
    """``(frames - mean) / std`` per channel of ``[..., C, H, W]`` frames, float32, rounded as ``mmcv.imnormalize``.

    As the official ``Normalize_clips`` (float32 mean / std) + ``mmcv.imnormalize`` (``cv2.subtract``,
    ``cv2.multiply``): subtract the float32 mean, multiply by the float64 inverse of the float32 std, round to
    float32. A scalar `mean` / `std` applies to every channel.
    """
    channels = frames.shape[-3]
    mean = np.broadcast_to(np.asarray(mean, np.float32), (channels,))
    std_inv = 1.0 / np.broadcast_to(np.asarray(std, np.float32), (channels,)).astype(np.float64)
    out = frames.to(torch.float32) - torch.tensor(mean, device=frames.device)[:, None, None]
    return (out.double() * torch.tensor(std_inv, device=frames.device)[:, None, None]).float()


def reduce_labels(labels: Labels, ignore_index: int = IGNORE_INDEX) -> Labels:
    """VSPW label reduction: 0 ("others") -> `ignore_index`, ``k`` -> ``k - 1``, `ignore_index` stays ignored.

    Works on integer numpy arrays and tensors of any shape and keeps their dtype (uint8 masks give the same result as
    mmseg's ``reduce_zero_label`` uint8 arithmetic). Returns a new array.
    """
    reduced = labels - 1
    reduced[(labels == 0) | (labels == ignore_index)] = ignore_index
    return reduced


def _to_8bit_array(array: np.ndarray, what: str | None = None) -> np.ndarray:
    """The array rule of :func:`to_8bit_scale`; `what` names the frame in error messages (default: its dtype)."""
    if array.dtype == np.uint8:
        return array
    what = what or f"Frame of dtype {array.dtype}"
    if array.dtype.kind not in "uif":
        raise ValueError(f"{what}: frames must hold real pixel values on the 0-255 scale.")
    if array.dtype == np.uint16:  # 16 -> 8 bits: round(v * 255 / 65535) = round(v / 257), exact in integers
        return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    integer = array.dtype.kind in "iu"
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if not (np.isfinite(low) and np.isfinite(high)):  # NaN / inf: the range of the finite values (rare: a copy)
        finite = array[np.isfinite(array)]
        low, high = (finite.min(), finite.max()) if finite.size else (0, 0)
    if low < 0 or high > 255:
        reason = "and its bit depth is unknown" if integer else "the scale of 8-bit pixel values"
        raise ValueError(f"{what} has values in [{low:g}, {high:g}], outside 0-255, {reason}: {_8BIT_HINT}.")
    return array.astype(np.uint8) if integer else array.astype(np.float32, copy=False)


def to_8bit_scale(image: Image.Image | np.ndarray | torch.Tensor) -> Image.Image | np.ndarray:
    """Pixel values of a frame on the 8-bit scale (0-255), 16-bit frames reduced as image tools do; refuses frames
    of unknown scale with a `ValueError` giving the range found, never a silent clip.

    * PIL images give PIL images of an 8-bit mode: 16-bit modes (``I;16``, ``I;16L``, ``I;16B``, ``I;16N``: 16-bit
      grayscale PNG / TIFF) become ``L`` with ``round(v * 255 / 65535)`` (ImageMagick's 16 -> 8 bit reduction,
      ``round(v / 257)``; PIL's own ``convert`` clips every value above 255 to white). Modes ``I`` (32-bit integers)
      and ``F`` (32-bit floats) become ``L`` when their values lie in 0-255 (``F`` rounded), else raise: their bit
      depth is unknown. Every other mode (8 bits per sample) is returned as it is.
    * numpy arrays and torch tensors (any shape) give numpy arrays: ``uint8`` as it is, ``uint16`` reduced to
      ``uint8`` as above, other integer types cast to ``uint8`` when their values lie in 0-255, floating-point types
      as ``float32`` (not quantised) when their finite values lie in [0, 255]; else, and for boolean or complex
      arrays, a `ValueError`. NaN and infinite values are left to the caller (``MrcfaImageProcessor`` rejects them
      naming the frame).
    """
    if isinstance(image, Image.Image):
        if image.mode in PIL_16BIT_MODES:
            return Image.fromarray(_to_8bit_array(np.asarray(image).astype(np.uint16)))
        if image.mode not in PIL_WIDE_MODES:
            return image
        array = _to_8bit_array(np.asarray(image), f"PIL image of mode {image.mode}")
        if array.dtype != np.uint8:
            if not np.isfinite(array).all():
                raise ValueError(f"PIL image of mode {image.mode} has NaN or infinite pixel values.")
            array = np.rint(array).astype(np.uint8)
        return Image.fromarray(array)
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        image = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    return _to_8bit_array(np.asarray(image))
