# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Unit tests of the clip transforms (mmseg semantics, one geometry per clip, per-frame photometric draws)."""

import colorsys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mrcfa.constants import IMAGE_MEAN, IMAGE_STD
from mrcfa.data.transforms import (
    VspwEvalTransform,
    VspwTrainTransform,
    _hsv_to_rgb_u8,
    _rgb_to_hsv_u8,
    choose_crop_window,
    example_rng,
    normalize_image,
    pad_array,
    photometric_distortion,
    reduce_labels,
    rescale_shape,
    resize_bilinear,
    resize_nearest,
)
from mrcfa.data.transforms import (
    test_resize_shape as official_test_shape,
)

MEAN = np.asarray(IMAGE_MEAN, dtype=np.float32)[:, None, None]
STD = np.asarray(IMAGE_STD, dtype=np.float32)[:, None, None]


def _denorm(pixel_values):
    return pixel_values * STD + MEAN


def _clip(num_frames=4, height=40, width=60, seed=0, num_classes=6):
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(num_frames)]
    masks = []
    for _ in range(num_frames):
        mask = np.zeros((height, width), dtype=np.uint8)
        for k in range(1, num_classes + 1):  # vertical bands of classes 1..K, 0 in the first band
            mask[:, (k * width) // (num_classes + 1) :] = k
        masks.append(mask)
    return {
        "video_id": "v",
        "frame_indices": list(range(num_frames)),
        "frames": frames,
        "masks": masks,
        "clip_seed": 5,
    }


# ---------------------------------------------------------------------------------------------------------------------
def test_sizes():
    assert rescale_shape(480, 853) == (480, 853)
    assert rescale_shape(360, 640) == (480, 853)  # factor 4/3: 853.33 -> 853
    assert rescale_shape(720, 1280, (1706, 960)) == (960, 1706)  # factor 1706 / 1280 limits
    assert rescale_shape(96, 160) == (480, 800)
    assert official_test_shape(480, 853) == (480, 864)
    assert official_test_shape(720, 1280) == (480, 864)
    # the official _align rounds UP: 650 -> 672 (nearest would give 640)
    assert official_test_shape(480, 650) == (480, 672)
    assert official_test_shape(500, 500) == (480, 480)


def test_reduce_labels():
    raw = np.array([[0, 1, 5], [124, 254, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(reduce_labels(raw), [[255, 0, 4], [123, 253, 255]])
    pil = Image.frombytes("P", (3, 2), raw.tobytes())
    np.testing.assert_array_equal(reduce_labels(pil), reduce_labels(raw))


def test_resize_bilinear_values_and_window():
    row = np.array([[0, 100]], dtype=np.uint8)
    np.testing.assert_array_equal(resize_bilinear(row, 1, 4), [[0, 25, 75, 100]])  # OpenCV INTER_LINEAR
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for out_h, out_w in [(74, 106), (20, 31), (37, 53), (50, 29)]:
        full = resize_bilinear(image, out_h, out_w)
        assert full.shape == (out_h, out_w, 3) and full.dtype == np.uint8
        reference = F.interpolate(
            torch.from_numpy(image).permute(2, 0, 1)[None].float(), (out_h, out_w), mode="bilinear",
            align_corners=False, antialias=False,
        )[0].permute(1, 2, 0).numpy()  # fmt: skip
        # OpenCV's fixed-point INTER_LINEAR (reproduced bit-exactly: test_processor.py) rounds its 11-bit weights,
        # so it can be up to ~0.8 from the exact float value rounded (0.625 / 0.731 / 0.771 on these sizes)
        assert np.abs(full.astype(np.float32) - reference).max() <= 0.8
        window = (3, out_h - 2, 5, out_w - 1)
        np.testing.assert_array_equal(resize_bilinear(image, out_h, out_w, window), full[3 : out_h - 2, 5 : out_w - 1])
    np.testing.assert_array_equal(resize_bilinear(image, 37, 53), image)


def test_resize_nearest_matches_opencv_sampling():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 256, (23, 41), dtype=np.uint8)
    for out_h, out_w in [(46, 82), (10, 17), (31, 60)]:
        out = resize_nearest(mask, out_h, out_w)
        # torch "nearest" uses floor(dst * src / dst_size) like OpenCV INTER_NEAREST
        reference = F.interpolate(torch.from_numpy(mask)[None, None].float(), (out_h, out_w), mode="nearest")
        np.testing.assert_array_equal(out, reference[0, 0].numpy().astype(np.uint8))
        np.testing.assert_array_equal(resize_nearest(mask, out_h, out_w, (2, 9, 4, 10)), out[2:9, 4:10])


def test_pad_and_normalize():
    image = np.full((2, 3, 3), 255, dtype=np.uint8)
    norm = normalize_image(image)
    assert norm.shape == (3, 2, 3) and norm.dtype == np.float32
    np.testing.assert_allclose(norm[:, 0, 0], (255 - np.asarray(IMAGE_MEAN)) / np.asarray(IMAGE_STD), rtol=1e-6)
    padded = pad_array(norm, (4, 5), 0.0)
    assert padded.shape == (3, 4, 5)
    assert (padded[:, 2:, :] == 0).all() and (padded[:, :, 3:] == 0).all()
    np.testing.assert_array_equal(padded[:, :2, :3], norm)
    label = pad_array(np.zeros((2, 3), dtype=np.int64), (3, 3), 255)
    np.testing.assert_array_equal(label, [[0, 0, 0], [0, 0, 0], [255, 255, 255]])


# ---------------------------------------------------------------------------------------------------------------------
class _CountingRng:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def integers(self, *args, **kwargs):
        self.calls += 1
        return self.rng.integers(*args, **kwargs)


def test_crop_class_cap_gives_up_after_ten_checks():
    label = np.zeros((50, 50), dtype=np.uint8)  # one class everywhere: never acceptable
    rng = _CountingRng(0)
    window = choose_crop_window(label, (20, 20), rng, cat_max_ratio=0.75)
    assert rng.calls == 2 * 11  # first window + one redraw after each of the 10 rejected checks
    assert window[1] - window[0] == 20 and window[3] - window[2] == 20
    rng = _CountingRng(0)
    choose_crop_window(label, (20, 20), rng, cat_max_ratio=1.0)  # cap disabled: a single draw
    assert rng.calls == 2


def _cap_ok(window, label, ratio=0.75):
    y0, y1, x0, x1 = window
    counts = np.bincount(label[y0:y1, x0:x1].ravel(), minlength=256)
    counts[255] = 0
    counts = counts[counts > 0]
    return counts.size > 1 and counts.max() / counts.sum() < ratio


def test_crop_class_cap_retries_until_acceptable():
    label = np.zeros((40, 200), dtype=np.uint8)  # left: only class 0 (+ ignored), right: two classes mixed
    label[:, :100] = 0
    label[:, 100:] = np.where(np.arange(100) % 2 == 0, 1, 2)
    label[:5, :] = 255  # ignored pixels are not counted
    capped = [choose_crop_window(label, (40, 40), np.random.default_rng(s), 0.75) for s in range(40)]
    uncapped = [choose_crop_window(label, (40, 40), np.random.default_rng(s), 1.0) for s in range(40)]
    assert all(_cap_ok(w, label) for w in capped)
    assert sum(not _cap_ok(w, label) for w in uncapped) >= 10


def test_crop_window_smaller_image_is_taken_whole():
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert choose_crop_window(label, (8, 8), np.random.default_rng(0), 0.75) == (0, 3, 0, 4)


# ---------------------------------------------------------------------------------------------------------------------
def test_train_transform_same_crop_window_on_every_frame():
    clip = _clip(height=60, width=90)
    base = clip["frames"][0]
    clip["frames"] = [base.copy() for _ in range(4)]
    transform = VspwTrainTransform(crop_size=(32, 32), scale=(90, 60), ratio_range=(1.0, 1.5), photometric=False)
    for seed in range(5):
        out = transform({**clip, "clip_seed": seed})
        assert out["pixel_values"].shape == (4, 3, 32, 32) and out["pixel_values"].dtype == np.float32
        assert out["labels"].shape == (4, 32, 32) and out["labels"].dtype == np.int64
        for t in range(1, 4):
            np.testing.assert_array_equal(out["pixel_values"][t], out["pixel_values"][0])
            np.testing.assert_array_equal(out["labels"][t], out["labels"][0])


def test_train_transform_crop_is_located_where_the_geometry_says():
    clip = _clip(height=60, width=90)
    # distinct frames; the crop of each frame must be the same window of that frame
    transform = VspwTrainTransform(crop_size=(24, 40), scale=(90, 60), ratio_range=(1.0, 1.0), photometric=False,
                                   flip_prob=0.0)  # fmt: skip
    out = transform(clip)
    rng = np.random.default_rng([0, 5])
    geometry = transform.sample_geometry(60, 90, reduce_labels(clip["masks"][-1]), rng)
    y0, y1, x0, x1 = geometry["window"]
    assert geometry["size"] == (60, 90) and (y1 - y0, x1 - x0) == (24, 40)
    for t in range(4):
        expected = clip["frames"][t][y0:y1, x0:x1].transpose(2, 0, 1).astype(np.float32)
        np.testing.assert_allclose(_denorm(out["pixel_values"][t]), expected, atol=1e-3)
        np.testing.assert_array_equal(out["labels"][t], reduce_labels(clip["masks"][t])[y0:y1, x0:x1])


def test_train_transform_class_cap_on_target_label():
    clip = _clip(height=64, width=64)
    # references: all class 1; target: mostly class 3 with a small mixed corner
    clip["masks"] = [np.full((64, 64), 1, np.uint8) for _ in range(3)] + [np.full((64, 64), 3, np.uint8)]
    clip["masks"][-1][:24, :24] = np.where(np.indices((24, 24)).sum(0) % 2 == 0, 4, 5)
    transform = VspwTrainTransform(crop_size=(24, 24), scale=(64, 64), ratio_range=(1.0, 1.0), photometric=False,
                                   flip_prob=0.0)  # fmt: skip
    accepted = 0
    for seed in range(30):
        labels = transform({**clip, "clip_seed": seed})["labels"]
        target = labels[-1]
        counts = np.bincount(target.ravel())
        accepted += counts.max() / counts.sum() < 0.75 and (counts > 0).sum() > 1
        assert (labels[0] == 0).all()  # references cropped at the same window
    assert accepted >= 25  # acceptable windows are rare (~7 %) but found by the retries


def test_train_transform_flips_images_and_masks_together():
    clip = _clip(height=32, width=48)
    kwargs = dict(crop_size=(32, 48), scale=(48, 32), ratio_range=(1.0, 1.0), photometric=False)
    plain = VspwTrainTransform(flip_prob=0.0, **kwargs)(clip)
    flipped = VspwTrainTransform(flip_prob=1.0, **kwargs)(clip)
    np.testing.assert_array_equal(flipped["pixel_values"], plain["pixel_values"][..., ::-1])
    np.testing.assert_array_equal(flipped["labels"], plain["labels"][..., ::-1])
    np.testing.assert_allclose(_denorm(plain["pixel_values"][2]), clip["frames"][2].transpose(2, 0, 1), atol=1e-3)
    # the flip is drawn once per clip: over seeds, either every frame is flipped or none
    for seed in range(10):
        out = VspwTrainTransform(flip_prob=0.5, **kwargs)({**clip, "clip_seed": seed})
        states = [np.array_equal(out["labels"][t], flipped["labels"][t]) for t in range(4)]
        assert len(set(states)) == 1


def test_train_transform_pads_with_0_and_255_and_reduces_labels():
    clip = _clip(height=20, width=30)
    out = VspwTrainTransform(crop_size=(32, 40), scale=(30, 20), ratio_range=(1.0, 1.0), photometric=False,
                             flip_prob=0.0)(clip)  # fmt: skip
    pixels, labels = out["pixel_values"], out["labels"]
    assert pixels.shape == (4, 3, 32, 40) and labels.shape == (4, 32, 40)
    assert (pixels[:, :, 20:, :] == 0).all() and (pixels[:, :, :, 30:] == 0).all()
    assert (labels[:, 20:, :] == 255).all() and (labels[:, :, 30:] == 255).all()
    np.testing.assert_array_equal(labels[:, :20, :30], np.stack([reduce_labels(m) for m in clip["masks"]]))
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4, 5, 255}  # raw 1..6 -> 0..5, raw 0 and padding -> 255


def test_train_transform_rescales_with_random_ratio():
    clip = _clip(height=40, width=60)
    transform = VspwTrainTransform(crop_size=(200, 200), scale=(60, 40), ratio_range=(0.5, 2.0), photometric=False)
    sizes = set()
    for seed in range(20):
        example = {**clip, "clip_seed": seed}
        out = transform(example)
        rng = example_rng(example, transform.seed)
        geometry = transform.sample_geometry(40, 60, reduce_labels(clip["masks"][-1]), rng)
        assert 0.5 <= geometry["ratio"] <= 2.0
        scale = (int(60 * geometry["ratio"]), int(40 * geometry["ratio"]))
        assert geometry["size"] == rescale_shape(40, 60, scale)
        # the image occupies exactly the resized size (the rest is padding), for every frame
        content = (out["pixel_values"] != 0).any(axis=1)  # [T, H, W]
        rows = np.flatnonzero(content.any(axis=(0, 2)))
        cols = np.flatnonzero(content.any(axis=(0, 1)))
        assert (rows.max() + 1, cols.max() + 1) == geometry["size"]
        sizes.add(geometry["size"])
    assert len(sizes) > 10
    assert all(20 <= h <= 80 and 30 <= w <= 120 and abs(w / h - 1.5) < 0.1 for h, w in sizes)


def test_photometric_distortion_is_drawn_per_frame_and_reproducible():
    clip = _clip(height=24, width=24)
    clip["frames"] = [clip["frames"][0].copy() for _ in range(4)]
    transform = VspwTrainTransform(crop_size=(24, 24), scale=(24, 24), ratio_range=(1.0, 1.0), flip_prob=0.0)
    distinct = []
    for seed in range(6):
        out = transform({**clip, "clip_seed": seed})
        again = transform({**clip, "clip_seed": seed})
        np.testing.assert_array_equal(out["pixel_values"], again["pixel_values"])  # reproducible
        distinct.append(len({out["pixel_values"][t].tobytes() for t in range(4)}))
    assert max(distinct) == 4  # independent draws per frame
    other = transform({**clip, "clip_seed": 99})["pixel_values"]
    assert not np.array_equal(other, transform(clip)["pixel_values"])
    assert not np.array_equal(
        VspwTrainTransform(seed=1, crop_size=(24, 24), scale=(24, 24), ratio_range=(1.0, 1.0))(clip)["pixel_values"],
        VspwTrainTransform(seed=2, crop_size=(24, 24), scale=(24, 24), ratio_range=(1.0, 1.0))(clip)["pixel_values"],
    )


def test_photometric_distortion_ranges():
    rng = np.random.default_rng(0)
    image = rng.integers(30, 220, (16, 16, 3), dtype=np.uint8)
    identity = photometric_distortion(
        image,
        np.random.default_rng(3),
        brightness_delta=0,
        contrast_range=(1, 1),
        saturation_range=(1, 1),
        hue_delta=0,
    )
    assert np.abs(identity.astype(int) - image).max() <= 4  # only the 8-bit HSV round trip
    changes = [np.abs(photometric_distortion(image, np.random.default_rng(s)).astype(int) - image).mean()
               for s in range(100)]  # fmt: skip
    assert min(changes) < 1.0 < max(changes)  # sometimes nothing is applied, sometimes a lot
    # the four steps each fire with p = 0.5: brightness-only shifts every channel by the same amount
    img = np.full((4, 4, 3), 100, np.uint8)
    out = photometric_distortion(img, np.random.default_rng(0), contrast_range=(1, 1), saturation_range=(1, 1),
                                 hue_delta=0)  # fmt: skip
    assert len(np.unique(out)) <= 2 and abs(int(out[0, 0, 0]) - 100) <= 32


def test_hsv_conversion_matches_opencv_ranges():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    hsv = _rgb_to_hsv_u8(image)
    assert hsv[..., 0].max() < 180
    flat, ref_pixels = hsv.reshape(-1, 3).astype(np.float64), image.reshape(-1, 3) / 255.0
    ref = np.array([colorsys.rgb_to_hsv(*p) for p in ref_pixels])
    hue_error = np.abs((flat[:, 0] * 2 - ref[:, 0] * 360 + 180) % 360 - 180)
    assert hue_error.max() <= 1.0 + 1e-6  # 2-degree hue steps
    assert np.abs(flat[:, 1] - ref[:, 1] * 255).max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(flat[:, 2], image.reshape(-1, 3).max(1))
    assert np.abs(_hsv_to_rgb_u8(hsv).astype(int) - image).max() <= 4


def test_train_transform_needs_masks_and_consistent_sizes():
    clip = _clip()
    with pytest.raises(ValueError, match="no masks"):
        VspwTrainTransform()({**clip, "masks": None})
    bad = {**clip, "masks": clip["masks"][:-1] + [np.zeros((5, 5), np.uint8)]}
    with pytest.raises(ValueError, match="mask 3 is 5x5"):
        VspwTrainTransform()(bad)


# ---------------------------------------------------------------------------------------------------------------------
def test_eval_transform_is_the_official_test_preprocessing():
    clip = _clip(num_frames=4, height=48, width=64)
    out = VspwEvalTransform(processor=None)(clip)
    height, width = official_test_shape(48, 64)
    assert (height, width) == (480, 640)
    assert out["pixel_values"].shape == (4, 3, 480, 640) and out["pixel_values"].dtype == np.float32
    assert out["labels"].shape == (4, 48, 64) and out["labels"].dtype == np.int64
    assert out["original_size"] == (48, 64)
    np.testing.assert_array_equal(out["labels"][1], reduce_labels(clip["masks"][1]))
    expected = resize_bilinear(clip["frames"][2], 480, 640).transpose(2, 0, 1)
    np.testing.assert_allclose(_denorm(out["pixel_values"][2]), expected, atol=2e-3)
    # two-step resize (rescale, then align to 32): 480x650 -> 480x650 -> 480x672
    frame = np.random.default_rng(0).integers(0, 256, (480, 650, 3), dtype=np.uint8)
    single = VspwEvalTransform(processor=None)({"frames": [Image.fromarray(frame)], "masks": None})
    assert single["pixel_values"].shape == (1, 3, 480, 672) and "labels" not in single
    np.testing.assert_allclose(
        _denorm(single["pixel_values"][0]), resize_bilinear(frame, 480, 672).transpose(2, 0, 1), atol=2e-3
    )


def test_eval_transform_uses_the_model_processor_by_default():
    from mrcfa.models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

    rng = np.random.default_rng(0)
    for height, width in [(480, 854), (60, 100)]:
        frames = [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(2)]
        clip = {"frames": frames, "masks": [np.ones((height, width), np.uint8)] * 2}
        auto = VspwEvalTransform()(clip)
        assert isinstance(VspwEvalTransform().processor, MrcfaImageProcessor)
        expected = MrcfaImageProcessor()(videos=[frames], return_tensors="np")["pixel_values"][0]
        np.testing.assert_array_equal(auto["pixel_values"], expected)
        assert auto["pixel_values"].shape == (2, 3) + official_test_shape(height, width)
        assert auto["labels"].shape == (2, height, width) and (auto["labels"] == 0).all()
        plain = VspwEvalTransform(processor=None)(clip)["pixel_values"]
        assert np.abs(_denorm(plain) - _denorm(expected)).max() <= 2.0 + 1e-3  # cv2 fixed-point rounding only
