# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Checks of a run's outputs and device before any work starts: the commands (`mrcfa segment`, `mrcfa convert`),
`scripts/run_vss.py` and model loading (`mrcfa.loading`) call them, so that a mistake costs nothing and leaves nothing
behind.

* `check_writable_dir` / `check_writable_file`: a folder or file this process can create or replace (creates
  nothing; sees permissions, read-only file systems and root alike).
* `check_outputs_apart`: no output is, contains or lies inside an input (so that no command can destroy or rewrite
  what it reads, with or without `--overwrite`).
* `check_device`: a torch device this torch build can run on (imports torch when called, not before).

Each raises `mrcfa.errors.UsageError` with one line naming the argument (e.g. `--output`) and what is expected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from .errors import UsageError

__all__ = ["check_device", "check_outputs_apart", "check_writable_dir", "check_writable_file"]


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


def _same(a: Path, b: Path) -> bool:
    """Whether `a` and `b` (resolved) name one file or folder: the same path, or the same inode on the same device
    (a hard link, a bind mount, a case-insensitive file system)."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _within(inner: Path, outer: Path) -> bool:
    """Whether `inner` (resolved, existing or not) lies strictly inside the folder `outer` (resolved)."""
    return any(_same(parent, outer) for parent in inner.parents)


def _given(path: str | os.PathLike | None) -> bool:
    return path is not None and os.fspath(path) != ""


def _through_links(*paths: tuple[Path, Path]) -> str:
    """` (through links: X is Y, ...)` for each (given, resolved) path that a link leads elsewhere, else ``."""
    moved = [f"{given} is {real}" for given, real in paths if Path(os.path.abspath(given)) != real]
    return f" (through links: {', '.join(moved)})" if moved else ""


def _scan(folder: Path) -> Iterator[os.DirEntry]:
    """Every entry under `folder`, links not followed (unreadable folders are passed over)."""
    pending = [folder]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    yield entry
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
        except OSError:
            continue


def _linked(output: Path) -> tuple[list[tuple[Path, Path]], dict[tuple[int, int], Path]]:
    """What in the output `output` (resolved) a write could carry elsewhere: the symbolic links under it, with their
    targets, and the files (it, or under it) that have other hard links, by (device, inode)."""
    symlinks, hard = [], {}
    if output.is_file():
        stat = output.stat()
        if stat.st_nlink > 1:
            hard[stat.st_dev, stat.st_ino] = output
    elif output.is_dir():
        for entry in _scan(output):
            if entry.is_symlink():
                symlinks.append((Path(entry.path), Path(entry.path).resolve()))
            elif entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                if stat.st_nlink > 1:
                    hard[stat.st_dev, stat.st_ino] = Path(entry.path)
    return symlinks, hard


def _hard_link_into(source: Path, wanted: dict[tuple[int, int], Path]) -> tuple[Path, Path] | None:
    """(output file, input file) of the first file of `source` (a file or folder) that is one of `wanted`."""
    if not source.is_dir():
        stat = source.stat()
        key = (stat.st_dev, stat.st_ino)
        return (wanted[key], source) if key in wanted else None
    inodes = {inode for _, inode in wanted}
    for entry in _scan(source):
        if entry.inode() in inodes and entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            if (stat.st_dev, stat.st_ino) in wanted:
                return wanted[stat.st_dev, stat.st_ino], Path(entry.path)
    return None


def check_outputs_apart(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, str | os.PathLike | None],
    *,
    may_contain: Collection[str] = (),
) -> None:
    """Refuse, before any work, an output that is, contains or lies inside an input: writing it (or replacing its
    contents with `--overwrite`) would destroy or rewrite what the command reads.

    Args:
        outputs: argument name (e.g. `"--output"`) -> the output file or folder (existing or not; None or `""`: not
            given).
        inputs: what the input is, as the message names it (e.g. `"input frames folder"`, `"model folder (--model)"`)
            -> its path. An input that does not exist here (a Hub id, None, `""`) cannot be overwritten: skipped.
        may_contain: names of `inputs` that an output folder may hold (e.g. the checkpoint of `output_dir` a
            training run resumes from); such an output is still refused when it is, or lies inside, that input.

    Paths are compared resolved (`~`, `..` and symbolic links followed) and by identity (`os.path.samefile`: hard
    links, bind mounts). An existing output is also refused when it is a hard link to a file of an input, or holds
    a symbolic link to an input or a hard link to one of its files (writing through it would change the input).
    Raises `UsageError` with one line naming both paths, e.g. `--output /x/frames is the input frames folder
    /x/frames: ...`. Creates nothing and reads only metadata (an input folder is listed only when the output has
    files with other hard links).
    """
    sources = {
        name: (Path(path).expanduser(), Path(path).expanduser().resolve())
        for name, path in inputs.items()
        if _given(path) and os.path.exists(Path(path).expanduser())
    }

    def refuse(argument: str, given: Path, what: str) -> UsageError:
        return UsageError(
            f"{argument} {given} {what}: an output may not be, contain or lie inside an input (nothing was written); "
            f"choose another {argument}."
        )

    for argument, output in outputs.items():
        if not _given(output):
            continue
        given = Path(output).expanduser()
        real = given.resolve()
        for name, (source, source_real) in sources.items():
            links = _through_links((given, real), (source, source_real))
            if _same(real, source_real):
                if not links and real != source_real:
                    links = " (the same folder)" if source_real.is_dir() else " (the same file: a hard link)"
                raise refuse(argument, given, f"is the {name} {source}{links}")
            if name not in may_contain and _within(source_real, real):
                raise refuse(argument, given, f"contains the {name} {source}{links}")
            if source_real.is_dir() and _within(real, source_real):
                raise refuse(argument, given, f"lies inside the {name} {source}{links}")
        # apart by their paths; the links in (or of) an existing output may still lead into an input
        symlinks, hard = _linked(real)
        for name, (source, source_real) in sources.items():
            if name in may_contain:
                continue
            for link, target in symlinks:
                if _same(target, source_real) or (source_real.is_dir() and _within(target, source_real)):
                    where = "the" if _same(target, source_real) else f"{target} in the"
                    raise refuse(argument, given, f"holds {link}, a link to {where} {name} {source}")
            found = _hard_link_into(source_real, hard) if hard else None
            if found is not None:
                file, twin = found
                holds = "is" if file == real else f"holds {file},"
                of = f"the {name} {source}" if twin == source_real else f"{twin} of the {name} {source}"
                raise refuse(argument, given, f"{holds} the same file as {of} (a hard link)")


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
