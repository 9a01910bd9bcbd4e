# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Batching of transformed clips: ``pixel_values [B, T, 3, H, W]`` and ``labels [B, T, H, W]``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["ClipCollator", "collate_clips"]


def _stack(values: Sequence[Any], key: str, dtype: torch.dtype) -> torch.Tensor:
    tensors = [v if isinstance(v, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(v)) for v in values]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(
            f"cannot batch {key!r} of shapes {sorted(shapes)}: clips of a batch must have the same number of frames "
            "and size. Eval clips have 1 or 4 frames and videos differ in size: use batch_size=1 for evaluation."
        )
    return torch.stack(tensors).to(dtype)


def collate_clips(batch: Sequence[Mapping[str, Any]], return_metadata: bool = False) -> dict[str, Any]:
    """Stack transformed clips (outputs of :class:`~mrcfa.data.VspwTrainTransform` / ``VspwEvalTransform``).

    Each example has ``pixel_values`` ``float32 [T, 3, H, W]`` and optionally ``labels`` ``int [T, H', W']``.
    Returns ``{"pixel_values": float32 [B, T, 3, H, W], "labels": int64 [B, T, H', W']}`` (``labels`` only when every
    example has them). With ``return_metadata=True`` also ``video_id`` (list[str]), ``frame_indices``
    (list[list[int]]) and ``original_size`` (list[tuple]) when present.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch.")
    for i, example in enumerate(batch):
        if "pixel_values" not in example:
            raise ValueError(
                f"example {i} of the batch has no 'pixel_values' (keys: {sorted(example)}): apply "
                "VspwTrainTransform / VspwEvalTransform first, e.g. dataset.map(transform, remove_columns=['frames', "
                "'masks']) or ClipCollator(transform=...)."
            )
    out: dict[str, Any] = {"pixel_values": _stack([e["pixel_values"] for e in batch], "pixel_values", torch.float32)}
    if all(e.get("labels") is not None for e in batch):
        out["labels"] = _stack([e["labels"] for e in batch], "labels", torch.int64)
    if return_metadata:
        for key in ("video_id", "frame_indices", "original_size"):
            if all(key in e for e in batch):
                out[key] = [e[key] if key != "frame_indices" else list(e[key]) for e in batch]
    return out


class ClipCollator:
    """DataLoader ``collate_fn``: optionally applies `transform` to raw clips (in the worker), then :func:`collate_clips`.

    ``DataLoader(load_vspw(src, "train"), batch_size=2, collate_fn=ClipCollator(VspwTrainTransform(seed=0)))``
    """

    def __init__(
        self, transform: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None, return_metadata=False
    ):
        self.transform = transform
        self.return_metadata = return_metadata

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if self.transform is not None:
            batch = [{**example, **self.transform(example)} for example in batch]
        return collate_clips(batch, return_metadata=self.return_metadata)
