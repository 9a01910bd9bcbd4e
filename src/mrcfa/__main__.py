# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`python -m mrcfa ...` is the `mrcfa` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
