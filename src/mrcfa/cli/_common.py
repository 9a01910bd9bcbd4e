# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""What every subcommand of `mrcfa` shares: the help format, the error report and the stand-alone entry points.

A subcommand is a module with `NAME`, `HELP` (one line for `mrcfa --help`), `DESCRIPTION`, `USER_ERRORS` (the
exception types that mean a mistake in the inputs, reported as one line), `add_arguments(parser)` and `run(args)`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import UsageError

__all__ = ["CliError", "HelpFormatter", "add_command", "run_command", "standalone_main"]

#: A mistake in a command's inputs or outputs, reported as one line: the library's `mrcfa.errors.UsageError`, under
#: the name the subcommands raise it by.
CliError = UsageError


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
    except (UsageError, *command.USER_ERRORS) as err:
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
