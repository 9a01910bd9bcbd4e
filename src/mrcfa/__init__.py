# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""mrcfa: MRCFA video semantic segmentation (ECCV 2022), native to transformers, datasets and accelerate.

`import mrcfa` registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForSemanticSegmentation) and the processor with AutoImageProcessor.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSemanticSegmentation

from .configuration_mrcfa import MRCFA_PRESETS, VSPW_CLASSES, MrcfaConfig
from .metrics import VideoSegmentationMetrics, evaluate_module_path
from .modeling_mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaVideoSemanticSegmenterOutput

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(MrcfaConfig.model_type, MrcfaConfig, exist_ok=True)
    AutoModel.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)
    AutoModelForSemanticSegmentation.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)


_register()

__all__ = [
    "MRCFA_PRESETS",
    "VSPW_CLASSES",
    "MrcfaConfig",
    "MrcfaForVideoSemanticSegmentation",
    "MrcfaVideoSemanticSegmenterOutput",
    "VideoSegmentationMetrics",
    "evaluate_module_path",
]
