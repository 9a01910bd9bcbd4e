#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Write a VSPW folder as Hub-ready Parquet shards plus a dataset card: the same as `mrcfa export-parquet`.

    python scripts/export_vspw_parquet.py /data/VSPW_480p /data/vspw_parquet [--splits train val]

Kept for existing command lines; the options and the code are in `mrcfa.cli.export_parquet`.
"""

import sys

from mrcfa.cli.export_parquet import main

if __name__ == "__main__":
    sys.exit(main(prog="export_vspw_parquet.py"))
