# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Batching clips: shapes, dtypes, optional labels and metadata, transform inside the collator."""

import numpy as np
import torch

from mrcfa.data import ClipCollator, VspwTrainTransform, collate_clips


def _example(t=4, h=8, w=12, value=0.0, labels=True):
    example = {
        "video_id": f"v{value}",
        "frame_indices": list(range(t)),
        "pixel_values": np.full((t, 3, h, w), value, np.float32),
    }
    if labels:
        example["labels"] = np.full((t, h, w), int(value), np.int64)
    return example


def test_collate_shapes_and_order():
    batch = collate_clips([_example(value=1.0), _example(value=2.0), _example(value=3.0)])
    assert set(batch) == {"pixel_values", "labels"}
    assert batch["pixel_values"].shape == (3, 4, 3, 8, 12) and batch["pixel_values"].dtype == torch.float32
    assert batch["labels"].shape == (3, 4, 8, 12) and batch["labels"].dtype == torch.int64
    assert batch["pixel_values"][:, 0, 0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert batch["labels"][:, 3, 7, 11].tolist() == [1, 2, 3]


def test_collate_without_labels_and_with_metadata():
    batch = collate_clips([_example(labels=False), _example(value=1.0)], return_metadata=True)
    assert "labels" not in batch  # only when every example has labels
    assert batch["video_id"] == ["v0.0", "v1.0"] and batch["frame_indices"] == [[0, 1, 2, 3]] * 2
    tensors = collate_clips(
        [{"pixel_values": torch.ones(1, 3, 2, 2), "labels": torch.zeros(1, 2, 2, dtype=torch.uint8)}]
    )
    assert tensors["labels"].dtype == torch.int64 and tensors["pixel_values"].shape == (1, 1, 3, 2, 2)


def test_clip_collator_applies_the_transform():
    rng = np.random.default_rng(0)
    raw = [
        {
            "video_id": f"v{i}",
            "frame_indices": [0, 3, 6, 9],
            "frames": [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(4)],
            "masks": [rng.integers(0, 4, (20, 30), dtype=np.uint8) for _ in range(4)],
            "clip_seed": i,
        }
        for i in range(2)
    ]
    collator = ClipCollator(VspwTrainTransform(crop_size=(16, 16), scale=(30, 20), seed=0))
    batch = collator(raw)
    assert batch["pixel_values"].shape == (2, 4, 3, 16, 16) and batch["labels"].shape == (2, 4, 16, 16)
    again = collator(raw)
    assert torch.equal(batch["pixel_values"], again["pixel_values"]) and torch.equal(batch["labels"], again["labels"])
    assert set(batch["labels"].unique().tolist()) <= {0, 1, 2, 255}
