#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Train and evaluate MRCFA video semantic segmentation with transformers' Trainer.

    python scripts/run_vss.py                             # built-in demo: synthetic VSPW, tiny MRCFA, CPU (README)
    python scripts/run_vss.py --num_frames 1              # the same demo with single-frame (image) training
    accelerate launch scripts/run_vss.py \\
        --dataset_name /data/VSPW_480p --model_name_or_path nvidia/mit-b1 --output_dir runs/mrcfa-b1-vspw
    python scripts/run_vss.py config.json                 # every argument from a JSON file

Model: a preset trained from scratch (`--config_name b0` .. `b5`, optionally `--config_overrides`), an ImageNet MiT
encoder (`--model_name_or_path nvidia/mit-b1`: MRCFA head of the matching preset, new) or an MRCFA checkpoint.
Data: a VSPW folder, a folder of Parquet shards or a Hub dataset id (`--dataset_name`), streamed with
`mrcfa.data.load_vspw` and the official augmentation; without `--dataset_name`, a small synthetic VSPW (cached).

Recipes. With a real dataset every default is the official recipe (docs/design.md, "Training recipe": AdamW lr 6e-5,
head lr x10, poly decay, 160k steps, ...); without `--dataset_name`, the demo recipe (`mrcfa.training.DEMO_RECIPE`:
tiny model, 192x192 crops, lr 1e-3). Arguments given explicitly always win.

Evaluation runs on whole validation videos, each frame predicted from its official test clip with streaming inference
(`mrcfa.segment_video`), and reports mIoU, mVC8, mVC16 (`mrcfa.VideoSegmentationMetrics`). See docs/training.md.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field

from transformers import TrainingArguments  # imports torch: the floor of this script's start-up (~3 s)

# Only what the arguments need is imported here; the data, model and Trainer pieces are imported in `main` once the
# arguments are checked, so that --help and a mistaken argument come back without paying for them.
from mrcfa.training.demo import DEMO_OUTPUT_DIR, SyntheticVspwArguments, parse_with_demo_recipe
from mrcfa.training.errors import report_usage_errors, usage_errors

logger = logging.getLogger("run_vss")


@dataclass
class ModelArguments:
    """Which model to train: the options of `mrcfa.training.build_model`."""

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
        default=None, metadata={"help": "Config fields: 'k=v,k=v' (JSON values, e.g. depths=[1,1,1,1]) or JSON."}
    )
    ignore_mismatched_sizes: bool = field(
        default=False, metadata={"help": "Re-initialise the classifiers if the checkpoint's class count differs."}
    )
    revision: str = field(default="main", metadata={"help": "Hub revision of --model_name_or_path."})
    token: str | None = field(default=None, metadata={"help": "Hub token (for private models / datasets)."})
    cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of downloaded models."})


@dataclass
class DataArguments(SyntheticVspwArguments):
    """Which data to train and evaluate on, and how to augment it (plus the synthetic VSPW of the demo)."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "A VSPW_480p folder, a folder of Parquet shards (mrcfa export-parquet) or a Hub dataset "
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
        default="auto", metadata={"help": "'clips' (official test clips), 'single_frame' or 'auto' (by --num_frames)."}
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
    skip_corrupt: bool = field(
        default=False,
        metadata={"help": "Skip (with a warning naming the file) the clips that use a bad frame or mask."},
    )
    max_eval_videos: int | None = field(
        default=None, metadata={"help": "Evaluate only the first N videos of the eval split (quick checks)."}
    )
    vc_protocol: str = field(
        default="official",
        metadata={"help": "'official' (as VC_perclip.py: videos <= 16 frames skipped) or 'all_windows'."},
    )

    def __post_init__(self):
        if self.num_frames not in (1, 4):
            raise ValueError(
                f"--num_frames must be 4 (MRCFA clips) or 1 (single-frame baseline), got {self.num_frames}."
            )
        if self.eval_mode not in ("auto", "clips", "single_frame"):
            raise ValueError(f"--eval_mode must be 'auto', 'clips' or 'single_frame', got {self.eval_mode!r}.")
        if len(self.crop_size) != 2 or any(s <= 0 or s % 32 for s in self.crop_size):
            raise ValueError(f"--crop_size takes 2 sizes divisible by 32 (the model's stride), got {self.crop_size}.")
        if len(self.image_scale) != 2 or min(self.image_scale) <= 0:
            raise ValueError(f"--image_scale takes 2 positive sizes (long short), got {self.image_scale}.")
        if self.vc_protocol not in ("official", "all_windows"):
            raise ValueError(f"--vc_protocol must be 'official' or 'all_windows', got {self.vc_protocol!r}.")

    @property
    def single_frame_eval(self) -> bool:
        """Whether evaluation predicts each frame alone."""
        return self.eval_mode == "single_frame" or (self.eval_mode == "auto" and self.num_frames == 1)


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
    threads: int | None = field(
        default=None,
        metadata={
            "help": "torch CPU threads per process (default: OMP_NUM_THREADS when set, else the cores available to "
            "this process shared among the local processes, less the DataLoader workers; demo: 1)."
        },
    )
    check_weight_sync_steps: int = field(
        default=0,
        metadata={
            "help": "Distributed runs: every N steps, check that all processes hold identical weights (0: never)."
        },
    )

    def __post_init__(self):
        if self.report_to == "auto" or self.report_to == ["auto"]:
            # the test of transformers.integrations.is_tensorboard_available, whose module imports the modeling
            # code (~3 s before an argument error could be reported)
            tensorboard = any(importlib.util.find_spec(name) for name in ("tensorboard", "tensorboardX"))
            self.report_to = "tensorboard" if tensorboard else "none"
        import torch  # already imported by transformers.training_args

        if not self.use_cpu and not torch.cuda.is_available():
            # accelerate launch --multi_gpu on a machine without GPUs: CPU processes with gloo
            self.use_cpu = True
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}.")
        if self.lr_schedule not in ("official_poly", "trainer"):
            raise ValueError(f"--lr_schedule must be 'official_poly' or 'trainer', got {self.lr_schedule!r}.")
        super().__post_init__()


def parse_arguments(argv: list[str] | None = None):
    """(model_args, data_args, training_args, explicit keys): command line or one JSON file, plus the demo recipe
    when no --dataset_name is given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    (model_args, data_args, training_args), explicit = parse_with_demo_recipe(
        (ModelArguments, DataArguments, MrcfaTrainingArguments), argv
    )
    return model_args, data_args, training_args, explicit


def main(argv: list[str] | None = None) -> dict:
    wall_start = time.time()
    # Everything up to training checks arguments and data: a mistake there is one line, exit status 2.
    with usage_errors():
        model_args, data_args, training_args, explicit = parse_arguments(argv)

        import torch
        from transformers import set_seed

        import mrcfa
        from mrcfa import MrcfaImageProcessor
        from mrcfa.checks import check_outputs_apart, check_writable_dir
        from mrcfa.data import VspwTrainTransform, list_vspw_videos
        from mrcfa.training import (
            MrcfaTrainer,
            StepSeedCallback,
            TrainCollator,
            WeightSyncCallback,
            build_model,
            build_train_stream,
            dataset_labels,
            describe_training,
            load_eval_videos,
            resolve_resume_checkpoint,
        )
        from mrcfa.training.process import end_process, setup_process

        mrcfa.register()  # Auto classes and pipeline: `import mrcfa` leaves it to this script (mrcfa._COMMANDS)
        demo = data_args.dataset_name is None
        rank, world = training_args.process_index, training_args.world_size

        setup_process(training_args, logger)  # logging as transformers' examples, torch threads
        if demo and rank == 0:
            print(
                "run_vss.py: no --dataset_name, running the built-in demo (synthetic VSPW, tiny MRCFA"
                f"{', single-frame training' if data_args.num_frames == 1 else ''}) into {training_args.output_dir}",
                flush=True,
            )
        if not (training_args.do_train or training_args.do_eval):
            raise ValueError("nothing to do: --do_train and --do_eval are both false.")
        # before any work: no partial output, and never one over, around or inside what the run reads (a checkpoint
        # to resume from is expected inside --output_dir)
        resume = "checkpoint to resume from (--resume_from_checkpoint)"
        check_outputs_apart(
            {"--output_dir": training_args.output_dir},
            {
                "dataset folder (--dataset_name)": data_args.dataset_name,
                "initial model folder (--model_name_or_path)": model_args.model_name_or_path,
                "config (--config_name)": model_args.config_name,
                resume: training_args.resume_from_checkpoint,
            },
            may_contain=(resume,),
        )
        check_writable_dir(training_args.output_dir, "--output_dir")
        checkpoint = resolve_resume_checkpoint(
            training_args.output_dir,
            training_args.resume_from_checkpoint,
            do_train=training_args.do_train,
            overwrite_output_dir=training_args.overwrite_output_dir,
        )

        # Data: the listing of each split used (labelled), the class names.
        if demo:
            with training_args.main_process_first(desc="synthetic VSPW"):
                source = str(data_args.ensure_synthetic_vspw())
            logger.info(f"synthetic VSPW: {source}")
            check_outputs_apart({"--output_dir": training_args.output_dir}, {"synthetic dataset": source})
        else:
            source = data_args.dataset_name
        listings = {}
        for split, use, needed in (
            (data_args.train_split, "training", training_args.do_train),
            (data_args.eval_split, "evaluation", training_args.do_eval),
        ):
            if needed and split not in listings:
                listings[split] = list_vspw_videos(source, split, token=model_args.token)
                if not listings[split].labelled:
                    raise ValueError(
                        f"split {split!r} of {source!r} has no masks (labels): {use} needs a labelled split (VSPW's "
                        "test split has none)."
                    )
        id2label = dataset_labels(next(iter(listings.values())))
        num_labels = len(id2label)

        # Model and processor.
        set_seed(training_args.seed)
        model = build_model(id2label, **asdict(model_args))  # ModelArguments' fields are build_model's options
        config = model.config
        if data_args.num_frames not in (1, config.num_clips):
            raise ValueError(f"--num_frames must be 1 or the model's num_clips ({config.num_clips}).")
        tokens = (data_args.crop_size[0] // 32) * (data_args.crop_size[1] // 32)
        if training_args.do_train and data_args.num_frames > 1 and tokens < config.stm_top_k:
            raise ValueError(
                f"--crop_size {data_args.crop_size} gives {tokens} tokens at 1/32 resolution but Selective Token Masking "
                f"needs at least stm_top_k={config.stm_top_k}: use a larger crop."
            )
        if config.num_labels != num_labels:
            raise ValueError(f"the model predicts {config.num_labels} classes but the dataset has {num_labels}.")
        if training_args.sync_bn and world > 1 and training_args.do_train:
            if training_args.device.type == "cpu":
                logger.warning(
                    "--sync_bn: SyncBatchNorm needs GPUs; on CPU every process keeps its own batch statistics."
                )
            else:
                model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        n_params = sum(p.numel() for p in model.parameters())
        logger.info(f"model: {n_params / 1e6:.2f}M parameters, {num_labels} classes, num_clips {config.num_clips}")
        scale = data_args.image_scale
        processor = MrcfaImageProcessor(
            size={"longest_edge": max(scale), "shortest_edge": min(scale)}, size_divisor=32
        )

        # Train stream (whole videos per process) and eval videos.
        data_seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
        load_kwargs = {
            "reference_offsets": config.reference_offsets,
            "num_classes": num_labels,
            "skip_corrupt": data_args.skip_corrupt,
            "token": model_args.token,
        }
        train_stream = None
        if training_args.do_train:
            train_stream = build_train_stream(
                source,
                data_args.train_split,
                listing=listings[data_args.train_split],
                transform=VspwTrainTransform(
                    crop_size=tuple(data_args.crop_size),
                    scale=tuple(data_args.image_scale),
                    ratio_range=tuple(data_args.ratio_range),
                    cat_max_ratio=data_args.cat_max_ratio,
                    photometric=data_args.photometric_distortion,
                    seed=data_seed,
                ),
                batch_size=training_args.per_device_train_batch_size,
                seed=data_seed,
                rank=rank,
                world_size=world,
                repeats=data_args.repeats,
                clips_per_video=data_args.clips_per_video,
                **load_kwargs,
            )
            message = f"process {rank} of {world}: {train_stream.num_shards} of {len(listings[data_args.train_split].videos)} train videos (shards)"
            (logger.warning if world > 1 else logger.info)(message)
        eval_ds, eval_order, n_eval_videos = None, None, None
        if training_args.do_eval:
            eval_order = [v.video_id for v in listings[data_args.eval_split].videos]
            eval_ds = load_eval_videos(source, data_args.eval_split, rank=rank, world_size=world, **load_kwargs)
            n_eval_videos = min(len(eval_order), data_args.max_eval_videos or len(eval_order))

        # Trainer.
        if training_args.ddp_find_unused_parameters is None:
            training_args.ddp_find_unused_parameters = data_args.num_frames == 1
        callbacks = [StepSeedCallback(training_args.seed)]
        if training_args.check_weight_sync_steps > 0:
            callbacks.append(WeightSyncCallback(training_args.check_weight_sync_steps))
        training_record = describe_training(model_args, data_args, training_args, source=source)
        trainer = MrcfaTrainer(
            model=model,
            args=training_args,
            train_dataset=train_stream,
            eval_dataset=eval_ds,
            processing_class=processor,
            callbacks=callbacks,
            train_collator=TrainCollator(data_args.num_frames),
            eval_video_order=eval_order,
            eval_single_frame=data_args.single_frame_eval,
            eval_max_videos=data_args.max_eval_videos,
            eval_total_videos=n_eval_videos,
            vc_protocol=data_args.vc_protocol,
            model_card_kwargs={"results": {}, "training": training_record},
        )

    # Train, evaluate, save.
    results: dict = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()  # config, safetensors, processor, code for trust_remote_code
        metrics = {**train_result.metrics, "train_num_videos": len(listings[data_args.train_split].videos)}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update(metrics)
    if training_args.do_eval:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)
        if trainer.last_eval_result is not None:
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
        print(
            f"\n*** {'demo ' if demo else ''}result ({'single_frame' if data_args.single_frame_eval else 'clips'} "
            f"evaluation, {data_args.vc_protocol} VC protocol): mIoU {results['eval_mIoU']:.4f} | "
            f"mVC8 {results['eval_mVC8']:.4f} | mVC16 {results['eval_mVC16']:.4f} | wall time {wall:.0f}s | "
            f"model in {training_args.output_dir}",
            flush=True,
        )
    end_process()
    return results


if __name__ == "__main__":
    sys.exit(report_usage_errors(main, "run_vss.py"))
