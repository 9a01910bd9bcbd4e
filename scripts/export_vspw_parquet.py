#!/usr/bin/env python
# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Write a VSPW folder as Hub-ready Parquet shards plus a dataset card: the same as `mrcfa export-parquet`.

    python scripts/export_vspw_parquet.py /data/VSPW_480p /data/vspw_parquet [--splits train val]

Kept for existing command lines: this script runs the `mrcfa` command (`python -m mrcfa`), which runs its
`export-parquet` subcommand under this script's name (`mrcfa.cli.SCRIPTS`); `--help` lists the options. The code is
`mrcfa.data.export_vspw_parquet`.
"""

import runpy

if __name__ == "__main__":
    runpy.run_module("mrcfa", run_name="__main__")
