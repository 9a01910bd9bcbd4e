# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""load_vspw / VspwBuilder: official clips, epochs, streaming, sharding over workers and ranks, Parquet export."""

import json
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from conftest import FIXTURES
from datasets.distributed import split_dataset_by_node
from torch.utils.data import DataLoader

from mrcfa.data import (
    VspwBuilder,
    VspwEvalTransform,
    VspwTrainTransform,
    collate_clips,
    export_vspw_parquet,
    list_vspw_videos,
    load_vspw,
    make_synthetic_vspw,
    sample_train_clip,
)
from mrcfa.data import sources as sources_module

# the tiny dataset has two short train videos: the official-rule warning is checked once, silenced elsewhere
pytestmark = pytest.mark.filterwarnings("ignore:.*give no train clip:UserWarning")

REPO = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((FIXTURES / "mrcfa_ref_clip_indices.json").read_text())
VAL_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 17, 25]
TRAIN_LENGTHS = [5, 9, 10, 12, 14, 20, 11, 13]


@pytest.fixture(scope="module")
def vspw(tmp_path_factory):
    """Tiny synthetic VSPW with chosen video lengths (val covers the fixture's cases) and its Parquet export."""
    root = tmp_path_factory.mktemp("vspw") / "VSPW_480p"
    make_synthetic_vspw(
        root, seed=3, num_classes=4, height=24, width=40, num_videos=(0, 0, 2), num_frames=(4, 6),
        video_frame_counts={"train": TRAIN_LENGTHS, "val": VAL_LENGTHS},
    )  # fmt: skip
    parquet = root.parent / "parquet"
    export_vspw_parquet(root, parquet, max_shard_bytes=1)  # one video per shard
    return root, parquet


def _key(example):
    return example["video_id"], tuple(example["frame_indices"]), example["clip_seed"]


def _pixels(example):
    frames = tuple(np.asarray(f).tobytes() for f in example["frames"])
    masks = tuple(np.asarray(m).tobytes() for m in example.get("masks") or ())
    return _key(example), frames, masks


def _collate_keys(batch):
    return [_key(e) for e in batch]


def _loader_keys(dataset, num_workers):
    loader = DataLoader(dataset, batch_size=3, num_workers=num_workers, collate_fn=_collate_keys)
    return [key for batch in loader for key in batch]


# ---------------------------------------------------------------------------------------------------------------------
def test_eval_clips_match_the_official_fixture_in_video_then_frame_order(vspw):
    root, _ = vspw
    dataset = load_vspw(root, "val", mode="eval")
    assert isinstance(dataset, datasets.IterableDataset)
    examples = list(dataset)
    videos = (root / "val.txt").read_text().split()
    expected = [(v, i) for v, n in zip(videos, VAL_LENGTHS) for i in range(n)]
    assert [(e["video_id"], e["frame_indices"][-1]) for e in examples] == expected
    by_video = {}
    for e in examples:
        by_video.setdefault(e["video_id"], []).append(list(e["frame_indices"]))
    for video, n in zip(videos, VAL_LENGTHS):
        assert by_video[video] == FIXTURE["clips"][str(n)], n
    first = examples[VAL_LENGTHS[0] + VAL_LENGTHS[1] + VAL_LENGTHS[2] + 3]  # video with 4 frames, target 3
    assert len(first["frames"]) == 4 and len(first["masks"]) == 4
    assert first["frames"][0].mode == "RGB" and first["frames"][0].size == (40, 24)
    assert first["masks"][0].mode in ("L", "P")
    listed = list_vspw_videos(root, "val")
    assert [v.video_id for v in listed.videos] == videos and listed.labelled and listed.num_classes == 4
    frame = np.asarray(first["frames"][2])
    from PIL import Image

    np.testing.assert_array_equal(frame, np.asarray(Image.open(listed.videos[3].frame_files[2])))


def test_train_rule_matches_the_official_sampler():
    for n, observed in FIXTURE["train_rule_check"]["observed"].items():
        n = int(n)
        clips = {sample_train_clip(n, np.random.default_rng(s)) for s in range(1500)}
        if observed == ["None"]:
            assert clips == {None}
            continue
        assert clips == {tuple(c) for c in observed}, n


def test_train_mode_skips_short_videos_with_one_counting_warning(vspw):
    root, _ = vspw
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_vspw(root, "train", mode="train", seed=0)
    messages = [str(w.message) for w in caught if "give no train clip" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("2 of 8 videos")
    clips = list(dataset)
    names = (root / "train.txt").read_text().split()
    long_videos = [v for v, n in zip(names, TRAIN_LENGTHS) if n > 9]
    assert [c["video_id"] for c in clips] == long_videos
    lengths = dict(zip(names, TRAIN_LENGTHS))
    for clip in clips:
        idx = clip["frame_indices"]
        n = lengths[clip["video_id"]]
        steps = np.diff(idx)
        assert len(idx) == 4 and (all(steps == 3) or all(steps == -3)) and all(0 <= i < n for i in idx)
        assert len(clip["frames"]) == len(clip["masks"]) == 4


def test_repeats_and_clips_per_video(vspw):
    root, _ = vspw
    plain = list(load_vspw(root, "train", mode="train", seed=0))
    repeated = load_vspw(root, "train", mode="train", seed=0, repeats=3, clips_per_video=2)
    assert repeated.num_shards == 3 * 6
    clips = list(repeated)
    assert len(clips) == 6 * 3 * 2
    assert Counter(c["video_id"] for c in clips) == Counter({c["video_id"]: 6 for c in plain})
    assert len({_key(c) for c in clips}) == len(clips)  # distinct clip seeds
    with pytest.raises(ValueError, match="only apply to mode='train'"):
        load_vspw(root, "val", mode="eval", repeats=2)


def test_epochs_are_reproducible_and_different(vspw):
    root, _ = vspw
    dataset = load_vspw(root, "train", mode="train", seed=5, clips_per_video=3)
    epoch0 = [_key(e) for e in dataset]
    dataset = load_vspw(root, "train", mode="train", seed=5, clips_per_video=3, epoch=1)
    epoch1 = [_key(e) for e in dataset]
    dataset = load_vspw(root, "train", mode="train", seed=5, clips_per_video=3, epoch=1)
    assert [_key(e) for e in dataset] == epoch1
    dataset = load_vspw(root, "train", mode="train", seed=5, clips_per_video=3, epoch=0)
    assert [_key(e) for e in dataset] == epoch0
    assert sorted(epoch0) != sorted(epoch1)
    assert {k[2] for k in epoch0}.isdisjoint({k[2] for k in epoch1})
    fresh = load_vspw(root, "train", mode="train", seed=5, clips_per_video=3, epoch=1)
    assert [_key(e) for e in fresh] == epoch1
    other_seed = load_vspw(root, "train", mode="train", seed=6, clips_per_video=3)
    assert sorted(_key(e) for e in other_seed) != sorted(epoch0)


def test_epoch_argument_gives_the_shard_order_of_set_epoch_and_new_clips(vspw):
    """load_vspw(..., epoch=e) reads the videos in the order datasets' set_epoch(e) gives, with the clips of epoch e;
    set_epoch(k) on a dataset only reorders its videos (shards), the clips stay those of its `epoch`."""
    root, _ = vspw
    kwargs = {"mode": "train", "seed": 5, "clips_per_video": 2}
    base = [_key(e) for e in load_vspw(root, "train", **kwargs)]
    for epoch in (1, 2, 12345):
        keys = [_key(e) for e in load_vspw(root, "train", epoch=epoch, **kwargs)]
        reordered = load_vspw(root, "train", **kwargs)
        reordered.set_epoch(epoch)
        reordered = [_key(e) for e in reordered]
        assert sorted(reordered) == sorted(base) and reordered != base  # same clips, other video order
        assert [k[0] for k in keys] == [k[0] for k in reordered]  # the same video order as set_epoch(epoch)
        assert {k[2] for k in keys}.isdisjoint({k[2] for k in base})  # new clips
        twice = load_vspw(root, "train", epoch=epoch, **kwargs)
        twice.set_epoch(3)
        assert sorted(_key(e) for e in twice) == sorted(keys)
    order = [_key(e) for e in load_vspw(root, "val", mode="eval", epoch=2)]
    val = load_vspw(root, "val", mode="eval")
    val.set_epoch(2)
    assert order == [_key(e) for e in val]
    with pytest.raises(ValueError, match="epoch must be a non-negative"):
        load_vspw(root, "train", epoch=-1)


def test_decoded_frames_and_masks_are_the_files_pixels(vspw, tmp_path):
    """Clips are yielded as encoded file references and decoded by datasets' Image features: the same pixels and
    modes as decoding the files with PIL (frames converted to RGB, masks as stored: L or P), for every source."""
    import shutil

    from PIL import Image

    root, _ = vspw
    copy = tmp_path / "VSPW_480p"
    shutil.copytree(root, copy)
    video = list_vspw_videos(copy, "val").videos[5]
    Image.open(video.frame_files[2]).convert("L").save(video.frame_files[2], quality=85)  # a grayscale JPEG
    Image.fromarray(np.asarray(Image.open(video.mask_files[3]))).save(video.mask_files[3])  # a mode-L mask
    export_vspw_parquet(copy, tmp_path / "parquet", max_shard_bytes=1)
    videos = {v.video_id: v for split in ("train", "val") for v in list_vspw_videos(copy, split).videos}
    assert Image.open(video.frame_files[2]).mode == "L" and Image.open(video.mask_files[3]).mode == "L"
    checked = Counter()
    for source in (copy, tmp_path / "parquet"):
        for split, mode, streaming in (("val", "eval", True), ("train", "train", True), ("val", "eval", False)):
            kwargs = {"cache_dir": tmp_path / "cache"} if not streaming else {"repeats": 3} if mode == "train" else {}
            for example in load_vspw(source, split, mode=mode, streaming=streaming, **kwargs):
                info = videos[example["video_id"]]
                for i, frame, mask in zip(example["frame_indices"], example["frames"], example["masks"]):
                    expected_frame = Image.open(info.frame_files[i])
                    checked[expected_frame.mode] += 1
                    assert frame.mode == "RGB" and frame.size == expected_frame.size
                    np.testing.assert_array_equal(np.asarray(frame), np.asarray(expected_frame.convert("RGB")))
                    expected_mask = Image.open(info.mask_files[i])
                    checked["mask " + expected_mask.mode] += 1
                    assert mask.mode == expected_mask.mode
                    np.testing.assert_array_equal(np.asarray(mask), np.asarray(expected_mask))
    assert checked["L"] and checked["RGB"] and checked["mask L"] and checked["mask P"]


def test_clips_do_not_depend_on_the_number_of_workers(vspw):
    root, _ = vspw
    for mode, split in (("train", "train"), ("eval", "val")):
        dataset = load_vspw(root, split, mode=mode, seed=1, **({"repeats": 2} if mode == "train" else {}))
        dataset.set_epoch(2)
        single = [_key(e) for e in dataset]
        assert len(single) == len(set(single))
        assert sorted(_loader_keys(dataset, 0)) == sorted(single)
        assert sorted(_loader_keys(dataset, 2)) == sorted(single)


def test_sharding_across_ranks_and_workers_has_no_duplicates_or_losses(vspw):
    root, _ = vspw
    for mode, split in (("train", "train"), ("eval", "val")):
        dataset = load_vspw(root, split, mode=mode, seed=2, **({"clips_per_video": 2} if mode == "train" else {}))
        reference = sorted(_key(e) for e in dataset)
        per_rank = [_loader_keys(split_dataset_by_node(dataset, rank=r, world_size=2), 2) for r in range(2)]
        assert all(per_rank)
        union = per_rank[0] + per_rank[1]
        assert len(union) == len(set(union))
        assert sorted(union) == reference
        videos = [{k[0] for k in keys} for keys in per_rank]
        assert videos[0].isdisjoint(videos[1])  # whole videos per rank (one shard per video)


def test_streaming_decodes_only_the_yielded_clips_and_writes_no_arrow_cache(vspw, tmp_path, monkeypatch):
    root, _ = vspw
    opened = []
    original = sources_module.decode_image
    monkeypatch.setattr(sources_module, "decode_image", lambda data, name, what: opened.append(name) or original(
        data, name, what))  # fmt: skip
    # (IterableDataset.take(n) pulls n + 1 examples, so iterate by hand)
    stream = iter(load_vspw(root, "train", mode="train", cache_dir=tmp_path / "cache"))
    for clips in (1, 2):
        clip = next(stream)
        assert len(opened) == clips * 2 * 4  # 4 frames + 4 masks per clip
        video = clip["video_id"]
        names = {f"{video}/{kind}/{i + 1:08d}.{ext}" for i in clip["frame_indices"] for kind, ext in
                 (("origin", "jpg"), ("mask", "png"))}  # fmt: skip
        assert {"/".join(Path(n).parts[-3:]) for n in opened[-8:]} == names
    opened.clear()
    stream = iter(load_vspw(root, "val", mode="eval", cache_dir=tmp_path / "cache"))
    counts = []
    for _ in range(sum(VAL_LENGTHS[:4]) + 6):
        next(stream)
        counts.append(len(opened))
    # each frame (and mask) is decoded once, when first needed: frame i of a video adds one frame and one mask
    assert counts == [2 * (i + 1) for i in range(len(counts))]
    assert not list((tmp_path / "cache").rglob("*.arrow"))


def test_non_streaming_dataset_matches_streaming(vspw, tmp_path):
    root, _ = vspw
    streamed = [_pixels(e) for e in load_vspw(root, "val", mode="eval")]
    table = load_vspw(root, "val", mode="eval", streaming=False, cache_dir=tmp_path / "cache")
    assert isinstance(table, datasets.Dataset) and len(table) == sum(VAL_LENGTHS)
    assert [_pixels(e) for e in table] == streamed


def test_transform_and_collate_through_a_dataloader(vspw):
    root, _ = vspw
    train = load_vspw(root, "train", mode="train", seed=0, repeats=2)
    train = train.map(
        VspwTrainTransform(crop_size=(16, 16), scale=(40, 24), seed=0), remove_columns=["frames", "masks"]
    )
    batches = list(DataLoader(train, batch_size=4, num_workers=2, collate_fn=collate_clips))
    assert sum(b["pixel_values"].shape[0] for b in batches) == 12
    assert batches[0]["pixel_values"].shape == (4, 4, 3, 16, 16) and batches[0]["pixel_values"].dtype == torch.float32
    assert batches[0]["labels"].shape == (4, 4, 16, 16) and batches[0]["labels"].dtype == torch.int64
    assert set(torch.cat([b["labels"] for b in batches]).unique().tolist()) <= {0, 1, 2, 3, 255}
    again = list(DataLoader(train, batch_size=4, num_workers=0, collate_fn=collate_clips))
    total = sorted(float(x) for b in batches for x in b["pixel_values"].sum(dim=(1, 2, 3, 4)))
    assert np.allclose(total, sorted(float(x) for b in again for x in b["pixel_values"].sum(dim=(1, 2, 3, 4))))
    val = load_vspw(root, "val", mode="eval").map(
        VspwEvalTransform(scale=(40, 24)), remove_columns=["frames", "masks"]
    )
    batch = next(iter(DataLoader(val, batch_size=1, collate_fn=collate_clips)))
    assert batch["pixel_values"].shape == (1, 1, 3, 32, 64) and batch["labels"].shape == (1, 1, 24, 40)


# ---------------------------------------------------------------------------------------------------------------------
def test_parquet_export_yields_the_same_clips_as_the_folder(vspw):
    root, parquet = vspw
    assert len(list((parquet / "data").glob("val-*.parquet"))) == len(VAL_LENGTHS)
    card = (parquet / "README.md").read_text()
    assert "path: data/val-*" in card and "path: data/test-*" in card
    for split, mode, kwargs in (
        ("val", "eval", {}),
        ("test", "eval", {}),
        ("train", "train", {"seed": 4, "clips_per_video": 2}),
    ):
        folder = load_vspw(root, split, mode=mode, **kwargs)
        shards = load_vspw(parquet, split, mode=mode, **kwargs)
        assert folder.features == shards.features
        assert shards.num_shards == folder.num_shards
        assert [_pixels(e) for e in shards] == [_pixels(e) for e in folder], split
        if mode == "train":
            folder.set_epoch(3)
            shards.set_epoch(3)
            assert [_key(e) for e in shards] == [_key(e) for e in folder]
    test = load_vspw(parquet, "test", mode="eval")
    assert "masks" not in test.features and "masks" not in next(iter(test))
    # sharding over ranks and workers also works on the Parquet source
    dataset = load_vspw(parquet, "val", mode="eval")
    per_rank = [_loader_keys(split_dataset_by_node(dataset, rank=r, world_size=2), 2) for r in range(2)]
    assert sorted(per_rank[0] + per_rank[1]) == sorted(_key(e) for e in dataset)


def test_hub_dataset_id_reads_the_same_shards(vspw, tmp_path, monkeypatch):
    """The Hub branch (org/name -> hf://datasets/org/name) with HfFileSystem replaced by a local folder."""
    import shutil

    import huggingface_hub
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    root, parquet = vspw
    hub = tmp_path / "hub"
    shutil.copytree(parquet, hub / "datasets" / "someone" / "vspw-synthetic")
    calls = []

    def fake_hf_filesystem(**options):
        calls.append(options)
        return DirFileSystem(path=str(hub), fs=LocalFileSystem())

    monkeypatch.setattr(huggingface_hub, "HfFileSystem", fake_hf_filesystem)
    from_hub = load_vspw("someone/vspw-synthetic", "val", mode="eval", token="hf_xxx")
    assert [_pixels(e) for e in from_hub] == [_pixels(e) for e in load_vspw(root, "val", mode="eval")]
    assert calls and all(c == {"token": "hf_xxx"} for c in calls)
    listing = list_vspw_videos("someone/vspw-synthetic", "val")
    assert listing.source.root == "hf://datasets/someone/vspw-synthetic" and listing.source.kind == "parquet"
    assert listing.videos[0].parquet_file.startswith("hf://datasets/someone/vspw-synthetic/data/val-")
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="reading it as a Hub dataset id failed"):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(huggingface_hub, "HfFileSystem", lambda **kw: (_ for _ in ()).throw(OSError("offline")))
        load_vspw("someone/does-not-exist", "val")


def test_parquet_export_is_a_plain_hub_dataset(vspw):
    root, parquet = vspw
    videos = datasets.load_dataset(str(parquet), split="val", streaming=True)
    assert isinstance(videos.features["frames"], datasets.List)
    assert isinstance(videos.features["frames"].feature, datasets.Image)
    row = next(iter(videos))
    first = (root / "val.txt").read_text().split()[0]
    assert row["video_id"] == first and row["frame_names"] == ["00000001"]
    from PIL import Image

    np.testing.assert_array_equal(
        np.asarray(row["frames"][0]), np.asarray(Image.open(root / "data" / first / "origin" / "00000001.jpg"))
    )
    np.testing.assert_array_equal(
        np.asarray(row["masks"][0]), np.asarray(Image.open(root / "data" / first / "mask" / "00000001.png"))
    )


def test_export_script(vspw, tmp_path):
    root, _ = vspw
    out = tmp_path / "exported"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "export_vspw_parquet.py"), str(root), str(out), "--splits", "val"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "val: 1 shard(s)" in result.stdout
    assert [p.name for p in (out / "data").iterdir()] == ["val-00000-of-00001.parquet"]
    assert "split: val" in (out / "README.md").read_text() and "split: train" not in (out / "README.md").read_text()
    export_vspw_parquet(root, out, splits=["train"])  # a later export of another split keeps both in the card
    card = (out / "README.md").read_text()
    assert "path: data/train-*" in card and "path: data/val-*" in card
    assert f"| val | {len(VAL_LENGTHS)} | {sum(VAL_LENGTHS)} | yes |" in card
    assert [_key(e) for e in load_vspw(out, "val", mode="eval")] == [
        _key(e) for e in load_vspw(root, "val", mode="eval")
    ]


def test_export_skips_an_empty_split_listing(tmp_path):
    """`mrcfa synthetic --test 0` writes an empty test.txt: the default export takes the splits that list videos;
    asking for the empty one names it."""
    root = make_synthetic_vspw(tmp_path / "vspw", num_classes=2, num_videos=(1, 1, 0), num_frames=(2, 2), height=16,
                               width=16)  # fmt: skip
    assert (root / "test.txt").read_text() == ""
    written = export_vspw_parquet(root, tmp_path / "out")
    assert list(written) == ["train", "val"]
    assert "split: test" not in (tmp_path / "out" / "README.md").read_text()
    with pytest.raises(ValueError, match="test"):
        export_vspw_parquet(root, tmp_path / "out", splits=["test"])
    for name in ("train.txt", "val.txt"):
        (root / name).write_text("\n")
    with pytest.raises(ValueError) as error:
        export_vspw_parquet(root, tmp_path / "other")
    assert str(error.value) == f"{str(root)!r}: train.txt, val.txt, test.txt list no videos."


def test_builder_class_used_directly(vspw):
    root, _ = vspw
    builder = VspwBuilder(source=str(root), splits=("val", "test"), mode="eval")
    streams = builder.as_streaming_dataset()
    assert set(streams) == {"val", "test"}
    val = list(streams["val"])
    assert len(val) == sum(VAL_LENGTHS)
    test = next(iter(streams["test"]))
    assert test["masks"] is None  # an unlabelled split next to a labelled one


def test_data_package_does_not_import_the_model():
    """mrcfa.data never imports the model code (checked with the package's own __init__ bypassed)."""
    code = (
        "import sys, types, mrcfa.metrics as _c\n"  # resolves the package location only
        "path = list(sys.modules['mrcfa'].__path__)\n"
        "for name in [m for m in sys.modules if m == 'mrcfa' or m.startswith('mrcfa.')]: del sys.modules[name]\n"
        "pkg = types.ModuleType('mrcfa'); pkg.__path__ = path; sys.modules['mrcfa'] = pkg\n"
        "before = set(sys.modules)\n"
        "import mrcfa.data.transforms, mrcfa.data.synthetic, mrcfa.data.collate\n"
        "assert 'datasets' not in set(sys.modules) - before, 'the transforms should not need datasets'\n"
        "import mrcfa.data, mrcfa.data.loading, mrcfa.data.parquet\n"
        "from mrcfa.data import load_vspw, VspwTrainTransform\n"
        "bad = sorted(m for m in sys.modules if m.startswith('mrcfa.') and m.rsplit('.', 1)[-1].startswith(('modeling', 'model_')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
