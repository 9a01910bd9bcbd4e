# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Processor of MRCFA images and clips: the official VSPW test preprocessing, on transformers' torchvision-free base.

Ships inside every saved checkpoint (``trust_remote_code``) with ``image_transforms_mrcfa.py``, the resize kernels,
normalisation and label reduction it shares with the package's data transforms; both import only numpy, PIL, torch,
transformers and huggingface_hub, never the rest of ``mrcfa``.

The official test pipeline (mmseg ``AlignedResize_clips(keep_ratio=True, size_divisor=32)`` under
``MultiScaleFlipAug(img_scale=(853, 480))``, then ``Normalize_clips``), bit-exact for uint8 frames (docs/design.md,
"Preprocessing" and "Official behaviours we reproduce on purpose"):

1. keep-ratio rescale (``mmcv.imrescale``, ``new_side = int(side * factor + 0.5)``): 480x854 becomes 479x853;
2. a **second** resize to the next multiples of 32, rounding **up** (``np.ceil``: 427 -> 448, not 416). Both resizes
   are ``cv2.resize(INTER_LINEAR)`` on uint8 images, so the image is quantised to uint8 after each;
3. ``mmcv.imnormalize`` with mean (123.675, 116.28, 103.53) and std (58.395, 57.12, 57.375), RGB, float32.

Float frames (any other dtype, 0-255 scale) are resized with ``F.interpolate`` bilinear, without the two uint8
roundings (at most 1.5 grey levels from the uint8 result). No code path depends on torchvision.

Pixel values go through ``to_8bit_scale`` (``image_transforms_mrcfa``, re-exported here): 16-bit frames (PIL
``I;16``, ``uint16``) are reduced to 0-255 as image tools do (``round(v * 255 / 65535)``), integer frames within
0-255 are read as uint8, and frames of unknown scale (other integers or floats outside 0-255, PIL ``I`` / ``F``
beyond 255) raise a ``ValueError`` giving the range found. Float frames with NaN or infinite values raise a
``ValueError`` naming the frame. Float frames whose values all lie in [0, 1] look already rescaled (transformers' ``is_scaled_image``) and are warned about as transformers' image
processors do, when the processor expects another scale (see ``MrcfaImageProcessor._check_pixel_scale``).
"""

import math
import numbers
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import validate_typed_dict
from huggingface_hub.errors import StrictDataclassError
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_outputs import SemanticSegmentationPostProcessorOutput
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import (
    ChannelDimension,
    SizeDict,
    is_pil_image,
    is_scaled_image,
    is_valid_image,
    make_flat_list_of_images,
    make_nested_list_of_images,
    to_numpy_array,
    validate_preprocess_arguments,
)
from transformers.processing_utils import ImagesKwargs, Unpack
from transformers.utils import logging
from transformers.utils.generic import to_py_obj

from .image_transforms_mrcfa import (
    IGNORE_INDEX,
    IMAGE_MEAN,
    IMAGE_STD,
    keep_ratio_size,
    normalize,
    reduce_labels,
    resize_bilinear,
    resize_nearest,
    to_8bit_scale,
)

logger = logging.get_logger(__name__)

#: transformers' warning for already rescaled images (e.g. `image_processing_vivit.py`), word for word.
RESCALED_TWICE_WARNING = (
    "It looks like you are trying to rescale already rescaled images. If the input images have pixel values between 0 "
    "and 1, set `do_rescale=False` to avoid rescaling them again."
)
#: The same situation without `do_rescale`: the official normalisation expects values on the 0-255 scale.
RESCALED_INPUT_WARNING = (
    "It looks like you are passing already rescaled images (float pixel values between 0 and 1), but this processor "
    "expects pixel values on the 0-255 scale (its image_mean / image_std are on that scale): multiply the frames by "
    "255, or pass `do_rescale=True, rescale_factor=255`."
)


class MrcfaImageProcessorKwargs(ImagesKwargs, total=False):
    r"""
    size_divisor (`int`, *optional*, defaults to `self.size_divisor`):
        After the keep-ratio resize, each side is resized again to the next multiple of `size_divisor` (rounding
        up, as the official `AlignedResize`). `None` or `1` skips this step.
    do_reduce_labels (`bool`, *optional*, defaults to `self.do_reduce_labels`):
        Reduce raw VSPW label values: 0 ("others") becomes 255 (ignored), every other `k` becomes `k - 1`, 255 stays.
    """

    size_divisor: int | None
    do_reduce_labels: bool | None


def _describe(value: Any) -> str:
    if is_pil_image(value):
        return f"PIL image {value.size[0]}x{value.size[1]} mode {value.mode}"
    return f"{type(value).__name__} of shape {tuple(value.shape)}" if is_valid_image(value) else type(value).__name__


def _is_positive_int(value: Any) -> bool:
    """An integer (or an integral float, as in a float tensor of sizes) greater than 0; not a bool."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value) and value == int(value) and value > 0


def _is_array(value: Any, *ndims: int) -> bool:
    """A numpy array / tensor (not a PIL image) with one of `ndims` dimensions (any when none is given)."""
    return is_valid_image(value) and not is_pil_image(value) and (not ndims or value.ndim in ndims)


class MrcfaImageProcessor(PilBackend):
    r"""Processor of MRCFA clips and images: the official VSPW test preprocessing, without torchvision.

    `images=` (one image or a list) gives `pixel_values` `[B, 3, H', W']`, `videos=` (one clip or a list of clips)
    `[B, T, 3, H', W']`. Each frame is resized keeping its aspect ratio to the scale `(size["longest_edge"],
    size["shortest_edge"])` (official `(853, 480)`), then each side to the next multiple of `size_divisor` (32), both
    cv2 `INTER_LINEAR` (bit-exact for uint8), and normalised with the official mean / std on the 0-255 scale: 480x854
    gives 480x864 (via 479x853), 720x1280 gives 480x864, 500x1000 gives 448x864 (via 427x853: rounded up).

    Built on transformers' `PilBackend`: inputs go through `make_flat_list_of_images` (images) and `process_image`,
    in channels-first numpy; resizing uses the cv2-exact kernels of `image_transforms_mrcfa` instead of PIL's
    antialiasing filters. Frames: PIL images (any mode, converted with `convert("RGB")` when `do_convert_rgb`), arrays
    / tensors `[H, W, 3]` or `[3, H, W]` on the 0-255 scale (uint8; uint16 and PIL `I;16` are reduced to 8 bits as
    image tools do, other integers must lie in 0-255, floats are kept as float; see `to_8bit_scale`). With
    `do_convert_rgb` (the default) grayscale `[H, W]`, `[H, W, 1]`, `[1, H, W]` arrays are repeated over RGB and RGBA
    `[H, W, 4]`, `[4, H, W]` arrays lose their alpha (as PIL's `convert("RGB")`); without it frames keep their 1, 3 or
    4 channels, as with transformers' processors (PIL images of modes L, RGB, RGBA; `image_mean` / `image_std` need
    one value per channel: the model takes `config.num_channels`). A clip is a list of frames or a `[T, H, W, C]` / `[T, C, H, W]` array; a batch is a list of clips
    or a 5-D array. Ambiguous channel axes are read as the axis with 3 channels, else channels-last for numpy,
    channels-first for torch (`input_data_format` forces it). The frames of a clip share one size (a `ValueError`
    otherwise) and the clips of a batch the number of frames.

    Items of a batch may have different sizes, as with every transformers image processor: each is resized by the
    keep-ratio rule, then the batch is padded at the bottom and right to the largest processed height and width
    (`pixel_values` 0, `labels` 255) and a `pixel_mask` int64 `[B, H', W']` (1 = valid, top-left) is returned; the
    model takes it (`model(**inputs)`) and gives each item the logits it gets alone, with the mask in its outputs
    (`outputs.pixel_mask`), and `post_process_semantic_segmentation(outputs, target_sizes=original_sizes)` crops each
    item's valid logits before resizing them: every item gets the label map it gets alone, whatever its batch-mates.
    A batch whose items share one processed size returns no `pixel_mask` (nothing is padded).

    `segmentation_maps` follow the structure of the inputs (per frame a PIL image of mode L, P or I or a 2-D array;
    `[B, H, W]` for images, `[T, H, W]` per clip, `[B, T, H, W]`), have the size of their frame, and give int64
    `labels` `[B, H', W']` / `[B, T, H', W']` (cv2 `INTER_NEAREST` over both resizes, after the label reduction when
    `do_reduce_labels`). `original_sizes` `[B, 2]` come with the outputs for `post_process_semantic_segmentation`.

    Auto classes: a saved processor names `AutoImageProcessor` in its `auto_map`. `import mrcfa` also registers it
    with `AutoVideoProcessor` (so either loads a checkpoint), but it does not meet transformers' contract of a video
    processor, and is not registered for that auto class: video processors subclass `BaseVideoProcessor` (built on
    the torchvision backend, which this processor must not need), take `videos` as first argument, return
    `pixel_values_videos` and save `video_preprocessor_config.json` with a `video_processor_type`; this one returns
    the model's input `pixel_values` for images and clips and saves `preprocessor_config.json`.
    `MrcfaVideoProcessor` is its former name: a subclass that adds nothing, which the Auto classes need to read
    folders saved under that name.

    Args:
        do_resize (`bool`, *optional*, defaults to `True`):
            Resize the frames (keep-ratio resize to `size`, then to multiples of `size_divisor`).
        size (`dict[str, int]`, *optional*, defaults to `{"longest_edge": 853, "shortest_edge": 480}`):
            The mmcv keep-ratio scale: factor `min(longest_edge / long side, shortest_edge / short side)`. A 2-tuple
            (mmcv's `img_scale`, any order) is accepted too.
        size_divisor (`int`, *optional*, defaults to 32):
            Each resized side is then resized up to the next multiple of `size_divisor`.
        do_rescale (`bool`, *optional*, defaults to `False`):
            Multiply by `rescale_factor` before normalising (off: the official mean / std are on the 0-255 scale).
        rescale_factor (`float`, *optional*, defaults to `1 / 255`):
            Factor used when `do_rescale`.
        do_normalize (`bool`, *optional*, defaults to `True`):
            Apply `(x - image_mean) / image_std` per channel.
        image_mean (`list[float]`, *optional*, defaults to `(123.675, 116.28, 103.53)`):
            RGB mean, official value.
        image_std (`list[float]`, *optional*, defaults to `(58.395, 57.12, 57.375)`):
            RGB standard deviation, official value.
        do_reduce_labels (`bool`, *optional*, defaults to `False`):
            VSPW's label reduction of `segmentation_maps` (0 -> 255, k -> k - 1, 255 stays); set it for raw VSPW masks.
        do_convert_rgb (`bool`, *optional*, defaults to `True`):
            Convert every frame to RGB: PIL images of another mode (L, RGBA, P, ...) with `convert("RGB")`, 1- and
            4-channel arrays as described above. When `False`, frames keep their channels (PIL modes L, RGB and RGBA
            only; other modes raise a `ValueError`).
    """

    valid_kwargs = MrcfaImageProcessorKwargs
    model_input_names = ["pixel_values"]

    do_resize = True
    size = {"longest_edge": 853, "shortest_edge": 480}
    size_divisor = 32
    do_rescale = False
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = IMAGE_MEAN
    image_std = IMAGE_STD
    do_reduce_labels = False
    do_convert_rgb = True

    def __init__(self, **kwargs: Unpack[MrcfaImageProcessorKwargs]):
        super().__init__(**kwargs)

    def _standardize_kwargs(self, size=None, **kwargs) -> dict:
        if isinstance(size, (list, tuple)):
            if len(size) != 2:
                raise ValueError(f"size as a tuple must be the mmcv scale (long, short), got {size}.")
            size = {"longest_edge": max(size), "shortest_edge": min(size)}
        return super()._standardize_kwargs(size=size, **kwargs)

    def _validate_preprocess_kwargs(self, do_resize=None, size=None, data_format=None, return_tensors=None, **kwargs):
        keys = ("do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std")
        validate_preprocess_arguments(**{key: kwargs.get(key) for key in keys})
        if do_resize:
            self._scale(size)
        if data_format is not None and ChannelDimension(data_format) != ChannelDimension.FIRST:
            raise ValueError(f"{type(self).__name__} only returns channels-first pixel_values.")
        if getattr(return_tensors, "value", return_tensors) not in (None, "np", "pt"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}.")

    @staticmethod
    def _scale(size: dict[str, int] | SizeDict) -> tuple[int, int]:
        longest, shortest = size.get("longest_edge"), size.get("shortest_edge")
        if longest is None or shortest is None:
            raise ValueError(
                "MrcfaImageProcessor resizes keeping the aspect ratio and needs size={'longest_edge': L, "
                f"'shortest_edge': S}} (official 853 and 480), got {dict(size)}."
            )
        return longest, shortest

    def get_output_size(self, height: int, width: int, size=None, size_divisor: int | None = None) -> tuple[int, int]:
        """The processed size `(H', W')` of a `height` x `width` frame (keep-ratio resize, then round up)."""
        size_divisor = self.size_divisor if size_divisor is None else size_divisor
        return keep_ratio_size(height, width, *self._scale(self.size if size is None else size), size_divisor)

    # ------------------------------------------------------------------------------------------------ operations

    def resize(self, image: torch.Tensor, size: SizeDict, size_divisor: int | None = None, **kwargs) -> torch.Tensor:
        """The official two resizes (keep-ratio, then to multiples of `size_divisor`) of `[..., C, H, W]` frames."""
        height, width = image.shape[-2:]
        for step_divisor in (None, size_divisor):
            image = resize_bilinear(image, *keep_ratio_size(height, width, *self._scale(size), step_divisor))
        return image

    def rescale(self, image: torch.Tensor, scale: float, **kwargs) -> torch.Tensor:
        return image.to(torch.float32) * float(scale)

    def normalize(self, image: torch.Tensor, mean, std, **kwargs) -> torch.Tensor:
        """`(image - mean) / std` per channel of `[..., C, H, W]`, float32, rounded as `mmcv.imnormalize`."""
        return normalize(image, mean, std)

    reduce_label = staticmethod(reduce_labels)

    # ------------------------------------------------------------------------------------------------ inputs

    @staticmethod
    def _pil_to_array(image, do_convert_rgb: bool | None) -> np.ndarray:
        """A PIL image -> `[H, W, 3]` (or, without `do_convert_rgb`, `[H, W]` / `[H, W, 4]`) uint8 array."""
        image = to_8bit_scale(image)  # 16-bit modes reduced as image tools do, not clipped to white by convert()
        if do_convert_rgb:
            return np.array(image if image.mode == "RGB" else image.convert("RGB"))
        if image.mode not in ("L", "RGB", "RGBA"):
            raise ValueError(
                f"Got a PIL image of mode {image.mode}: without do_convert_rgb only modes L, RGB and RGBA are read as "
                "they are; set do_convert_rgb=True to convert it to RGB."
            )
        return np.array(image)

    def process_image(self, image: Any, do_convert_rgb: bool | None = None, input_data_format=None, **kwargs):
        """One frame -> channels-first `[C, H, W]` numpy array, uint8 or float32 (the working format).

        Pixel values go through `to_8bit_scale` (16-bit frames reduced to 0-255, frames of unknown scale refused).
        With `do_convert_rgb` (the default), every frame becomes RGB: grayscale (`[H, W]`, `[H, W, 1]`, `[1, H, W]`)
        frames are repeated over the three channels and RGBA (`[H, W, 4]`, `[4, H, W]`) frames lose their alpha
        channel, as PIL's `convert("RGB")` does. Without it frames keep their 1, 3 or 4 channels (`image_mean` /
        `image_std` then need one value per channel), as transformers' image processors do.
        """
        if is_pil_image(image):
            image, input_data_format = self._pil_to_array(image, do_convert_rgb), ChannelDimension.LAST
        elif not is_valid_image(image):
            raise ValueError(f"A frame must be a PIL image, a numpy array or a torch tensor, got {_describe(image)}.")
        from_torch = isinstance(image, torch.Tensor)
        array = to_numpy_array(image.float() if from_torch and image.dtype == torch.bfloat16 else image)
        if array.ndim == 2:
            array, input_data_format = array[None], ChannelDimension.FIRST
        if array.ndim != 3:
            raise ValueError(f"A frame must be [H, W, 3] or [3, H, W] (or [H, W]), got {_describe(image)}.")
        first = self._channels_first(array, input_data_format, from_torch)
        channels = array.shape[0 if first else -1]
        if channels not in (1, 3, 4):
            raise ValueError(
                f"Expected RGB frames with 3 channels ([H, W, 3] or [3, H, W] per frame), got shape {array.shape} "
                f"({channels} channels in the {'first' if first else 'last'} axis)."
            )
        array = to_8bit_scale(array if first else np.moveaxis(array, -1, 0))
        if do_convert_rgb and channels == 1:
            array = np.repeat(array, 3, axis=0)
        elif do_convert_rgb and channels == 4:
            array = array[:3]
        return array

    @staticmethod
    def _channels_first(array: np.ndarray, input_data_format, from_torch: bool) -> bool:
        """Whether the channel axis of a 3-D frame is the first one (1, 3 or 4 channels; 3 preferred)."""
        if input_data_format is not None:
            return ChannelDimension(input_data_format) == ChannelDimension.FIRST
        first, last = array.shape[0] in (1, 3, 4), array.shape[-1] in (1, 3, 4)
        if first and last:  # ambiguous: prefer the axis of 3 channels, else numpy is channels-last, torch first
            if (array.shape[0] == 3) != (array.shape[-1] == 3):
                return array.shape[0] == 3
            return from_torch
        if not (first or last):
            raise ValueError(
                f"Expected RGB frames with 3 channels ([H, W, 3] or [3, H, W] per frame), got shape {array.shape} "
                "(no channel axis of 1, 3 or 4 channels first or last)."
            )
        return first

    def _prepare_images_structure(self, images: Any, expected_ndims: int = 3) -> list[Any]:
        """`images=` -> a flat list of images (transformers' `make_flat_list_of_images`), or a clear error."""
        if _is_array(images, 2):  # one grayscale image (converted by process_image when do_convert_rgb)
            return [images]
        if _is_array(images) and images.ndim not in (3, 4):
            raise ValueError(
                "images must be one image ([H, W, 3] / [3, H, W]), a batch array [B, ...] or a list of images, got "
                f"{_describe(images)}. Use videos= for clips."
            )
        if isinstance(images, (list, tuple)):
            if len(images) == 0:
                raise ValueError("Got an empty list of images.")
            for image in images:
                if not (is_pil_image(image) or isinstance(image, str) or _is_array(image, 2, 3)):
                    raise ValueError(
                        f"Each image must be a PIL image or a 2-D / 3-D array, got {_describe(image)}. "
                        "Use videos= for clips."
                    )
            if any(_is_array(image, 2) for image in images):  # grayscale frames: make_flat_list_of_images wants 3-D
                return list(self.fetch_images(list(images)))
        try:
            return super()._prepare_images_structure(images, expected_ndims=expected_ndims)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"images must be a PIL image, an array or a list of them, got {_describe(images)}."
            ) from error

    def _prepare_videos(self, videos: Any, do_convert_rgb: bool | None, input_data_format) -> list[np.ndarray]:
        """`videos=` -> a list of `[T, 3, H, W]` arrays, or a clear error."""
        if not (isinstance(videos, (list, tuple)) or _is_array(videos, 4, 5)):
            raise ValueError(
                "videos must be a clip ([T, H, W, 3] / [T, 3, H, W] or a list of frames) or a batch of clips, got "
                f"{_describe(videos)}. Use images= for single images."
            )
        if len(videos) == 0:
            raise ValueError("Got an empty clip / batch of clips.")
        if isinstance(videos, (list, tuple)):
            if len({isinstance(value, (list, tuple)) or _is_array(value, 4) for value in videos}) > 1:
                raise ValueError(
                    "videos mixes clips and single frames: pass one clip (list of frames) or a list of clips."
                )
            if any(isinstance(value, (list, tuple)) and len(value) == 0 for value in videos):
                raise ValueError("Got an empty clip (0 frames).")

        def frames_of(clip: Any) -> list[Any]:
            frames = list(clip)  # a [T, ...] array or a list of frames
            for frame in frames:
                if not (is_pil_image(frame) or _is_array(frame, 2, 3)):
                    raise ValueError(
                        "Could not read videos= as clips: a frame must be a PIL image or a 2-D / 3-D array, got "
                        f"{_describe(frame)}."
                    )
            return frames

        if _is_array(videos, 5):
            clips = [frames_of(clip) for clip in videos]
        elif _is_array(videos, 4) or not any(isinstance(v, (list, tuple)) or _is_array(v, 4) for v in videos):
            clips = [frames_of(videos)]  # one clip: a [T, ...] array or a list of frames
        else:
            clips = [frames_of(clip) for clip in videos]
        out = []
        for clip in clips:
            frames = [self.process_image(frame, do_convert_rgb, input_data_format) for frame in clip]
            if not frames:
                raise ValueError("Got an empty clip (0 frames).")
            if len({frame.shape[-2:] for frame in frames}) > 1:
                sizes = sorted({frame.shape[-2:] for frame in frames})
                raise ValueError(f"All frames of a clip must have the same size (H, W), got {sizes}.")
            self._check_channels(frames)
            if len({frame.dtype for frame in frames}) > 1:  # uint8 and float frames: all float
                frames = [frame.astype(np.float32) for frame in frames]
            out.append(np.stack(frames))
        return out

    @staticmethod
    def _map_to_array(mask: Any) -> np.ndarray:
        """One segmentation map -> `[H, W]` int64 array."""
        if is_pil_image(mask):
            array = np.array(mask)
            if array.ndim != 2:
                raise ValueError(f"Segmentation maps must be single-channel (PIL mode L, P, I), got mode {mask.mode}.")
        elif is_valid_image(mask):
            array = to_numpy_array(mask)
        else:
            raise ValueError(f"A segmentation map must be a PIL image or an array, got {_describe(mask)}.")
        if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
            array = array[0] if array.shape[0] == 1 else array[..., 0]
        if array.ndim != 2:
            raise ValueError(f"A segmentation map must be [H, W] (or [1, H, W]), got shape {array.shape}.")
        return array.astype(np.int64)

    def _prepare_segmentation_maps(self, maps: Any, video: bool) -> list[np.ndarray]:
        """`segmentation_maps=` -> a list of `[T, H, W]` int64 arrays (T = 1 for images)."""
        try:
            if video:
                clips = make_nested_list_of_images(list(maps) if _is_array(maps, 4) else maps, expected_ndims=2)
            else:
                clips = [[mask] for mask in make_flat_list_of_images(maps, expected_ndims=2)]
        except ValueError as error:
            structure = "[T, H, W] per clip, [B, T, H, W]" if video else "[H, W] per image, [B, H, W]"
            raise ValueError(
                f"segmentation_maps must follow the structure of the inputs ({structure} or lists), got "
                f"{_describe(maps)}: {error}"
            ) from error
        out = []
        for clip in clips:
            frames = [self._map_to_array(mask) for mask in clip]
            if len({frame.shape for frame in frames}) > 1:
                raise ValueError("All segmentation maps of a clip must have the same size.")
            out.append(np.stack(frames))
        return out

    # ------------------------------------------------------------------------------------------------ processing

    def __call__(
        self, images: Any = None, segmentation_maps: Any = None, videos: Any = None, **kwargs
    ) -> BatchFeature:
        """Preprocess images or clips; see [`~MrcfaImageProcessor.preprocess`]."""
        return self.preprocess(images, segmentation_maps=segmentation_maps, videos=videos, **kwargs)

    def preprocess(
        self,
        images: Any = None,
        segmentation_maps: Any = None,
        videos: Any = None,
        return_original_sizes: bool = True,
        **kwargs: Unpack[MrcfaImageProcessorKwargs],
    ) -> BatchFeature:
        r"""Preprocess images or clips (exactly one of `images` and `videos`; formats in the class docstring).

        Args:
            images: one image, a list of images or a batch array `[B, H, W, 3]` / `[B, 3, H, W]`. Images (and clips)
                of a batch may differ in size: the batch is then padded, with a `pixel_mask`.
            segmentation_maps: maps with the structure of `images` / `videos`.
            videos: one clip (list of frames, `[T, H, W, 3]` / `[T, 3, H, W]`) or a batch of clips.
            return_original_sizes: also return `original_sizes`, int64 `[B, 2]` (height, width before resizing), the
                `target_sizes` of [`~MrcfaImageProcessor.post_process_semantic_segmentation`]. The model's `forward`
                accepts and ignores it; set `False` for models that reject unknown inputs.
            kwargs: overrides of the processor attributes, `return_tensors` (`"pt"`, `"np"` or `None` for numpy),
                `input_data_format` (channel axis of array inputs) and `device`.

        Returns:
            [`BatchFeature`] with `pixel_values` float32 `[B, 3, H', W']` (images) or `[B, T, 3, H', W']` (videos),
            `labels` int64 `[B, H', W']` / `[B, T, H', W']` with `segmentation_maps`, `original_sizes`, and
            `pixel_mask` int64 `[B, H', W']` when the items of the batch have different processed sizes (padded).
        """
        if (images is None) == (videos is None):
            raise ValueError("Pass exactly one of images= (single images) and videos= (clips).")
        for key in ("image_mean", "image_std"):  # integers (e.g. image_mean=[0, 0, 0]) although typed as float
            if isinstance(kwargs.get(key), (list, tuple)):
                kwargs[key] = [float(v) for v in kwargs[key]]
        if type(kwargs.get("rescale_factor")) is int:  # e.g. rescale_factor=255 for frames in [0, 1]
            kwargs["rescale_factor"] = float(kwargs["rescale_factor"])
        try:
            validate_typed_dict(self.valid_kwargs, kwargs)
        except StrictDataclassError as error:
            raise ValueError(f"Invalid {type(self).__name__} argument: {error}") from error
        extra = dict(segmentation_maps=segmentation_maps, videos=videos, return_original_sizes=return_original_sizes)
        return super().preprocess(images, image_like_kwargs=extra, **kwargs)

    def _preprocess_image_like_inputs(
        self,
        images: Any,
        segmentation_maps: Any = None,
        videos: Any = None,
        return_original_sizes: bool = True,
        *,
        do_convert_rgb: bool | None = None,
        input_data_format=None,
        return_tensors=None,
        device=None,
        **kwargs,
    ) -> BatchFeature:
        is_video = videos is not None
        if is_video:
            clips = self._prepare_videos(videos, do_convert_rgb, input_data_format)
        else:
            frames = self._prepare_image_like_inputs(
                images, do_convert_rgb=do_convert_rgb, input_data_format=input_data_format
            )
            clips = [frame[None] for frame in frames]
        if len({len(clip) for clip in clips}) > 1:
            raise ValueError(
                f"All clips of a batch must have the same number of frames, got {[len(c) for c in clips]}."
            )
        self._check_channels(clips)
        self._check_pixel_scale(clips, is_video, **kwargs)
        original_sizes = [tuple(clip.shape[-2:]) for clip in clips]
        pixel_values = self._preprocess(clips, **kwargs)
        sizes = [tuple(p.shape[-2:]) for p in pixel_values]
        labels = None
        if segmentation_maps is not None:
            labels = self._preprocess_segmentation_maps(segmentation_maps, clips, is_video, **kwargs)
        if len(set(sizes)) > 1:  # items of different processed sizes: pad (bottom / right), with a pixel_mask
            height, width = max(h for h, _ in sizes), max(w for _, w in sizes)
            data = {
                "pixel_values": torch.stack([self._pad(p, height, width, 0.0) for p in pixel_values]),
                "pixel_mask": torch.zeros(len(sizes), height, width, dtype=torch.int64),
            }
            for mask, (h, w) in zip(data["pixel_mask"], sizes):
                mask[:h, :w] = 1
            if labels is not None:
                data["labels"] = torch.stack([self._pad(lab, height, width, IGNORE_INDEX) for lab in labels])
        else:
            data = {"pixel_values": torch.stack(pixel_values)}
            if labels is not None:
                data["labels"] = torch.stack(labels)
        if not is_video:
            data = {key: value if key == "pixel_mask" else value[:, 0] for key, value in data.items()}
        if return_original_sizes:
            data["original_sizes"] = torch.tensor(original_sizes, dtype=torch.int64)
        if getattr(return_tensors, "value", return_tensors) in (None, "np"):
            data = {key: value.numpy() for key, value in data.items()}
        elif device is not None:
            data = {key: value.to(device) for key, value in data.items()}
        return BatchFeature(data=data)

    @staticmethod
    def _check_channels(frames: list[np.ndarray]) -> None:
        """Frames (`[C, H, W]`) or clips (`[T, C, H, W]`) that are stacked together share their channel count."""
        channels = [frame.shape[-3] for frame in frames]
        if len(set(channels)) > 1:
            raise ValueError(
                f"Frames with different numbers of channels cannot share a batch, got {channels} (do_convert_rgb=False "
                "keeps the channels of each input; set do_convert_rgb=True to convert them all to RGB)."
            )

    @staticmethod
    def _check_pixel_scale(
        clips: list[np.ndarray],
        is_video: bool,
        do_rescale: bool = False,
        rescale_factor: float = 1 / 255,
        do_normalize: bool = True,
        image_mean=None,
        **kwargs,
    ) -> None:
        """Reject float frames holding NaN or infinite values (`ValueError` naming the frame); warn, as transformers'
        image processors do (`is_scaled_image`, `logger.warning_once`), about float frames whose values all lie in
        [0, 1] when the processor expects another scale: with `do_rescale` (and `rescale_factor < 1`), transformers'
        own warning; without it, when the normalisation's mean is on the 0-255 scale (the official setting). A
        processor configured for [0, 1] inputs (`do_rescale=True, rescale_factor=255`, or a [0, 1] `image_mean` with
        `do_rescale=False`) takes them silently. uint8 frames are never checked."""
        scaled = False
        for item, clip in enumerate(clips):
            if clip.dtype == np.uint8:
                continue
            finite = np.isfinite(clip).reshape(len(clip), -1).all(axis=1)
            if not finite.all():
                frame = int(np.flatnonzero(~finite)[0])
                if is_video:
                    where = f"frame {frame} of {f'clip {item}' if len(clips) > 1 else 'the clip'}"
                else:
                    where = f"image {item}" if len(clips) > 1 else "the image"
                raise ValueError(f"{where} has NaN or infinite pixel values: every pixel must be a finite number.")
            scaled = scaled or any(is_scaled_image(frame) for frame in clip)
        if not scaled:
            return
        if do_rescale:
            if rescale_factor < 1:
                logger.warning_once(RESCALED_TWICE_WARNING)
        elif do_normalize and image_mean is not None and max(np.atleast_1d(image_mean)) > 1:
            logger.warning_once(RESCALED_INPUT_WARNING)

    def _preprocess(
        self,
        images: list[np.ndarray],
        do_resize: bool,
        size: SizeDict,
        size_divisor: int | None,
        do_rescale: bool,
        rescale_factor: float,
        do_normalize: bool,
        image_mean,
        image_std,
        **kwargs,
    ) -> list[torch.Tensor]:
        """Clips `[T, C, H, W]` (uint8 or float32) -> `[T, C, H', W']` float32: resize, rescale, normalise."""
        channels = images[0].shape[-3]
        for name, values in (("image_mean", image_mean), ("image_std", image_std)):
            if do_normalize and len(np.atleast_1d(values)) not in (1, channels):
                raise ValueError(
                    f"{name} has {len(np.atleast_1d(values))} values for {channels}-channel frames: give one value "
                    "per channel (do_convert_rgb=False keeps the channels of the input; do_convert_rgb=True converts "
                    "frames to RGB)."
                )
        processed = []
        for clip in images:
            clip = torch.from_numpy(np.require(clip, requirements="CW"))
            if do_resize:
                clip = self.resize(clip, size, size_divisor)
            clip = self.rescale(clip, rescale_factor) if do_rescale else clip.to(torch.float32)
            if do_normalize:
                clip = self.normalize(clip, image_mean, image_std)
            processed.append(clip.contiguous())
        return processed

    def _preprocess_segmentation_maps(
        self,
        segmentation_maps: Any,
        clips: list[np.ndarray],
        is_video: bool,
        do_resize: bool,
        size: SizeDict,
        size_divisor: int | None,
        do_reduce_labels: bool,
        **kwargs,
    ) -> list[torch.Tensor]:
        """`[T, H', W']` int64 labels per item: label reduction, then cv2 nearest over the two official resizes."""
        maps = self._prepare_segmentation_maps(segmentation_maps, video=is_video)
        if len(maps) != len(clips):
            raise ValueError(f"Got {len(maps)} segmentation map clips / images for {len(clips)} inputs.")
        labels = []
        for clip_maps, clip in zip(maps, clips):
            if clip_maps.shape != (clip.shape[0], *clip.shape[-2:]):
                raise ValueError(
                    f"Segmentation maps of shape {tuple(clip_maps.shape)} (T, H, W) do not match frames of shape "
                    f"{(clip.shape[0], *clip.shape[-2:])}."
                )
            clip_maps = self.reduce_label(clip_maps) if do_reduce_labels else clip_maps
            height, width = clip_maps.shape[-2:]
            for step_divisor in (None, size_divisor) if do_resize else ():
                clip_maps = resize_nearest(
                    clip_maps, *keep_ratio_size(height, width, *self._scale(size), step_divisor)
                )
            labels.append(torch.from_numpy(np.require(clip_maps, requirements="CW")))
        return labels

    @staticmethod
    def _pad(frames: torch.Tensor, height: int, width: int, value: float) -> torch.Tensor:
        """Pad `[..., h, w]` at the bottom and right to `height` x `width` with `value`."""
        return F.pad(frames, (0, width - frames.shape[-1], 0, height - frames.shape[-2]), value=value)

    # ------------------------------------------------------------------------------------------------ outputs

    def post_process_semantic_segmentation(
        self,
        outputs: Any,
        target_sizes=None,
        return_segmentation_scores: bool = False,
        input_sizes=None,
        pixel_mask=None,
    ) -> list[torch.Tensor] | list[SemanticSegmentationPostProcessorOutput]:
        """Turn model logits into label maps, resized to each frame's original size.

        The arguments and outputs of transformers' `SegformerImageProcessor.post_process_semantic_segmentation`, plus
        `input_sizes` (the official two-step resize), `pixel_mask` (padded batches) and clip logits.

        Each sample gets the label map it gets alone, whatever the other samples of its batch: the resize steps
        depend only on `target_sizes` and `input_sizes`. The logits of a padded batch (items of different sizes, see
        the class docstring) are first cropped to each sample's valid, top-left part; the padding comes from
        `outputs.pixel_mask` (set by the model's forward with a `pixel_mask`) or from the `pixel_mask` argument (for
        outputs that do not carry it, e.g. a dict of logits). `input_sizes` of different sizes without either mean
        padded logits whose padding is unknown: a `ValueError`, rather than a stretched map.

        Args:
            outputs (`ModelOutput` or `dict`): with `logits` `[B, C, h, w]` (one frame per sample, e.g. the target
                frame) or `[B, T, C, h, w]` (every frame of each clip), and optionally `pixel_mask`.
            target_sizes (`list[tuple[int, int]]` or `torch.Tensor` `[B, 2]`, *optional*): `(height, width)` of each
                sample's original frames (e.g. `original_sizes`); `None` keeps the logits' resolution.
            return_segmentation_scores (`bool`, *optional*, defaults to `False`): return, per sample, a
                [`SemanticSegmentationPostProcessorOutput`] with `segmentation` (the label map) and
                `segmentation_scores` (the resized logits, `[C, H, W]` or `[T, C, H, W]`), as SegFormer does.
            input_sizes (same types as `target_sizes`, *optional*): `(H', W')` of each sample's processed frames
                (without padding). When given, logits are first resized to it, then to `target_sizes`, as the
                official `encode_decode` + `whole_inference` do; without it they are resized once, as SegFormer does.
            pixel_mask (`torch.Tensor` `[B, H, W]` or `[B, T, H, W]`, *optional*): the processor's `pixel_mask` of a
                padded batch (1 = valid, top-left), when `outputs` does not carry it.

        Returns:
            `list[torch.Tensor]` (or `list[SemanticSegmentationPostProcessorOutput]`): `B` int64 label maps, `[H, W]`
            for 4-D logits or `[T, H, W]` for 5-D logits: bilinear resize of the logits (`align_corners=False`), then
            argmax over classes, or, with one channel (binary segmentation, `num_labels == 1`), `sigmoid > 0.5`.
        """
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        if logits.ndim not in (4, 5):
            raise ValueError(f"logits must be [B, C, h, w] or [B, T, C, h, w], got shape {tuple(logits.shape)}.")
        target_sizes = self._sizes_per_sample(target_sizes, "target_sizes", len(logits))
        input_sizes = self._sizes_per_sample(input_sizes, "input_sizes", len(logits))
        valid = self._valid_fractions(outputs, pixel_mask, input_sizes, len(logits))

        results = []
        for sample, fraction, input_size, target_size in zip(logits, valid, input_sizes, target_sizes):
            frames = (sample if logits.ndim == 5 else sample[None]).float()  # [T, C, h, w]
            if fraction is not None:  # the valid, top-left part of a padded batch's logits
                h, w = frames.shape[-2:]
                frames = frames[..., : round(h * fraction[0]), : round(w * fraction[1])]
            for size in (input_size, target_size):
                if size is not None and tuple(frames.shape[-2:]) != size:
                    frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False)
            if frames.shape[1] == 1:  # binary segmentation: one logit per pixel
                segmentation = (frames[:, 0].sigmoid() > 0.5).long()
            else:
                segmentation = frames.argmax(dim=1)
            scores = frames
            if logits.ndim == 4:
                segmentation, scores = segmentation[0], scores[0]
            results.append(
                SemanticSegmentationPostProcessorOutput(
                    data={"segmentation": segmentation, "segmentation_scores": scores}
                )
                if return_segmentation_scores
                else segmentation
            )
        return results

    # ------------------------------------------------------------------------------------------------ streaming

    def init_video_session(
        self,
        video: Any = None,
        inference_device: str | torch.device = "cpu",
        inference_state_device: str | torch.device | None = None,
        processing_device: str | torch.device | None = None,
        video_storage_device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        """A streaming session (`MrcfaVideoInferenceSession`) for one video, as Sam2Video's processor creates them.

        Push frames with `model(inference_session=session, frame=processor(images=frame)["pixel_values"][0])`; or
        give the whole `video` here, preprocessed and stored now, and step through it with
        `model.propagate_in_video_iterator(session)` (docs/design.md, "Streaming inference").

        Args:
            video (*optional*): a video to preload: a list of frames, a `[T, H, W, 3]` / `[T, 3, H, W]` array, or the
                path of a video file, a folder of frames or a VSPW video folder (as `mrcfa.segment_video` reads).
                Its frames must share one size. None when streaming.
            inference_device: where the model runs (`model.device`).
            inference_state_device: where the cached frame features stay between steps (default: `inference_device`).
            processing_device: where the preprocessed frames are put first (this processor computes on CPU; default:
                `inference_device`).
            video_storage_device: where the preloaded frames stay (default: `inference_device`).
            dtype: the dtype of the preloaded frames.
        """
        from .session_mrcfa import MrcfaVideoInferenceSession

        pixel_values = height = width = None
        if video is not None:
            if isinstance(video, (str, os.PathLike)):
                from .video_io_mrcfa import iter_frames

                video = list(iter_frames(video))
            inputs = self(
                videos=video,
                return_tensors="pt",
                device=processing_device if processing_device is not None else inference_device,
            )
            if inputs["pixel_values"].shape[0] != 1:
                raise ValueError(
                    f"init_video_session takes one video, got a batch of {inputs['pixel_values'].shape[0]} clips."
                )
            pixel_values = inputs["pixel_values"][0]
            height, width = (int(v) for v in inputs["original_sizes"][0])
        return MrcfaVideoInferenceSession(
            video=pixel_values,
            video_height=height,
            video_width=width,
            inference_device=inference_device,
            inference_state_device=inference_state_device,
            video_storage_device=video_storage_device,
            dtype=dtype,
        )

    @staticmethod
    def _sizes_per_sample(sizes: Any, name: str, batch: int) -> list[tuple[int, int] | None]:
        """`target_sizes` / `input_sizes` -> one `(height, width)` pair of positive ints per sample, or a clear error."""
        if sizes is None:
            return [None] * batch
        expected = f"{name} must be one (height, width) pair of positive integers per sample (a list of pairs or a "
        expected += "[batch, 2] tensor)"
        sizes = to_py_obj(sizes)
        if not isinstance(sizes, (list, tuple)):
            raise ValueError(f"{expected}, got {sizes!r}.")
        if len(sizes) != batch:
            raise ValueError(
                f"Make sure that you pass in as many {name} as the batch dimension of the logits "
                f"({len(sizes)} vs {batch}): one (height, width) pair per sample."
            )
        for index, size in enumerate(sizes):
            if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(map(_is_positive_int, size))):
                raise ValueError(f"{expected}, got {size!r} for sample {index}.")
        return [(int(height), int(width)) for height, width in sizes]

    @staticmethod
    def _valid_fractions(
        outputs: Any, pixel_mask: Any, input_sizes: list, batch: int
    ) -> list[tuple[float, float] | None]:
        """Per sample, the valid fraction `(h / H, w / W)` of padded logits (`None`: not padded), from the pixel mask
        of `outputs` or the argument; checks it against `input_sizes`."""
        carried = outputs.get("pixel_mask") if isinstance(outputs, dict) else getattr(outputs, "pixel_mask", None)
        masks = [m for m in (pixel_mask, carried) if m is not None]
        if not masks:
            if len({size for size in input_sizes if size is not None}) > 1:
                raise ValueError(
                    f"input_sizes differ between samples ({input_sizes}), so the logits come from a padded batch, "
                    "but its padding is unknown: pass the processor's pixel_mask (pixel_mask=inputs['pixel_mask']), "
                    "or outputs of a model called with it (they carry it as outputs.pixel_mask)."
                )
            return [None] * batch
        found = []
        for mask in masks:
            mask = torch.as_tensor(to_py_obj(mask) if not isinstance(mask, torch.Tensor) else mask)
            mask = mask[:, -1] if mask.ndim == 4 else mask
            if mask.ndim != 3 or len(mask) != batch:
                raise ValueError(
                    f"pixel_mask must be [B, H, W] or [B, T, H, W] with B = {batch} (the batch dimension of the "
                    f"logits), got shape {tuple(mask.shape)}."
                )
            mask = mask.bool()
            sizes = torch.stack([mask.any(-1).sum(-1), mask.any(-2).sum(-1)], dim=-1).tolist()
            found.append(([tuple(size) for size in sizes], tuple(mask.shape[-2:])))
        if len(found) == 2 and found[0] != found[1]:
            raise ValueError("The pixel_mask argument does not match the pixel_mask the outputs carry.")
        sizes, padded = found[0]
        for index, (size, input_size) in enumerate(zip(sizes, input_sizes)):
            if input_size is not None and input_size != size:
                raise ValueError(
                    f"input_sizes[{index}] = {input_size} does not match the valid size {size} of sample {index} in "
                    "the pixel_mask: give the processed size of each sample without padding."
                )
        return [(h / padded[0], w / padded[1]) for h, w in sizes]


class MrcfaVideoProcessor(MrcfaImageProcessor):
    """The processor's former name (``video_processing_mrcfa.MrcfaVideoProcessor``, before it moved onto transformers'
    `PilBackend`): constructing it, or loading with it (`from_pretrained`, `from_dict`), gives an
    `MrcfaImageProcessor`, so code using the name keeps working and nothing is saved under it again.

    It is a class of its own because the Auto classes find a processor by the class name saved in its config: folders
    saved under the former name (`"image_processor_type": "MrcfaVideoProcessor"`) load with `AutoImageProcessor`
    because `import mrcfa` registers this class (key `"former_name"`, next to the `"pil"` and `"torchvision"`
    backends, which both are `MrcfaImageProcessor`); with `trust_remote_code`, `AutoVideoProcessor` asks a
    checkpoint's `image_processing_mrcfa.py` for this name.
    """

    def __new__(cls, *args, **kwargs) -> MrcfaImageProcessor:
        return MrcfaImageProcessor(*args, **kwargs)


# save_pretrained() writes `auto_map` and copies this file with the modules it imports (image_transforms_mrcfa.py),
# so that `AutoImageProcessor.from_pretrained(dir, trust_remote_code=True)` works without the mrcfa package.
MrcfaImageProcessor.register_for_auto_class("AutoImageProcessor")

__all__ = ["MrcfaImageProcessor", "MrcfaVideoProcessor", "to_8bit_scale"]
