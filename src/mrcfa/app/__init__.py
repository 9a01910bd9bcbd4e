# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The MRCFA app: segment a video (or an image) in the browser, locally (`mrcfa app`) or as a Hub Space.

    from mrcfa.app import build_demo, launch
    launch(build_demo("path/or/hub-id"))          # http://127.0.0.1:7860

`service` computes (one shared model, no Gradio), `blocks` is the Gradio page, `space` writes a Hub Space
(`mrcfa app --write-space DIR --model ORG/NAME`). The page needs the `app` extra: `pip install "mrcfa[app]"`;
`build_demo` and `launch` import Gradio when first used.
"""

from .service import AppInputError, Limits, SegmentationService, parse_resolution
from .space import write_space

__all__ = ["AppInputError", "Limits", "SegmentationService", "build_demo", "launch", "parse_resolution", "write_space"]


def __getattr__(name: str):
    if name in ("build_demo", "launch"):
        from . import blocks

        return getattr(blocks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
