# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Processor of MRCFA clips: the official VSPW test preprocessing, without torchvision.

This file ships inside every saved checkpoint (``trust_remote_code``): it imports only numpy, PIL, torch and
transformers (and huggingface_hub, a dependency of transformers), never the rest of the ``mrcfa`` package.

What the official test pipeline computes (mmseg ``AlignedResize_clips(keep_ratio=True, size_divisor=32)`` under
``MultiScaleFlipAug(img_scale=(853, 480))``, then ``Normalize_clips``), and how this file reproduces it:

1. Keep-ratio rescale (``mmcv.imrescale``): ``factor = min(853 / long_side, 480 / short_side)`` and
   ``new_side = int(side * factor + 0.5)``, bilinear. A VSPW 480x854 frame becomes 479x853 (480 * 853 / 854 + 0.5
   = 479.94).
2. Alignment (``AlignedResize_clips._align``): a **second** resize of that result to
   ``int(np.ceil(side / 32)) * 32`` per side, i.e. the next multiple of 32 **rounding up** (the official code uses
   ``np.ceil``; SPEC's "nearest multiple" is inexact: 427 -> 448, not 416). Both resizes go through
   ``cv2.resize(..., INTER_LINEAR)`` on uint8 images, so the image is quantised to uint8 after each of them.
3. ``mmcv.imnormalize``: ``(img - mean) * (1 / std)`` with mean (123.675, 116.28, 103.53), std (58.395, 57.12,
   57.375) stored as float32, RGB; reproduced bit-exactly (float32 subtraction, then multiplication by the float64
   inverse of the float32 std, rounded to float32).

Resizing. PIL's bilinear filter antialiases when downscaling (its support widens with the scale), cv2's
``INTER_LINEAR`` does not: on a 1080p -> 853x480 frame PIL differs from cv2 by up to 73 grey levels (mean 9.2),
so PIL is not used. For uint8 frames this file reimplements cv2's fixed-point ``INTER_LINEAR`` in torch (11-bit
weights, the SIMD rounding of OpenCV's vertical pass, cv2's border rules): measured bit-exact against
opencv-python-headless 4.10.0 and 5.0.0 on 400 random sizes (1..300 px, 2x up/down included) and on the VSPW-like
sizes 480x854 -> 479x853 -> 480x864, 1080x1920 -> 480x853, 427x853 -> 448x864, 240x427 -> 480x854. The plain
alternative, ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)`` on float images rounded to
uint8, differs from cv2 by at most 1 grey level on 0.2 %-12 % of the pixels. Float frames (any dtype other than
uint8, values on the 0-255 scale) use exactly that ``F.interpolate`` call, as cv2 does for float images, without
quantisation: the same frames given as float32 instead of uint8 differ by at most 1.5 grey levels (0.026 after
normalisation), the two uint8 roundings being skipped. Segmentation maps use cv2's ``INTER_NEAREST`` index rule
(``floor(dst * (1 / (dst_size / src_size)))`` in float64, clamped), bit-exact against both OpenCV versions on 500
random sizes (an exact-integer ``dst * src_size // dst_size`` differs in 43 of them).

No torchvision code path exists: results do not depend on whether torchvision is installed.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import validate_typed_dict
from huggingface_hub.errors import StrictDataclassError
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.image_utils import ChannelDimension, SizeDict
from transformers.processing_utils import ImagesKwargs, Unpack

OFFICIAL_MEAN = (123.675, 116.28, 103.53)
OFFICIAL_STD = (58.395, 57.12, 57.375)

# cv2's fixed-point resize: weights are stored with INTER_RESIZE_COEF_BITS = 11 fractional bits.
_COEF_SCALE = 2048


class MrcfaVideoProcessorKwargs(ImagesKwargs, total=False):
    r"""
    size_divisor (`int`, *optional*, defaults to `self.size_divisor`):
        After the keep-ratio resize, each side is resized again to the next multiple of `size_divisor` (rounding
        up, as the official `AlignedResize`). `None` or `1` skips this step.
    do_reduce_labels (`bool`, *optional*, defaults to `self.do_reduce_labels`):
        Reduce raw VSPW label values: 0 ("others") becomes 255 (ignored) and every other value `k` becomes `k - 1`;
        255 stays 255.
    """

    size_divisor: int | None
    do_reduce_labels: bool | None


def _rescaled_size(height: int, width: int, longest_edge: int, shortest_edge: int) -> tuple[int, int]:
    """`mmcv.imrescale`'s output size `(height, width)` for scale `(longest_edge, shortest_edge)`."""
    factor = min(longest_edge / max(height, width), shortest_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _round_up(value: int, divisor: int | None) -> int:
    """`int(np.ceil(value / divisor)) * divisor` with integers (the official `AlignedResize._align`)."""
    if not divisor or divisor == 1:
        return value
    return -(-value // divisor) * divisor


def _linear_taps(in_size: int, out_size: int, clamp_weights: bool) -> tuple[torch.Tensor, ...]:
    """Source indices and 11-bit weights of cv2's `INTER_LINEAR` along one axis.

    Returns `(index0, index1, weight0, weight1)`, each of shape `[out_size]`; the output is
    `(src[index0] * weight0 + src[index1] * weight1) / 2048`. cv2 clamps the weights at the borders of the
    horizontal axis (`clamp_weights=True`) but only the row indices of the vertical axis.
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
    weight0 = np.rint((np.float32(1) - frac) * np.float32(_COEF_SCALE))
    weight1 = np.rint(frac * np.float32(_COEF_SCALE))
    index0 = np.clip(index, 0, in_size - 1)
    index1 = np.clip(index + 1, 0, in_size - 1)
    return (
        torch.from_numpy(index0),
        torch.from_numpy(index1),
        torch.from_numpy(weight0.astype(np.int32)),
        torch.from_numpy(weight1.astype(np.int32)),
    )


def _resize_linear_uint8(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """cv2 `INTER_LINEAR` on uint8 frames, bit-exact: `[N, C, H, W]` uint8 -> `[N, C, height, width]` uint8."""
    if tuple(frames.shape[-2:]) == (height, width):
        return frames
    x0, x1, a0, a1 = _linear_taps(frames.shape[-1], width, clamp_weights=True)
    y0, y1, b0, b1 = _linear_taps(frames.shape[-2], height, clamp_weights=False)
    src = frames.to(torch.int32)
    # Horizontal pass: exact integers with 11 fractional bits.
    rows = src.index_select(-1, x0) * a0 + src.index_select(-1, x1) * a1
    # Vertical pass, rounded as OpenCV's SIMD kernel does: ((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16) + 2 >> 2.
    top = (rows.index_select(-2, y0) >> 4) * b0[:, None]
    bottom = (rows.index_select(-2, y1) >> 4) * b1[:, None]
    out = ((top >> 16) + (bottom >> 16) + 2) >> 2
    return out.clamp_(0, 255).to(torch.uint8)


def _resize_linear_float(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """cv2 `INTER_LINEAR` on float frames: `[N, C, H, W]` float32 -> `[N, C, height, width]` float32."""
    if tuple(frames.shape[-2:]) == (height, width):
        return frames
    return F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False, antialias=False)


def _nearest_index(in_size: int, out_size: int) -> np.ndarray:
    """cv2 `INTER_NEAREST` source indices along one axis: `[out_size]` int64."""
    inverse_scale = 1.0 / (out_size / in_size)
    return np.minimum(np.floor(np.arange(out_size) * inverse_scale).astype(np.int64), in_size - 1)


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, torch.Tensor))


def _is_frame_like(value: Any) -> bool:
    return isinstance(value, Image.Image) or (_is_array(value) and value.ndim in (2, 3))


def _describe(value: Any) -> str:
    if _is_array(value):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, Image.Image):
        return f"PIL image {value.size[0]}x{value.size[1]} mode {value.mode}"
    return type(value).__name__


class MrcfaVideoProcessor(BaseImageProcessor):
    r"""Processor of MRCFA clips and images: the official VSPW test preprocessing, without torchvision.

    Call it with `images=` (one image or a list) to get `pixel_values` of shape `[B, 3, H', W']`, or with `videos=`
    (one clip or a list of clips) to get `[B, T, 3, H', W']`. Every frame is resized keeping its aspect ratio to the
    scale `(size["longest_edge"], size["shortest_edge"])` (official `(853, 480)`), then each side to the next
    multiple of `size_divisor` (32), with cv2 `INTER_LINEAR` semantics (bit-exact for uint8 frames), and normalised
    with the official mean and std on the 0-255 scale: a 480x854 frame gives 480x864 (via 479x853), a 720x1280
    frame 480x864 (via 480x853), a 500x1000 frame 448x864 (via 427x853: rounded up, not to the nearest 416).

    Accepted frames: PIL images (any mode; converted to RGB when `do_convert_rgb`), numpy arrays / torch tensors
    `[H, W, 3]` or `[3, H, W]` with values on the 0-255 scale (uint8, or any other real dtype taken as float).
    Arrays with 1 or 4 channels, or 2-D arrays, are rejected with a `ValueError` (convert them to RGB first).
    A clip is a list of frames, a numpy array `[T, H, W, 3]` or a tensor `[T, 3, H, W]` / `[T, H, W, 3]`; a batch
    is a list of clips or a 5-D array. The channel axis is inferred (numpy prefers channels-last, torch
    channels-first when both fit); pass `input_data_format` to force it. All frames of a clip must share one size,
    all clips of a batch must have the same number of frames and give the same resized size.

    `segmentation_maps` follow the structure of the pixels (a map per image / frame: PIL image of mode L, P or I,
    or a 2-D array; `[B, H, W]` arrays for images, `[T, H, W]` for a clip, `[B, T, H, W]` for a batch of clips),
    must have the size of their frame, and come back as int64 `labels` of shape `[B, H', W']` or `[B, T, H', W']`
    (cv2 `INTER_NEAREST`, optionally with VSPW's label reduction `do_reduce_labels`).

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Resize the frames (keep-ratio resize to `size`, then alignment to `size_divisor`).
        size (`dict[str, int]`, *optional*, defaults to `{"longest_edge": 853, "shortest_edge": 480}`):
            The mmcv keep-ratio scale: the resize factor is `min(longest_edge / long side, shortest_edge / short
            side)`. A 2-tuple `(853, 480)` (mmcv's `img_scale`, any order) is accepted too.
        size_divisor (`int`, *optional*, defaults to 32):
            Each resized side is then resized up to the next multiple of `size_divisor`.
        do_rescale (`bool`, *optional*, defaults to `False`):
            Multiply by `rescale_factor` before normalising (off: the official mean/std are on the 0-255 scale).
        rescale_factor (`float`, *optional*, defaults to `1 / 255`):
            Factor used when `do_rescale`.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Apply `(x - image_mean) / image_std` per RGB channel.
        image_mean (`list[float]`, *optional*, defaults to `(123.675, 116.28, 103.53)`):
            RGB mean, official value.
        image_std (`list[float]`, *optional*, defaults to `(58.395, 57.12, 57.375)`):
            RGB standard deviation, official value.
        do_reduce_labels (`bool`, *optional*, defaults to `False`):
            Apply VSPW's label reduction to `segmentation_maps` (0 -> 255, k -> k - 1, 255 stays 255). Set it for
            raw VSPW masks.
        do_convert_rgb (`bool`, *optional*, defaults to `True`):
            Convert PIL images of another mode (L, RGBA, P, ...) to RGB; when `False` they raise a `ValueError`.
    """

    valid_kwargs = MrcfaVideoProcessorKwargs
    model_input_names = ["pixel_values"]

    do_resize = True
    size = {"longest_edge": 853, "shortest_edge": 480}
    size_divisor = 32
    do_rescale = False
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = OFFICIAL_MEAN
    image_std = OFFICIAL_STD
    do_reduce_labels = False
    do_convert_rgb = True

    def __init__(self, **kwargs: Unpack[MrcfaVideoProcessorKwargs]):
        super().__init__(**kwargs)
        self._set_attributes(**kwargs)

    @property
    def backend(self) -> str:
        """`str`: the backend of this processor: plain torch (no torchvision, no PIL resampling)."""
        return "torch"

    def _standardize_kwargs(self, size=None, **kwargs) -> dict:
        if isinstance(size, (list, tuple)):
            if len(size) != 2:
                raise ValueError(f"size as a tuple must be the mmcv scale (long, short), got {size}.")
            size = {"longest_edge": max(size), "shortest_edge": min(size)}
        return super()._standardize_kwargs(size=size, **kwargs)

    # ------------------------------------------------------------------------------------------------ sizes

    def get_output_size(
        self,
        height: int,
        width: int,
        size: dict[str, int] | SizeDict | None = None,
        size_divisor: int | None = None,
    ) -> tuple[int, int]:
        """The processed size `(H', W')` of a `height` x `width` frame (keep-ratio resize, then round up)."""
        size = self.size if size is None else size
        size_divisor = self.size_divisor if size_divisor is None else size_divisor
        new_height, new_width = self._keep_ratio_size(height, width, size)
        return _round_up(new_height, size_divisor), _round_up(new_width, size_divisor)

    @staticmethod
    def _keep_ratio_size(height: int, width: int, size) -> tuple[int, int]:
        longest, shortest = size.get("longest_edge"), size.get("shortest_edge")
        if longest is None or shortest is None:
            raise ValueError(
                "MrcfaVideoProcessor resizes keeping the aspect ratio and needs size={'longest_edge': L, "
                f"'shortest_edge': S}} (official 853 and 480), got {dict(size)}."
            )
        return _rescaled_size(height, width, longest, shortest)

    # ------------------------------------------------------------------------------------------------ inputs

    @staticmethod
    def _channel_axis_is_first(shape: tuple[int, ...], data_format, prefer_last: bool) -> bool:
        """Whether the channel axis of a frame `[a, b, c]` (or a clip `[T, a, b, c]`) comes first."""
        if data_format is not None:
            first = ChannelDimension(data_format) == ChannelDimension.FIRST
            channels = shape[-3] if first else shape[-1]
            if channels != 3:
                raise ValueError(
                    f"Expected 3 (RGB) channels in the {'first' if first else 'last'} axis of each frame, got shape "
                    f"{shape}. Convert grayscale / RGBA frames to RGB first."
                )
            return first
        first_fits, last_fits = shape[-3] == 3, shape[-1] == 3
        if first_fits and last_fits:
            return not prefer_last
        if first_fits or last_fits:
            return first_fits
        raise ValueError(
            f"Expected RGB frames with 3 channels ([H, W, 3] or [3, H, W] per frame), got shape {shape}. Convert "
            "grayscale (1 channel) or RGBA (4 channel) arrays to RGB first, e.g. with PIL's `.convert('RGB')`."
        )

    @staticmethod
    def _as_working_dtype(array: torch.Tensor) -> torch.Tensor:
        if array.dtype == torch.uint8:
            return array
        if array.dtype == torch.bool or array.is_complex():
            raise ValueError(f"Frames must hold real pixel values on the 0-255 scale, got dtype {array.dtype}.")
        return array.to(torch.float32)

    def _frame_to_tensor(self, frame: Any, do_convert_rgb: bool, data_format) -> torch.Tensor:
        """One frame -> `[3, H, W]` uint8 or float32 tensor."""
        if isinstance(frame, Image.Image):
            if frame.mode != "RGB":
                if not do_convert_rgb:
                    raise ValueError(f"Expected an RGB PIL image, got mode {frame.mode} (set do_convert_rgb=True).")
                frame = frame.convert("RGB")
            return torch.from_numpy(np.array(frame, dtype=np.uint8)).permute(2, 0, 1)
        if not _is_array(frame):
            raise ValueError(f"A frame must be a PIL image, a numpy array or a torch tensor, got {_describe(frame)}.")
        if frame.ndim != 3:
            raise ValueError(
                f"A frame must be [H, W, 3] or [3, H, W], got {_describe(frame)}. Grayscale 2-D arrays are not "
                "accepted: convert them to RGB first."
            )
        tensor = torch.as_tensor(frame).detach().cpu()
        first = self._channel_axis_is_first(
            tuple(tensor.shape), data_format, prefer_last=isinstance(frame, np.ndarray)
        )
        if not first:
            tensor = tensor.permute(2, 0, 1)
        return self._as_working_dtype(tensor)

    def _clip_to_tensor(self, clip: Any, do_convert_rgb: bool, data_format) -> torch.Tensor:
        """One clip (list of frames or 4-D array) -> `[T, 3, H, W]` uint8 or float32 tensor."""
        if _is_array(clip):
            if clip.ndim != 4:
                raise ValueError(f"A clip array must be [T, H, W, 3] or [T, 3, H, W], got {_describe(clip)}.")
            if clip.shape[0] == 0:
                raise ValueError("Got an empty clip (0 frames).")
            tensor = torch.as_tensor(clip).detach().cpu()
            first = self._channel_axis_is_first(
                tuple(tensor.shape), data_format, prefer_last=isinstance(clip, np.ndarray)
            )
            if not first:
                tensor = tensor.permute(0, 3, 1, 2)
            return self._as_working_dtype(tensor)
        if not isinstance(clip, (list, tuple)):
            raise ValueError(f"A clip must be a list of frames or a 4-D array, got {_describe(clip)}.")
        if len(clip) == 0:
            raise ValueError("Got an empty clip (0 frames).")
        frames = [self._frame_to_tensor(frame, do_convert_rgb, data_format) for frame in clip]
        sizes = {tuple(frame.shape[-2:]) for frame in frames}
        if len(sizes) > 1:
            raise ValueError(f"All frames of a clip must have the same size (H, W), got {sorted(sizes)}.")
        if any(frame.dtype != torch.uint8 for frame in frames):
            frames = [frame.to(torch.float32) for frame in frames]
        return torch.stack(frames)

    @staticmethod
    def _split_images(images: Any) -> list[Any]:
        """`images=` -> a list of single images."""
        if isinstance(images, Image.Image):
            return [images]
        if _is_array(images):
            if images.ndim == 3:
                return [images]
            if images.ndim == 4:
                return list(images)
            if images.ndim == 2:
                raise ValueError(
                    f"Grayscale 2-D arrays are not accepted as images, got {_describe(images)}: convert them to RGB "
                    "([H, W, 3]) first."
                )
            raise ValueError(
                "images must be one image ([H, W, 3] / [3, H, W]), a batch array [B, ...] or a list of images, got "
                f"{_describe(images)}. Use videos= for clips."
            )
        if isinstance(images, (list, tuple)):
            if len(images) == 0:
                raise ValueError("Got an empty list of images.")
            for image in images:
                if not _is_frame_like(image):
                    raise ValueError(f"Each image must be a PIL image or a 3-D array, got {_describe(image)}.")
            return list(images)
        raise ValueError(f"images must be a PIL image, an array or a list of them, got {_describe(images)}.")

    @staticmethod
    def _split_videos(videos: Any) -> list[Any]:
        """`videos=` -> a list of clips (each a list of frames or a 4-D array)."""
        if _is_array(videos):
            if videos.ndim == 4:
                return [videos]
            if videos.ndim == 5:
                if videos.shape[0] == 0:
                    raise ValueError("Got an empty batch of clips.")
                return list(videos)
            raise ValueError(
                "videos must be a clip ([T, H, W, 3] / [T, 3, H, W] or a list of frames) or a batch of clips, got "
                f"{_describe(videos)}. Use images= for single images."
            )
        if not isinstance(videos, (list, tuple)):
            raise ValueError(f"videos must be a clip or a list of clips, got {_describe(videos)}.")
        if len(videos) == 0:
            raise ValueError("Got an empty clip / batch of clips.")
        is_clip = [isinstance(v, (list, tuple)) or (_is_array(v) and v.ndim == 4) for v in videos]
        if all(is_clip):
            return list(videos)
        if not any(is_clip):
            return [videos]
        raise ValueError("videos mixes clips and single frames: pass one clip (list of frames) or a list of clips.")

    @staticmethod
    def _map_frame_to_array(mask: Any) -> np.ndarray:
        """One segmentation map -> `[H, W]` int64 array."""
        if isinstance(mask, Image.Image):
            array = np.array(mask)
            if array.ndim != 2:
                raise ValueError(f"Segmentation maps must be single-channel (PIL mode L, P, I), got mode {mask.mode}.")
            return array.astype(np.int64)
        if not _is_array(mask):
            raise ValueError(f"A segmentation map must be a PIL image or an array, got {_describe(mask)}.")
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.ndim == 3 and array.shape[0] == 1:
            array = array[0]
        elif array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 2:
            raise ValueError(f"A segmentation map must be [H, W] (or [1, H, W]), got shape {array.shape}.")
        return array.astype(np.int64)

    def _split_maps(self, maps: Any, video: bool) -> list[np.ndarray]:
        """`segmentation_maps=` -> a list of `[T, H, W]` int64 arrays (T = 1 for images)."""
        if video:
            if _is_array(maps):
                if maps.ndim not in (3, 4):
                    raise ValueError(f"Clip maps must be [T, H, W] or [B, T, H, W], got {_describe(maps)}.")
                clips = [maps] if maps.ndim == 3 else list(maps)
            elif isinstance(maps, (list, tuple)) and len(maps) > 0:
                is_clip = [isinstance(m, (list, tuple)) or (_is_array(m) and m.ndim == 3) for m in maps]
                if all(is_clip):
                    clips = list(maps)
                elif not any(is_clip):
                    clips = [maps]
                else:
                    raise ValueError("segmentation_maps mixes clips and single maps.")
            else:
                raise ValueError(
                    f"segmentation_maps for videos must be a clip or a list of clips, got {_describe(maps)}."
                )
            out = []
            for clip in clips:
                if _is_array(clip):
                    frames = [self._map_frame_to_array(frame) for frame in clip]
                elif isinstance(clip, (list, tuple)) and len(clip) > 0:
                    frames = [self._map_frame_to_array(frame) for frame in clip]
                else:
                    raise ValueError(
                        f"Each clip of segmentation_maps must be a non-empty list or array, got {_describe(clip)}."
                    )
                if len({frame.shape for frame in frames}) > 1:
                    raise ValueError("All segmentation maps of a clip must have the same size.")
                out.append(np.stack(frames))
            return out
        if isinstance(maps, Image.Image) or (_is_array(maps) and maps.ndim == 2):
            return [self._map_frame_to_array(maps)[None]]
        if _is_array(maps):
            if maps.ndim != 3:
                raise ValueError(f"segmentation_maps for images must be [H, W] or [B, H, W], got {_describe(maps)}.")
            return [self._map_frame_to_array(mask)[None] for mask in maps]
        if isinstance(maps, (list, tuple)) and len(maps) > 0:
            return [self._map_frame_to_array(mask)[None] for mask in maps]
        raise ValueError(f"segmentation_maps must be a map, an array or a non-empty list, got {_describe(maps)}.")

    # ------------------------------------------------------------------------------------------------ processing

    def _resize_clip(self, clip: torch.Tensor, size, size_divisor) -> torch.Tensor:
        """`[T, 3, H, W]` uint8/float32 -> resized `[T, 3, H', W']`, same dtype (two resizes, as the official code)."""
        height, width = clip.shape[-2:]
        new_height, new_width = self._keep_ratio_size(height, width, size)
        aligned_height, aligned_width = _round_up(new_height, size_divisor), _round_up(new_width, size_divisor)
        resize = _resize_linear_uint8 if clip.dtype == torch.uint8 else _resize_linear_float
        clip = resize(clip, new_height, new_width)
        return resize(clip, aligned_height, aligned_width)

    def _resize_map(self, maps: np.ndarray, size, size_divisor) -> np.ndarray:
        """`[T, H, W]` int64 -> `[T, H', W']` int64 with cv2 nearest, composed over the two official resizes."""
        height, width = maps.shape[-2:]
        new_height, new_width = self._keep_ratio_size(height, width, size)
        aligned_height, aligned_width = _round_up(new_height, size_divisor), _round_up(new_width, size_divisor)
        rows = _nearest_index(height, new_height)[_nearest_index(new_height, aligned_height)]
        cols = _nearest_index(width, new_width)[_nearest_index(new_width, aligned_width)]
        return maps[:, rows][:, :, cols]

    @staticmethod
    def reduce_label(labels: np.ndarray) -> np.ndarray:
        """VSPW label reduction on an int64 array: 0 -> 255, k -> k - 1, 255 stays 255 (same shape)."""
        reduced = labels - 1
        reduced[(labels == 0) | (labels == 255)] = 255
        return reduced

    def __call__(
        self,
        images: Any = None,
        segmentation_maps: Any = None,
        videos: Any = None,
        **kwargs: Unpack[MrcfaVideoProcessorKwargs],
    ) -> BatchFeature:
        """Preprocess images or clips; see [`~MrcfaVideoProcessor.preprocess`]."""
        return self.preprocess(images, segmentation_maps=segmentation_maps, videos=videos, **kwargs)

    def preprocess(
        self,
        images: Any = None,
        segmentation_maps: Any = None,
        videos: Any = None,
        return_original_sizes: bool = True,
        **kwargs: Unpack[MrcfaVideoProcessorKwargs],
    ) -> BatchFeature:
        r"""Preprocess images or clips (exactly one of `images` and `videos`).

        Args:
            images (`PIL.Image.Image`, `np.ndarray`, `torch.Tensor` or a list of them, *optional*):
                One image (`[H, W, 3]` / `[3, H, W]`), a list of images or a batch array `[B, H, W, 3]` /
                `[B, 3, H, W]`. Images of a batch may differ in size if they give the same processed size.
            segmentation_maps (optional):
                Maps with the structure of `images` / `videos` (see the class docstring).
            videos (optional):
                One clip (list of frames, `[T, H, W, 3]` or `[T, 3, H, W]`) or a batch of clips (list of clips or a
                5-D array).
            return_original_sizes (`bool`, *optional*, defaults to `True`):
                Also return `original_sizes`, int64 `[B, 2]` (height, width of each image / clip before resizing),
                to pass as `target_sizes` to [`~MrcfaVideoProcessor.post_process_semantic_segmentation`].
                `MrcfaForVideoSemanticSegmentation.forward` accepts and ignores it, so `model(**inputs)` and the
                image-segmentation pipeline work; set `False` for models that reject unknown inputs.
            kwargs:
                Overrides of the processor attributes (`size`, `size_divisor`, `image_mean`, `do_reduce_labels`,
                ...), `return_tensors` (`"pt"`, `"np"` or `None` for numpy), `input_data_format` (channel axis of
                array inputs) and `device`.

        Returns:
            [`BatchFeature`] with `pixel_values` float32 `[B, 3, H', W']` (images) or `[B, T, 3, H', W']` (videos),
            `labels` int64 `[B, H', W']` / `[B, T, H', W']` when `segmentation_maps` are given, and `original_sizes`
            int64 `[B, 2]` (unless `return_original_sizes=False`).
        """
        if (images is None) == (videos is None):
            raise ValueError("Pass exactly one of images= (single images) and videos= (clips).")
        self._validate_kwargs_types(kwargs)
        for name in self._valid_kwargs_names:
            kwargs.setdefault(name, getattr(self, name, None))
        kwargs = self._standardize_kwargs(**kwargs)
        if kwargs.get("do_normalize") and (kwargs.get("image_mean") is None or kwargs.get("image_std") is None):
            raise ValueError("image_mean and image_std must be set when do_normalize is True.")
        if kwargs.get("do_rescale") and kwargs.get("rescale_factor") is None:
            raise ValueError("rescale_factor must be set when do_rescale is True.")
        data_format = kwargs.get("data_format")
        if data_format is not None and ChannelDimension(data_format) != ChannelDimension.FIRST:
            raise ValueError("MrcfaVideoProcessor only returns channels-first pixel_values.")

        is_video = videos is not None
        do_convert_rgb = bool(kwargs.get("do_convert_rgb"))
        input_data_format = kwargs.get("input_data_format")
        if is_video:
            clips = [self._clip_to_tensor(c, do_convert_rgb, input_data_format) for c in self._split_videos(videos)]
        else:
            clips = [
                self._frame_to_tensor(image, do_convert_rgb, input_data_format)[None]
                for image in self._split_images(images)
            ]
        if len({clip.shape[0] for clip in clips}) > 1:
            raise ValueError(
                f"All clips of a batch must have the same number of frames, got {[len(c) for c in clips]}."
            )
        original_sizes = [tuple(clip.shape[-2:]) for clip in clips]

        size, size_divisor = kwargs.get("size"), kwargs.get("size_divisor")
        pixel_values = [self._process_clip(clip, kwargs) for clip in clips]
        out_sizes = {tuple(p.shape[-2:]) for p in pixel_values}
        if len(out_sizes) > 1:
            details = ", ".join(
                f"{o[0]}x{o[1]} -> {p.shape[-2]}x{p.shape[-1]}" for o, p in zip(original_sizes, pixel_values)
            )
            raise ValueError(
                f"All images / clips of a batch must give the same processed size, got {details} (H x W). Process "
                "them in separate calls."
            )
        data = {"pixel_values": torch.stack(pixel_values)}

        if segmentation_maps is not None:
            maps = self._split_maps(segmentation_maps, video=is_video)
            if len(maps) != len(clips):
                raise ValueError(f"Got {len(maps)} segmentation map clips / images for {len(clips)} inputs.")
            labels = []
            for clip_maps, clip, original in zip(maps, clips, original_sizes):
                if clip_maps.shape[0] != clip.shape[0] or tuple(clip_maps.shape[-2:]) != original:
                    raise ValueError(
                        f"Segmentation maps of shape {tuple(clip_maps.shape)} (T, H, W) do not match frames of shape "
                        f"{(clip.shape[0], *original)}."
                    )
                if kwargs.get("do_reduce_labels"):
                    clip_maps = self.reduce_label(clip_maps)
                if kwargs.get("do_resize"):
                    clip_maps = self._resize_map(clip_maps, size, size_divisor)
                labels.append(torch.from_numpy(np.ascontiguousarray(clip_maps)))
            data["labels"] = torch.stack(labels)

        if not is_video:
            data = {key: value[:, 0] for key, value in data.items()}
        if return_original_sizes:
            data["original_sizes"] = torch.tensor(original_sizes, dtype=torch.int64)

        return_tensors = kwargs.get("return_tensors")
        return_tensors = getattr(return_tensors, "value", return_tensors)  # TensorType -> str
        if return_tensors is None or return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        elif return_tensors != "pt":
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")
        elif kwargs.get("device") is not None:
            data = {key: value.to(kwargs["device"]) for key, value in data.items()}
        return BatchFeature(data=data)

    def _validate_kwargs_types(self, kwargs: dict) -> None:
        checked = dict(kwargs)
        # Accept integer means / stds (e.g. image_mean=[0, 0, 0]) although ImagesKwargs types them as float.
        for key in ("image_mean", "image_std"):
            if isinstance(checked.get(key), (list, tuple)):
                checked[key] = [float(v) for v in checked[key]]
        try:
            validate_typed_dict(self.valid_kwargs, checked)
        except StrictDataclassError as error:
            raise ValueError(f"Invalid MrcfaVideoProcessor argument: {error}") from error

    def _process_clip(self, clip: torch.Tensor, kwargs: dict) -> torch.Tensor:
        """`[T, 3, H, W]` uint8/float32 -> `[T, 3, H', W']` float32: resize, rescale, normalise."""
        if kwargs.get("do_resize"):
            clip = self._resize_clip(clip, kwargs.get("size"), kwargs.get("size_divisor"))
        clip = clip.to(torch.float32)
        if kwargs.get("do_rescale"):
            clip = clip * float(kwargs["rescale_factor"])
        if kwargs.get("do_normalize"):
            # As the official Normalize_clips (float32 mean / std) + mmcv.imnormalize (cv2.subtract, cv2.multiply):
            # subtract the float32 mean, multiply by the float64 inverse of the float32 std, round to float32.
            mean = np.broadcast_to(np.asarray(kwargs["image_mean"], np.float32), (3,))
            std_inv = 1.0 / np.broadcast_to(np.asarray(kwargs["image_std"], np.float32), (3,)).astype(np.float64)
            clip = clip - torch.tensor(mean, dtype=torch.float32)[:, None, None]
            clip = (clip.double() * torch.tensor(std_inv, dtype=torch.float64)[:, None, None]).float()
        return clip.contiguous()

    # ------------------------------------------------------------------------------------------------ outputs

    def post_process_semantic_segmentation(
        self,
        outputs: Any,
        target_sizes: Sequence[tuple[int, int]] | torch.Tensor | None = None,
        input_sizes: Sequence[tuple[int, int]] | torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Turn model logits into label maps, resized to each frame's original size.

        Args:
            outputs (`ModelOutput` or `dict`):
                Model outputs with `logits` of shape `[B, C, h, w]` (one frame per sample, e.g. the target frame)
                or `[B, T, C, h, w]` (every frame of each clip).
            target_sizes (`list[tuple[int, int]]` or `torch.Tensor` `[B, 2]`, *optional*):
                `(height, width)` of each sample's original frames (e.g. `original_sizes`). When `None`, the label
                maps keep the logits' resolution.
            input_sizes (`list[tuple[int, int]]` or `torch.Tensor` `[B, 2]`, *optional*):
                `(H', W')` of the processed frames (`pixel_values.shape[-2:]`). When given, logits are first resized
                to it and then to `target_sizes`, as the official `encode_decode` + `whole_inference` do; a no-op
                when the logits already have the input size.

        Returns:
            `list[torch.Tensor]`: `B` int64 label maps, each `[H, W]` for 4-D logits or `[T, H, W]` for 5-D logits
            (bilinear resize of the logits with `align_corners=False`, then argmax over classes).
        """
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        if logits.ndim not in (4, 5):
            raise ValueError(f"logits must be [B, C, h, w] or [B, T, C, h, w], got shape {tuple(logits.shape)}.")

        def _per_sample(sizes, name):
            if sizes is None:
                return [None] * len(logits)
            if isinstance(sizes, torch.Tensor):
                sizes = sizes.tolist()
            if len(sizes) != len(logits):
                raise ValueError(
                    f"Make sure that you pass in as many {name} as the batch dimension of the logits "
                    f"({len(sizes)} vs {len(logits)})."
                )
            return [tuple(int(v) for v in s) for s in sizes]

        results = []
        for sample, input_size, target_size in zip(
            logits, _per_sample(input_sizes, "input_sizes"), _per_sample(target_sizes, "target_sizes")
        ):
            frames = sample if logits.ndim == 5 else sample[None]  # [T, C, h, w]
            frames = frames.float()
            for size in (input_size, target_size):
                if size is not None and tuple(frames.shape[-2:]) != size:
                    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
            label_map = frames.argmax(dim=1)
            results.append(label_map if logits.ndim == 5 else label_map[0])
        return results


# save_pretrained() writes `auto_map` and copies this file, so that `AutoImageProcessor.from_pretrained(dir,
# trust_remote_code=True)` works without the mrcfa package.
MrcfaVideoProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = ["MrcfaVideoProcessor"]
