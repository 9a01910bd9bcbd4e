# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""How many CPU threads torch gets: chosen from the cores this process may use, never oversubscribed.

torch's default is one intra-op thread per core of the machine, whatever else runs on it. On a small machine that is
slow in two common cases: DataLoader workers decode and augment on the same cores (every OpenMP thread then spins
while it waits for a core: 2-19x slower training seen on 2 cores), and several processes share the machine
(`accelerate launch` / `torchrun`). `configure_threads` picks

1. `threads` when given (`--threads`),
2. else `OMP_NUM_THREADS` when set (`accelerate launch` sets it to 1 per process unless told otherwise),
3. else the cores available to this process (`os.sched_getaffinity`, which honours `taskset` and container CPU
   sets) divided among the processes of this machine (`LOCAL_WORLD_SIZE`), less `workers` busy helpers
   (DataLoader workers), at least 1,

sets it with `torch.set_num_threads`, and returns a :class:`ThreadChoice` whose `str()` is one log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["ThreadChoice", "available_cpus", "configure_threads"]


def available_cpus() -> int:
    """Cores this process may run on (`os.sched_getaffinity` where the platform has it, else `os.cpu_count`)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


@dataclass(frozen=True)
class ThreadChoice:
    """torch's intra-op thread count and why it was chosen."""

    threads: int
    source: str  # "argument", "OMP_NUM_THREADS" or "cores"
    cpus: int
    processes: int
    workers: int

    def __str__(self) -> str:
        if self.source == "argument":
            why = "as requested"
        elif self.source == "OMP_NUM_THREADS":
            why = f"from OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"
        else:
            shared = f" shared by {self.processes} processes" if self.processes > 1 else ""
            busy = f", {self.workers} kept for DataLoader workers" if self.workers else ""
            why = f"{self.cpus} cores available{shared}{busy}"
        return f"torch CPU threads: {self.threads} ({why}; --threads or OMP_NUM_THREADS to change)"


def configure_threads(threads: int | None = None, *, workers: int = 0) -> ThreadChoice:
    """Choose and set torch's CPU thread count (see the module docstring); `workers`: DataLoader worker processes
    that will compute beside this process."""
    import torch

    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}.")
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}.")
    cpus = available_cpus()
    processes = max(int(os.environ.get("LOCAL_WORLD_SIZE") or 1), 1)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads is not None:
        source = "argument"
    elif env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"OMP_NUM_THREADS must be a positive integer, got {env!r}.")
        threads, source = int(env), "OMP_NUM_THREADS"
    else:
        threads, source = max(cpus // processes - workers, 1), "cores"
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return ThreadChoice(threads=threads, source=source, cpus=cpus, processes=processes, workers=workers)
