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
"""

from .clip_stream import (
    TrainClipStream,
    TrainCollator,
    TrainEpochDatasets,
    build_train_stream,
    clips_per_shard,
    make_train_dataloader,
)
from .demo import (
    DEMO_CONFIG_OVERRIDES,
    DEMO_OUTPUT_DIR,
    DEMO_RECIPE,
    SyntheticVspwArguments,
    default_cache_dir,
    demo_recipe,
    ensure_synthetic_vspw,
    parse_with_demo_recipe,
)
from .distributed import WeightSyncCallback, parameter_checksum
from .errors import UsageError, report_usage_errors, usage_errors
from .evaluation import (
    evaluate_videos,
    flatten_metrics,
    gather_video_metrics,
    load_eval_videos,
    single_frame_predictions,
)
from .model_card import describe_training
from .model_setup import build_model, dataset_labels, is_mrcfa_checkpoint, parse_config_overrides
from .optimization import (
    HEAD_PREFIX,
    NO_DECAY_KEYS,
    get_official_poly_schedule,
    official_param_groups,
    official_poly_factor,
)
from .seeding import StepSeedCallback, seed_from, step_seed
from .trainer import MrcfaTrainer, resolve_resume_checkpoint

__all__ = [
    "DEMO_CONFIG_OVERRIDES",
    "DEMO_OUTPUT_DIR",
    "DEMO_RECIPE",
    "HEAD_PREFIX",
    "NO_DECAY_KEYS",
    "MrcfaTrainer",
    "StepSeedCallback",
    "SyntheticVspwArguments",
    "TrainClipStream",
    "TrainCollator",
    "TrainEpochDatasets",
    "WeightSyncCallback",
    "UsageError",
    "build_model",
    "describe_training",
    "report_usage_errors",
    "usage_errors",
    "is_mrcfa_checkpoint",
    "build_train_stream",
    "clips_per_shard",
    "dataset_labels",
    "default_cache_dir",
    "demo_recipe",
    "ensure_synthetic_vspw",
    "evaluate_videos",
    "flatten_metrics",
    "gather_video_metrics",
    "load_eval_videos",
    "get_official_poly_schedule",
    "make_train_dataloader",
    "official_param_groups",
    "official_poly_factor",
    "parameter_checksum",
    "parse_config_overrides",
    "parse_with_demo_recipe",
    "resolve_resume_checkpoint",
    "seed_from",
    "single_frame_predictions",
    "step_seed",
]
