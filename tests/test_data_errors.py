# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Bad input gives clear errors naming the file or video; nothing is dropped silently."""

import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from mrcfa.data import (
    CorruptImageError,
    InvalidMaskError,
    collate_clips,
    export_vspw_parquet,
    list_vspw_videos,
    load_vspw,
)
from mrcfa.data.synthetic import make_synthetic_vspw


@pytest.fixture
def root(tmp_path):
    return make_synthetic_vspw(
        tmp_path / "VSPW_480p", seed=0, num_classes=3, num_videos=(2, 2, 1), num_frames=(12, 12), height=16, width=24
    )


def _video(root, split, i=0):
    return (root / f"{split}.txt").read_text().split()[i]


def _consume(dataset):
    return list(dataset)


def test_source_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found: there is no such local folder"):
        load_vspw(tmp_path / "missing", "val")
    with pytest.raises(FileNotFoundError, match="neither a VSPW folder"):
        load_vspw(tmp_path, "val")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_vspw(tmp_path / "file.txt", "val")


def test_missing_split_file(root):
    (root / "val.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"split file .*val\.txt not found"):
        load_vspw(root, "val", mode="eval")
    with pytest.raises(FileNotFoundError, match=r"split file .*extra\.txt not found"):
        list_vspw_videos(root, "extra")


def test_listed_video_without_folder(root):
    with open(root / "val.txt", "a") as f:
        f.write("ghost_video\n")
    with pytest.raises(FileNotFoundError, match=r"video 'ghost_video' is listed in .*val\.txt but its frame folder"):
        load_vspw(root, "val", mode="eval")


def test_duplicate_video_in_split(root):
    with open(root / "val.txt", "a") as f:
        f.write(_video(root, "val") + "\n")
    with pytest.raises(ValueError, match="listed twice"):
        load_vspw(root, "val", mode="eval")


def test_frame_without_mask(root):
    video = _video(root, "val", 1)
    (root / "data" / video / "mask" / "00000005.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"frame .*{video}/origin/00000005\.jpg has no mask: expected"):
        load_vspw(root, "val", mode="eval")


def test_video_without_mask_folder_in_labelled_split(root):
    video = _video(root, "train", 1)
    shutil.rmtree(root / "data" / video / "mask")
    with pytest.raises(FileNotFoundError, match=rf"video '{video}' of split 'train' has no mask folder"):
        load_vspw(root, "train", mode="train")


def test_frame_and_mask_of_different_sizes(root):
    video = _video(root, "val")
    path = root / "data" / video / "mask" / "00000003.png"
    Image.fromarray(np.ones((10, 24), np.uint8), "L").save(path)
    with pytest.raises(ValueError, match=r"is 24x16 \(WxH\) but its mask .*00000003\.png is 24x10"):
        _consume(load_vspw(root, "val", mode="eval"))


def test_mask_value_above_class_count(root):
    video = _video(root, "val")
    path = root / "data" / video / "mask" / "00000002.png"
    mask = np.ones((16, 24), np.uint8)
    mask[4, 7] = 9
    Image.fromarray(mask, "L").save(path)
    with pytest.raises(ValueError, match=r"00000002\.png has value 9 at \(y=4, x=7\) but the dataset has 3 classes"):
        _consume(load_vspw(root, "val", mode="eval"))
    # 255 is allowed (ignored) and an explicit class count overrides the source's
    mask[4, 7] = 255
    Image.fromarray(mask, "L").save(path)
    assert len(_consume(load_vspw(root, "val", mode="eval"))) == 24
    mask[4, 7] = 9
    Image.fromarray(mask, "L").save(path)
    assert len(_consume(load_vspw(root, "val", mode="eval", num_classes=124))) == 24


def test_rgb_mask_is_rejected(root):
    video = _video(root, "val")
    path = root / "data" / video / "mask" / "00000001.png"
    Image.new("RGB", (24, 16)).save(path)
    with pytest.raises(ValueError, match="has image mode 'RGB': expected a single-channel PNG"):
        _consume(load_vspw(root, "val", mode="eval"))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_corrupt_jpeg_raises_by_default_and_is_skipped_on_request(root):
    video = _video(root, "val")
    bad = root / "data" / video / "origin" / "00000004.jpg"  # frame index 3
    _truncate(bad)
    with pytest.raises(CorruptImageError, match=rf"corrupt or unreadable frame .*{video}/origin/00000004\.jpg"):
        _consume(load_vspw(root, "val", mode="eval"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = _consume(load_vspw(root, "val", mode="eval", skip_corrupt=True))
    skipped = [str(w.message) for w in caught if "skipping the clip" in str(w.message)]
    # frame 3 is in the clips of targets 3, 4, 7, 8 (fixed clips) and 9 ([0, 3, 6, 9]) of its 12-frame video
    assert len(skipped) == 5 and all("00000004.jpg" in m for m in skipped)
    kept = [c["frame_indices"][-1] for c in clips if c["video_id"] == video]
    assert kept == [0, 1, 2, 5, 6, 10, 11]
    assert len(clips) == 24 - 5


def test_corrupt_png_mask(root):
    video = _video(root, "train")
    (root / "data" / video / "mask" / "00000010.png").write_bytes(b"not a png at all")
    with pytest.raises(CorruptImageError, match=rf"corrupt or unreadable mask .*{video}/mask/00000010\.png"):
        _consume(load_vspw(root, "train", mode="eval"))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        clips = _consume(load_vspw(root, "train", mode="eval", skip_corrupt=True))
    assert len(clips) == 24 - 1  # frame 9 of a 12-frame video is only in the clip of target 9 ([0, 3, 6, 9])
    assert all(9 not in c["frame_indices"] for c in clips if c["video_id"] == video)


def test_bad_masks_are_skipped_on_request(root):
    video = _video(root, "val")
    Image.fromarray(np.ones((10, 24), np.uint8), "L").save(root / "data" / video / "mask" / "00000003.png")
    mask = np.ones((16, 24), np.uint8)
    mask[0, 0] = 7
    Image.fromarray(mask, "L").save(root / "data" / video / "mask" / "00000011.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = _consume(load_vspw(root, "val", mode="eval", skip_corrupt=True))
    skipped = [str(w.message) for w in caught if "skipping the clip" in str(w.message)]
    # frame 2 is in the clips of targets 2-6 (fixed clips) and 11 ([2, 5, 8, 11]); frame 10 in its own only
    assert sum("00000003.png is 24x10" in m for m in skipped) == 6
    assert sum("00000011.png has value 7" in m for m in skipped) == 1
    # the warning says what is wrong, not the fix that it applies
    assert all(m.endswith("classes: expected 0 (others), 1..3 or 255 (ignored).") for m in skipped if "value 7" in m)
    assert [c["frame_indices"][-1] for c in clips if c["video_id"] == video] == [0, 1, 7, 8, 9]


def test_data_errors_from_dataloader_workers_keep_their_type_and_one_line(root):
    """A DataLoader worker re-raises `type(err)(its traceback as text)`: the error still reads as its own message."""
    from torch.utils.data import DataLoader

    video = _video(root, "val")
    mask = root / "data" / video / "mask" / "00000002.png"
    Image.fromarray(np.ones((10, 24), np.uint8), "L").save(mask)
    frame = root / "data" / video / "origin" / "00000002.jpg"
    message = (
        f"frame {frame} is 24x16 (WxH) but its mask {mask} is 24x10: a frame and its mask must have the same size. "
        "Fix the mask, or skip the clips that use it: --skip_corrupt (run_vss.py), skip_corrupt=True (load_vspw)."
    )
    with pytest.raises(InvalidMaskError) as direct:
        _consume(load_vspw(root, "val", mode="eval"))
    assert str(direct.value) == message and direct.value.file == str(mask)
    loader = DataLoader(load_vspw(root, "val", mode="eval"), batch_size=None, num_workers=1, collate_fn=lambda x: x)
    with pytest.raises(InvalidMaskError) as from_worker:
        _consume(loader)
    assert str(from_worker.value) == message and from_worker.value.file is None


def test_train_mode_needs_a_labelled_split(root):
    with pytest.raises(ValueError, match="has no masks: mode='train' needs a labelled split"):
        load_vspw(root, "test", mode="train")


def test_bad_options(root):
    with pytest.raises(ValueError, match="mode must be 'train' or 'eval'"):
        load_vspw(root, "val", mode="test")
    with pytest.raises(ValueError, match="reference_offsets must be negative and increasing"):
        load_vspw(root, "val", mode="eval", reference_offsets=(-3, -6))


def test_parquet_source_errors(root, tmp_path):
    out = tmp_path / "parquet"
    export_vspw_parquet(root, out, splits=["val"])
    with pytest.raises(
        FileNotFoundError, match=r"no Parquet shard for split 'train' .*expected data/train-\*\.parquet"
    ):
        load_vspw(out, "train")
    with pytest.raises(ValueError, match="needs a raw VSPW folder"):
        export_vspw_parquet(out, tmp_path / "again")


def test_corrupt_image_inside_parquet_names_the_video(root, tmp_path):
    video = _video(root, "val")
    _truncate(root / "data" / video / "origin" / "00000002.jpg")
    out = tmp_path / "parquet"
    export_vspw_parquet(root, out, splits=["val"])  # bytes are embedded as they are
    with pytest.raises(CorruptImageError, match=rf"video '{video}', frame '00000002'"):
        _consume(load_vspw(out, "val", mode="eval"))


def test_collate_errors():
    with pytest.raises(ValueError, match="has no 'pixel_values'"):
        collate_clips([{"frames": []}])
    batch = [
        {"pixel_values": np.zeros((1, 3, 4, 4), np.float32)},
        {"pixel_values": np.zeros((4, 3, 4, 4), np.float32)},
    ]
    with pytest.raises(ValueError, match="use batch_size=1 for evaluation"):
        collate_clips(batch)
