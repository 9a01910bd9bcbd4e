# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`MrcfaTrainer`: transformers' `Trainer` with the official optimiser and schedule, the resumable clip stream and
whole-video evaluation."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from packaging import version
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, Trainer, TrainerCallback, TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from ..data.sources import DataFileError
from ..model_cards import render_model_card
from .clip_stream import TrainClipStream, make_train_dataloader
from .errors import UsageError
from .evaluation import evaluate_videos, flatten_metrics, gather_video_metrics
from .optimization import get_official_poly_schedule, official_param_groups

logger = logging.getLogger(__name__)

__all__ = ["MrcfaTrainer", "resolve_resume_checkpoint"]


class _EndlessEpochsFilter(logging.Filter):
    """Replaces Trainer's "Num Epochs = 9,223,372,036,854,775,807" (`sys.maxsize`: what it logs for a dataset without
    a length) by what is true of the endless clip stream."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().strip() == f"Num Epochs = {sys.maxsize:,}":
            record.msg, record.args = "  Num Epochs = endless clip stream (max_steps decides)", None
        return True


@contextlib.contextmanager
def _endless_stream_epoch_log():
    trainer_logger = logging.getLogger("transformers.trainer")
    log_filter = _EndlessEpochsFilter()
    trainer_logger.addFilter(log_filter)
    try:
        yield
    finally:
        trainer_logger.removeFilter(log_filter)


class _LastCheckpoint(TrainerCallback):
    """Remembers the checkpoint folder this run saved last (`path`; set it to the folder a run resumes from)."""

    def __init__(self):
        self.path: str | None = None

    def on_save(self, args, state, control, **kwargs):
        self.path = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")


# transformers 5 saves SegFormer encoders under legacy key names that only `from_pretrained` renames back.
_RENAMES_LEGACY_KEYS = version.parse(transformers.__version__).major >= 5


class MrcfaTrainer(Trainer):
    """`Trainer` for MRCFA video semantic segmentation.

    Extra arguments:
        train_collator: collate function of the train DataLoader (`TrainCollator`).
        eval_video_order: video ids of the eval split in split order (orders the merged metrics).
        eval_single_frame: evaluate with per-frame predictions (the image baseline).
        eval_max_videos: evaluate only the first this many videos of the split (None: all).
        eval_total_videos: number of eval videos (progress bar length).
        vc_protocol: `"official"` or `"all_windows"` (see `VideoSegmentationMetrics`).
        model_card_kwargs: extra arguments of `mrcfa.model_cards.render_model_card`.

    The train dataset must be a `TrainClipStream` (already split across processes), the eval dataset a
    `load_vspw(..., mode="eval")` stream of this process's videos. Optimizer, scheduler and resume follow the
    training arguments' `lr_schedule`, `head_lr_mult`, `warmup_start_ratio`, `poly_power`.

    A bad frame or mask met by `train` or `evaluate` (`mrcfa.data.DataFileError`, also from DataLoader workers) is
    raised as a one-line `UsageError` naming the file and the fix; once training has started, it also names the
    last checkpoint, which is kept, and how to resume from it once the data is fixed.
    """

    def __init__(
        self,
        *args,
        train_collator: Callable | None = None,
        eval_video_order: Sequence[Hashable] | None = None,
        eval_single_frame: bool = False,
        eval_max_videos: int | None = None,
        eval_total_videos: int | None = None,
        vc_protocol: str = "official",
        model_card_kwargs: Mapping[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # (MrcfaForVideoSemanticSegmentation.accepts_loss_kwargs is False: its loss is a per-batch mean, so Trainer
        # scales it for gradient accumulation itself.)
        self.train_collator = train_collator
        self.eval_video_order = list(eval_video_order) if eval_video_order is not None else None
        self._eval_video_index = (
            {video_id: i for i, video_id in enumerate(self.eval_video_order)} if self.eval_video_order else None
        )
        self.eval_single_frame = bool(eval_single_frame)
        self.eval_max_videos = eval_max_videos
        self.eval_total_videos = eval_total_videos
        self.vc_protocol = vc_protocol
        self.model_card_kwargs = dict(model_card_kwargs or {})
        self.last_eval_result: dict[str, Any] | None = None
        self.resumed_batches = 0
        self._training: str | None = None  # None, then "running", then "done"
        self._last_checkpoint = _LastCheckpoint()
        self.add_callback(self._last_checkpoint)

    def _evaluation_arguments(self, checkpoint: str) -> str:
        """The run_vss.py arguments that evaluate `checkpoint` of this run: its output goes next to this run's
        `output_dir`, which holds the checkpoint (an output may not contain an input: `mrcfa.checks`)."""
        return (
            f"--model_name_or_path {checkpoint} --do_train false --output_dir "
            f"{os.path.normpath(self.args.output_dir)}-eval"
        )

    @contextlib.contextmanager
    def _data_errors(self):
        """Raise a `DataFileError` as a `UsageError`; once training has started, add which checkpoint is kept and
        how to go on from it."""
        try:
            yield
        except DataFileError as err:
            if self._training is None:  # evaluation only: the data error is all there is to say
                raise UsageError(str(err)) from err
            checkpoint = self._last_checkpoint.path
            step = self.state.global_step
            if checkpoint is None or not os.path.isdir(checkpoint):
                stopped = "Evaluation stopped after training" if self._training == "done" else "Training stopped"
                raise UsageError(
                    f"{err} {stopped} at step {step}, with no checkpoint saved: run again once the data is fixed."
                ) from err
            if self._training == "done":  # its model is the last checkpoint: resuming would train past max_steps
                raise UsageError(
                    f"{err} Evaluation stopped after training (step {step}); the last checkpoint, {checkpoint}, is "
                    f"kept: once the data is fixed, evaluate it with {self._evaluation_arguments(checkpoint)}"
                ) from err
            raise UsageError(
                f"{err} Training stopped at step {step}; the last checkpoint, {checkpoint}, is kept: once the data "
                f"is fixed, resume with --resume_from_checkpoint {checkpoint}"
            ) from err

    # -------------------------------------------------------------------------------------------------- training
    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs):
        """`Trainer.train`; on resume, the train stream starts right after the batches the checkpoint consumed.

        Trainer would fast-forward by iterating (and augmenting) every consumed batch; the `TrainClipStream` skips
        itself instead (`start_batch`), so Trainer's own skipping is turned off (`ignore_data_skip`) for the call.
        `ignore_data_skip=True` given by the user still means: resume the weights, restart the data.
        """
        if resume_from_checkpoint is True:
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"No valid checkpoint found in output directory ({self.args.output_dir}).")
        stream = self.train_dataset
        self._training = "running"
        self._last_checkpoint.path = resume_from_checkpoint or None
        with self._data_errors():
            if not isinstance(stream, TrainClipStream):
                result = super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
            else:
                with _endless_stream_epoch_log():
                    result = self._train_stream(stream, resume_from_checkpoint, **kwargs)
        self._training = "done"
        return result

    def _train_stream(self, stream: TrainClipStream, resume_from_checkpoint: str | None, **kwargs):
        if not resume_from_checkpoint:
            return super().train(**kwargs)
        state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME))
        if 0 < self.args.max_steps <= state.global_step:  # Trainer would take one more step on an endless stream
            raise UsageError(
                f"checkpoint {resume_from_checkpoint} is at step {state.global_step}, the end of training "
                f"(max_steps {self.args.max_steps}): nothing left to resume. Raise --max_steps to train on, or "
                f"evaluate it with {self._evaluation_arguments(resume_from_checkpoint)}."
            )
        batches = 0 if self.args.ignore_data_skip else state.global_step * self.args.gradient_accumulation_steps
        stream.start_batch = batches
        self.resumed_batches = batches
        if batches:
            logger.info(f"  Train stream fast-forwarded past {batches} batches of this process.")
        user_ignore_data_skip = self.args.ignore_data_skip
        self.args.ignore_data_skip = True
        try:
            return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)
        finally:
            self.args.ignore_data_skip = user_ignore_data_skip

    # ---------------------------------------------------------------------------------------------- optimisation
    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            groups = official_param_groups(
                model,
                self.args.learning_rate,
                self.args.weight_decay,
                head_lr_mult=getattr(self.args, "head_lr_mult", 10.0),
            )
            self.optimizer = torch.optim.AdamW(
                groups,
                lr=self.args.learning_rate,
                betas=(self.args.adam_beta1, self.args.adam_beta2),
                eps=self.args.adam_epsilon,
                weight_decay=self.args.weight_decay,
            )
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None and getattr(self.args, "lr_schedule", "official_poly") == "official_poly":
            optimizer = self.optimizer if optimizer is None else optimizer
            self.lr_scheduler = get_official_poly_schedule(
                optimizer,
                num_training_steps=num_training_steps,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                warmup_ratio=getattr(self.args, "warmup_start_ratio", 1e-6),
                power=getattr(self.args, "poly_power", 1.0),
            )
            return self.lr_scheduler
        return super().create_scheduler(num_training_steps, optimizer)

    # ------------------------------------------------------------------------------------------------------ data
    def get_train_dataloader(self) -> DataLoader:
        """A plain DataLoader over this process's `TrainClipStream` (not re-sharded by accelerate: the stream is
        already split by video, and its order must not depend on anything but the seed and the step)."""
        stream = self.train_dataset
        if not isinstance(stream, TrainClipStream):
            raise TypeError(f"MrcfaTrainer needs a TrainClipStream as train_dataset, got {type(stream).__name__}.")
        if stream.batch_size != self._train_batch_size:
            raise ValueError(
                f"the TrainClipStream has batch_size={stream.batch_size} but the Trainer uses {self._train_batch_size}."
            )
        return make_train_dataloader(
            stream,
            self.train_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            prefetch_factor=self.args.dataloader_prefetch_factor,
        )

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Load a checkpoint's weights through `from_pretrained` (strict).

        Private hook, overridden because no public one exists: `save_pretrained` (transformers 5) writes the SegFormer
        encoder under its legacy (transformers 4) key names, while `Trainer._load_from_checkpoint` and
        `Trainer._load_best_model` call `load_state_dict(strict=False)` without renaming them, so the encoder would
        silently keep its pre-resume weights (upstream: huggingface/transformers#43701). `from_pretrained` applies
        the renaming. Only transformers >= 5 renames keys; older versions take the Trainer's own path.
        """
        target = self.accelerator.unwrap_model(self.model if model is None else model)
        has_weights = any(
            os.path.isfile(os.path.join(resume_from_checkpoint, name))
            for name in ("model.safetensors", "model.safetensors.index.json")
        )
        if (
            not _RENAMES_LEGACY_KEYS
            or not isinstance(target, PreTrainedModel)
            or not has_weights
            or self.is_fsdp_enabled
        ):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        loaded = type(target).from_pretrained(resume_from_checkpoint, config=target.config)
        target.load_state_dict(loaded.state_dict(), strict=True)
        del loaded

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        if best is not None and os.path.isdir(best):
            logger.info(f"Loading best model from {best} (score: {self.state.best_metric}).")
            self._load_from_checkpoint(best)
        else:
            super()._load_best_model()

    # ------------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Whole-video evaluation (official test clips, streaming inference): mIoU, mVC8, mVC16, ..."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("MrcfaTrainer.evaluate needs an eval dataset (load_vspw(..., mode='eval')).")
        model = self.accelerator.unwrap_model(self.model)
        device = self.args.device
        if next(model.parameters()).device != device:
            model.to(device)
        start = time.time()
        with self._data_errors():
            local = evaluate_videos(
                model,
                dataset,
                self.processing_class,
                num_labels=model.config.num_labels,
                single_frame=self.eval_single_frame,
                batch_size=self.args.per_device_eval_batch_size,
                max_videos=self.eval_max_videos,
                video_index=self._eval_video_index,
                progress=not self.args.disable_tqdm and self.is_local_process_zero(),
                total_videos=self.eval_total_videos,
                protocol=self.vc_protocol,
            )
        merged = gather_video_metrics(local, self.eval_video_order)
        result = merged.compute(self.vc_protocol)
        self.last_eval_result = result
        metrics = flatten_metrics(result, metric_key_prefix, model.config.id2label)
        runtime = time.time() - start
        metrics[f"{metric_key_prefix}_runtime"] = round(runtime, 4)
        if result["num_frames"]:
            metrics[f"{metric_key_prefix}_frames_per_second"] = round(result["num_frames"] / runtime, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ------------------------------------------------------------------------------------------------ model card
    def create_model_card(self, model_name: str | None = None, **kwargs) -> None:
        """Write the MRCFA model card (`mrcfa.model_cards`) to `output_dir/README.md` (main process only)."""
        if not self.is_world_process_zero():
            return
        card_kwargs = dict(self.model_card_kwargs)
        if model_name is not None and self.args.hub_model_id is None:
            card_kwargs.setdefault("model_name", model_name)
        if self.args.hub_model_id is not None:
            card_kwargs.setdefault("model_name", self.args.hub_model_id)
        model = self.accelerator.unwrap_model(self.model)
        text = render_model_card(model.config, **card_kwargs)
        os.makedirs(self.args.output_dir, exist_ok=True)
        with open(os.path.join(self.args.output_dir, "README.md"), "w", encoding="utf-8") as handle:
            handle.write(text)


#: Files that show that a folder holds a training run.
_RUN_MARKERS = (
    "config.json",
    "model.safetensors",
    "trainer_state.json",
    "all_results.json",
    "train_results.json",
    "eval_results.json",
)


def resolve_resume_checkpoint(
    output_dir: str, resume_from_checkpoint: str | None, *, do_train: bool = True, overwrite_output_dir: bool = False
) -> str | None:
    """The checkpoint folder to resume from (`"latest"` / `"last"` / `"true"`: the last `checkpoint-*` of
    `output_dir`), or None; refuses to train into a folder holding another run unless `overwrite_output_dir`."""
    out = Path(output_dir)
    resume = resume_from_checkpoint
    if resume is not None:
        if resume.lower() in ("latest", "last", "true"):
            checkpoint = get_last_checkpoint(str(out)) if out.is_dir() else None
            if checkpoint is None:
                raise ValueError(f"--resume_from_checkpoint {resume}: no checkpoint-* folder in {out} to resume from.")
            return checkpoint
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder.")
        if do_train and not (Path(resume) / TRAINER_STATE_NAME).is_file():
            last = get_last_checkpoint(resume)
            hint = (
                f"its last checkpoint is {last}: pass that"
                if last is not None
                else "pass a checkpoint-N folder saved during training, or start a new training from these weights "
                f"with --model_name_or_path {resume}"
            )
            raise ValueError(
                f"--resume_from_checkpoint {resume} is not a training checkpoint (it has no {TRAINER_STATE_NAME}, "
                f"the step, schedule and data position to resume from): {hint}."
            )
        return resume
    if do_train and out.is_dir() and not overwrite_output_dir:
        found = sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-") or p.name in _RUN_MARKERS)
        if found:
            raise ValueError(
                f"output directory {out} already holds a run ({', '.join(found[:4])}{', ...' if len(found) > 4 else ''}"
                "): pass --resume_from_checkpoint latest to continue it, --overwrite_output_dir to train over it, or "
                "another --output_dir."
            )
    return None
