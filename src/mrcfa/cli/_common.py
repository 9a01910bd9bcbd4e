# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""What every subcommand of `mrcfa` shares: the help format, the error report and the stand-alone entry points.

A subcommand is a module with `NAME`, `HELP` (one line for `mrcfa --help`), `DESCRIPTION`, `USER_ERRORS` (the
exception types that mean a mistake in the inputs, reported as one line), `add_arguments(parser)` and `run(args)`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = [
    "CliError",
    "HelpFormatter",
    "add_command",
    "check_device",
    "check_writable_dir",
    "check_writable_file",
    "run_command",
    "standalone_main",
]


class CliError(Exception):
    """A problem with the command line's inputs or outputs, reported without a traceback."""


# ------------------------------------------------------------------------------------------- checks before any work
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
        raise CliError(f"{argument} {path}: cannot create the {what}, {base} is a file, not a folder.")
    error = _probe_writable(base)
    if error is not None:
        raise CliError(
            f"{argument} {path} is not writable: cannot create files in {base} ({error.strerror or error}). "
            "Choose a location you can write to."
        )


def check_writable_dir(path: str | os.PathLike, argument: str) -> Path:
    """`path` as a `Path` if it is, or can be created as, a folder this process can write to; otherwise `CliError`
    naming `argument` (e.g. `"--output"`). Creates nothing: call it before any work starts."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise CliError(f"{argument} {path} exists and is not a folder: expected a folder (existing or new).")
    _check_can_create_in(path, argument, "folder")
    return path


def check_writable_file(path: str | os.PathLike, argument: str) -> Path:
    """`path` as a `Path` if this process can write (or replace) that file; otherwise `CliError` naming `argument`
    (e.g. `"--overlay"`). Missing parent folders are allowed (create them when writing). Creates nothing."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CliError(f"{argument} {path} is a folder: expected a file name.")
    if path.exists() and not os.access(path, os.W_OK):
        raise CliError(f"{argument} {path} exists and is read-only: choose another file, or make it writable.")
    _check_can_create_in(path, argument, "file")
    return path


def check_device(device: str, argument: str = "--device") -> str:
    """`device` if torch can run on it here (`cpu`, `cuda`, `cuda:N`, `mps`, ...); otherwise `CliError` saying what
    this torch build has (checked before the model is loaded)."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise CliError(
            f"{argument} {device!r} is not a torch device (expected cpu, cuda, cuda:N or mps): {err}"
        ) from err
    version = torch.__version__
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            reason = "is built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
            raise CliError(f"{argument} {device}: this torch ({version}) {reason}; use --device cpu.")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise CliError(
                f"{argument} {device}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 to "
                f"cuda:{torch.cuda.device_count() - 1})."
            )
    elif parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            built = mps is not None and mps.is_built()
            reason = "finds no MPS device (Apple GPU, macOS 12.3+)" if built else "is built without MPS (Apple GPUs)"
            raise CliError(f"{argument} {device}: this torch ({version}) {reason}; use --device cpu.")
    elif parsed.type != "cpu":
        module = getattr(torch, parsed.type, None)
        available = getattr(module, "is_available", None)
        if available is None or not available():
            raise CliError(
                f"{argument} {device}: this torch ({version}) has no {parsed.type} device; use --device cpu."
            )
    return device


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and shows each option's default (not for required options, flags or None)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def run_command(prog: str, command: ModuleType, args: argparse.Namespace) -> int:
    """`command.run(args)`; a user mistake is printed as `<prog>: error: <message>` (exit status 2)."""
    try:
        return command.run(args)
    except (CliError, *command.USER_ERRORS) as err:
        message = " ".join(str(err).split()) if str(err) else type(err).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def add_command(subparsers, command: ModuleType) -> argparse.ArgumentParser:
    """Add `command` as a subcommand of the `mrcfa` parser."""
    parser = subparsers.add_parser(
        command.NAME, help=command.HELP, description=command.DESCRIPTION, formatter_class=HelpFormatter
    )
    command.add_arguments(parser)
    parser.set_defaults(command=command, parser=parser)
    return parser


def standalone_main(command: ModuleType, prog: str, argv: Sequence[str] | None = None) -> int:
    """Run `command` as its own program `prog` (the `mrcfa-segment` alias, the converter script, ...)."""
    parser = argparse.ArgumentParser(prog=prog, description=command.DESCRIPTION, formatter_class=HelpFormatter)
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    return run_command(prog, command, args)
