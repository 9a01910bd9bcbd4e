# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Checks of distributed training: the replicas of every process hold the same weights."""

from __future__ import annotations

import logging

import torch
from transformers import TrainerCallback

logger = logging.getLogger(__name__)

__all__ = ["WeightSyncCallback", "parameter_checksum"]


def parameter_checksum(model: torch.nn.Module) -> torch.Tensor:
    """float64 vector: per parameter, its sum and its sum of squares (cheap, and enough to catch diverging replicas).

    Buffers (BatchNorm running statistics) are left out: each process updates them with its own batch, and DDP
    broadcasts process 0's at the start of every forward pass.
    """
    with torch.no_grad():
        values = [
            torch.stack([p.detach().double().sum(), p.detach().double().square().sum()]) for p in model.parameters()
        ]
    return torch.cat(values).cpu() if values else torch.zeros(0, dtype=torch.float64)


class WeightSyncCallback(TrainerCallback):
    """Every `every` optimiser steps, all-gathers a checksum of the parameters and raises if two processes differ.

    `checked_steps` counts the successful checks (logged at the end of training).
    """

    def __init__(self, every: int = 1):
        self.every = max(int(every), 1)
        self.checked_steps = 0

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()) or model is None:
            return
        if state.global_step % self.every:
            return
        local = parameter_checksum(model)
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, local)
        for rank, other in enumerate(gathered):
            if not torch.equal(other, gathered[0]):
                raise RuntimeError(
                    f"weights differ between process 0 and process {rank} after step {state.global_step}: "
                    "the replicas are out of sync."
                )
        self.checked_steps += 1

    def on_train_end(self, args, state, control, **kwargs):
        if self.checked_steps:
            world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
            logger.warning(
                f"weight sync check: weights identical on all {world} processes after each of "
                f"{self.checked_steps} checked steps"
            )
