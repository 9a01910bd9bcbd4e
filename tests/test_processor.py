"""MrcfaImageProcessor: the official test preprocessing (sizes, cv2-exact resizing, normalisation), accepted inputs,
labels, post-processing, save / load, Auto classes, the image-segmentation pipeline and trust_remote_code.

The golden hashes below were computed with real OpenCV (opencv-python-headless 4.10.0 and 5.0.0 give the same
bytes) running the official pipeline: mmcv.imrescale to (853, 480) and AlignedResize's ceil alignment to 32 with
cv2.resize(INTER_LINEAR / INTER_NEAREST) on uint8, Normalize_clips' float32 mean / std through mmcv.imnormalize
(cv2.subtract, cv2.multiply), and LoadAnnotations' reduce_zero_label. OpenCV is not needed to run these tests.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config
from PIL import Image
from transformers import AutoConfig, AutoImageProcessor, pipeline
from transformers.modeling_outputs import SemanticSegmenterOutput
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

import mrcfa
from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor, to_8bit_scale

MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def pattern(height, width):
    """Deterministic uint8 RGB frame [H, W, 3] (the input of the golden hashes)."""
    y = np.arange(height, dtype=np.int64)[:, None, None]
    x = np.arange(width, dtype=np.int64)[None, :, None]
    c = np.arange(3, dtype=np.int64)[None, None, :]
    return ((x * 37 + y * 91 + c * 53 + (x * y) % 17 * 11) % 256).astype(np.uint8)


def mask_pattern(height, width):
    """Deterministic raw VSPW-like mask [H, W] uint8 with values 0..129 (0 = "others")."""
    y, x = np.indices((height, width))
    return ((x // 7 + y // 5 * 3) % 130).astype(np.uint8)


def sha(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def processor():
    return MrcfaImageProcessor()


@pytest.fixture(scope="module")
def registered():
    """The registrations `mrcfa/__init__.py` performs (idempotent)."""
    backends = {"pil": MrcfaImageProcessor, "torchvision": MrcfaImageProcessor}
    AutoConfig.register("mrcfa", MrcfaConfig, exist_ok=True)
    AutoImageProcessor.register(MrcfaConfig, image_processor_classes=backends, exist_ok=True)
    AutoVideoProcessor.register(MrcfaConfig, video_processor_classes=backends, exist_ok=True)


# ---------------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "original, rescaled, output",
    [
        ((480, 854), (479, 853), (480, 864)),  # VSPW 480p: int(480 * 853 / 854 + 0.5) = 479, then up to 480
        ((480, 853), (480, 853), (480, 864)),
        ((720, 1280), (480, 853), (480, 864)),
        ((1080, 1920), (480, 853), (480, 864)),
        ((360, 640), (480, 853), (480, 864)),
        ((500, 1000), (427, 853), (448, 864)),  # ceil: 427 -> 448 (the nearest multiple would be 416)
        ((1000, 500), (853, 427), (864, 448)),
        ((97, 301), (275, 853), (288, 864)),
        ((480, 480), (480, 480), (480, 480)),
    ],
)
def test_output_size_rounds_up_to_multiples_of_32(processor, original, rescaled, output):
    assert processor.get_output_size(*original, size_divisor=1) == rescaled
    assert processor.get_output_size(*original) == output


@pytest.mark.parametrize(
    "size, golden",
    [
        ((480, 854), ("3155517c7e48244a", "205e81718034df1d", "9b1649103b6d6bc8", (480, 864))),
        ((500, 1000), ("33ffb44bb6646216", "400a5d37a4c1d499", "dd97ff2fa3e3db69", (448, 864))),
        ((1080, 1920), ("6c166ac68c20cf4a", "057fa466abfac6af", "6cf95634b8ad9c4a", (480, 864))),
        ((97, 301), ("d7bf34619a4db562", "49f2cbb01a32c64f", "fb79b1ba1ef0681c", (288, 864))),
    ],
)
def test_official_preprocessing_is_bit_exact_to_opencv(processor, size, golden):
    resized_hash, pixel_hash, label_hash, out_size = golden
    frame, mask = Image.fromarray(pattern(*size)), Image.fromarray(mask_pattern(*size))
    out = processor(images=frame, segmentation_maps=mask, do_reduce_labels=True, return_tensors="np")
    assert out["pixel_values"].shape == (1, 3, *out_size) and out["pixel_values"].dtype == np.float32
    assert out["labels"].shape == (1, *out_size) and out["labels"].dtype == np.int64
    assert out["original_sizes"].tolist() == [list(size)]
    assert sha(out["pixel_values"][0]) == pixel_hash
    assert sha(out["labels"][0]) == label_hash
    raw = processor(images=frame, do_normalize=False, return_tensors="np")["pixel_values"][0]
    assert np.array_equal(raw, np.round(raw))  # quantised to uint8 after each resize, as cv2 on uint8 images
    assert sha(raw.transpose(1, 2, 0).astype(np.uint8)) == resized_hash


def test_small_resizes_match_opencv_values():
    # size_divisor=1 and a tiny scale turn the processor into a single cv2.resize(INTER_LINEAR) of known output.
    up = np.array([[0, 37, 74], [91, 139, 187]], dtype=np.uint8)  # 2x3 -> 3x5 (scale factor 1.5)
    up_cv2 = [[0, 15, 37, 59, 74], [46, 62, 88, 113, 131], [91, 110, 139, 168, 187]]
    down = np.array(
        [[0, 37, 74, 111, 148, 185, 222], [91, 139, 187, 235, 27, 75, 123],
         [182, 241, 44, 103, 162, 221, 24], [17, 87, 157, 227, 41, 111, 250]],
        dtype=np.uint8,
    )  # fmt: skip
    down_cv2 = [[74, 173, 144], [142, 165, 156]]  # 4x7 -> 2x3
    for image, scale, expected in ((up, (5, 3), up_cv2), (down, (3, 2), down_cv2)):
        rgb = np.repeat(image[..., None], 3, axis=-1)
        out = MrcfaImageProcessor(size=scale, size_divisor=1, do_normalize=False)(images=rgb, return_tensors="pt")
        assert out["pixel_values"].shape == (1, 3, *np.array(expected).shape)
        for channel in range(3):
            assert out["pixel_values"][0, channel].tolist() == expected


def test_float_frames_use_bilinear_interpolate_without_quantisation(processor):
    frame = torch.rand(3, 61, 107, generator=torch.Generator().manual_seed(0)) * 255
    out = processor(images=frame, do_normalize=False, return_tensors="pt")["pixel_values"][0]
    rescaled = processor.get_output_size(61, 107, size_divisor=1)
    expected = F.interpolate(frame[None], size=rescaled, mode="bilinear", align_corners=False, antialias=False)
    expected = F.interpolate(expected, size=processor.get_output_size(61, 107), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, expected[0], rtol=0, atol=1e-4)
    # Documented tolerance between the uint8 (cv2-exact, quantised twice) and float paths: <= 1.5 grey levels.
    uint8_frame = pattern(97, 301)
    as_uint8 = processor(images=uint8_frame, do_normalize=False)["pixel_values"]
    as_float = processor(images=uint8_frame.astype(np.float32), do_normalize=False)["pixel_values"]
    diff = np.abs(as_uint8 - as_float)
    assert 0.5 < diff.max() <= 1.5


def test_normalisation_uses_the_official_mean_and_std(processor):
    frame = np.empty((48, 64, 3), dtype=np.uint8)
    frame[:16] = (124, 116, 104)
    frame[16:32] = 0
    frame[32:] = 255
    # 64x48 -> 640x480, rows 0-159 / 160-319 / 320-479 mostly constant: check the block centres.
    pixels = processor(images=frame, return_tensors="pt")["pixel_values"][0]
    assert pixels.shape == (3, 480, 640)
    for row, value in ((60, (124, 116, 104)), (240, (0, 0, 0)), (420, (255, 255, 255))):
        expected = (np.array(value) - MEAN) / STD
        torch.testing.assert_close(pixels[:, row, 320], torch.tensor(expected, dtype=torch.float32), rtol=0, atol=1e-6)
    assert pixels[:, 60, 320].tolist() == pytest.approx([0.0055655, -0.0049020, 0.0081917], abs=1e-6)
    assert pixels[:, 240, 320].tolist() == pytest.approx([-2.1179039, -2.0357143, -1.8044444], abs=1e-6)
    assert pixels[:, 420, 320].tolist() == pytest.approx([2.2489083, 2.4285715, 2.64], abs=1e-6)
    raw = processor(images=frame, do_normalize=False, return_tensors="pt")["pixel_values"][0]
    assert raw[:, 60, 320].tolist() == [124.0, 116.0, 104.0]
    hf_style = processor(
        images=frame, do_rescale=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], return_tensors="pt"
    )["pixel_values"][0]
    assert hf_style[:, 60, 320].tolist() == pytest.approx(
        [124 / 127.5 - 1, 116 / 127.5 - 1, 104 / 127.5 - 1], abs=1e-6
    )


# ---------------------------------------------------------------------------------------------------- inputs


def test_clip_formats_agree(processor):
    clip = np.stack([pattern(50, 90), pattern(50, 90)[::-1], 255 - pattern(50, 90)])  # [T, H, W, 3]
    variants = {
        "pil frames": [Image.fromarray(frame) for frame in clip],
        "numpy THWC": clip,
        "numpy frames HWC": list(clip),
        "torch TCHW": torch.from_numpy(clip).permute(0, 3, 1, 2),
        "torch THWC": torch.from_numpy(clip),
        "torch frames CHW": list(torch.from_numpy(clip).permute(0, 3, 1, 2)),
    }
    outputs = {name: processor(videos=value, return_tensors="pt")["pixel_values"] for name, value in variants.items()}
    reference = outputs.pop("pil frames")
    assert reference.shape == (1, 3, 3, 480, 864)
    for name, value in outputs.items():
        assert torch.equal(value, reference), name
    forced = processor(videos=clip.transpose(0, 3, 1, 2), input_data_format="channels_first", return_tensors="pt")
    assert torch.equal(forced["pixel_values"], reference)

    batch = processor(videos=[clip, list(clip[::-1])], return_tensors="pt")
    assert batch["pixel_values"].shape == (2, 3, 3, 480, 864)
    assert torch.equal(batch["pixel_values"][0], reference[0])
    assert torch.equal(batch["pixel_values"][1], reference[0].flip(0))
    assert batch["original_sizes"].tolist() == [[50, 90], [50, 90]]
    assert torch.equal(processor(videos=np.stack([clip, clip]), return_tensors="pt")["pixel_values"][1], reference[0])

    # Single images: one image -> [1, 3, H', W'], a list / 4-D array -> [B, 3, H', W'], same values as the clip.
    single = processor(images=Image.fromarray(clip[2]), return_tensors="pt")["pixel_values"]
    assert single.shape == (1, 3, 480, 864) and torch.equal(single[0], reference[0, 2])
    several = processor(images=[clip[0], torch.from_numpy(clip[1]).permute(2, 0, 1)], return_tensors="pt")
    assert several["pixel_values"].shape == (2, 3, 480, 864)
    assert torch.equal(several["pixel_values"], reference[0, :2])
    assert torch.equal(processor(images=clip, return_tensors="pt")["pixel_values"], reference[0])
    # Frames of different sizes that give the same processed size may share a batch.
    mixed = processor(images=[pattern(480, 854), pattern(480, 853)], return_tensors="pt")
    assert mixed["pixel_values"].shape == (2, 3, 480, 864)
    assert mixed["original_sizes"].tolist() == [[480, 854], [480, 853]]
    assert "original_sizes" not in processor(images=clip[0], return_original_sizes=False)


def test_non_rgb_pil_images_are_converted(processor):
    rgba = Image.fromarray(np.dstack([pattern(40, 70), np.full((40, 70), 128, np.uint8)]), mode="RGBA")
    gray = Image.fromarray(pattern(40, 70)[..., 0], mode="L")
    for image in (rgba, gray):
        converted = processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"]
        assert torch.equal(processor(images=image, return_tensors="pt")["pixel_values"], converted)
    gray_out = processor(images=gray, do_normalize=False, return_tensors="pt")["pixel_values"][0]
    assert torch.equal(gray_out[0], gray_out[1]) and torch.equal(gray_out[1], gray_out[2])
    # Without do_convert_rgb, modes L / RGB / RGBA keep their channels (normalised with one value per channel).
    kept = processor(images=gray, do_convert_rgb=False, image_mean=[0.0], image_std=[1.0], return_tensors="pt")
    assert kept["pixel_values"].shape == (1, 1, 480, 864) and torch.equal(kept["pixel_values"][0, 0], gray_out[0])
    kept = processor(images=rgba, do_convert_rgb=False, image_mean=[0.0] * 4, image_std=[1.0] * 4)["pixel_values"]
    assert kept.shape == (1, 4, 480, 864) and np.all(kept[0, 3] == 128)
    with pytest.raises(ValueError, match=r"^image_mean has 3 values for 1-channel frames: give one value per channel"):
        processor(images=gray, do_convert_rgb=False)
    with pytest.raises(ValueError, match="mode P: without do_convert_rgb only modes L, RGB and RGBA"):
        processor(images=gray.convert("P"), do_convert_rgb=False)


HINT_16BIT = (
    "pass 16-bit frames as uint16 arrays or PIL images of mode I;16 (scaled to 0-255 as image tools do), or scale the "
    "values to 0-255 first."
)


def test_16_bit_frames_are_scaled_to_8_bits_as_image_tools_do(processor):
    """uint16 frames and PIL `I;16` images (16-bit PNG / TIFF) are reduced with round(v * 255 / 65535), not clipped to
    white (PIL's convert) nor normalised unscaled (values near 900); integers in 0-255 are 8-bit frames."""
    # the reduction itself: round(v / 257), exactly, on the rounding edges
    edges = np.array([0, 128, 129, 385, 386, 32767, 65406, 65407, 65535], np.uint16)
    assert to_8bit_scale(edges).tolist() == [0, 0, 1, 1, 2, 127, 254, 255, 255]
    assert to_8bit_scale(edges).tolist() == np.rint(edges / 257).astype(int).tolist()
    rgb = pattern(40, 70)
    noise = np.random.default_rng(0).integers(-128, 129, rgb.shape)  # stays within one 8-bit level
    rgb16 = (rgb.astype(np.int64) * 257 + noise).clip(0, 65535).astype(np.uint16)
    expected = processor(images=rgb, return_tensors="pt")["pixel_values"]
    for image in (rgb16, torch.from_numpy(rgb16.astype(np.int32)).to(torch.uint16), rgb.astype(np.int64)):
        assert torch.equal(processor(images=image, return_tensors="pt")["pixel_values"], expected)
    gray16 = Image.fromarray(rgb16[..., 0])
    assert gray16.mode == "I;16"  # PIL's own convert clips every value above 255 to white:
    assert np.array_equal(np.array(gray16.convert("L")), np.minimum(rgb16[..., 0], 255))
    expected_gray = processor(images=Image.fromarray(rgb[..., 0]), return_tensors="pt")["pixel_values"]
    assert torch.equal(processor(images=gray16, return_tensors="pt")["pixel_values"], expected_gray)
    assert to_8bit_scale(gray16).mode == "L" and np.array_equal(np.array(to_8bit_scale(gray16)), rgb[..., 0])
    # PIL I (32-bit integers) and F (floats) within 0-255 are 8-bit images
    for mode_image in (Image.fromarray(rgb[..., 0].astype(np.int32)), Image.fromarray(rgb[..., 0].astype(np.float32))):
        assert torch.equal(processor(images=mode_image, return_tensors="pt")["pixel_values"], expected_gray)
    # label maps of mode I;16 hold class ids: never scaled
    labels16 = Image.fromarray(mask_pattern(40, 70).astype(np.uint16))
    assert labels16.mode == "I;16"
    assert torch.equal(
        processor(images=rgb, segmentation_maps=labels16, return_tensors="pt")["labels"],
        processor(images=rgb, segmentation_maps=mask_pattern(40, 70), return_tensors="pt")["labels"],
    )


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.full((20, 30, 3), 900.0, np.float32), "Frame of dtype float32 has values in [900, 900], outside 0-255, the "
         f"scale of 8-bit pixel values: {HINT_16BIT}"),
        (torch.full((3, 20, 30), -1.5), "Frame of dtype float32 has values in [-1.5, -1.5], outside 0-255, the scale "
         f"of 8-bit pixel values: {HINT_16BIT}"),
        (np.arange(20 * 30 * 3).reshape(20, 30, 3), "Frame of dtype int64 has values in [0, 1799], outside 0-255, and "
         f"its bit depth is unknown: {HINT_16BIT}"),
        (Image.fromarray(np.full((20, 30), 300, np.int32)), "PIL image of mode I has values in [300, 300], outside "
         f"0-255, and its bit depth is unknown: {HINT_16BIT}"),
        (Image.fromarray(np.full((20, 30), 1e4, np.float32)), "PIL image of mode F has values in [10000, 10000], "
         f"outside 0-255, the scale of 8-bit pixel values: {HINT_16BIT}"),
        (Image.fromarray(np.full((20, 30), np.nan, np.float32)), "PIL image of mode F has NaN or infinite pixel "
         "values."),
        (np.zeros((20, 30, 3), bool), "Frame of dtype bool: frames must hold real pixel values on the 0-255 scale."),
    ],
)  # fmt: skip
def test_frames_of_unknown_scale_are_refused_with_the_range(processor, frame, message):
    with pytest.raises(ValueError) as error:
        processor(images=frame)
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        processor(videos=[frame, frame])
    assert str(error.value) == message


FRAME = np.zeros((20, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        # grayscale / RGBA arrays are converted with do_convert_rgb (the default); without it they keep their
        # channels, which the 3-value official mean / std do not fit
        (dict(images=np.zeros((20, 30), np.uint8), do_convert_rgb=False), "image_mean has 3 values for 1-channel"),
        (dict(images=np.zeros((20, 30, 1), np.uint8), do_convert_rgb=False), "image_mean has 3 values for 1-chan"),
        (dict(images=np.zeros((20, 30, 4), np.uint8), do_convert_rgb=False), "image_mean has 3 values for 4-chan"),
        (dict(videos=np.zeros((2, 20, 30, 4), np.uint8), do_convert_rgb=False), "image_mean has 3 values for 4-"),
        (dict(images=[FRAME, FRAME[..., :1]], do_convert_rgb=False), r"different numbers of channels.*\[3, 1\]"),
        (dict(images=np.zeros((20, 30, 2), np.uint8)), "3 channels"),
        (dict(images=np.zeros((1, 2, 20, 30, 3), np.uint8)), "Use videos="),
        (dict(images=[np.zeros((2, 20, 30, 3), np.uint8)]), "3-D array"),
        (dict(videos=FRAME), "Use images="),
        (dict(videos=[]), "empty"),
        (dict(videos=[[]]), "empty clip"),
        (dict(videos=np.zeros((0, 20, 30, 3), np.uint8)), "empty clip"),
        (dict(videos=[FRAME, np.zeros((22, 30, 3), np.uint8)]), "same size"),
        (dict(videos=[[FRAME, FRAME], [FRAME]]), "same number of frames"),
        (dict(videos=[[FRAME, np.zeros((30, 20, 3), np.uint8)]]), "same size"),  # clips of any size, frames not
        (dict(videos=[[FRAME], FRAME]), "mixes clips"),
        (dict(images=FRAME, videos=[FRAME]), "exactly one"),
        (dict(), "exactly one"),
        (dict(images=FRAME, segmentation_maps=np.zeros((20, 31), np.uint8)), "do not match"),
        (dict(videos=[FRAME, FRAME], segmentation_maps=[np.zeros((20, 30))]), "do not match"),
        (dict(images=FRAME, segmentation_maps=Image.fromarray(FRAME)), "single-channel"),
        (dict(images=FRAME, size={"height": 480, "width": 640}), "longest_edge"),
        (dict(images=FRAME, size_divisor="32"), "size_divisor"),
        (dict(images=FRAME, return_tensors="tf"), "return_tensors"),
    ],
)
def test_bad_inputs_raise_clear_errors(processor, kwargs, match):
    with pytest.raises(ValueError, match=match):
        processor(**kwargs)


# ---------------------------------------------------------------------------------------------------- labels


def test_label_reduction_values():
    raw = np.array([0, 1, 2, 124, 254, 255])
    assert MrcfaImageProcessor.reduce_label(raw).tolist() == [255, 0, 1, 123, 253, 255]


def test_segmentation_maps_to_labels(processor):
    mask = np.zeros((48, 80), dtype=np.uint8)
    mask[:, 20:40], mask[:, 40:60], mask[:, 60:] = 1, 124, 255
    frame = pattern(48, 80)
    raw = processor(images=frame, segmentation_maps=Image.fromarray(mask), return_tensors="pt")["labels"]
    reduced = processor(images=frame, segmentation_maps=mask, do_reduce_labels=True, return_tensors="pt")["labels"]
    assert raw.shape == reduced.shape == (1, 480, 800) and raw.dtype == reduced.dtype == torch.int64
    assert set(raw.unique().tolist()) == {0, 1, 124, 255}  # nearest: no new values
    assert set(reduced.unique().tolist()) == {255, 0, 123}
    assert torch.equal(reduced, torch.from_numpy(MrcfaImageProcessor.reduce_label(raw.numpy())))
    assert raw[0, 10, :200].eq(0).all() and raw[0, 10, 200:400].eq(1).all() and raw[0, 10, 600:].eq(255).all()
    assert reduced[0, 10, :200].eq(255).all() and reduced[0, 10, 200:400].eq(0).all()

    # Clips: a list of maps per clip or a [T, H, W] / [B, T, H, W] array; labels [B, T, H', W'].
    clip_maps = np.stack([mask, mask[:, ::-1], mask])
    clip = np.stack([frame] * 3)
    one = processor(videos=clip, segmentation_maps=list(clip_maps), return_tensors="pt")["labels"]
    assert one.shape == (1, 3, 480, 800)
    assert torch.equal(one[0, 0], raw[0]) and torch.equal(one[0, 1], raw[0].flip(-1))
    assert torch.equal(processor(videos=clip, segmentation_maps=clip_maps, return_tensors="pt")["labels"], one)
    batch = processor(
        videos=[clip, clip], segmentation_maps=torch.from_numpy(np.stack([clip_maps, clip_maps])), return_tensors="pt"
    )["labels"]
    assert batch.shape == (2, 3, 480, 800) and torch.equal(batch[1], one[0])
    pil_batch = processor(
        videos=[clip, clip], segmentation_maps=[[Image.fromarray(m) for m in clip_maps]] * 2, return_tensors="pt"
    )["labels"]
    assert torch.equal(pil_batch, batch)
    images = processor(images=[frame, frame], segmentation_maps=clip_maps[:2], return_tensors="pt")["labels"]
    assert images.shape == (2, 480, 800) and torch.equal(images, one[0, :2])


# ---------------------------------------------------------------------------------------------------- outputs


def test_post_process_semantic_segmentation(processor):
    logits = torch.randn(2, 5, 8, 12, generator=torch.Generator().manual_seed(0))
    sizes = [(30, 50), (480, 854)]
    maps = processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits), target_sizes=sizes)
    assert [tuple(m.shape) for m in maps] == sizes and all(m.dtype == torch.int64 for m in maps)
    for label_map, sample, size in zip(maps, logits, sizes):
        resized = F.interpolate(sample[None], size=size, mode="bilinear", align_corners=False)
        assert torch.equal(label_map, resized[0].argmax(0))
    # A class that dominates everywhere wins everywhere; without target sizes: argmax at the logits' size.
    constant = torch.zeros(2, 5, 8, 12)
    constant[0, 3], constant[1, 1] = 1.0, 1.0
    maps = processor.post_process_semantic_segmentation({"logits": constant}, target_sizes=torch.tensor(sizes))
    assert maps[0].eq(3).all() and maps[1].eq(1).all() and tuple(maps[1].shape) == (480, 854)
    native = processor.post_process_semantic_segmentation(SimpleNamespace(logits=logits))
    assert [tuple(m.shape) for m in native] == [(8, 12)] * 2 and torch.equal(native[1], logits[1].argmax(0))

    # The official two-step resize (logits -> input size -> original size) with input_sizes.
    two_step = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=logits), target_sizes=sizes, input_sizes=[(32, 48)] * 2
    )
    expected = F.interpolate(logits[1:], size=(32, 48), mode="bilinear", align_corners=False)
    expected = F.interpolate(expected, size=sizes[1], mode="bilinear", align_corners=False)[0].argmax(0)
    assert torch.equal(two_step[1], expected)

    # Clip logits [B, T, C, h, w] -> one [T, H, W] map per clip.
    clip_logits = torch.randn(2, 3, 5, 8, 12, generator=torch.Generator().manual_seed(1))
    clip_maps = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=clip_logits), target_sizes=sizes
    )
    assert [tuple(m.shape) for m in clip_maps] == [(3, 30, 50), (3, 480, 854)]
    per_frame = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=clip_logits[1]), target_sizes=[sizes[1]] * 3
    )
    assert torch.equal(clip_maps[1], torch.stack(per_frame))

    with pytest.raises(ValueError, match="as many target_sizes"):
        processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits), target_sizes=sizes[:1])
    with pytest.raises(ValueError, match="logits must be"):
        processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits[0]))


PAIRS = "must be one (height, width) pair of positive integers per sample (a list of pairs or a [batch, 2] tensor)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target_sizes=[(30, 50)]), "Make sure that you pass in as many target_sizes as the batch dimension of the "
         "logits (1 vs 2): one (height, width) pair per sample."),
        (dict(target_sizes=(30, 50)), f"target_sizes {PAIRS}, got 30 for sample 0."),  # one pair for two samples
        (dict(target_sizes=[(30, 50, 3), (30, 50)]), f"target_sizes {PAIRS}, got [30, 50, 3] for sample 0."),
        (dict(target_sizes=torch.tensor([[30, 50, 3]] * 2)), f"target_sizes {PAIRS}, got [30, 50, 3] for sample 0."),
        (dict(target_sizes=[(30, 50), (30, -50)]), f"target_sizes {PAIRS}, got [30, -50] for sample 1."),
        (dict(target_sizes=[(0, 50), (30, 50)]), f"target_sizes {PAIRS}, got [0, 50] for sample 0."),
        (dict(target_sizes=[(30, 50.5), (30, 50)]), f"target_sizes {PAIRS}, got [30, 50.5] for sample 0."),
        (dict(target_sizes=480), f"target_sizes {PAIRS}, got 480."),
        (dict(input_sizes=[(32, 48), (32,)]), f"input_sizes {PAIRS}, got [32] for sample 1."),
        (dict(input_sizes=[(32, 48)] * 3), "Make sure that you pass in as many input_sizes as the batch dimension of "
         "the logits (3 vs 2): one (height, width) pair per sample."),
        (dict(pixel_mask=torch.ones(3, 32, 48)), "pixel_mask must be [B, H, W] or [B, T, H, W] with B = 2 (the batch "
         "dimension of the logits), got shape (3, 32, 48)."),
        (dict(pixel_mask=torch.ones(2, 32, 48), input_sizes=[(32, 48), (32, 32)]), "input_sizes[1] = (32, 32) does "
         "not match the valid size (32, 48) of sample 1 in the pixel_mask: give the processed size of each sample "
         "without padding."),
    ],
)  # fmt: skip
def test_post_process_rejects_bad_sizes_naming_the_argument(processor, kwargs, message):
    logits = torch.randn(2, 5, 8, 12, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError) as error:
        processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits), **kwargs)
    assert str(error.value) == message
    # integral sizes of any numeric type are fine (numpy / torch scalars, floats from a float tensor)
    maps = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=logits), target_sizes=[(np.int64(30), 50.0), torch.tensor([7, 9])]
    )
    assert [tuple(m.shape) for m in maps] == [(30, 50), (7, 9)]


def test_preprocess_then_post_process_maps_back_to_original_sizes(processor):
    clip = [Image.fromarray(pattern(500, 1000))] * 2
    inputs = processor(videos=[clip, clip], return_tensors="pt")
    assert inputs["pixel_values"].shape == (2, 2, 3, 448, 864)
    logits = torch.randn(2, 124, 448 // 4, 864 // 4)  # the model's stride-4 logits of the target frame
    maps = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=logits), target_sizes=inputs["original_sizes"]
    )
    assert [tuple(m.shape) for m in maps] == [(500, 1000)] * 2
    assert int(maps[0].min()) >= 0 and int(maps[0].max()) < 124


# ---------------------------------------------------------------------------------------------------- loading


def test_save_and_load_round_trip(tmp_path):
    custom = MrcfaImageProcessor(size=(640, 360), size_divisor=16, do_reduce_labels=True)
    custom.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["size"] == {"longest_edge": 640, "shortest_edge": 360}
    assert saved["size_divisor"] == 16 and saved["do_reduce_labels"] is True and saved["do_rescale"] is False
    assert saved["image_mean"] == [123.675, 116.28, 103.53] and saved["image_std"] == [58.395, 57.12, 57.375]
    assert saved["image_processor_type"] == "MrcfaImageProcessor"
    assert saved["auto_map"] == {"AutoImageProcessor": "image_processing_mrcfa.MrcfaImageProcessor"}
    assert (tmp_path / "image_processing_mrcfa.py").is_file()  # shipped for trust_remote_code
    assert (tmp_path / "image_transforms_mrcfa.py").is_file()  # with the module it imports (resize kernels)

    loaded = MrcfaImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == custom.to_dict()
    assert loaded.get_output_size(480, 854) == (368, 640)  # 360 x 640 -> multiples of 16
    frame, mask = pattern(480, 854), mask_pattern(480, 854)
    a, b = custom(images=frame, segmentation_maps=mask), loaded(images=frame, segmentation_maps=mask)
    assert np.array_equal(a["pixel_values"], b["pixel_values"]) and np.array_equal(a["labels"], b["labels"])
    assert MrcfaImageProcessor.from_pretrained(tmp_path, size_divisor=32).get_output_size(480, 854) == (384, 640)


def test_auto_classes_find_the_processor(registered, tmp_path):
    MrcfaConfig().save_pretrained(tmp_path)
    MrcfaImageProcessor().save_pretrained(tmp_path)
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is MrcfaImageProcessor
    assert type(AutoVideoProcessor.from_pretrained(tmp_path)) is MrcfaImageProcessor
    assert type(AutoVideoProcessor.from_pretrained(tmp_path, backend="pil")) is MrcfaImageProcessor
    # The model type alone (no image_processor_type in the JSON) is enough too.
    data = json.loads((tmp_path / "preprocessor_config.json").read_text())
    for key in ("image_processor_type", "auto_map"):
        data.pop(key)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(data))
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is MrcfaImageProcessor


def test_former_name_loads_older_configs(registered, tmp_path):
    # Before the move to transformers' PilBackend the class was video_processing_mrcfa.MrcfaVideoProcessor. The
    # name still builds and loads the processor, and nothing is saved under it again.
    former = mrcfa.MrcfaVideoProcessor(size=(640, 360), do_reduce_labels=True)
    assert type(former) is MrcfaImageProcessor and former.get_output_size(480, 854) == (384, 640)
    former.save_pretrained(tmp_path)  # no config.json here
    assert type(mrcfa.MrcfaVideoProcessor.from_pretrained(tmp_path)) is MrcfaImageProcessor
    assert mrcfa.MrcfaVideoProcessor.__module__ == MrcfaImageProcessor.__module__
    data = json.loads((tmp_path / "preprocessor_config.json").read_text())
    data["image_processor_type"] = "MrcfaVideoProcessor"
    data["auto_map"] = {"AutoImageProcessor": "video_processing_mrcfa.MrcfaVideoProcessor"}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(data))
    for auto in (AutoImageProcessor, AutoVideoProcessor):
        loaded = auto.from_pretrained(tmp_path)
        assert type(loaded) is MrcfaImageProcessor and loaded.do_reduce_labels is True
        assert loaded.get_output_size(480, 854) == (384, 640)
    assert MrcfaImageProcessor.from_pretrained(tmp_path).size == MrcfaImageProcessor(size=(640, 360)).size


def test_every_registered_processor_class_saves_and_loads(registered, tmp_path):
    """What transformers' test mixins do with the classes registered for a model: build each, save it, load it back
    with the Auto class and the same backend. The former name is a class of the processor module (not an alias made
    on the fly in `mrcfa`, whose save_pretrained looked for `src/mrcfa/models.mrcfa.configuration_mrcfa.py`)."""
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING
    from transformers.models.auto.video_processing_auto import VIDEO_PROCESSOR_MAPPING

    for auto, mapping in (
        (AutoImageProcessor, IMAGE_PROCESSOR_MAPPING),
        (AutoVideoProcessor, VIDEO_PROCESSOR_MAPPING),
    ):
        classes = mapping[MrcfaConfig]
        assert set(classes) == {"pil", "torchvision", "former_name"}
        for backend, cls in classes.items():
            assert cls.__module__ == MrcfaImageProcessor.__module__, backend
            folder = tmp_path / auto.__name__ / backend
            processor = cls(size=(320, 180))
            processor.save_pretrained(folder)
            loaded = auto.from_pretrained(folder, backend=backend)
            assert type(loaded) is MrcfaImageProcessor and loaded.to_dict() == processor.to_dict(), backend


def test_image_segmentation_pipeline_loads_and_uses_the_processor(registered, tmp_path):
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    MrcfaImageProcessor(size=(160, 96)).save_pretrained(tmp_path)  # small scale: a fast test
    segmenter = pipeline("image-segmentation", model=str(tmp_path))
    assert type(segmenter.image_processor) is MrcfaImageProcessor
    image = Image.fromarray(pattern(75, 130))
    annotations = segmenter(image)
    assert annotations and all(a["mask"].size == image.size for a in annotations)
    assert {a["label"] for a in annotations} <= set(model.config.id2label.values())

    inputs = segmenter.image_processor(images=image, return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 3, 96, 160)  # 75x130 -> 92x160 -> 96x160
    with torch.no_grad():
        logits = model(**inputs).logits
    expected = segmenter.image_processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=logits), target_sizes=inputs["original_sizes"]
    )[0]
    union = np.zeros((75, 130), dtype=bool)
    for annotation in annotations:
        label_id = model.config.label2id[annotation["label"]]
        mask = np.array(annotation["mask"]) > 0
        assert np.array_equal(mask, expected.numpy() == label_id)
        union |= mask
    assert union.all()


def test_trust_remote_code_without_the_package(tmp_path):
    model_dir = tmp_path / "checkpoint"
    MrcfaConfig().save_pretrained(model_dir)  # AutoVideoProcessor reads the config (auto_map -> configuration file)
    processor = MrcfaImageProcessor(do_reduce_labels=True)
    processor.save_pretrained(model_dir)
    assert (model_dir / "image_processing_mrcfa.py").is_file() and (model_dir / "image_transforms_mrcfa.py").is_file()
    clip = np.stack([pattern(48, 80), 255 - pattern(48, 80)])
    masks = np.stack([mask_pattern(48, 80)] * 2)
    expected = processor(videos=clip, segmentation_maps=masks, return_tensors="pt")
    torch.save({"clip": clip, "masks": masks, **expected}, tmp_path / "io.pt")

    code = f"""
    import sys
    sys.modules["mrcfa"] = None  # the package is not installed for this user
    sys.modules["torchvision"] = None  # nor torchvision: the processor runs on transformers' PIL backend
    import torch
    from transformers import AutoImageProcessor
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor
    try:
        import mrcfa
        raise SystemExit("mrcfa should not be importable here")
    except ImportError:
        pass
    io = torch.load({str(tmp_path / "io.pt")!r}, weights_only=False)
    for auto in (AutoImageProcessor, AutoVideoProcessor):
        processor = auto.from_pretrained({str(model_dir)!r}, trust_remote_code=True)
        assert type(processor).__name__ == "MrcfaImageProcessor", type(processor)
        assert "transformers_modules" in type(processor).__module__, type(processor).__module__
        out = processor(videos=io["clip"], segmentation_maps=io["masks"], return_tensors="pt")
        assert torch.equal(out["pixel_values"], io["pixel_values"])
        assert torch.equal(out["labels"], io["labels"])
    print("OK")
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


# ---------------------------------------------------------------------------------- transformers' contracts


def test_post_process_matches_segformer(processor):
    """Every parameter of SegFormer's post-processing (plus input_sizes / pixel_mask), the same label maps and
    output types on the same logits and target sizes."""
    import inspect

    from transformers.image_processing_outputs import SemanticSegmentationPostProcessorOutput
    from transformers.models.segformer.image_processing_pil_segformer import SegformerImageProcessorPil

    segformer = SegformerImageProcessorPil()
    ours = inspect.signature(processor.post_process_semantic_segmentation).parameters
    theirs = inspect.signature(segformer.post_process_semantic_segmentation).parameters
    for name, parameter in theirs.items():
        assert name in ours and ours[name].default == parameter.default, name
    assert list(ours)[: len(theirs)] == list(theirs)  # same positional order
    assert "input_sizes" in ours

    logits = torch.randn(3, 6, 16, 24, generator=torch.Generator().manual_seed(3))
    outputs = SemanticSegmenterOutput(logits=logits)
    for sizes in (None, [(30, 50), (64, 96), (7, 13)]):
        expected = segformer.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        got = processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)
        if sizes is not None:  # a [B, 2] tensor too (SegFormer's own call fails on it in this version)
            as_tensor = processor.post_process_semantic_segmentation(outputs, target_sizes=torch.tensor(sizes))
            assert all(torch.equal(a, b) for a, b in zip(as_tensor, expected))
        assert len(got) == len(expected) and all(
            torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(got, expected)
        )
        expected = segformer.post_process_semantic_segmentation(outputs, sizes, return_segmentation_scores=True)
        got = processor.post_process_semantic_segmentation(outputs, sizes, return_segmentation_scores=True)
        for a, b in zip(got, expected):
            assert isinstance(a, SemanticSegmentationPostProcessorOutput) and set(a.keys()) == set(b.keys())
            assert torch.equal(a.segmentation, b.segmentation)
            torch.testing.assert_close(a.segmentation_scores, b.segmentation_scores)
    clip = processor.post_process_semantic_segmentation(
        SemanticSegmenterOutput(logits=logits[None]), [(30, 50)], return_segmentation_scores=True
    )[0]
    assert clip.segmentation.shape == (3, 30, 50) and clip.segmentation_scores.shape == (3, 6, 30, 50)


def test_binary_post_processing_thresholds_the_probability(processor):
    logits = torch.randn(2, 1, 8, 12, generator=torch.Generator().manual_seed(4))
    maps = processor.post_process_semantic_segmentation(SemanticSegmenterOutput(logits=logits))
    assert torch.equal(maps[0], (logits[0, 0].sigmoid() > 0.5).long()) and maps[0].dtype == torch.int64
    assert maps[0].any() and not maps[0].all()  # argmax over one channel would be all 0
    resized = processor.post_process_semantic_segmentation({"logits": logits}, target_sizes=[(30, 50)] * 2)
    expected = F.interpolate(logits[1:], size=(30, 50), mode="bilinear", align_corners=False)[0, 0].sigmoid() > 0.5
    assert torch.equal(resized[1], expected.long())
    clip = processor.post_process_semantic_segmentation({"logits": logits[:, None]})
    assert clip[0].shape == (1, 8, 12) and torch.equal(clip[0][0], maps[0])


def test_grayscale_and_rgba_arrays_are_converted(processor):
    rgb = pattern(40, 70)
    gray, alpha = rgb[..., 0], np.full((40, 70, 1), 7, np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=-1)
    expected_gray = processor(images=Image.fromarray(gray, mode="L"), return_tensors="pt")["pixel_values"]
    expected_rgba = processor(images=Image.fromarray(rgba, mode="RGBA"), return_tensors="pt")["pixel_values"]
    assert torch.equal(expected_rgba, processor(images=rgb, return_tensors="pt")["pixel_values"])
    for image in (gray, gray[..., None], gray[None], torch.from_numpy(gray), torch.from_numpy(gray[None])):
        assert torch.equal(processor(images=image, return_tensors="pt")["pixel_values"], expected_gray)
    rgba_t = torch.from_numpy(rgba)
    for image in (rgba, rgba.transpose(2, 0, 1), rgba_t, rgba_t.permute(2, 0, 1)):
        assert torch.equal(processor(images=image, return_tensors="pt")["pixel_values"], expected_rgba)
    mixed = processor(images=[gray, rgba, Image.fromarray(rgb), torch.from_numpy(gray)], return_tensors="pt")
    assert torch.equal(mixed["pixel_values"][1], expected_rgba[0]) and torch.equal(
        mixed["pixel_values"][3], expected_gray[0]
    )
    # Clips: a [T, H, W, 4] array or a list of grayscale frames.
    clip = processor(videos=np.stack([rgba, rgba]), return_tensors="pt")["pixel_values"]
    assert clip.shape == (1, 2, 3, 480, 864) and torch.equal(clip[0, 1], expected_rgba[0])
    assert torch.equal(processor(videos=[gray, gray], return_tensors="pt")["pixel_values"][0, 0], expected_gray[0])
    for image in (gray, gray[..., None], rgba, torch.from_numpy(rgba).permute(2, 0, 1)):
        with pytest.raises(ValueError, match=r"image_mean has 3 values for [14]-channel frames"):
            processor(images=image, do_convert_rgb=False)


def assert_padded_maps_equal_alone(processor, outputs, batch, refs, alone, sizes):
    """Each item of a padded batch gets, pixel for pixel, the label map it gets alone (one resize rule whatever its
    batch-mates), with SegFormer's one-step resize and with the official two-step one (`input_sizes`); for the
    target frame's logits and every frame's (5-D `frame_logits`, whose padding is given with `pixel_mask=`)."""
    post = processor.post_process_semantic_segmentation
    one_step = post(outputs, target_sizes=batch["original_sizes"])
    two_step = post(outputs, target_sizes=batch["original_sizes"], input_sizes=sizes)
    frames = post({"logits": outputs.frame_logits}, batch["original_sizes"], pixel_mask=batch["pixel_mask"])
    for i, (item, ref) in enumerate(zip(alone, refs)):
        original = item["original_sizes"]
        assert one_step[i].shape == tuple(original[0].tolist())
        assert torch.equal(one_step[i], post(ref, target_sizes=original)[0])
        assert torch.equal(two_step[i], post(ref, target_sizes=original, input_sizes=[sizes[i]])[0])
        assert torch.equal(frames[i], post({"logits": ref.frame_logits}, target_sizes=original)[0])
    # the two rules give different maps here, so that mixing them (the former behaviour of pixel_mask) would fail
    assert any(not torch.equal(a, b) for a, b in zip(one_step, two_step))
    # logits without their padding (a dict): the processor's pixel_mask gives the same maps; input_sizes of different
    # sizes without it would stretch the padding into the maps, an error
    explicit = post(
        {"logits": outputs.logits}, batch["original_sizes"], input_sizes=sizes, pixel_mask=batch["pixel_mask"]
    )
    assert all(torch.equal(a, b) for a, b in zip(explicit, two_step))
    with pytest.raises(ValueError) as error:
        post({"logits": outputs.logits}, batch["original_sizes"], input_sizes=sizes)
    assert str(error.value) == (
        f"input_sizes differ between samples ({sizes}), so the logits come from a padded batch, but its padding is "
        "unknown: pass the processor's pixel_mask (pixel_mask=inputs['pixel_mask']), or outputs of a model called "
        "with it (they carry it as outputs.pixel_mask)."
    )


def test_batches_of_different_sizes_are_padded_and_equal_each_item_alone(processor):
    """Images / clips of different sizes: keep-ratio resize each, pad bottom / right with a pixel_mask; the model
    and the post-processing give each item exactly what it gets alone."""
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config(num_clips=2, reference_offsets=[-3])).eval()
    small = MrcfaImageProcessor(size={"longest_edge": 160, "shortest_edge": 96})
    # -> 96x160, 128x96 (via 120x90), 96x160 (via 67x160: sides rounded up to multiples of 32)
    frames = [pattern(96, 160), pattern(200, 150), pattern(50, 120)]
    masks = [mask_pattern(*f.shape[:2]) % 7 for f in frames]
    batch = small(images=frames, segmentation_maps=masks, return_tensors="pt")
    assert batch["pixel_values"].shape == (3, 3, 128, 160) and batch["pixel_mask"].dtype == torch.int64
    alone = [small(images=f, segmentation_maps=m, return_tensors="pt") for f, m in zip(frames, masks)]
    for i, item in enumerate(alone):
        h, w = item["pixel_values"].shape[-2:]
        assert batch["pixel_mask"][i].sum() == h * w and batch["pixel_mask"][i, :h, :w].eq(1).all()
        assert torch.equal(batch["pixel_values"][i, :, :h, :w], item["pixel_values"][0])
        assert batch["pixel_values"][i, :, h:].eq(0).all() and batch["labels"][i, h:].eq(255).all()
        assert torch.equal(batch["labels"][i, :h, :w], item["labels"][0])
    assert batch["original_sizes"].tolist() == [list(f.shape[:2]) for f in frames]
    np_batch = small(images=frames)
    assert np_batch["pixel_mask"].dtype == np.int64 and np.array_equal(np_batch["pixel_mask"], batch["pixel_mask"])

    with torch.no_grad():
        outputs = model(**batch)
        refs = [model(**item) for item in alone]
    assert torch.equal(outputs.pixel_mask, batch["pixel_mask"])  # the padding travels with the outputs
    sizes = [tuple(item["pixel_values"].shape[-2:]) for item in alone]
    for i, ((h, w), ref) in enumerate(zip(sizes, refs)):
        torch.testing.assert_close(outputs.logits[i, :, : h // 4, : w // 4], ref.logits[0], atol=1e-5, rtol=0)
    assert_padded_maps_equal_alone(small, outputs, batch, refs, alone, sizes)

    # Clips of different sizes (frames of a clip share one size).
    clips = [[pattern(96, 160)] * 2, [pattern(200, 150)] * 2]
    clip_batch = small(videos=clips, return_tensors="pt")
    assert clip_batch["pixel_values"].shape == (2, 2, 3, 128, 160) and clip_batch["pixel_mask"].shape == (2, 128, 160)
    assert clip_batch["pixel_mask"][1].sum() == 128 * 96
    alone = [small(videos=clip, return_tensors="pt") for clip in clips]
    with torch.no_grad():
        out = model(**clip_batch)
        refs = [model(**item) for item in alone]
    torch.testing.assert_close(out.logits[1, :, :32, :24], refs[1].logits[0], atol=1e-5, rtol=0)
    sizes = [tuple(item["pixel_values"].shape[-2:]) for item in alone]
    assert_padded_maps_equal_alone(small, out, clip_batch, refs, alone, sizes)
    # Same sizes: no pixel_mask, today's outputs.
    assert "pixel_mask" not in small(images=[frames[0], frames[0]], return_tensors="pt")
    with pytest.raises(ValueError, match="same size"):
        small(videos=[[pattern(96, 160), pattern(50, 120)]])
