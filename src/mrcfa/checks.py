# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Checks of a run's outputs and device before any work starts: the commands (`mrcfa segment`, `mrcfa convert`),
`scripts/run_vss.py` and model loading (`mrcfa.loading`) call them, so that a mistake costs nothing and leaves nothing
behind.

* `check_writable_dir` / `check_writable_file`: a folder or file this process can create or replace (creates
  nothing; sees permissions, read-only file systems and root alike).
* `check_device`: a torch device this torch build can run on (imports torch when called, not before).

Each raises `mrcfa.errors.UsageError` with one line naming the argument (e.g. `--output`) and what is expected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError

__all__ = ["check_device", "check_writable_dir", "check_writable_file"]


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path.cwd()


def _probe_writable(folder: Path) -> OSError | None:
    """Create and remove a temporary file in `folder`: the one test that sees permissions, read-only file systems
    and root alike (`os.access` says yes to root on a read-only mount's folders)."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".mrcfa-write-test-", dir=folder)
    except OSError as err:
        return err
    os.close(handle)
    os.unlink(probe)
    return None


def _check_can_create_in(path: Path, argument: str, what: str) -> None:
    base = _nearest_existing(path.parent if what == "file" else path)
    if not base.is_dir():
        raise UsageError(f"{argument} {path}: cannot create the {what}, {base} is a file, not a folder.")
    error = _probe_writable(base)
    if error is not None:
        raise UsageError(
            f"{argument} {path} is not writable: cannot create files in {base} ({error.strerror or error}). "
            "Choose a location you can write to."
        )


def check_writable_dir(path: str | os.PathLike, argument: str) -> Path:
    """`path` as a `Path` if it is, or can be created as, a folder this process can write to; otherwise `UsageError`
    naming `argument` (e.g. `"--output"`). Creates nothing: call it before any work starts."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{argument} {path} exists and is not a folder: expected a folder (existing or new).")
    _check_can_create_in(path, argument, "folder")
    return path


def check_writable_file(path: str | os.PathLike, argument: str) -> Path:
    """`path` as a `Path` if this process can write (or replace) that file; otherwise `UsageError` naming `argument`
    (e.g. `"--overlay"`). Missing parent folders are allowed (create them when writing). Creates nothing."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{argument} {path} is a folder: expected a file name.")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{argument} {path} exists and is read-only: choose another file, or make it writable.")
    _check_can_create_in(path, argument, "file")
    return path


def check_device(device: str, argument: str = "--device") -> str:
    """`device` if torch can run on it here (`cpu`, `cuda`, `cuda:N`, `mps`, ...); otherwise `UsageError` saying what
    this torch build has (checked before the model is loaded)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise UsageError(
            f"{argument} {device!r} is not a torch device (expected cpu, cuda, cuda:N or mps): {err}"
        ) from err
    version = torch.__version__
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            reason = "is built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
            raise UsageError(f"{argument} {device}: this torch ({version}) {reason}; use --device cpu.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(
                f"{argument} {device}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1})."
            )
    elif parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            built = mps is not None and mps.is_built()
            reason = "finds no MPS device (Apple GPU, macOS 12.3+)" if built else "is built without MPS (Apple GPUs)"
            raise UsageError(f"{argument} {device}: this torch ({version}) {reason}; use --device cpu.")
    elif parsed.type != "cpu":
        module = getattr(torch, parsed.type, None)
        available = getattr(module, "is_available", None)
        if available is None or not available():
            raise UsageError(
                f"{argument} {device}: this torch ({version}) has no {parsed.type} device; use --device cpu."
            )
    return device
