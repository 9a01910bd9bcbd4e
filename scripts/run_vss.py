#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Train and evaluate MRCFA video semantic segmentation with transformers' Trainer.

    accelerate launch scripts/run_vss.py                  # built-in demo: synthetic VSPW, tiny MRCFA, CPU, ~5 min
    python scripts/run_vss.py --num_frames 1              # the same demo with single-frame (image) training
    accelerate launch scripts/run_vss.py \\
        --dataset_name /data/VSPW_480p --model_name_or_path nvidia/mit-b1 --output_dir runs/mrcfa-b1-vspw
    python scripts/run_vss.py config.json                 # every argument from a JSON file

Model: a preset trained from scratch (`--config_name b0` .. `b5`, optionally `--config_overrides`), an ImageNet MiT
encoder (`--model_name_or_path nvidia/mit-b1`: MRCFA head of the matching preset, new) or an MRCFA checkpoint.
Data: a VSPW folder, a folder of Parquet shards or a Hub dataset id (`--dataset_name`), streamed with
`mrcfa.data.load_vspw` and the official augmentation; without `--dataset_name`, a small synthetic VSPW (cached).

Recipes. With a real dataset every default is the official recipe (SPEC §9): AdamW lr 6e-5, betas (0.9, 0.999),
weight decay 0.01, head lr x10, no decay on the encoder's norms, poly decay (power 1) with 1,500 linear warm-up steps
from 1e-6, 160k steps, 2 clips per device, crop 480x480, no gradient clipping. Without `--dataset_name` the defaults
are the demo recipe (`DEMO_RECIPE` below: tiny model, 96x96 crops, lr 1e-3); arguments given explicitly always win.

Evaluation runs on whole validation videos, each frame predicted from its official test clip with streaming inference
(`mrcfa.segment_video`), and reports mIoU, mVC8, mVC16 (`mrcfa.VideoSegmentationMetrics`). See docs/training.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import transformers
from transformers import HfArgumentParser, PretrainedConfig, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from mrcfa import VSPW_CLASSES, MrcfaConfig, MrcfaForVideoSemanticSegmentation
from mrcfa.training import (
    MrcfaTrainer,
    StepSeedCallback,
    TrainClipStream,
    TrainCollator,
    WeightSyncCallback,
    clips_per_shard,
)

logger = logging.getLogger("run_vss")

DEMO_CONFIG_OVERRIDES = (
    "hidden_sizes=[16,32,64,128],depths=[1,1,1,1],num_attention_heads=[1,1,2,4],decoder_hidden_size=64"
)
#: Defaults of the built-in demo (no --dataset_name): a tiny MRCFA trained from scratch on a synthetic VSPW, on CPU.
DEMO_RECIPE = {
    "config_name": "b0",
    "config_overrides": DEMO_CONFIG_OVERRIDES,
    "crop_size": [192, 192],
    "image_scale": [320, 192],
    "ratio_range": [0.75, 1.5],
    "photometric_distortion": False,
    "learning_rate": 1e-3,
    "warmup_steps": 60,
    "max_steps": 1600,
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 8,
    "logging_steps": 50,
    "save_steps": 400,
    "save_total_limit": 2,
}
DEMO_OUTPUT_DIR = "runs/mrcfa-synthetic-demo"
_RUN_MARKERS = (
    "config.json",
    "model.safetensors",
    "trainer_state.json",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
)


# ----------------------------------------------------------------------------------------------------------------------
# Arguments
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class ModelArguments:
    """Which model to train."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "An MRCFA checkpoint (folder or Hub id) to fine-tune or evaluate, or a SegFormer / MiT encoder "
            "(e.g. nvidia/mit-b1: ImageNet weights, new MRCFA head). Leave empty to train from scratch "
            "(--config_name)."
        },
    )
    config_name: str | None = field(
        default=None,
        metadata={
            "help": "Model to train from scratch: a preset (b0, b1, b2, b3, b4, b5) or a config.json file / folder. "
            "Default: b1 (demo: b0 with --config_overrides)."
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Config fields to override: 'key=value,key=value' (values in JSON, e.g. depths=[1,1,1,1]) or a "
            "JSON object."
        },
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={
            "help": "Re-initialise the classifiers when the checkpoint's number of classes differs from the dataset's "
            "(otherwise that is an error)."
        },
    )
    revision: str = field(default="main", metadata={"help": "Hub revision of --model_name_or_path."})
    token: str | None = field(default=None, metadata={"help": "Hub token (for private models / datasets)."})
    cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of downloaded models."})


@dataclass
class DataArguments:
    """Which data to train and evaluate on, and how to augment it."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A VSPW_480p folder, a folder of Parquet shards (scripts/export_vspw_parquet.py) or a Hub dataset "
            "id. Empty: a synthetic VSPW generated (and cached) for the built-in demo."
        },
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str = field(default="val", metadata={"help": "Split to evaluate on (whole videos)."})
    num_frames: int = field(
        default=4,
        metadata={
            "help": "Frames per training clip: 4 (= num_clips, MRCFA) or 1 (single-frame baseline: every frame of "
            "each sampled clip is trained as an image, no temporal head; evaluation then predicts each frame alone)."
        },
    )
    eval_mode: str = field(
        default="auto",
        metadata={
            "help": "'clips' (official test clips, streaming inference), 'single_frame' (each frame alone) or 'auto' "
            "(single_frame when --num_frames 1)."
        },
    )
    crop_size: list[int] = field(default_factory=lambda: [480, 480], metadata={"help": "Train crop (h w)."})
    image_scale: list[int] = field(
        default_factory=lambda: [853, 480],
        metadata={"help": "Keep-ratio resize scale (long short), train (times the random ratio) and test."},
    )
    ratio_range: list[float] = field(
        default_factory=lambda: [0.5, 2.0], metadata={"help": "Random scale ratio range of the train resize."}
    )
    cat_max_ratio: float = field(
        default=0.75, metadata={"help": "Max share of one class in the train crop (1.0 disables the check)."}
    )
    photometric_distortion: bool = field(
        default=True, metadata={"help": "Official per-frame photometric distortion in the train augmentation."}
    )
    clips_per_video: int = field(default=1, metadata={"help": "Train clips drawn per video per data epoch."})
    repeats: int = field(default=1, metadata={"help": "Passes over the train videos per data epoch."})
    max_eval_videos: int | None = field(
        default=None, metadata={"help": "Evaluate only the first N videos of the eval split (quick checks)."}
    )
    vc_protocol: str = field(
        default="official",
        metadata={
            "help": "Video consistency protocol: 'official' (VC_perclip.py: videos <= 16 frames skipped, last window "
            "left out) or 'all_windows'."
        },
    )
    synthetic_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where the synthetic VSPW is cached (default: $MRCFA_CACHE or ~/.cache/mrcfa, one folder per "
            "set of generator arguments)."
        },
    )
    synthetic_num_classes: int = field(default=5, metadata={"help": "Synthetic VSPW: number of classes."})
    synthetic_num_videos: list[int] = field(
        default_factory=lambda: [24, 12], metadata={"help": "Synthetic VSPW: train and val videos."}
    )
    synthetic_num_frames: list[int] = field(
        default_factory=lambda: [20, 30], metadata={"help": "Synthetic VSPW: frames per video (min max)."}
    )
    synthetic_frame_size: list[int] = field(
        default_factory=lambda: [96, 160], metadata={"help": "Synthetic VSPW: frame size (h w)."}
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Synthetic VSPW: generator seed."})
    synthetic_motion_scale: float = field(
        default=0.3,
        metadata={"help": "Synthetic VSPW: speed multiplier of the camera and objects (1.0: ~5 px/frame)."},
    )
    synthetic_hidden_prob: float = field(
        default=0.35,
        metadata={
            "help": "Synthetic VSPW: chance per object and frame of a neutral, class-free look (the class is then "
            "only known from other frames)."
        },
    )
    synthetic_max_objects: int = field(
        default=3, metadata={"help": "Synthetic VSPW: moving objects per video are 1..N."}
    )
    synthetic_shared_object_class: bool = field(
        default=True,
        metadata={
            "help": "Synthetic VSPW: all moving objects of a video have the same class (a hidden object's class is "
            "then known from the objects visible in other frames)."
        },
    )
    synthetic_degraded_prob: float = field(
        default=0.1, metadata={"help": "Synthetic VSPW: share of frames with degraded appearance (grey, noisy)."}
    )


@dataclass
class MrcfaTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the official MRCFA recipe as defaults, plus the MRCFA options."""

    output_dir: str | None = field(
        default=None,
        metadata={"help": f"Where the model, checkpoints and metrics go (demo default: {DEMO_OUTPUT_DIR})."},
    )
    do_train: bool = field(default=True, metadata={"help": "Train (--do_train false: only evaluate)."})
    do_eval: bool = field(default=True, metadata={"help": "Evaluate the final model on whole eval videos."})
    learning_rate: float = field(default=6e-5, metadata={"help": "Encoder learning rate (head: x head_lr_mult)."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on the encoder's norms)."})
    warmup_steps: float = field(default=1500, metadata={"help": "Linear warm-up steps (or ratio if < 1)."})
    max_steps: int = field(default=160_000, metadata={"help": "Optimiser steps (the data stream is endless)."})
    per_device_train_batch_size: int = field(default=2, metadata={"help": "Clips per device and step."})
    per_device_eval_batch_size: int = field(default=4, metadata={"help": "Frames encoded together at evaluation."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping (0: none, as the official run)."})
    logging_steps: float = field(default=50, metadata={"help": "Log every N steps."})
    save_steps: float = field(default=16_000, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int | None = field(default=3, metadata={"help": "Keep at most N checkpoints."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Unused (kept False)."})
    ddp_find_unused_parameters: bool | None = field(
        default=None,
        metadata={
            "help": "DDP find_unused_parameters (default: only for --num_frames 1, where the temporal head is idle)."
        },
    )
    report_to: None | str | list[str] = field(
        default="auto",
        metadata={"help": "Loggers: 'auto' (TensorBoard when installed), 'none', 'tensorboard', 'all', ..."},
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Train even if --output_dir already holds another run."}
    )
    lr_schedule: str = field(
        default="official_poly",
        metadata={
            "help": "'official_poly' (poly decay to 0 with mmcv linear warm-up) or 'trainer' (--lr_scheduler_type)."
        },
    )
    warmup_start_ratio: float = field(
        default=1e-6, metadata={"help": "official_poly: learning-rate ratio at the first warm-up step."}
    )
    poly_power: float = field(default=1.0, metadata={"help": "official_poly: decay power."})
    head_lr_mult: float = field(default=10.0, metadata={"help": "Learning-rate multiplier of the MRCFA head."})
    sync_bn: bool = field(
        default=True,
        metadata={"help": "Convert BatchNorm to SyncBatchNorm when training on several GPUs (ignored on CPU)."},
    )
    check_weight_sync_steps: int = field(
        default=0,
        metadata={
            "help": "Distributed runs: every N steps, check that all processes hold identical weights (0: never)."
        },
    )

    def __post_init__(self):
        if self.report_to == "auto" or self.report_to == ["auto"]:
            from transformers.integrations import is_tensorboard_available

            self.report_to = "tensorboard" if is_tensorboard_available() else "none"
        if not self.use_cpu and not torch.cuda.is_available():
            # accelerate launch --multi_gpu on a machine without GPUs: CPU processes with gloo
            self.use_cpu = True
        if self.lr_schedule not in ("official_poly", "trainer"):
            raise ValueError(f"--lr_schedule must be 'official_poly' or 'trainer', got {self.lr_schedule!r}.")
        super().__post_init__()


def _cli_value(value) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _explicit_keys(argv: list[str]) -> set[str]:
    """Destinations given explicitly on the command line."""
    quiet = HfArgumentParser((ModelArguments, DataArguments, MrcfaTrainingArguments))
    for action in quiet._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    namespace, _ = quiet.parse_known_args(argv)
    return set(vars(namespace))


def parse_arguments(argv: list[str] | None = None):
    """(model_args, data_args, training_args, explicit keys): command line or one JSON file, plus the recipe."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ModelArguments, DataArguments, MrcfaTrainingArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        path = Path(argv[0])
        if not path.is_file():
            raise FileNotFoundError(f"argument file {path} not found.")
        user = json.loads(path.read_text())
        if not isinstance(user, dict):
            raise ValueError(f"{path} must hold a JSON object of arguments.")
        explicit = set(user)
        recipe = _recipe(user.get("dataset_name"), explicit)
        model_args, data_args, training_args = parser.parse_dict({**recipe, **user})
    else:
        explicit = _explicit_keys(argv)
        dataset = None
        if "dataset_name" in explicit:
            dataset = next(
                (argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--dataset_name"),
                next((a.split("=", 1)[1] for a in argv if a.startswith("--dataset_name=")), None),
            )
        recipe = _recipe(dataset, explicit)
        prefix = [token for key, value in recipe.items() for token in (f"--{key}", *_cli_value(value))]
        model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=prefix + argv)
    return model_args, data_args, training_args, explicit


def _recipe(dataset_name: str | None, explicit: set[str]) -> dict:
    if dataset_name:
        return {}
    recipe = {k: v for k, v in DEMO_RECIPE.items() if k not in explicit}
    if "model_name_or_path" in explicit:  # a checkpoint brings its own architecture
        recipe.pop("config_name", None)
        recipe.pop("config_overrides", None)
    if "output_dir" not in explicit:
        recipe["output_dir"] = DEMO_OUTPUT_DIR
        recipe.setdefault("overwrite_output_dir", True)  # the demo's own folder is rewritten by every demo run
    return recipe


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    if os.environ.get("MRCFA_CACHE"):
        return Path(os.environ["MRCFA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mrcfa"


def ensure_synthetic_vspw(data_args: DataArguments) -> Path:
    """The synthetic VSPW of the demo, generated once per set of generator arguments (atomic, safe in parallel)."""
    from mrcfa.data import make_synthetic_vspw
    from mrcfa.data import synthetic as synthetic_module

    if len(data_args.synthetic_num_videos) != 2 or min(data_args.synthetic_num_videos) < 1:
        raise ValueError(
            f"--synthetic_num_videos takes 2 counts >= 1 (train val), got {data_args.synthetic_num_videos}."
        )
    params = {
        "seed": data_args.synthetic_seed,
        "num_classes": data_args.synthetic_num_classes,
        "num_videos": [*data_args.synthetic_num_videos, 0],
        "num_frames": list(data_args.synthetic_num_frames),
        "height": data_args.synthetic_frame_size[0],
        "width": data_args.synthetic_frame_size[1],
        "motion_scale": data_args.synthetic_motion_scale,
        "hidden_prob": data_args.synthetic_hidden_prob,
        "degraded_prob": data_args.synthetic_degraded_prob,
        "shared_object_class": data_args.synthetic_shared_object_class,
        "max_objects": data_args.synthetic_max_objects,
    }
    generator = Path(synthetic_module.__file__).read_bytes()
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode() + generator).hexdigest()[:12]
    base = Path(data_args.synthetic_dir) if data_args.synthetic_dir else default_cache_dir()
    root = base / f"synthetic-vspw-{digest}"
    if (root / ".complete").is_file():
        return root
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.time()
    make_synthetic_vspw(
        tmp,
        seed=params["seed"],
        num_classes=params["num_classes"],
        num_videos=tuple(params["num_videos"]),
        num_frames=tuple(params["num_frames"]),
        height=params["height"],
        width=params["width"],
        motion_scale=params["motion_scale"],
        hidden_prob=params["hidden_prob"],
        degraded_prob=params["degraded_prob"],
        shared_object_class=params["shared_object_class"],
        max_objects=params["max_objects"],
    )
    (tmp / ".complete").write_text(json.dumps(params) + "\n")
    try:
        os.rename(tmp, root)
    except OSError:  # generated meanwhile by another run
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(f"generated the synthetic VSPW in {time.time() - start:.1f}s: {root}")
    return root


def dataset_labels(listing) -> dict[int, str]:
    """id2label of a dataset: VSPW's names for 124 classes, else the names of label_num_dic_final.json if any."""
    count = listing.num_classes
    if count == len(VSPW_CLASSES):
        return dict(enumerate(VSPW_CLASSES))
    names: dict[int, str] = {}
    if listing.source.kind == "folder":
        path = Path(listing.source.root) / "label_num_dic_final.json"
        if path.is_file():
            for name, value in json.loads(path.read_text()).items():
                if 1 <= int(value) <= count:
                    names[int(value) - 1] = str(name)
    return {i: names.get(i, f"class_{i}") for i in range(count)}


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------
def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_config_overrides(text: str | None) -> dict:
    """'key=value,key=[1,2]' (JSON values; bare words are strings) or a JSON object -> dict, unknown keys rejected."""
    if not text or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        overrides = json.loads(text)
    else:
        overrides = {}
        for part in _split_top_level(text):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--config_overrides: expected key=value, got {part!r} (in {text!r}).")
            value = value.strip()
            python_words = {"None": None, "True": True, "False": False}
            if value in python_words:
                overrides[key.strip()] = python_words[value]
                continue
            try:
                overrides[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                overrides[key.strip()] = value
    known = set(MrcfaConfig().to_dict())
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"--config_overrides: unknown MrcfaConfig field(s) {unknown}.")
    return overrides


def build_model(model_args: ModelArguments, id2label: dict[int, str]) -> MrcfaForVideoSemanticSegmentation:
    """The model to train: from a checkpoint (MRCFA or SegFormer / MiT encoder) or from scratch (preset / config)."""
    num_labels = len(id2label)
    labels = {"id2label": dict(id2label), "label2id": {v: k for k, v in id2label.items()}}
    overrides = parse_config_overrides(model_args.config_overrides)
    hub = {"revision": model_args.revision, "token": model_args.token, "cache_dir": model_args.cache_dir}
    if model_args.model_name_or_path:
        path = model_args.model_name_or_path
        config_dict, _ = PretrainedConfig.get_config_dict(path, **hub)
        model_type = config_dict.get("model_type")
        if model_type == MrcfaConfig.model_type:
            config = MrcfaConfig.from_pretrained(path, **hub, **overrides)
            if config.num_labels != num_labels:
                if not model_args.ignore_mismatched_sizes:
                    raise ValueError(
                        f"the checkpoint {path!r} predicts {config.num_labels} classes but the dataset has "
                        f"{num_labels}: pass --ignore_mismatched_sizes to re-initialise its classifiers for "
                        f"{num_labels} classes (fine-tuning on new classes), or use data with {config.num_labels} "
                        "classes."
                    )
                config = MrcfaConfig.from_pretrained(path, **hub, **overrides, **labels)
        elif model_type == "segformer":
            # MiT / SegFormer encoder weights; the MRCFA head (of the matching preset) starts from scratch
            config = MrcfaConfig.from_pretrained(path, **hub, **overrides, **labels)
        else:
            raise ValueError(
                f"{path!r} is a {model_type!r} checkpoint: expected an MRCFA checkpoint or a SegFormer / MiT encoder "
                "(e.g. nvidia/mit-b1)."
            )
        return MrcfaForVideoSemanticSegmentation.from_pretrained(
            path, config=config, ignore_mismatched_sizes=model_args.ignore_mismatched_sizes, **hub
        )
    name = model_args.config_name or "b1"
    if Path(name).exists():
        config = MrcfaConfig.from_pretrained(name, **overrides, **labels)
    else:
        try:
            config = MrcfaConfig.from_preset(name, **{**overrides, **labels})
        except ValueError as err:
            if "preset" in str(err):
                raise ValueError(
                    f"--config_name {name!r} is neither a config file / folder nor a preset: {err} "
                    "(use --model_name_or_path for a checkpoint)."
                ) from err
            raise
    return MrcfaForVideoSemanticSegmentation(config)


def _check_output_dir(training_args: MrcfaTrainingArguments) -> str | None:
    """Resolve --resume_from_checkpoint and refuse to train into a folder holding another run."""
    out = Path(training_args.output_dir)
    resume = training_args.resume_from_checkpoint
    if resume is not None:
        if resume.lower() in ("latest", "last", "true"):
            checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
            if checkpoint is None:
                raise ValueError(f"--resume_from_checkpoint {resume}: no checkpoint-* folder in {out} to resume from.")
            return checkpoint
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder.")
        return resume
    if training_args.do_train and out.is_dir() and not training_args.overwrite_output_dir:
        found = sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-") or p.name in _RUN_MARKERS)
        if found:
            raise ValueError(
                f"output directory {out} already holds a run ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}"
                "): pass --resume_from_checkpoint latest to continue it, --overwrite_output_dir to train over it, or "
                "another --output_dir."
            )
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    wall_start = time.time()
    model_args, data_args, training_args, explicit = parse_arguments(argv)
    demo = data_args.dataset_name is None

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    logger.setLevel(log_level)
    logging.getLogger("mrcfa").setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    rank, world = training_args.process_index, training_args.world_size
    logger.warning(
        f"process {rank}/{world}, device {training_args.device}, fp16 {training_args.fp16}, bf16 {training_args.bf16}"
    )
    if demo and rank == 0:
        print(
            "run_vss.py: no --dataset_name, running the built-in demo (synthetic VSPW, tiny MRCFA"
            f"{', single-frame training' if data_args.num_frames == 1 else ''}) into {training_args.output_dir}",
            flush=True,
        )

    # ---------------------------------------------------------------------------------------------- checks
    if data_args.num_frames not in (1, 4):
        raise ValueError(
            f"--num_frames must be 4 (MRCFA clips) or 1 (single-frame baseline), got {data_args.num_frames}."
        )
    if data_args.eval_mode not in ("auto", "clips", "single_frame"):
        raise ValueError(f"--eval_mode must be 'auto', 'clips' or 'single_frame', got {data_args.eval_mode!r}.")
    if len(data_args.crop_size) != 2 or any(s <= 0 or s % 32 for s in data_args.crop_size):
        raise ValueError(f"--crop_size takes 2 sizes divisible by 32 (the model's stride), got {data_args.crop_size}.")
    if len(data_args.image_scale) != 2 or min(data_args.image_scale) <= 0:
        raise ValueError(f"--image_scale takes 2 positive sizes (long short), got {data_args.image_scale}.")
    if data_args.vc_protocol not in ("official", "all_windows"):
        raise ValueError(f"--vc_protocol must be 'official' or 'all_windows', got {data_args.vc_protocol!r}.")
    if not (training_args.do_train or training_args.do_eval):
        raise ValueError("nothing to do: --do_train and --do_eval are both false.")
    checkpoint = _check_output_dir(training_args)

    # ------------------------------------------------------------------------------------------------ data
    from mrcfa.data import VspwTrainTransform, list_vspw_videos, load_vspw

    if demo:
        with training_args.main_process_first(desc="synthetic VSPW"):
            source = str(ensure_synthetic_vspw(data_args))
        logger.info(f"synthetic VSPW: {source}")
    else:
        source = data_args.dataset_name
    listings = {}
    for split, needed in (
        (data_args.train_split, training_args.do_train),
        (data_args.eval_split, training_args.do_eval),
    ):
        if not needed:
            continue
        listing = list_vspw_videos(source, split, token=model_args.token)
        if not listing.labelled:
            raise ValueError(
                f"split {split!r} of {source!r} has no masks (labels): "
                f"{'training' if split == data_args.train_split and training_args.do_train else 'evaluation'} needs a "
                "labelled split (VSPW's test split has none)."
            )
        listings[split] = listing
    first_listing = next(iter(listings.values()))
    id2label = dataset_labels(first_listing)
    num_labels = len(id2label)

    # ----------------------------------------------------------------------------------------------- model
    set_seed(training_args.seed)
    model = build_model(model_args, id2label)
    config = model.config
    if data_args.num_frames not in (1, config.num_clips):
        raise ValueError(f"--num_frames must be 1 or the model's num_clips ({config.num_clips}).")
    tokens = (data_args.crop_size[0] // 32) * (data_args.crop_size[1] // 32)
    if training_args.do_train and data_args.num_frames > 1 and tokens < config.stm_top_k:
        raise ValueError(
            f"--crop_size {data_args.crop_size} gives {tokens} tokens at 1/32 resolution but Selective Token Masking "
            f"needs at least stm_top_k={config.stm_top_k}: use a larger crop."
        )
    if model.config.num_labels != num_labels:
        raise ValueError(f"the model predicts {model.config.num_labels} classes but the dataset has {num_labels}.")
    if training_args.sync_bn and world > 1 and training_args.do_train:
        if training_args.device.type == "cpu":
            logger.warning("--sync_bn: SyncBatchNorm needs GPUs; on CPU every process keeps its own batch statistics.")
        else:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(f"model: {n_params / 1e6:.2f}M parameters, {num_labels} classes, num_clips {config.num_clips}")

    from mrcfa.video_processing_mrcfa import MrcfaVideoProcessor

    scale = data_args.image_scale
    processor = MrcfaVideoProcessor(size={"longest_edge": max(scale), "shortest_edge": min(scale)}, size_divisor=32)

    data_seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    train_stream = None
    if training_args.do_train:
        from datasets.distributed import split_dataset_by_node

        listing = listings[data_args.train_split]
        train_ds = load_vspw(
            source,
            data_args.train_split,
            mode="train",
            seed=data_seed,
            repeats=data_args.repeats,
            clips_per_video=data_args.clips_per_video,
            reference_offsets=config.reference_offsets,
            num_classes=num_labels,
            token=model_args.token,
        )
        if world > 1:
            if train_ds.num_shards < world:
                raise ValueError(
                    f"the train split has {train_ds.num_shards} usable videos (shards) for {world} processes: "
                    "distributed training splits the data by video and needs at least one video per process."
                )
            train_ds = split_dataset_by_node(train_ds, rank=rank, world_size=world, strategy="shards")
        transform = VspwTrainTransform(
            crop_size=tuple(data_args.crop_size),
            scale=tuple(data_args.image_scale),
            ratio_range=tuple(data_args.ratio_range),
            cat_max_ratio=data_args.cat_max_ratio,
            photometric=data_args.photometric_distortion,
            seed=data_seed,
        )
        train_stream = TrainClipStream(
            train_ds,
            transform,
            batch_size=training_args.per_device_train_batch_size,
            seed=data_seed,
            clips_per_shard=clips_per_shard(listing, data_args.clips_per_video, config.reference_offsets),
        )
        message = (
            f"process {rank} of {world}: {train_stream.num_shards} of {len(listing.videos)} train videos (shards)"
        )
        (logger.warning if world > 1 else logger.info)(message)

    eval_ds, eval_order = None, None
    if training_args.do_eval:
        from datasets.distributed import split_dataset_by_node

        eval_listing = listings[data_args.eval_split]
        eval_order = [v.video_id for v in eval_listing.videos]
        eval_ds = load_vspw(
            source,
            data_args.eval_split,
            mode="eval",
            reference_offsets=config.reference_offsets,
            num_classes=num_labels,
            token=model_args.token,
        )
        if world > 1:
            if eval_ds.num_shards >= world:
                eval_ds = split_dataset_by_node(eval_ds, rank=rank, world_size=world, strategy="shards")
            elif rank > 0:
                eval_ds = []  # fewer videos than processes: process 0 evaluates them all
    single_frame = data_args.eval_mode == "single_frame" or (
        data_args.eval_mode == "auto" and data_args.num_frames == 1
    )
    n_eval_videos = len(eval_order) if eval_order else None
    if n_eval_videos and data_args.max_eval_videos:
        n_eval_videos = min(n_eval_videos, data_args.max_eval_videos)

    if training_args.ddp_find_unused_parameters is None:
        training_args.ddp_find_unused_parameters = data_args.num_frames == 1
    callbacks = [StepSeedCallback(training_args.seed)]
    if training_args.check_weight_sync_steps > 0:
        callbacks.append(WeightSyncCallback(training_args.check_weight_sync_steps))
    is_vspw = num_labels == len(VSPW_CLASSES)
    trainer = MrcfaTrainer(
        model=model,
        args=training_args,
        train_dataset=train_stream,
        eval_dataset=eval_ds,
        processing_class=processor,
        callbacks=callbacks,
        train_collator=TrainCollator(data_args.num_frames),
        eval_video_order=eval_order,
        eval_single_frame=single_frame,
        eval_max_videos=data_args.max_eval_videos,
        eval_total_videos=n_eval_videos,
        vc_protocol=data_args.vc_protocol,
        model_card_kwargs={"results": {}} if not is_vspw else {},
    )

    results: dict = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()  # config, safetensors, processor, code for trust_remote_code
        metrics = dict(train_result.metrics)
        metrics["train_num_videos"] = len(listings[data_args.train_split].videos)
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update(metrics)
    if training_args.do_eval:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)
        if is_vspw and trainer.last_eval_result is not None:
            r = trainer.last_eval_result
            card = {"mean_iou": 100 * r["mIoU"], "mvc8": 100 * r["mVC8"], "mvc16": 100 * r["mVC16"]}
            trainer.model_card_kwargs["results"] = {k: v for k, v in card.items() if not math.isnan(v)}
    if training_args.should_save:
        trainer.create_model_card()
    if training_args.push_to_hub:
        trainer.push_to_hub()

    wall = time.time() - wall_start
    results["wall_time_seconds"] = round(wall, 1)
    if training_args.should_save and training_args.do_eval:
        summary = {
            "mIoU": results.get("eval_mIoU"),
            "mVC8": results.get("eval_mVC8"),
            "mVC16": results.get("eval_mVC16"),
            "vc_protocol": data_args.vc_protocol,
            "eval_mode": "single_frame" if single_frame else "clips",
            "num_frames": data_args.num_frames,
            "wall_time_seconds": round(wall, 1),
        }
        print(
            f"\n*** {'demo ' if demo else ''}result ({summary['eval_mode']} evaluation, {data_args.vc_protocol} VC "
            f"protocol): mIoU {summary['mIoU']:.4f} | mVC8 {summary['mVC8']:.4f} | mVC16 {summary['mVC16']:.4f} | "
            f"wall time {wall:.0f}s | model in {training_args.output_dir}",
            flush=True,
        )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return results


if __name__ == "__main__":
    main()
