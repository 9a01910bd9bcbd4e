#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Convert an official MRCFA checkpoint (mmsegmentation format) to a transformers model directory.

    python scripts/convert_mrcfa_original_to_hf.py --checkpoint_path mrcfa_b1.pth --output_dir mrcfa-b1-vspw

The same as `mrcfa convert` (`--help` lists the options), kept for existing command lines and named as transformers
names its converters: this script runs the `mrcfa` command (`python -m mrcfa`), which runs its `convert` subcommand
under this script's name (`mrcfa.cli.SCRIPTS`).
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("mrcfa", run_name="__main__")
