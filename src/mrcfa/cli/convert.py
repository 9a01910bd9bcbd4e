# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa convert`: convert an official MRCFA checkpoint (mmsegmentation format) to a transformers model directory.

    mrcfa convert --checkpoint-path mrcfa_b1.pth --output-dir mrcfa-b1-vspw

(`python scripts/convert_mrcfa_original_to_hf.py --checkpoint_path ... --output_dir ...` is the same command.) The
architecture is inferred from the tensor shapes and the text of meta['config'] (never executed); flags override what
cannot be seen in the weights. The output holds config.json (with auto_map), model.safetensors (float32), the code
for trust_remote_code, preprocessor_config.json and a model card. Converted official weights keep the official
licence terms (academic use).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..checks import check_outputs_apart, check_writable_dir
from ._common import CliError, standalone_main

__all__ = ["main", "run"]

NAME = "convert"
HELP = "convert an official MRCFA checkpoint (.pth) to a transformers model directory"
DESCRIPTION = __doc__
USER_ERRORS = (ValueError, OSError)  # ConversionError is a ValueError; a missing file, a non-empty output dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # the underscore spellings are those of the converter script (and of transformers' conversion scripts)
    parser.add_argument(
        "--checkpoint-path", "--checkpoint_path", dest="checkpoint_path", metavar="PTH", required=True,
        help="official .pth checkpoint ({'meta', 'state_dict'})",
    )  # fmt: skip
    parser.add_argument(
        "--output-dir", "--output_dir", dest="output_dir", metavar="DIR", required=True,
        help="directory to write the converted model to",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty output dir")
    parser.add_argument(
        "--model-name", "--model_name", dest="model_name", metavar="NAME", default=None,
        help="name used in the model card (e.g. mrcfa-b1-vspw; default: from the architecture)",
    )  # fmt: skip
    parser.add_argument(
        "--stm-keep-ratio", "--stm_keep_ratio", dest="stm_keep_ratio", metavar="RATIO", type=float, default=None,
        help="override the STM keep ratio (default: the head variant's, from the checkpoint: 0.8 for B0, else 0.5)",
    )  # fmt: skip
    parser.add_argument(
        "--refinement-layout", "--refinement_layout", dest="refinement_layout", default=None,
        choices=("two_layer", "single_layer"), help="override the affinity refinement (default: from the weights)",
    )  # fmt: skip
    parser.add_argument(
        "--num-attention-heads", "--num_attention_heads", dest="num_attention_heads", metavar="N", type=int, nargs=4,
        default=None, help="override MiT heads per stage (default: 1 2 5 8, as in every official MiT)",
    )  # fmt: skip
    parser.add_argument(
        "--no-model-card", "--no_model_card", dest="no_model_card", action="store_true", help="do not write README.md"
    )


def run(args: argparse.Namespace) -> int:
    """Convert `args.checkpoint_path` into `args.output_dir` and print a summary; returns the exit status."""
    from ..conversion import ConfigOverrideError, convert_original_checkpoint

    if args.num_attention_heads is not None and min(args.num_attention_heads) < 1:
        raise CliError(
            f"--num-attention-heads {' '.join(map(str, args.num_attention_heads))}: expected 4 positive integers "
            "(attention heads of each MiT stage; official 1 2 5 8)."
        )
    # before reading the checkpoint: no work for nothing, and never a write over (or around) the checkpoint
    check_outputs_apart(
        {"--output-dir": args.output_dir}, {"official checkpoint (--checkpoint-path)": args.checkpoint_path}
    )
    check_writable_dir(args.output_dir, "--output-dir")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    overrides = {
        "stm_keep_ratio": args.stm_keep_ratio,
        "refinement_layout": args.refinement_layout,
        "num_attention_heads": tuple(args.num_attention_heads) if args.num_attention_heads else None,
    }
    try:
        model = convert_original_checkpoint(
            args.checkpoint_path,
            args.output_dir,
            overwrite=args.overwrite,
            model_name=args.model_name,
            write_model_card=not args.no_model_card,
            **{k: v for k, v in overrides.items() if v is not None},
        )
    except ConfigOverrideError as err:  # name the flag, not the config field
        given = ", ".join(
            f"--{name.replace('_', '-')} {' '.join(map(str, value)) if isinstance(value, tuple) else value}"
            for name, value in err.fields.items()
        )
        raise CliError(f"{given}: {err.reason}") from err
    params = sum(p.numel() for p in model.parameters())
    config = model.config
    print(
        f"converted {args.checkpoint_path} -> {args.output_dir}: {params:,} parameters, "
        f"hidden_sizes={list(config.hidden_sizes)}, depths={list(config.depths)}, "
        f"stm_keep_ratio={config.stm_keep_ratio}, refinement_layout={config.refinement_layout}, "
        f"{config.num_labels} classes"
    )
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "mrcfa convert") -> int:
    """`mrcfa convert` as a program of its own (`scripts/convert_mrcfa_original_to_hf.py`)."""
    return standalone_main(sys.modules[__name__], prog, argv)
