# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""mrcfa: MRCFA video semantic segmentation (ECCV 2022), native to transformers, datasets and accelerate.

`import mrcfa` registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForSemanticSegmentation), the processor with AutoImageProcessor / AutoVideoProcessor, and the
`video-semantic-segmentation` pipeline (`mrcfa.register()`, idempotent).

The public names below load on first use, as transformers' own do. The `mrcfa` command (and `python -m mrcfa`)
imports this package without registering, so that `--help` and argument errors come back before torch and
transformers are imported; its subcommands import (and so register) what they use. `scripts/run_vss.py` does the
same and calls `register()` once its arguments are checked.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module (relative to this package) that defines it
_LAZY_ATTRIBUTES = {
    "MRCFA_PRESETS": ".models.mrcfa.configuration_mrcfa",
    "VSPW_CLASSES": ".models.mrcfa.configuration_mrcfa",
    "MrcfaConfig": ".models.mrcfa.configuration_mrcfa",
    "MrcfaImageProcessor": ".models.mrcfa.image_processing_mrcfa",
    "MrcfaVideoProcessor": ".models.mrcfa.image_processing_mrcfa",  # the same class, its former name
    "MrcfaForVideoSemanticSegmentation": ".models.mrcfa.modeling_mrcfa",
    "MrcfaVideoSemanticSegmenterOutput": ".models.mrcfa.modeling_mrcfa",
    "VideoSemanticSegmentationPipeline": ".models.mrcfa.pipeline_mrcfa",
    "MrcfaStreamError": ".models.mrcfa.session_mrcfa",
    "MrcfaStreamingBackend": ".models.mrcfa.session_mrcfa",
    "MrcfaStreamingOutput": ".models.mrcfa.session_mrcfa",
    "MrcfaVideoInferenceSession": ".models.mrcfa.session_mrcfa",
    "StreamingVideoSegmenter": ".models.mrcfa.streaming_mrcfa",
    "streaming_step_batch": ".models.mrcfa.session_mrcfa",
    "VideoFailed": ".models.mrcfa.streaming_mrcfa",
    "VideoFinished": ".models.mrcfa.streaming_mrcfa",
    "VideoFrameResult": ".models.mrcfa.streaming_mrcfa",
    "segment_video": ".models.mrcfa.streaming_mrcfa",
    "segment_videos": ".models.mrcfa.streaming_mrcfa",
    "VideoSegmentationMetrics": ".metrics",
    "evaluate_module_path": ".metrics",
}

#: Library submodules that `mrcfa.<name>` imports on first use, so that `import mrcfa` then
#: `mrcfa.threads.configure_threads()` works without `import mrcfa.threads` (the front ends `cli`, `app` are not here).
_SUBMODULES = (
    "benchmarking",
    "constants",
    "conversion",
    "data",
    "hub_paths",
    "metrics",
    "model_cards",
    "models",
    "onnx_export",
    "onnx_runtime",
    "threads",
    "training",
    "visualization",
)

#: Programs that register on first use rather than on import: this package's console scripts (`setup.cfg`) and the
#: training script `scripts/run_vss.py`, which calls `register()` itself once its arguments are checked.
_COMMANDS = ("mrcfa", "mrcfa-segment", "mrcfa-synthetic-vspw", "run_vss")

__all__ = [
    "MRCFA_PRESETS",
    "VSPW_CLASSES",
    "MrcfaConfig",
    "MrcfaForVideoSemanticSegmentation",
    "MrcfaImageProcessor",
    "MrcfaStreamError",
    "MrcfaStreamingBackend",
    "MrcfaStreamingOutput",
    "MrcfaVideoInferenceSession",
    "MrcfaVideoProcessor",
    "MrcfaVideoSemanticSegmenterOutput",
    "StreamingVideoSegmenter",
    "VideoFailed",
    "VideoFinished",
    "VideoFrameResult",
    "VideoSegmentationMetrics",
    "VideoSemanticSegmentationPipeline",
    "evaluate_module_path",
    "register",
    "segment_video",
    "segment_videos",
    "streaming_step_batch",
]

if TYPE_CHECKING:
    from .metrics import VideoSegmentationMetrics, evaluate_module_path
    from .models.mrcfa.configuration_mrcfa import MRCFA_PRESETS, VSPW_CLASSES, MrcfaConfig
    from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor, MrcfaVideoProcessor
    from .models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaVideoSemanticSegmenterOutput
    from .models.mrcfa.pipeline_mrcfa import VideoSemanticSegmentationPipeline
    from .models.mrcfa.session_mrcfa import (
        MrcfaStreamError,
        MrcfaStreamingBackend,
        MrcfaStreamingOutput,
        MrcfaVideoInferenceSession,
        streaming_step_batch,
    )
    from .models.mrcfa.streaming_mrcfa import (
        StreamingVideoSegmenter,
        VideoFailed,
        VideoFinished,
        VideoFrameResult,
        segment_video,
        segment_videos,
    )

_registered = False


def register() -> None:
    """Register MRCFA with transformers' Auto classes and `pipeline()` (done by `import mrcfa`; idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

    # without torchvision, `transformers.AutoVideoProcessor` is a dummy that raises; the module-level class works
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    from .models.mrcfa.configuration_mrcfa import MrcfaConfig
    from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor, MrcfaVideoProcessor
    from .models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation
    from .models.mrcfa.pipeline_mrcfa import register_pipeline

    AutoConfig.register(MrcfaConfig.model_type, MrcfaConfig, exist_ok=True)
    AutoModel.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)
    AutoModelForSemanticSegmentation.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)
    # one processor for every backend: no torchvision needed, no fallback warning when it is installed. Configs saved
    # before the rename say "image_processor_type": "MrcfaVideoProcessor", a name the Auto classes look up among the
    # registered classes: the processor module's class of that name, under a key no backend request picks, lets them
    # find this mapping and load MrcfaImageProcessor.
    backends = {"pil": MrcfaImageProcessor, "torchvision": MrcfaImageProcessor, "former_name": MrcfaVideoProcessor}
    AutoImageProcessor.register(MrcfaConfig, image_processor_classes=backends, exist_ok=True)
    AutoVideoProcessor.register(MrcfaConfig, video_processor_classes=backends, exist_ok=True)
    register_pipeline()
    _registered = True


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # which also sets it as an attribute of this package
    module = _LAZY_ATTRIBUTES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    register()  # a command that deferred registration gets it with the first model name it uses
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES) | set(_SUBMODULES))


def _started_as_command() -> bool:
    """Whether this process is the `mrcfa` command: a console script, or `python -m mrcfa` (whose `sys.argv[0]` is
    "-m" while it imports this package)."""
    program = os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv else ""
    if program in _COMMANDS:
        return True
    original = list(getattr(sys, "orig_argv", []))
    if program != "-m" or "-m" not in original[:-1]:
        return False
    return original[original.index("-m") + 1].split(".")[0] == __name__


if not _started_as_command():
    register()
