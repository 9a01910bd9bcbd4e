# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The `mrcfa` command (also `python -m mrcfa`): one subcommand per task.

    mrcfa segment INPUT --model MODEL --output DIR       segment a video (alias: mrcfa-segment)
    mrcfa convert --checkpoint-path X.pth --output-dir DIR
                                                        convert an official checkpoint
    mrcfa synthetic OUT_DIR                             write a synthetic VSPW (alias: mrcfa-synthetic-vspw)
    mrcfa export-parquet VSPW_DIR OUT_DIR               VSPW as Hub-ready Parquet shards
    mrcfa export-onnx MODEL OUT_DIR                     streaming inference as ONNX graphs (per frame, per clip)
    mrcfa cards [--check]                               regenerate the official model cards in model_cards/
    mrcfa app [--model MODEL] [--port N]                segment videos in the browser (--write-space DIR: a Hub Space)

`mrcfa <subcommand> --help` lists each one's options and defaults. A mistake in the inputs is reported as one line
`mrcfa <subcommand>: error: ...` with exit status 2. No subcommand writes an output that is, contains or lies inside
one of its inputs, with or without `--overwrite` (`mrcfa.checks.check_outputs_apart`). Each subcommand is a module of this package (`NAME`, `HELP`,
`DESCRIPTION`, `USER_ERRORS`, `add_arguments`, `run`; see `_common`), and `COMMANDS` lists them.

This package is a front end: it imports the library (and `mrcfa.app` for `mrcfa app`), and nothing outside it imports
it but `python -m mrcfa` (`mrcfa/__main__.py`). The repository's scripts that are one subcommand under another name
(`SCRIPTS`) run `python -m mrcfa`, which runs that subcommand under the script's name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import app, cards, convert, export_onnx, export_parquet, segment, synthetic
from ._common import HelpFormatter, add_command, run_command, standalone_main

__all__ = ["COMMANDS", "SCRIPTS", "build_parser", "main"]

#: The subcommands, in the order of `mrcfa --help`.
COMMANDS = (segment, convert, synthetic, export_parquet, export_onnx, cards, app)

#: Scripts of the repository (`scripts/`) kept for existing command lines, each one subcommand under its own name
#: (the converter is named as transformers names its converters): when `python -m mrcfa` runs as one of them (its
#: `sys.argv[0]`), the command is that subcommand, and its usage and errors name the script.
SCRIPTS = {"convert_mrcfa_original_to_hf.py": convert, "export_vspw_parquet.py": export_parquet}

DESCRIPTION = """\
MRCFA video semantic segmentation (ECCV 2022) on Hugging Face transformers: one subcommand per task.
`mrcfa SUBCOMMAND --help` shows its options and their defaults.
"""


def build_parser() -> argparse.ArgumentParser:
    """The `mrcfa` argument parser, with one subparser per module of `COMMANDS`."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="mrcfa", description=DESCRIPTION, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", dest="subcommand", required=True)
    for command in COMMANDS:
        add_command(subparsers, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point `mrcfa`; returns the exit status. Without `argv`, run from one of `SCRIPTS`: that script's
    subcommand."""
    program = os.path.basename(sys.argv[0])
    if argv is None and program in SCRIPTS:
        return standalone_main(SCRIPTS[program], program)
    args = build_parser().parse_args(argv)
    return run_command(args.parser.prog, args.command, args)
