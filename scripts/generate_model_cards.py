# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Regenerate the Hub model cards of the official MRCFA models in `model_cards/` (B0, B1, B2, B5 on VSPW).

    python scripts/generate_model_cards.py            # write model_cards/mrcfa-<size>-vspw.md
    python scripts/generate_model_cards.py --check    # exit 1 if a committed card differs from the generator

The cards are `mrcfa.model_cards.render_model_card(MrcfaConfig.from_preset(size))`; edit that module, not the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mrcfa import MrcfaConfig
from mrcfa.model_cards import OFFICIAL_CARD_PRESETS, render_model_card

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parents[1] / "model_cards"


def official_cards() -> dict[str, str]:
    """File name -> card text of every official model card."""
    return {
        f"mrcfa-{preset}-vspw.md": render_model_card(MrcfaConfig.from_preset(preset))
        for preset in OFFICIAL_CARD_PRESETS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", type=Path, default=DEFAULT_OUTPUT_DIR, help="where the cards live")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a card is missing or stale")
    args = parser.parse_args(argv)

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
        print("stale model cards (run scripts/generate_model_cards.py):", *map(str, stale), sep="\n  ")
        return 1
    if not stale:
        print(f"model cards in {args.output_dir} are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
