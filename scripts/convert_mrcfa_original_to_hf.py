#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Convert an official MRCFA checkpoint (mmsegmentation format) to a transformers model directory.

    python scripts/convert_mrcfa_original_to_hf.py --checkpoint_path mrcfa_b1.pth --output_dir mrcfa-b1-vspw

The same as `mrcfa convert` (options and code in `mrcfa.cli.convert`; `--help` lists them).
"""

import sys

from mrcfa.cli.convert import main

if __name__ == "__main__":
    sys.exit(main(prog="convert_mrcfa_original_to_hf.py"))
