# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa app`: segment videos and images in the browser (a Gradio app), or write a Hub Space that serves it.

    mrcfa app [--model MODEL] [--host 127.0.0.1] [--port N] [--share false]
    mrcfa app --write-space DIR --model ORG/NAME [--overwrite]

MODEL is a model folder or Hub id; without --model the app serves the model the README's demo trains
(`python scripts/run_vss.py` writes runs/mrcfa-synthetic-demo) when it exists. Needs the `app` extra:
pip install "mrcfa[app]". Details: docs/app.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..checks import check_outputs_apart
from ._common import CliError, standalone_main

__all__ = ["default_model", "main", "run"]

NAME = "app"
HELP = "segment videos in the browser (a Gradio app), or write a Hub Space for it (--write-space)"
DESCRIPTION = __doc__
USER_ERRORS = (OSError, ValueError)


def default_model() -> str:
    """The README demo's model folder when it holds a model; else `CliError` saying how to get a model."""
    from ..training.demo import DEMO_OUTPUT_DIR

    if (Path(DEMO_OUTPUT_DIR) / "config.json").is_file():
        return DEMO_OUTPUT_DIR
    raise CliError(
        f"no model: pass --model DIR_OR_HUB_ID (e.g. a converted official checkpoint), or train the README's demo "
        f"model first with `python scripts/run_vss.py` (about 4 minutes on CPU; it writes {DEMO_OUTPUT_DIR}, the "
        f"default of --model when run from the same folder)."
    )


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _resolution(text: str) -> tuple[int, int]:
    from ..app.service import parse_resolution

    try:
        return parse_resolution(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="model folder or Hub id (default: runs/mrcfa-synthetic-demo, when it exists)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    parser.add_argument(
        "--share",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="{true,false}",
        help="also open a temporary public link through Gradio's share servers",
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--trust-remote-code", action="store_true", help="load the model's own code (its checkpoint)")
    parser.add_argument("--max-frames", type=int, default=300, metavar="N", help="longest video a request may send")
    parser.add_argument(
        "--max-resolution",
        type=_resolution,
        default="1920x1080",
        metavar="WxH",
        help="largest frames a request may send (long x short side, either orientation)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: $OMP_NUM_THREADS, else the cores available to this process)",
    )
    space = parser.add_argument_group("Hub Space (instead of serving)")
    space.add_argument(
        "--write-space", metavar="DIR", default=None, help="write app.py, requirements.txt and README.md of a Space"
    )
    space.add_argument("--overwrite", action="store_true", help="replace those files when DIR is not empty")
    space.add_argument(
        "--mrcfa-requirement",
        default=None,
        metavar="SPEC",
        help="how the Space installs mrcfa (default: mrcfa[app]==<this version>; e.g. 'mrcfa[app] @ git+https://...')",
    )
    space.add_argument("--title", default=None, help="the Space's title (default: from the model id)")


def run(args: argparse.Namespace) -> int:
    """Serve the app, or write a Space (see `add_arguments`); returns the exit status."""
    from ..app.service import Limits

    if args.max_frames < 1:
        raise CliError("--max-frames must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise CliError("--threads must be >= 1")
    if args.port is not None and not 0 < args.port < 65536:
        raise CliError(f"--port must be in 1..65535, got {args.port}")
    limits = Limits(max_frames=args.max_frames, max_resolution=args.max_resolution)

    if args.write_space:
        from ..app.space import write_space

        if not args.model:
            raise CliError("--write-space needs --model ORG/NAME: the Hub id of the model the Space serves.")
        check_outputs_apart({"--write-space": args.write_space}, {"model folder (--model)": args.model})
        paths = write_space(
            args.write_space,
            args.model,
            overwrite=args.overwrite,
            requirement=args.mrcfa_requirement,
            limits=limits,
            title=args.title,
        )
        print(f"wrote {', '.join(p.name for p in paths)} to {args.write_space}")
        print(f"upload it: huggingface-cli upload --repo-type space ORG/SPACE_NAME {args.write_space}")
        return 0

    try:
        from ..app import blocks
    except ImportError as err:
        raise CliError(f'`mrcfa app` needs Gradio: pip install "mrcfa[app]" ({err}).') from err
    from ..app.service import SegmentationService

    model = args.model or default_model()
    service = SegmentationService.from_pretrained(
        model, device=args.device, trust_remote_code=args.trust_remote_code, limits=limits
    )
    demo = blocks.build_demo(service)
    blocks.launch(demo, host=args.host, port=args.port, share=args.share, threads=args.threads)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `mrcfa app` as a program of its own (the same as `mrcfa app`)."""
    return standalone_main(sys.modules[__name__], "mrcfa app", argv)
