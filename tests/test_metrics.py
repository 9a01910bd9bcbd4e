# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""mrcfa.metrics against the official VSPW VC_perclip.py / mmseg fixture, plus streaming and validation checks."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mrcfa.metrics import (
    VideoSegmentationMetrics,
    evaluate_module_path,
    mmseg_metrics,
    reduce_vspw_labels,
    vspw_evaluator_metrics,
)

FIXTURES = Path(os.environ.get("MRCFA_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
TOL = 1e-9


@pytest.fixture(scope="module")
def metric_fixture():
    ref = json.loads((FIXTURES / "vspw_metric_ref.json").read_text())
    arrays = np.load(FIXTURES / "vspw_metric_ref.npz")
    videos = {name: (arrays[f"{name}__pred"], arrays[f"{name}__gt_raw"]) for name in ref["val_txt_order"]}
    return ref, videos


@pytest.fixture(scope="module")
def official_result(metric_fixture):
    ref, videos = metric_fixture
    metric = VideoSegmentationMetrics(ref["num_classes"], ignore_index=ref["ignore_index"], reduce_labels=True)
    for name, (pred, gt_raw) in videos.items():
        metric.add_video(name, pred, gt_raw)
    return metric.compute()


def _close(actual, expected, tol=TOL):
    """Element-wise |a - e| <= tol, with NaN (or None in JSON) matching NaN."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray([math.nan if v is None else v for v in np.ravel(expected)], dtype=np.float64).reshape(
        np.shape(expected)
    )
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), (actual, expected)
    finite = ~np.isnan(expected)
    assert np.all(np.abs(actual[finite] - expected[finite]) <= tol), (actual, expected)


def _assert_results_equal(a: dict, b: dict) -> None:
    """Exact equality of two compute() results (NaN == NaN)."""
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _assert_results_equal(a[key], b[key])
        elif isinstance(a[key], (np.ndarray, float, list)) and key not in ("good_videos", "skipped_videos"):
            np.testing.assert_array_equal(np.asarray(a[key], dtype=np.float64), np.asarray(b[key], dtype=np.float64))
        else:
            assert a[key] == b[key], key


# --------------------------------------------------------------------------- official VC_perclip.py


def test_official_video_consistency_matches_vc_perclip(metric_fixture, official_result):
    ref, _ = metric_fixture
    vc = ref["VC_perclip"]["results"]
    r = official_result
    assert r["protocol"] == "official"
    _close(r["mVC16"], vc["mVC16"])
    _close(r["mVC8"], vc["mVC8"])
    assert r["num_windows_vc16"] == vc["n_windows_vc16"] == 19
    assert r["num_windows_vc8"] == vc["n_windows_vc8"] == 43
    pooled16 = [s for entry in r["per_video"].values() for s in entry["vc16_windows"]]
    pooled8 = [s for entry in r["per_video"].values() for s in entry["vc8_windows"]]
    _close(pooled16, vc["total_acc_vc16"])
    _close(pooled8, vc["total_acc_vc8"])

    assert list(r["per_video"]) == list(vc["per_video"]) == ["vid_a", "vid_b", "vid_c"]
    for name, expected in vc["per_video"].items():
        entry = r["per_video"][name]
        assert entry["n_frames"] == expected["n_frames"]
        _close(entry["vc16_windows"], expected["vc16_windows"])
        _close(entry["vc8_windows"], expected["vc8_windows"])
        _close(entry["mVC16"], expected["vc16_mean"])
        _close(entry["mVC8"], expected["vc8_mean"])
        assert len(entry["vc16_windows"]) == expected["n_frames"] - 16  # range(N - 16): last window left out
        assert len(entry["vc8_windows"]) == expected["n_frames"] - 8

    # what the script printed: per-video means (VC16, VC8 per video), the skipped video, the final scores
    printed = vc["printed"]
    per_video_printed = [float(x) for x in printed[:6]]
    ours = [v for entry in r["per_video"].values() for v in (entry["mVC16"], entry["mVC8"])]
    _close(ours, per_video_printed)
    assert printed[6] == "here:  vid_short"
    assert r["skipped_videos"] == ["vid_short"]
    assert f"VC16 score: {r['mVC16']!r}" in printed[9] and f"VC8 score: {r['mVC8']!r}" in printed[10]


def test_official_confusion_metrics_match_vc_perclip(metric_fixture, official_result):
    ref, videos = metric_fixture
    vc = ref["VC_perclip"]["results"]
    r = official_result
    np.testing.assert_array_equal(r["official_confusion_matrix"], np.asarray(vc["confusion_matrix"]))
    assert r["official_confusion_matrix"].dtype == np.int64
    for key in ("pixel_accuracy", "class_accuracy", "mIoU", "FWIoU"):
        _close(r[f"official_{key}"], vc[key])
    assert r["good_videos"] == vc["good_video"] == ["vid_a", "vid_b", "vid_c"]
    # the skipped video is absent from the official matrix but present in the all-frames one
    short_pixels = int((reduce_vspw_labels(videos["vid_short"][1]) != 255).sum())
    assert r["confusion_matrix"].sum() == r["official_confusion_matrix"].sum() + short_pixels
    for entry in r["per_video"].values():
        assert entry["mIoU"] > 0.7


# --------------------------------------------------------------------------- mmseg


def test_mmseg_metrics_all_frames_match_fixture(metric_fixture, official_result):
    ref, _ = metric_fixture
    expected = ref["mmseg_mean_iou"]["all_frames_all_videos"]
    r = official_result
    _close(r["aAcc"], expected["aAcc"])
    _close(r["per_class_accuracy"], expected["per_class_acc"])
    _close(r["per_class_iou"], expected["per_class_iou"])
    _close(r["mIoU"], expected["mIoU_nanmean"])
    _close(r["mAcc"], expected["mAcc_nanmean"])
    assert math.isnan(r["per_class_accuracy"][5]) and r["per_class_iou"][5] == 0.0  # predicted, absent from gt
    for key, value in expected["summary_as_dataset_evaluate"].items():
        assert np.round(r[key] * 100, 2) / 100 == value
    # MRCFA's mmseg also prints VC_perclip's Evaluator mIoU / FWIoU over all frames
    printed = vspw_evaluator_metrics(r["confusion_matrix"])
    _close(printed["mIoU"], float(expected["printed_by_total_intersect_and_union"][0].split(":")[1]))
    _close(printed["FWIoU"], float(expected["printed_by_total_intersect_and_union"][1].split(":")[1]))
    # the mmseg keys do not depend on the protocol
    assert r["num_frames"] == 20 + 17 + 30 + 12 and r["num_videos"] == 4


def test_mmseg_metrics_on_official_videos_match_fixture(metric_fixture, official_result):
    ref, _ = metric_fixture
    expected = ref["mmseg_mean_iou"]["frames_of_videos_used_by_VC_perclip"]
    m = mmseg_metrics(official_result["official_confusion_matrix"])
    _close(m["aAcc"], expected["aAcc"])
    _close(m["per_class_accuracy"], expected["per_class_acc"])
    _close(m["per_class_iou"], expected["per_class_iou"])
    _close(m["mIoU"], expected["mIoU_nanmean"])
    _close(m["mAcc"], expected["mAcc_nanmean"])
    for key, value in expected["summary_as_dataset_evaluate"].items():
        assert np.round(m[key] * 100, 2) / 100 == value
    printed = vspw_evaluator_metrics(official_result["official_confusion_matrix"])
    _close(printed["mIoU"], float(expected["printed_by_total_intersect_and_union"][0].split(":")[1]))
    _close(printed["FWIoU"], float(expected["printed_by_total_intersect_and_union"][1].split(":")[1]))


# --------------------------------------------------------------------------- all_windows, against brute force


def _brute_force_windows(pred: np.ndarray, gt: np.ndarray, n: int) -> list[float]:
    """Every window of n frames, scored by comparing all its frames explicitly."""
    scores = []
    for start in range(len(gt) - n + 1):
        gt_const = np.all(gt[start : start + n] == gt[start], axis=0)
        pred_const = np.all(pred[start : start + n] == pred[start], axis=0)
        total = gt_const.sum()
        scores.append(float((gt_const & pred_const).sum() / total) if total else math.nan)
    return scores


def test_all_windows_protocol_matches_brute_force(metric_fixture, official_result):
    ref, videos = metric_fixture
    metric = VideoSegmentationMetrics(6, reduce_labels=True, protocol="all_windows")
    for name, (pred, gt_raw) in videos.items():
        metric.add_video(name, pred, gt_raw)
    r = metric.compute()
    assert r["protocol"] == "all_windows"
    assert list(r["per_video"]) == ref["val_txt_order"]  # vid_short (12 frames) is used: 5 windows of 8, none of 16
    assert not any(key.startswith("official_") for key in r) and "good_videos" not in r
    pooled = {8: [], 16: []}
    for name, (pred, gt_raw) in videos.items():
        gt = reduce_vspw_labels(gt_raw)
        for n in (8, 16):
            expected = _brute_force_windows(pred, gt, n)
            pooled[n] += expected
            assert r["per_video"][name][f"vc{n}_windows"] == expected  # identical integer counts and division
            if name != "vid_short":  # official = all windows but the last
                assert official_result["per_video"][name][f"vc{n}_windows"] == expected[:-1]
    assert len(r["per_video"]["vid_short"]["vc8_windows"]) == 5 and r["per_video"]["vid_short"]["vc16_windows"] == []
    assert math.isnan(r["per_video"]["vid_short"]["mVC16"])
    for n in (8, 16):
        assert r[f"num_windows_vc{n}"] == len(pooled[n])
        _close(r[f"mVC{n}"], np.nanmean(pooled[n]))
    # the same state answers both protocols
    _assert_results_equal(metric.compute(protocol="official"), official_result)
    for key in ("mIoU", "mAcc", "aAcc"):
        assert r[key] == official_result[key]


# --------------------------------------------------------------------------- streaming


def test_interleaved_streaming_equals_add_video(metric_fixture, official_result):
    _, videos = metric_fixture
    metric = VideoSegmentationMetrics(6)  # references reduced beforehand
    reduced = {name: (pred, reduce_vspw_labels(gt_raw)) for name, (pred, gt_raw) in videos.items()}
    longest = max(len(pred) for pred, _ in reduced.values())
    partial = None
    for t in range(longest):  # round-robin: frame t of every video, videos interleaved
        for name, (pred, gt) in reduced.items():
            if t < len(pred):
                metric.add_frame(name, pred[t], gt[t])
                if t == len(pred) - 1 and name == "vid_b":
                    metric.end_video(name)  # frees vid_b's buffers; others stay open until compute()
        if t == 15:
            partial = metric.compute()  # non-destructive; more frames follow
    assert partial["num_frames"] == 16 * 3 + 12 and partial["skipped_videos"] == list(reduced)
    state = metric._videos["vid_b"]
    assert state.ended and state.prev_reference is None and state.confusion is None
    open_state = metric._videos["vid_c"]
    assert open_state.prev_reference.shape == (24, 32) and open_state.run_reference.dtype == np.uint8
    _assert_results_equal(metric.compute(), official_result)
    for name in reduced:
        metric.end_video(name)
    _assert_results_equal(metric.compute(), official_result)
    _assert_results_equal(metric.compute(protocol="all_windows"), metric.compute(protocol="all_windows"))


def test_video_consistency_semantics_on_synthetic_video():
    n_frames, h, w = 18, 4, 5
    gt = np.zeros((n_frames, h, w), dtype=np.int64)
    gt[:, 0, :] = 255  # ignored in every frame: counts as constant ground truth
    gt[:, 1, :] = np.arange(n_frames)[:, None] % 3  # changes every frame: never constant
    pred = np.zeros_like(gt)
    pred[:, 0, 0] = np.arange(n_frames) % 2  # flickers on an ignored pixel: inconsistent
    pred[:, 1, :] = 1  # consistent, but on non-constant ground truth: not counted
    metric = VideoSegmentationMetrics(3, protocol="all_windows")
    metric.add_video(0, pred, gt)
    r = metric.compute()
    constant = h * w - w  # rows 0, 2, 3
    expected = (constant - 1) / constant
    assert r["per_video"][0]["vc8_windows"] == [expected] * (n_frames - 7)
    assert r["per_video"][0]["vc16_windows"] == [expected] * (n_frames - 15)
    _close([r["mVC8"], r["mVC16"]], [expected, expected])
    official = metric.compute(protocol="official")
    assert official["num_windows_vc16"] == 2 and official["num_windows_vc8"] == 10
    assert official["per_video"][0]["mIoU"] == vspw_evaluator_metrics(official["official_confusion_matrix"])["mIoU"]


def test_windows_without_constant_ground_truth_are_nan_and_skipped():
    h, w = 3, 3
    changing = np.stack([np.full((h, w), t % 2) for t in range(20)])
    still = np.zeros((20, h, w), dtype=np.int64)
    metric = VideoSegmentationMetrics(2)
    metric.add_video("changing", still, changing)  # no constant ground truth: every window is NaN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = metric.compute()
        assert math.isnan(r["mVC8"]) and math.isnan(r["mVC16"])
        assert all(math.isnan(s) for s in r["per_video"]["changing"]["vc8_windows"])
        metric.add_video("still", still, still)  # consistent everywhere
        r = metric.compute()
    assert r["mVC8"] == r["mVC16"] == 1.0  # nanmean over the pooled windows skips the NaN ones
    assert r["num_windows_vc8"] == 2 * (20 - 8)


def test_empty_metric_gives_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = VideoSegmentationMetrics(4).compute()
    for key in ("mIoU", "mAcc", "aAcc", "mVC8", "mVC16", "official_mIoU", "official_FWIoU"):
        assert math.isnan(r[key]), key
    assert r["num_videos"] == 0 and r["per_video"] == {} and r["good_videos"] == []


def test_reduce_labels():
    raw = np.array([[0, 1, 2], [6, 255, 3]], dtype=np.uint8)
    np.testing.assert_array_equal(reduce_vspw_labels(raw), [[255, 0, 1], [5, 255, 2]])
    a = VideoSegmentationMetrics(6, reduce_labels=True)
    b = VideoSegmentationMetrics(6)
    pred = np.array([[[0, 0, 1], [5, 4, 2]]])
    a.add_video("v", pred, raw[None])
    b.add_video("v", pred, reduce_vspw_labels(raw)[None])
    _assert_results_equal(a.compute(), b.compute())


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.add_video("v", np.zeros((2, 4, 4), int), np.zeros((2, 4, 5), int)), "same shape"),
        (lambda m: m.add_video("v", np.zeros((4, 4), int), np.zeros((4, 4), int)), r"\[n, H, W\]"),
        (lambda m: m.add_frame("v", np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int)), r"\[H, W\]"),
        (lambda m: m.add_frame("v", np.full((4, 4), 3), np.zeros((4, 4), int)), r"\[0, num_labels=3\)"),
        (lambda m: m.add_frame("v", np.full((4, 4), -1), np.zeros((4, 4), int)), r"\[0, num_labels=3\)"),
        (lambda m: m.add_frame("v", np.zeros((4, 4)), np.zeros((4, 4), int)), "integer class ids"),
        (lambda m: m.add_frame("v", np.zeros((4, 4), int), np.full((4, 4), 7)), "reference values"),
        (lambda m: m.add_video("v", np.zeros((0, 4, 4), int), np.zeros((0, 4, 4), int)), "empty"),
        (lambda m: m.compute(protocol="per_video"), "protocol"),
        (lambda m: m.end_video("nope"), "unknown video"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call(VideoSegmentationMetrics(3))


def test_bad_sequences_raise():
    metric = VideoSegmentationMetrics(3)
    metric.add_frame("a", np.zeros((4, 4), int), np.zeros((4, 4), int))
    with pytest.raises(ValueError, match="same size"):
        metric.add_frame("a", np.zeros((4, 5), int), np.zeros((4, 5), int))
    with pytest.raises(ValueError, match="already added"):
        metric.add_video("a", np.zeros((2, 4, 4), int), np.zeros((2, 4, 4), int))
    metric.end_video("a")
    with pytest.raises(ValueError, match="ended"):
        metric.add_frame("a", np.zeros((4, 4), int), np.zeros((4, 4), int))
    raw = VideoSegmentationMetrics(3, reduce_labels=True)
    with pytest.raises(ValueError, match="raw VSPW reference values"):
        raw.add_frame("a", np.zeros((2, 2), int), np.full((2, 2), 4))
    assert raw.video_ids == []  # a rejected frame leaves no state


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_labels": 0}, "num_labels"),
        ({"num_labels": 3, "ignore_index": 2}, "ignore_index=2"),
        ({"num_labels": 3, "protocol": "official_v2"}, "protocol"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoSegmentationMetrics(**kwargs)


# --------------------------------------------------------------------------- packaging / evaluate


def test_metrics_module_is_numpy_only():
    path = Path(__file__).resolve().parents[1] / "src" / "mrcfa" / "metrics.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('standalone_metrics', {str(path)!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module\n"
        "spec.loader.exec_module(module)\n"
        "module.VideoSegmentationMetrics(3).compute()\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert importlib.util.find_spec("mrcfa.metrics").origin == str(path)


def test_evaluate_module_loads_offline_and_matches_fixture(metric_fixture, official_result, tmp_path, monkeypatch):
    import evaluate

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = evaluate_module_path()
    assert Path(path, "vspw_video_segmentation.py").is_file() and Path(path, "README.md").is_file()
    ref, videos = metric_fixture
    metric = evaluate.load(path, cache_dir=str(tmp_path))
    assert type(metric).__name__ == "VspwVideoSegmentation"
    assert set(metric.features) == {"predictions", "references", "video_ids"}
    # frames interleaved across videos, one batch per time step
    for t in range(30):
        batch = [(name, pred[t], gt[t]) for name, (pred, gt) in videos.items() if t < len(pred)]
        metric.add_batch(
            predictions=[b[1] for b in batch], references=[b[2] for b in batch], video_ids=[b[0] for b in batch]
        )
    r = metric.compute(num_labels=6, reduce_labels=True)
    _assert_results_equal(r, official_result)
    vc = ref["VC_perclip"]["results"]
    _close([r["mVC8"], r["mVC16"], r["official_mIoU"]], [vc["mVC8"], vc["mVC16"], vc["mIoU"]])
    _close(r["mIoU"], ref["mmseg_mean_iou"]["all_frames_all_videos"]["mIoU_nanmean"])

    # one-shot compute with the other protocol, raw-id input as lists
    pred, gt = videos["vid_short"]
    r = evaluate.load(path, cache_dir=str(tmp_path)).compute(
        predictions=[p.tolist() for p in pred],
        references=list(reduce_vspw_labels(gt)),
        video_ids=["vid_short"] * len(pred),
        num_labels=6,
        protocol="all_windows",
    )
    _close(r["per_video"]["vid_short"]["vc8_windows"], _brute_force_windows(pred, reduce_vspw_labels(gt), 8))


def test_merge_of_disjoint_parts_equals_one_accumulator():
    rng = np.random.default_rng(7)
    videos = {}
    for i in range(4):  # mostly static ground truth, noisy predictions: defined mVC values
        ref = np.repeat(rng.integers(0, 4, (1, 6, 8)), 18 + i, axis=0)
        pred = np.where(rng.random(ref.shape) < 0.1, rng.integers(0, 4, ref.shape), ref)
        videos[f"v{i}"] = (pred, ref)
    whole = VideoSegmentationMetrics(4)
    parts = [VideoSegmentationMetrics(4), VideoSegmentationMetrics(4)]
    for i, (vid, (pred, ref)) in enumerate(videos.items()):
        whole.add_video(vid, pred, ref)
        parts[i % 2].add_video(vid, pred, ref)
    merged = VideoSegmentationMetrics.merge(parts, order=list(videos))
    expected, got = whole.compute(), merged.compute()
    assert merged.video_ids == list(videos)
    assert 0 < expected["mVC8"] < 1 and 0 < expected["mVC16"] < 1
    for key in ("mIoU", "mVC8", "mVC16", "official_mIoU", "aAcc"):
        assert got[key] == expected[key], key
    np.testing.assert_array_equal(got["confusion_matrix"], expected["confusion_matrix"])
    with pytest.raises(ValueError, match="evaluated twice"):
        VideoSegmentationMetrics.merge([parts[0], parts[0]])
    open_part = VideoSegmentationMetrics(4)
    open_part.add_frame("x", videos["v0"][0][0], videos["v0"][1][0])
    with pytest.raises(ValueError, match="still open"):
        VideoSegmentationMetrics.merge([open_part])
