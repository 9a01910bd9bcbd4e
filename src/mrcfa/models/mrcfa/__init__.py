# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""MRCFA: configuration, model, head and processor (the public names are re-exported by ``mrcfa``).

Every module of this folder is copied into saved checkpoints for ``trust_remote_code``: they import only torch,
transformers (with its own dependencies numpy, PIL, huggingface_hub) and each other, with single-dot relative imports
(``tests/test_hub_loading.py`` guards it). This ``__init__`` imports nothing, so that the data code can use the
processor's resize kernel without loading the model.
"""
