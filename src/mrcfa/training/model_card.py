# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""What the model card of a model trained by `scripts/run_vss.py` says about its training (`TrainingRecord`)."""

from __future__ import annotations

from pathlib import Path

from ..model_cards import TrainingRecord, weights_terms_of
from .model_setup import is_mrcfa_checkpoint

__all__ = ["describe_training"]


def describe_training(model_args, data_args, training_args, *, source: str) -> TrainingRecord:
    """The `TrainingRecord` of a run of `scripts/run_vss.py` (its `ModelArguments`, `DataArguments`,
    `MrcfaTrainingArguments`) on `source`: the data (the synthetic VSPW of the demo when `data_args.dataset_name` is
    empty), the initial weights and whose licence terms they carry, and the recipe."""
    demo = data_args.dataset_name is None
    local_data = Path(source).exists()
    if demo:
        dataset = (
            f"synthetic VSPW (`mrcfa synthetic`: {data_args.synthetic_num_classes} classes, "
            f"{data_args.synthetic_num_videos[0]} train / {data_args.synthetic_num_videos[1]} val videos, seed "
            f"{data_args.synthetic_seed})"
        )
    else:
        dataset = Path(source).name if local_data else source
    init = model_args.model_name_or_path
    from_mrcfa = bool(init) and is_mrcfa_checkpoint(
        init, revision=model_args.revision, token=model_args.token, cache_dir=model_args.cache_dir
    )
    if init:
        kind = "an MRCFA checkpoint" if from_mrcfa else "SegFormer / MiT encoder weights, MRCFA head from scratch"
        initialization = f"{init} ({kind})"
    else:
        initialization = f"random (trained from scratch, config {model_args.config_name or 'b1'})"
    return TrainingRecord(
        dataset=dataset,
        synthetic=demo,
        dataset_id=None if demo or local_data else source,
        train_split=data_args.train_split,
        eval_split=data_args.eval_split,
        initialization=initialization,
        base_model=init if init and not Path(init).exists() else None,
        weights_terms=weights_terms_of(
            init, is_mrcfa_checkpoint=from_mrcfa, token=model_args.token, revision=model_args.revision
        ),
        max_steps=training_args.max_steps if training_args.do_train else None,
        num_frames=data_args.num_frames,
        crop_size=tuple(data_args.crop_size),
        learning_rate=training_args.learning_rate,
    )
