# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Training and evaluating MRCFA with transformers' `Trainer`, one module per concept.

* `optimization`: the official optimiser groups and poly schedule.
* `clip_stream`: the endless, resumable stream of augmented train clips of one process, its DataLoader and collator.
* `seeding`: seeds derived from (seed, position); `StepSeedCallback` makes dropout a function of the step.
* `distributed`: `WeightSyncCallback`, a check that all processes hold the same weights.
* `evaluation`: whole-video evaluation (streaming inference, official test clips) and its metrics.
* `trainer`: `MrcfaTrainer`, which wires the above into `Trainer`.
* `model_setup`: the model a run starts from (checkpoint, ImageNet encoder or preset) and the dataset's labels.
* `demo`: the built-in demo recipe and its cached synthetic VSPW.

`scripts/run_vss.py` is the command line over these pieces.

The names below load on first use (as in `mrcfa.data`), so that a script can import the argument pieces
(`SyntheticVspwArguments`, `parse_with_demo_recipe`, `usage_errors`) without `datasets` or the Trainer.
"""

from __future__ import annotations

from .._lazy import lazy_exports

#: public name -> submodule that defines it
_EXPORTS = {
    "TrainClipStream": ".clip_stream",
    "TrainCollator": ".clip_stream",
    "TrainEpochDatasets": ".clip_stream",
    "build_train_stream": ".clip_stream",
    "clips_per_shard": ".clip_stream",
    "make_train_dataloader": ".clip_stream",
    "DEMO_CONFIG_OVERRIDES": ".demo",
    "DEMO_OUTPUT_DIR": ".demo",
    "DEMO_RECIPE": ".demo",
    "SyntheticVspwArguments": ".demo",
    "default_cache_dir": ".demo",
    "demo_recipe": ".demo",
    "ensure_synthetic_vspw": ".demo",
    "parse_with_demo_recipe": ".demo",
    "WeightSyncCallback": ".distributed",
    "parameter_checksum": ".distributed",
    "UsageError": ".errors",
    "report_usage_errors": ".errors",
    "usage_errors": ".errors",
    "evaluate_videos": ".evaluation",
    "flatten_metrics": ".evaluation",
    "gather_video_metrics": ".evaluation",
    "load_eval_videos": ".evaluation",
    "single_frame_predictions": ".evaluation",
    "describe_training": ".model_card",
    "build_model": ".model_setup",
    "dataset_labels": ".model_setup",
    "is_mrcfa_checkpoint": ".model_setup",
    "parse_config_overrides": ".model_setup",
    "HEAD_PREFIX": ".optimization",
    "NO_DECAY_KEYS": ".optimization",
    "get_official_poly_schedule": ".optimization",
    "official_param_groups": ".optimization",
    "official_poly_factor": ".optimization",
    "StepSeedCallback": ".seeding",
    "seed_from": ".seeding",
    "step_seed": ".seeding",
    "MrcfaTrainer": ".trainer",
    "resolve_resume_checkpoint": ".trainer",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
