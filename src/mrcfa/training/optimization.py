# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The official MRCFA optimiser and learning-rate schedule (docs/design.md, "Training recipe").

AdamW with the head (`decode_head.*`) at 10x the learning rate and no weight decay on the encoder's norms, and a
polynomial decay to 0 with mmcv's linear warm-up (starting at `warmup_ratio` of the learning rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch

__all__ = [
    "HEAD_PREFIX",
    "NO_DECAY_KEYS",
    "official_param_groups",
    "official_poly_factor",
    "get_official_poly_schedule",
]

#: Parameters whose name starts with this get `head_lr_mult` x the learning rate (the official `'head'` key).
HEAD_PREFIX = "decode_head."
#: Substrings of parameter names without weight decay (the official `'norm'` and `'pos_block'` keys).
NO_DECAY_KEYS = ("norm", "pos_block")


# ----------------------------------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------------------------------
def official_param_groups(
    model: torch.nn.Module,
    learning_rate: float,
    weight_decay: float,
    head_lr_mult: float = 10.0,
    no_decay_keys: Sequence[str] = NO_DECAY_KEYS,
) -> list[dict[str, Any]]:
    """AdamW parameter groups of the official recipe (mmcv `paramwise_cfg` with custom keys `head`, `norm`,
    `pos_block`).

    As in mmcv, the first matching key wins and `head` is checked before `norm`: every head parameter
    (`decode_head.*`) gets `head_lr_mult * learning_rate` and the usual weight decay; encoder parameters whose name
    contains one of `no_decay_keys` (the LayerNorms) get no weight decay; everything else gets `learning_rate` and
    `weight_decay`. Frozen parameters are left out. Empty groups are dropped; each group has a `"group_name"`.
    """
    groups: dict[str, dict[str, Any]] = {
        "encoder": {"params": [], "lr": learning_rate, "weight_decay": weight_decay},
        "encoder_no_decay": {"params": [], "lr": learning_rate, "weight_decay": 0.0},
        "head": {"params": [], "lr": learning_rate * head_lr_mult, "weight_decay": weight_decay},
    }
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith(HEAD_PREFIX) or f".{HEAD_PREFIX}" in name:
            key = "head"
        elif any(k in name for k in no_decay_keys):
            key = "encoder_no_decay"
        else:
            key = "encoder"
        groups[key]["params"].append(param)
    return [{"group_name": k, **g} for k, g in groups.items() if g["params"]]


def official_poly_factor(
    step: int, num_training_steps: int, num_warmup_steps: int, warmup_ratio: float = 1e-6, power: float = 1.0
) -> float:
    """Learning-rate factor of optimiser step `step` (0-based) in the official schedule.

    mmcv `PolyLrUpdaterHook(power, min_lr=0, by_epoch=False, warmup='linear', warmup_ratio)`: the regular factor is
    `(1 - step / num_training_steps) ** power`; during the first `num_warmup_steps` steps it is multiplied by
    `1 - (1 - step / num_warmup_steps) * (1 - warmup_ratio)` (so step 0 uses `warmup_ratio`).
    """
    progress = min(step, num_training_steps) / max(num_training_steps, 1)
    factor = (1.0 - progress) ** power
    if step < num_warmup_steps:
        factor *= 1.0 - (1.0 - step / num_warmup_steps) * (1.0 - warmup_ratio)
    return factor


def get_official_poly_schedule(
    optimizer: torch.optim.Optimizer,
    num_training_steps: int,
    num_warmup_steps: int,
    warmup_ratio: float = 1e-6,
    power: float = 1.0,
    last_epoch: int = -1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """`LambdaLR` of :func:`official_poly_factor` (every parameter group keeps its own base learning rate)."""
    if num_training_steps < 1:
        raise ValueError(f"num_training_steps must be >= 1, got {num_training_steps}.")
    if num_warmup_steps < 0:
        raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}.")
    factor = partial(
        official_poly_factor,
        num_training_steps=num_training_steps,
        num_warmup_steps=num_warmup_steps,
        warmup_ratio=warmup_ratio,
        power=power,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor, last_epoch=last_epoch)
