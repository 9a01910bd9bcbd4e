# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The synthetic VSPW generator: layout, determinism, learnable classes, temporal structure (its command line,
`mrcfa synthetic`, is tested in test_cli.py)."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mrcfa.data.synthetic import class_appearance, make_synthetic_vspw


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "VSPW_480p"
    start = time.perf_counter()
    make_synthetic_vspw(root, seed=0)
    return root, time.perf_counter() - start


def _videos(root, split):
    return (Path(root) / f"{split}.txt").read_text().split()


def _load(root, video, kind, ext):
    files = sorted((Path(root) / "data" / video / kind).glob(f"*.{ext}"))
    return [np.asarray(Image.open(f)) for f in files], files


def test_layout_matches_vspw(synthetic):
    root, _ = synthetic
    assert [len(_videos(root, s)) for s in ("train", "val", "test")] == [6, 3, 2]
    names = json.loads((root / "label_num_dic_final.json").read_text())
    assert names["others"] == 0 and max(names.values()) == 5 and len(names) == 6
    for split in ("train", "val", "test"):
        for video in _videos(root, split):
            frames, frame_files = _load(root, video, "origin", "jpg")
            assert 17 <= len(frames) <= 28
            assert [f.name for f in frame_files] == [f"{i + 1:08d}.jpg" for i in range(len(frames))]
            assert all(f.shape == (96, 160, 3) and f.dtype == np.uint8 for f in frames)
            mask_dir = root / "data" / video / "mask"
            if split == "test":
                assert not mask_dir.exists()  # VSPW's test split has no masks
                continue
            masks, mask_files = _load(root, video, "mask", "png")
            assert [f.stem for f in mask_files] == [f.stem for f in frame_files]
            assert Image.open(mask_files[0]).mode == "P"
            for mask in masks:
                assert mask.shape == (96, 160)
                assert set(np.unique(mask)) <= set(range(6))


def test_default_generation_is_fast(synthetic):
    _, seconds = synthetic
    assert seconds < 5.0


def test_deterministic_bytes(tmp_path):
    kwargs = dict(seed=7, num_classes=4, num_videos=(2, 1, 1), num_frames=(5, 8), height=40, width=56)
    a = make_synthetic_vspw(tmp_path / "a", **kwargs)
    b = make_synthetic_vspw(tmp_path / "b", **kwargs)
    c = make_synthetic_vspw(tmp_path / "c", **{**kwargs, "seed": 8})
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 20
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)
    frames_a = sorted(a.rglob("*.jpg"))
    frames_c = sorted(c.rglob("*.jpg"))
    assert [f.read_bytes() for f in frames_a] != [f.read_bytes() for f in frames_c]


def test_configurable_sizes_counts_and_classes(tmp_path):
    root = make_synthetic_vspw(
        tmp_path / "s", seed=1, num_classes=12, num_videos=(1, 2, 0), num_frames=(3, 3), height=33, width=47,
        test_masks=True, video_frame_counts={"train": [4, 11]},
    )  # fmt: skip
    assert [len(_videos(root, s)) for s in ("train", "val", "test")] == [2, 2, 0]
    counts = [len(_load(root, v, "origin", "jpg")[0]) for v in _videos(root, "train")]
    assert counts == [4, 11]
    frames, _ = _load(root, _videos(root, "val")[0], "origin", "jpg")
    assert len(frames) == 3 and frames[0].shape == (33, 47, 3)
    assert max(json.loads((root / "label_num_dic_final.json").read_text()).values()) == 12
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic_vspw(tmp_path / "bad", num_classes=255)
    with pytest.raises(ValueError, match="num_frames"):
        make_synthetic_vspw(tmp_path / "bad", num_frames=(5, 2))


def _box_mean(image, k=9):
    padded = np.pad(image.astype(np.float64), ((k // 2, k // 2), (k // 2, k // 2), (0, 0)), mode="edge")
    c = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def test_classes_are_learnable_from_appearance(synthetic):
    """A nearest-centroid classifier on local mean colour, fitted on train, labels most val pixels correctly."""
    root, _ = synthetic

    def features(split):
        xs, ys = [], []
        for video in _videos(root, split):
            frames, _ = _load(root, video, "origin", "jpg")
            masks, _ = _load(root, video, "mask", "png")
            for frame, mask in zip(frames, masks):
                xs.append(_box_mean(frame).reshape(-1, 3))
                ys.append(mask.ravel())
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = features("train")
    x_val, y_val = features("val")
    classes = [k for k in range(1, 6) if (y_train == k).any()]
    assert len(classes) >= 4
    centroids = np.stack([x_train[y_train == k].mean(0) for k in classes])
    valid = y_val > 0
    pred = np.asarray(classes)[np.argmin(((x_val[valid, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    assert (pred == y_val[valid]).mean() > 0.9
    # distinct appearance per class: colours far apart, patterns differ
    bases = np.stack([class_appearance(k)["base"] for k in range(1, 6)])
    distances = np.sqrt(((bases[:, None] - bases[None]) ** 2).sum(-1))
    assert distances[np.triu_indices(5, 1)].min() > 30


def test_camera_motion_occlusion_and_degraded_frames(synthetic):
    root, _ = synthetic
    moving, others, overlaps, degraded = 0, 0, 0, 0
    for video in _videos(root, "train") + _videos(root, "val"):
        masks, _ = _load(root, video, "mask", "png")
        frames, _ = _load(root, video, "origin", "jpg")
        changed = [(a != b).mean() for a, b in zip(masks[:-1], masks[1:])]
        moving += np.mean(changed) > 0.005
        others += any((m == 0).any() for m in masks)
        # a frame much noisier than its neighbours (high-frequency energy) = degraded
        energy = [np.abs(np.diff(f.astype(np.float32), axis=1)).mean() for f in frames]
        degraded += max(energy) > 1.5 * np.median(energy)
        # occlusion: the number of pixels of some object class varies a lot over the video
        counts = np.stack([np.bincount(m.ravel(), minlength=6) for m in masks])
        overlaps += (counts.max(0) - counts.min(0) > 0.3 * counts.max(0).clip(1))[1:].any()
    assert moving == 9  # every video's labels change over time (camera / object motion)
    assert others >= 2  # some videos have an "others" occluder (raw 0)
    assert degraded >= 2
    assert overlaps >= 5


def test_temporal_knobs_hidden_objects_slow_motion_and_determinism():
    """hidden_prob: some object frames lose the class texture (neutral look); motion_scale slows the labels down."""
    from mrcfa.data.synthetic import _texture, render_video

    kwargs = dict(num_frames=12, height=48, width=64, num_classes=5)
    frames, masks = render_video(np.random.default_rng([3, 0, 0]), hidden_prob=0.5, **kwargs)
    frames_b, masks_b = render_video(np.random.default_rng([3, 0, 0]), hidden_prob=0.5, **kwargs)
    assert np.array_equal(frames, frames_b) and np.array_equal(masks, masks_b)
    hidden, shown = 0, 0
    for t in range(12):
        for k in np.unique(masks[t]):
            sel = masks[t] == k
            if k == 0 or sel.sum() < 30:
                continue
            pixels = frames[t][sel].astype(np.float32)
            # a hidden object is grey (no colour), a visible one has its class colours
            chroma = (pixels.max(-1) - pixels.min(-1)).mean()
            classes_colour = _texture(int(k), np.arange(50.0), np.zeros(50)).astype(np.float32)
            if chroma < 0.5 * (classes_colour.max(-1) - classes_colour.min(-1)).mean():
                hidden += 1
            else:
                shown += 1
    assert hidden >= 3 and shown >= 3
    assert all(
        (frames[0][masks[0] == k].max(-1).astype(int) - frames[0][masks[0] == k].min(-1)).mean() > 20
        for k in np.unique(masks[0])
        if k > 0 and (masks[0] == k).sum() >= 30
    )  # the first frame shows every class

    def motion(scale):
        _, m = render_video(np.random.default_rng([5, 0, 1]), motion_scale=scale, **kwargs)
        return np.mean([(a != b).mean() for a, b in zip(m[:-1], m[1:])])

    assert 0 < motion(0.25) < 0.6 * motion(1.0)


def test_temporal_knobs_defaults_and_validation(tmp_path):
    kwargs = dict(seed=2, num_classes=4, num_videos=(1, 1, 0), num_frames=(6, 6), height=32, width=40)
    a = make_synthetic_vspw(tmp_path / "a", **kwargs)
    b = make_synthetic_vspw(tmp_path / "b", **kwargs, degraded_prob=0.1, motion_scale=1.0, hidden_prob=0.0)
    c = make_synthetic_vspw(tmp_path / "c", **kwargs, hidden_prob=0.9)
    files = sorted(p.relative_to(a) for p in a.rglob("*.jpg"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)
    with pytest.raises(ValueError, match="hidden_prob"):
        make_synthetic_vspw(tmp_path / "bad", hidden_prob=1.5)
    with pytest.raises(ValueError, match="motion_scale"):
        make_synthetic_vspw(tmp_path / "bad", motion_scale=-1)


def test_shared_object_class_gives_one_object_class_per_video():
    """shared_object_class: every moving object of a video has the same class; the geometry does not change."""
    from mrcfa.data.synthetic import render_video

    kwargs = dict(num_frames=6, height=64, width=96, num_classes=8, max_objects=3, occluder_prob=0.0)
    several = 0
    for video in range(12):
        _, masks = render_video(np.random.default_rng([7, 0, video]), **kwargs)
        _, shared = render_video(np.random.default_rng([7, 0, video]), shared_object_class=True, **kwargs)
        # two background classes plus one object class (no occluder, so no label 0)
        assert len(np.unique(shared)) <= 3 and 0 not in shared
        changed = masks != shared  # pixels of objects whose class was replaced by the first object's class
        if changed.any():
            several += 1
            assert len(np.unique(shared[changed])) == 1 and not np.isin(masks[changed], shared[changed]).any()
    assert several >= 2  # videos whose objects had different classes without the option


def test_object_visibility_marks_hidden_and_visible_object_pixels(tmp_path):
    from mrcfa.data import object_visibility
    from mrcfa.data.synthetic import _neutral_texture, render_video

    root = make_synthetic_vspw(
        tmp_path / "s", seed=4, num_videos=(1, 2, 0), num_frames=(10, 12), height=48, width=64, hidden_prob=0.5
    )
    assert json.loads((root / "generator.json").read_text())["hidden_prob"] == 0.5
    video = (root / "val.txt").read_text().split()[1]
    visibility = object_visibility(root, "val", video)
    masks = np.stack([np.asarray(Image.open(p)) for p in sorted((root / "data" / video / "mask").glob("*.png"))])
    assert visibility.shape == masks.shape and visibility.dtype == np.int8
    assert set(np.unique(visibility)) == {-1, 0, 1} and not (visibility[0] == 1).any()  # frame 0 shows every class
    assert (masks[visibility >= 0] > 0).all()  # object pixels carry an object class
    # the same video rendered again: hidden pixels have the neutral (grey) look, visible ones the class colours
    _, _, again = render_video(np.random.default_rng([4, 1, 1]), len(masks), 48, 64, 5, hidden_prob=0.5,
                               return_visibility=True)  # fmt: skip
    assert np.array_equal(again, visibility)
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted((root / "data" / video / "origin").glob("*.jpg"))])
    chroma = frames.astype(np.int16).max(-1) - frames.min(-1)
    assert chroma[visibility == 1].mean() < 0.5 * chroma[visibility == 0].mean()
    assert _neutral_texture(np.arange(4.0), np.zeros(4)).std(-1).max() == 0  # neutral = grey
    with pytest.raises(ValueError, match="not in"):
        object_visibility(root, "val", "nope")
    with pytest.raises(FileNotFoundError, match="generator.json"):
        object_visibility(tmp_path, "val", video)
