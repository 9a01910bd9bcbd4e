# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""``evaluate`` modules shipped with mrcfa; load them with ``evaluate.load(path)`` (see :mod:`mrcfa.metrics`)."""
