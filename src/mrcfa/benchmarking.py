# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Timing helpers shared by `scripts/benchmark_*.py`.

Absolute times depend on the machine and on what else it runs; the benchmarks therefore report *ratios* of things
measured in the same run, timed the same way:

    set_threads(2)
    timings = time_interleaved({"mrcfa": lambda: model(clip), "segformer": lambda: segformer(frame)}, repeats=5)
    report(timings, ratios=[("mrcfa", "segformer")])

`time_interleaved` warms every function up, then times them in turns (a, b, a, b, ...) so that a slow drift of the
machine (clock boost, another process) affects all of them alike, and keeps every time; `Timing.median` is what the
reports use. On CUDA, pass `device` so that each call is timed up to the end of its kernels.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timing", "report", "set_threads", "synchronize", "time_call", "time_interleaved"]


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads (`None` keeps torch's default); returns the number in use."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def synchronize(device: Any = None) -> None:
    """Wait for the device's queued work (CUDA); nothing to do on CPU or for `None`."""
    if device is None:
        return
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """The times (seconds) of the timed calls of one function, and the result of its last call."""

    name: str
    times: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def mean(self) -> float:
        return statistics.mean(self.times)

    @property
    def min(self) -> float:
        return min(self.times)


def time_interleaved(
    functions: Mapping[str, Callable[[], Any]], *, repeats: int = 5, warmup: int = 1, device: Any = None
) -> dict[str, Timing]:
    """Time each function `repeats` times, in turns, after `warmup` untimed calls of each; name -> `Timing`."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}.")
    timings = {name: Timing(name) for name in functions}
    for _ in range(warmup):
        for name, fn in functions.items():
            timings[name].result = fn()
    synchronize(device)
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            result = fn()
            synchronize(device)
            timings[name].times.append(time.perf_counter() - start)
            timings[name].result = result
    return timings


def time_call(
    fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1, device: Any = None, name: str = "call"
) -> Timing:
    """Time one function (`time_interleaved` with a single entry)."""
    return time_interleaved({name: fn}, repeats=repeats, warmup=warmup, device=device)[name]


def report(
    timings: Mapping[str, Timing],
    *,
    ratios: Sequence[tuple[str, str]] = (),
    unit: str = "ms",
    per: float = 1.0,
    per_name: str | None = None,
    file=None,
) -> dict[str, float]:
    """Print the median time of each entry and the ratios `a / b` of the medians of the named pairs; returns the
    ratios as {"a / b": value}. Times are divided by `per` (e.g. the number of frames, `per_name="frame"`)."""
    file = file or sys.stdout
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    label = f"{unit}/{per_name}" if per_name else unit
    width = max(len(name) for name in timings)
    for name, timing in timings.items():
        count = len(timing.times)
        spread = f"  (min {timing.min / per * scale:.3f}, {count} runs)" if count > 1 else ""
        print(f"  {name:<{width}}  {timing.median / per * scale:10.3f} {label}{spread}", file=file)
    values = {}
    for a, b in ratios:
        values[f"{a} / {b}"] = timings[a].median / timings[b].median
    if values:
        width = max(len(key) for key in values)
        for key, value in values.items():
            print(f"  ratio {key:<{width}}  {value:7.3f}", file=file)
    return values
