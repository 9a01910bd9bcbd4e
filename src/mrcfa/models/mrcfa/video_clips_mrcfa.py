# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Which frames form the clip of a target frame: the official test-time and train-time rules (docs/design.md, Clips)."""

from __future__ import annotations

from collections.abc import Sequence

#: Official reference offsets of the 4-frame clip (train and test), relative to the target frame.
REFERENCE_OFFSETS = (-9, -6, -3)

# Official hard-coded test clips for targets 3..8 (independent of the video length).
_FIXED_TEST_CLIPS = {
    3: (0, 1, 2, 3),
    4: (0, 2, 3, 4),
    5: (0, 2, 4, 5),
    6: (0, 2, 4, 6),
    7: (0, 3, 5, 7),
    8: (0, 3, 6, 8),
}


def test_clip_indices(index: int, offsets: Sequence[int] = REFERENCE_OFFSETS) -> tuple[int, ...]:
    """Positions (target last) of the official test-time clip for frame `index` of a video.

    Frames 0-2 are segmented alone (a 1-frame clip), frames 3-8 use fixed clips, frame i >= 9 uses
    ``[i + o for o in offsets] + [i]``. With non-official `offsets` (e.g. a different `num_clips`), the same rule is
    generalised: frames whose references would fall before the video start are segmented alone.
    """
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}.")
    offsets = tuple(offsets)
    if offsets == REFERENCE_OFFSETS:
        if index in _FIXED_TEST_CLIPS:
            return _FIXED_TEST_CLIPS[index]
        if index < 3:
            return (index,)
    if index + offsets[0] < 0:
        return (index,)
    return tuple(index + o for o in offsets) + (index,)


def train_clip_indices(target: int, offsets: Sequence[int] = REFERENCE_OFFSETS) -> tuple[int, ...]:
    """Positions of the official train-time clip whose target is position `target` of the (possibly reversed) list."""
    if target + offsets[0] < 0:
        raise ValueError(f"target position {target} is too early for offsets {tuple(offsets)}.")
    return tuple(target + o for o in offsets) + (target,)


test_clip_indices.__test__ = False  # not a pytest test, despite its name
