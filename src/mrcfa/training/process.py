# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""One process of a training run: its logging and torch threads when it starts, its distributed group when it ends.

`setup_process` logs as transformers' example scripts do (INFO on the main process, warnings on the others, each
message once) and sets torch's CPU threads so that the processes and DataLoader workers of a machine share its cores
without oversubscribing them; `end_process` waits for every process of a distributed run, then leaves the group.
`scripts/run_vss.py` calls them first and last.
"""

from __future__ import annotations

import logging
import sys

from ..threads import ThreadChoice, configure_threads

__all__ = ["end_process", "setup_process"]


def setup_process(training_args, logger: logging.Logger) -> ThreadChoice:
    """Set up this process's logging and threads for a run with `training_args` (a `TrainingArguments` with a
    `threads` field); returns the threads chosen.

    Logging: to stdout, INFO on the main process and warnings on the others (`training_args.get_process_log_level()`),
    for `logger`, the `mrcfa` package, transformers and datasets (datasets through its own handler only). Threads:
    `configure_threads(training_args.threads, workers=training_args.dataloader_num_workers)`. Then `logger` says
    which process this is, its device and precision, and the threads.
    """
    import datasets
    import transformers

    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    for name in (logger.name, "mrcfa"):
        logging.getLogger(name).setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    datasets.utils.logging.disable_propagation()  # datasets has its own handler: each message once
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    threads = configure_threads(training_args.threads, workers=training_args.dataloader_num_workers)
    logger.info(
        f"process {training_args.process_index}/{training_args.world_size}, device {training_args.device}, "
        f"fp16 {training_args.fp16}, bf16 {training_args.bf16}"
    )
    logger.info(str(threads))
    return threads


def end_process() -> None:
    """Wait for every process of a distributed run, then leave (destroy) its process group; nothing to do alone."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
