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

`measure_streams` times `mrcfa.segment_videos` over the same videos for several numbers of streams (videos advanced
together as one batch), in turns, and checks the predictions against the first number's.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Timing", "measure_streams", "report", "set_threads", "synchronize", "time_call", "time_interleaved"]


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


def measure_streams(
    model: Any,
    videos: Sequence[Sequence[Any]],
    streams: Sequence[int] = (1, 2, 4),
    *,
    repeats: int = 3,
    warmup: int = 1,
    device: Any = None,
    context: Callable[[], Any] | None = None,
    **segment_kwargs: Any,
) -> list[dict[str, Any]]:
    """Frames per second of `mrcfa.segment_videos(model, videos, streams=n, output="logits")` for each `n` of
    `streams`, timed in turns (`time_interleaved`), each call over all of `videos`.

    Args:
        model: an `MrcfaStreamingBackend`. videos: preprocessed videos (lists of `[3, H, W]` frames) or anything
            `segment_videos` takes with `segment_kwargs` (e.g. `processor=`).
        context: a factory of the context each call runs in (e.g. `lambda: torch.autocast("cuda", torch.bfloat16)`).

    Returns:
        One row per `n`: `streams`, `frames`, `seconds` (median over the repeats), `frames_per_second`,
        `ms_per_frame`, `speedup` (frames per second over the first row's), `max_abs_logits_vs_first` and
        `labels_equal_first` (the argmax of every frame's logits equals the first row's).
    """
    import contextlib

    from .models.mrcfa.streaming_mrcfa import VideoFrameResult, segment_videos

    def run(n: int) -> dict[tuple[int, int], Any]:
        results = {}
        with (context or contextlib.nullcontext)():
            for event in segment_videos(model, videos, streams=n, output="logits", **segment_kwargs):
                if not isinstance(event, VideoFrameResult):
                    if getattr(event, "error", None) is not None:
                        raise RuntimeError(f"video {event.video_index} failed: {event.error}") from event.error
                    continue
                results[event.video_index, event.frame_index] = event.result
        return results

    timings = time_interleaved(
        {f"{n} streams": (lambda n=n: run(n)) for n in streams}, repeats=repeats, warmup=warmup, device=device
    )
    first = timings[f"{streams[0]} streams"]
    rows = []
    for n in streams:
        timing = timings[f"{n} streams"]
        frames = len(timing.result)
        if timing.result.keys() != first.result.keys():
            raise RuntimeError(f"{n} streams predicted other frames than {streams[0]}.")
        keys = list(first.result)
        rows.append(
            {
                "streams": n,
                "frames": frames,
                "seconds": round(timing.median, 4),
                "frames_per_second": round(frames / timing.median, 3),
                "ms_per_frame": round(1e3 * timing.median / frames, 3),
                "speedup": round(first.median / timing.median, 3),
                "max_abs_logits_vs_first": max(
                    (timing.result[k].float() - first.result[k].float()).abs().max().item() for k in keys
                ),
                "labels_equal_first": all(
                    bool((timing.result[k].argmax(0) == first.result[k].argmax(0)).all()) for k in keys
                ),
            }
        )
    return rows
