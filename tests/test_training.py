"""mrcfa.training: official optimiser groups and schedule, the resumable train stream, metric merging, evaluation."""

import numpy as np
import pytest
import torch

from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation, VideoSegmentationMetrics
from mrcfa.training import (
    TrainClipStream,
    TrainCollator,
    clips_per_shard,
    evaluate_videos,
    get_official_poly_schedule,
    make_train_dataloader,
    official_param_groups,
    official_poly_factor,
    step_seed,
)

TINY = {
    "hidden_sizes": [8, 16, 32, 32],
    "depths": [1, 1, 1, 1],
    "num_attention_heads": [1, 1, 1, 1],
    "decoder_hidden_size": 16,
}


def tiny_model(num_labels=3):
    torch.manual_seed(0)
    return MrcfaForVideoSemanticSegmentation(MrcfaConfig.from_preset("b0", num_labels=num_labels, **TINY))


@pytest.fixture(scope="module")
def tiny_vspw(tmp_path_factory):
    from mrcfa.data import make_synthetic_vspw

    return make_synthetic_vspw(
        tmp_path_factory.mktemp("tiny_vspw"),
        seed=3,
        num_classes=3,
        height=64,
        width=96,
        video_frame_counts={"train": [11, 12, 13, 14, 15], "val": [17, 12], "test": [10]},
    )


# ------------------------------------------------------------------------------------------------ optimiser
def test_param_groups_follow_the_official_paramwise_cfg():
    model = tiny_model()
    groups = {g["group_name"]: g for g in official_param_groups(model, 6e-5, 0.01, head_lr_mult=10.0)}
    assert set(groups) == {"encoder", "encoder_no_decay", "head"}
    names = {id(p): n for n, p in model.named_parameters()}
    head = [names[id(p)] for p in groups["head"]["params"]]
    no_decay = [names[id(p)] for p in groups["encoder_no_decay"]["params"]]
    encoder = [names[id(p)] for p in groups["encoder"]["params"]]
    assert all(n.startswith("decode_head.") for n in head)
    assert "decode_head.frame_decoder.batch_norm.weight" in head  # 'head' wins over 'norm', as in mmcv
    assert no_decay and all("norm" in n and n.startswith("segformer.") for n in no_decay)
    assert all("norm" not in n and n.startswith("segformer.") for n in encoder)
    assert len(head) + len(no_decay) + len(encoder) == len(list(model.parameters()))
    assert groups["head"]["lr"] == pytest.approx(6e-4) and groups["head"]["weight_decay"] == 0.01
    assert groups["encoder"]["lr"] == 6e-5 and groups["encoder"]["weight_decay"] == 0.01
    assert groups["encoder_no_decay"]["weight_decay"] == 0.0


def test_poly_schedule_matches_mmcv_formula():
    # mmcv: regular = base * (1 - it / max) ** power; warm-up: regular * (1 - (1 - it / W) * (1 - ratio))
    total, warmup, ratio = 160_000, 1500, 1e-6
    for step in (0, 1, 750, 1499, 1500, 80_000, 159_999):
        regular = (1 - step / total) ** 1.0
        expected = regular * (1 - (1 - step / warmup) * (1 - ratio)) if step < warmup else regular
        assert official_poly_factor(step, total, warmup, ratio) == pytest.approx(expected, rel=1e-12)
    assert official_poly_factor(0, total, warmup, ratio) == pytest.approx(1e-6, rel=1e-6)
    assert official_poly_factor(total, total, warmup, ratio) == 0.0

    model = tiny_model()
    optimizer = torch.optim.AdamW(official_param_groups(model, 1e-3, 0.01), lr=1e-3)
    scheduler = get_official_poly_schedule(optimizer, num_training_steps=10, num_warmup_steps=4, warmup_ratio=0.1)
    lrs = []
    for _ in range(10):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert lrs[0][0] == pytest.approx(1e-3 * 0.1)
    assert lrs[4][0] == pytest.approx(1e-3 * 0.6)
    assert lrs[9][0] == pytest.approx(1e-3 * 0.1)
    head_index = [g["group_name"] for g in optimizer.param_groups].index("head")
    assert all(row[head_index] == pytest.approx(10 * row[0]) for row in lrs)


def test_step_seed_is_a_pure_function():
    assert step_seed(42, 7, 0) == step_seed(42, 7, 0)
    assert len({step_seed(42, s, r) for s in range(20) for r in range(2)}) == 40


# ---------------------------------------------------------------------------------------------- train stream
def _stream(source, start_batch=0, cps=True, seed=5):
    from mrcfa.data import list_vspw_videos
    from mrcfa.training.clip_stream import TrainEpochDatasets

    listing = list_vspw_videos(source, "train")
    per_shard = clips_per_shard(listing, 1) if cps else None
    return TrainClipStream(
        TrainEpochDatasets(source, "train", seed=seed),  # epoch -> load_vspw(source, "train", mode="train", ...)
        _meta_transform,
        batch_size=2,
        seed=seed,
        clips_per_shard=per_shard,
        start_batch=start_batch,
    )


def _meta_transform(example):
    return {"video_id": example["video_id"], "frame_indices": list(example["frame_indices"])}


def _batches(stream, count, workers):
    loader = make_train_dataloader(stream, lambda batch: batch, num_workers=workers)
    out = []
    for batch in loader:
        out.append([(e["video_id"], tuple(e["frame_indices"])) for e in batch])
        if len(out) == count:
            break
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_train_stream_resumes_exactly(tiny_vspw, workers):
    full = _batches(_stream(tiny_vspw), 9, workers)  # 18 clips: more than 3 data epochs of 5 videos
    videos = [v for batch in full for v, _ in batch]
    assert len(videos) == 18
    for epoch in range(3):  # every data epoch holds each video once (with 0 workers the order is global)
        if workers == 0:
            assert sorted(videos[5 * epoch : 5 * epoch + 5]) == sorted(set(videos))
    assert full[:3] != full[3:6]  # new order / clips per epoch
    for start in (1, 4, 7):
        assert _batches(_stream(tiny_vspw, start_batch=start), 9 - start, workers) == full[start:]
        # without the per-shard count the stream reads what it skips: same result
        assert _batches(_stream(tiny_vspw, start_batch=start, cps=False), 9 - start, workers) == full[start:]
    assert _batches(_stream(tiny_vspw, seed=6), 9, workers) != full


def test_clips_per_shard_and_stream_positions(tiny_vspw):
    from mrcfa.data import list_vspw_videos

    listing = list_vspw_videos(tiny_vspw, "train")
    assert clips_per_shard(listing, 1) == 1 and clips_per_shard(listing, 3) == 3
    stream = _stream(tiny_vspw, start_batch=7)  # 14 clips of 5 per epoch
    assert stream.start_position(0, 1) == (2, 4)
    # worker 0 made batches 0, 2, 4, 6 (8 clips of 3 per epoch) but re-yields batch 6, dropped: the resumed loader
    # starts with worker 0 and batch 7 is worker 1's
    assert stream.leading_batches_to_drop(2) == 1
    assert stream.start_position(0, 2) == (2, 0)
    assert stream.start_position(1, 2) == (3, 0)  # worker 1 made batches 1, 3, 5 = 6 clips of 2 per epoch


def test_train_collator_single_frame():
    batch = [
        {"pixel_values": np.zeros((4, 3, 32, 32), np.float32), "labels": np.zeros((4, 32, 32), np.int64)}
        for _ in range(2)
    ]
    clips = TrainCollator(4)(batch)
    assert clips["pixel_values"].shape == (2, 4, 3, 32, 32) and clips["labels"].shape == (2, 4, 32, 32)
    frames = TrainCollator(1)(batch)
    assert frames["pixel_values"].shape == (8, 1, 3, 32, 32) and frames["labels"].shape == (8, 1, 32, 32)
    with pytest.raises(ValueError, match="num_frames=2"):
        TrainCollator(2)(batch)


# ------------------------------------------------------------------------------------------------ evaluation
def test_merged_video_metrics_equal_one_pass():
    rng = np.random.default_rng(0)

    def video(n):  # mostly constant ground truth and predictions, with random changes
        ref = np.repeat(rng.integers(0, 4, (1, 6, 5)), n, axis=0)
        ref[rng.random(ref.shape) < 0.05] = 2
        pred = np.where(rng.random(ref.shape) < 0.1, 1, np.maximum(ref - 1, 0))
        return pred, ref

    videos = {f"v{i}": video(18 + i) for i in range(4)}
    whole = VideoSegmentationMetrics(3, reduce_labels=True)
    parts = [VideoSegmentationMetrics(3, reduce_labels=True) for _ in range(2)]
    for i, (name, (pred, ref)) in enumerate(videos.items()):
        whole.add_video(name, pred, ref)
        parts[i % 2].add_video(name, pred, ref)
    merged = VideoSegmentationMetrics.merge(parts[::-1], order=list(videos)).compute()
    expected = whole.compute()
    assert 0 < expected["mVC8"] < 1 and 0 < expected["mVC16"] < 1
    for key in ("mIoU", "mAcc", "aAcc", "mVC8", "mVC16", "official_mIoU", "num_frames", "num_videos"):
        assert merged[key] == pytest.approx(expected[key], rel=1e-12), key
    assert list(merged["per_video"]) == list(videos)
    with pytest.raises(ValueError, match="evaluated twice"):
        VideoSegmentationMetrics.merge([parts[0], parts[0]])


def test_evaluate_videos_streams_official_clips_and_single_frames(tiny_vspw):
    from mrcfa import segment_video
    from mrcfa.data import load_vspw
    from mrcfa.models.mrcfa.image_processing_mrcfa import MrcfaVideoProcessor

    model = tiny_model().eval()
    processor = MrcfaVideoProcessor(size={"longest_edge": 96, "shortest_edge": 64})
    clips = list(load_vspw(tiny_vspw, "val", mode="eval"))
    metric = evaluate_videos(model, clips, processor, num_labels=3, batch_size=4)
    result = metric.compute("all_windows")
    assert result["num_videos"] == 2 and result["num_frames"] == 17 + 12
    # the same predictions, computed directly
    frames = [c["frames"][-1] for c in clips if c["video_id"] == clips[0]["video_id"]]
    masks = [np.asarray(c["masks"][-1]) for c in clips if c["video_id"] == clips[0]["video_id"]]
    direct = VideoSegmentationMetrics(3, reduce_labels=True)
    direct.add_video("v", np.stack([p.numpy() for p in segment_video(model, frames, processor=processor)]), masks)
    assert result["per_video"][clips[0]["video_id"]]["mVC8"] == pytest.approx(direct.compute("all_windows")["mVC8"])
    assert np.array_equal(
        VideoSegmentationMetrics.merge([metric]).compute()["confusion_matrix"], result["confusion_matrix"]
    )
    # official protocol skips the 12-frame video for VC; single-frame evaluation differs from clip evaluation
    official = metric.compute("official")
    assert official["skipped_videos"] == [clips[-1]["video_id"]]
    single = evaluate_videos(model, clips, processor, num_labels=3, single_frame=True, max_videos=1)
    assert single.compute()["num_videos"] == 1
    assert not model.training
