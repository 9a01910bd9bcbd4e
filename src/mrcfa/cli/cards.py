# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa cards`: regenerate the Hub model cards of the official MRCFA models (B0, B1, B2, B5 on VSPW).

    mrcfa cards                 # write model_cards/mrcfa-<size>-vspw.md (run from the repository root)
    mrcfa cards --check         # exit 1 if a card in model_cards/ is missing or differs from the generator

The cards are `mrcfa.model_cards.render_model_card(MrcfaConfig.from_preset(size))`, rendered from the template
`mrcfa/templates/model_card.md`; edit the template or that module, not the files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._common import standalone_main

__all__ = ["main", "official_cards", "run"]

NAME = "cards"
HELP = "regenerate (or --check) the model cards of the official models in model_cards/"
DESCRIPTION = __doc__
USER_ERRORS = (OSError,)
DEFAULT_OUTPUT_DIR = "model_cards"


def official_cards() -> dict[str, str]:
    """File name -> card text of every official model card."""
    from ..model_cards import OFFICIAL_CARD_PRESETS, render_model_card
    from ..models.mrcfa.configuration_mrcfa import MrcfaConfig

    return {
        f"mrcfa-{preset}-vspw.md": render_model_card(MrcfaConfig.from_preset(preset))
        for preset in OFFICIAL_CARD_PRESETS
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir", "--output_dir", dest="output_dir", type=Path, default=Path(DEFAULT_OUTPUT_DIR),
        help="where the cards live",
    )  # fmt: skip
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a card is missing or stale")


def run(args: argparse.Namespace) -> int:
    """Write the stale cards (or only list them with `--check`); returns the exit status."""
    if not args.check:  # the cards are rendered from the template: never written over or around it
        from ..checks import check_outputs_apart
        from ..model_cards import MODEL_CARD_TEMPLATE

        check_outputs_apart({"--output-dir": args.output_dir}, {"model card template": MODEL_CARD_TEMPLATE})
    stale = []
    for file_name, text in official_cards().items():
        path = args.output_dir / file_name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        print("stale model cards (run `mrcfa cards`):", *map(str, stale), sep="\n  ")
        return 1
    if not stale:
        print(f"model cards in {args.output_dir} are up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`mrcfa cards` as a program of its own."""
    return standalone_main(sys.modules[__name__], "mrcfa cards", argv)
