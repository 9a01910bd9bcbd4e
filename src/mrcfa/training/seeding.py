# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Reproducible randomness: every random draw of a run is a pure function of (seed, position).

`StepSeedCallback` reseeds the global RNGs at every optimiser step, so dropout and DropPath depend on the step only,
not on what ran before (data loading, evaluation, a restart): a run killed and resumed from a checkpoint ends with the
same weights, bit for bit on CPU, as an uninterrupted one.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from transformers import TrainerCallback

__all__ = ["StepSeedCallback", "seed_from", "step_seed"]


def seed_from(*values: int) -> int:
    """A 32-bit seed derived from non-negative integers (numpy's SeedSequence): the same values, the same seed."""
    state = np.random.SeedSequence([int(v) & 0xFFFFFFFFFFFFFFFF for v in values]).generate_state(1, np.uint32)
    return int(state[0])


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """Seed of the global RNGs for optimiser step `step` (0-based) on process `rank`."""
    return seed_from(seed, step, rank)


class StepSeedCallback(TrainerCallback):
    """Reseeds torch / numpy / random at the start of every optimiser step from (seed, step, rank).

    Dropout and DropPath then depend only on the step, not on what ran before (data loading, evaluation, a restart),
    which makes resumed runs bit-identical to uninterrupted ones.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_step_begin(self, args, state, control, **kwargs):
        value = step_seed(self.seed, state.global_step, args.process_index)
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)
