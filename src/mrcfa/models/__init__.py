# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Model folders, one per architecture, as transformers keeps ``models/segformer/``."""
