#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Convert an official MRCFA checkpoint (mmsegmentation format) to a transformers model directory.

    python scripts/convert_mrcfa_original_to_hf.py --checkpoint_path mrcfa_b1.pth --output_dir mrcfa-b1-vspw

The architecture is inferred from the tensor shapes and the text of meta['config'] (never executed); flags override
what cannot be seen in the weights. The output holds config.json (with auto_map), model.safetensors (float32), the
code for trust_remote_code, preprocessor_config.json and a model card. Converted official weights keep the official
licence terms (academic use).
"""

from __future__ import annotations

import argparse
import logging
import sys

from mrcfa.conversion import ConversionError, convert_original_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint_path", required=True, help="official .pth checkpoint ({'meta', 'state_dict'})")
    parser.add_argument("--output_dir", required=True, help="directory to write the converted model to")
    parser.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty output_dir")
    parser.add_argument("--model_name", default=None, help="name used in the model card (e.g. mrcfa-b1-vspw)")
    parser.add_argument("--stm_keep_ratio", type=float, default=None, help="override the STM keep ratio")
    parser.add_argument("--refinement_layout", choices=("two_layer", "single_layer"), default=None)
    parser.add_argument("--num_attention_heads", type=int, nargs=4, default=None, help="override MiT heads per stage")
    parser.add_argument("--no_model_card", action="store_true", help="do not write README.md")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    overrides = {
        k: v
        for k, v in {
            "stm_keep_ratio": args.stm_keep_ratio,
            "refinement_layout": args.refinement_layout,
            "num_attention_heads": tuple(args.num_attention_heads) if args.num_attention_heads else None,
        }.items()
        if v is not None
    }
    try:
        model = convert_original_checkpoint(
            args.checkpoint_path,
            args.output_dir,
            overwrite=args.overwrite,
            model_name=args.model_name,
            write_model_card=not args.no_model_card,
            **overrides,
        )
    except (ConversionError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    params = sum(p.numel() for p in model.parameters())
    config = model.config
    print(
        f"converted {args.checkpoint_path} -> {args.output_dir}: {params:,} parameters, "
        f"hidden_sizes={list(config.hidden_sizes)}, depths={list(config.depths)}, "
        f"stm_keep_ratio={config.stm_keep_ratio}, refinement_layout={config.refinement_layout}, "
        f"{config.num_labels} classes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
