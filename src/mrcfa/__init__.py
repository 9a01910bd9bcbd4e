# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""mrcfa: MRCFA video semantic segmentation (ECCV 2022), native to transformers, datasets and accelerate.

`import mrcfa` registers the model with transformers' Auto classes (AutoConfig, AutoModel,
AutoModelForSemanticSegmentation), the processor with AutoImageProcessor / AutoVideoProcessor, and the
`video-semantic-segmentation` pipeline.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoModelForSemanticSegmentation

# without torchvision, `transformers.AutoVideoProcessor` is a dummy that raises; the module-level class works
from transformers.models.auto.video_processing_auto import AutoVideoProcessor

from .metrics import VideoSegmentationMetrics, evaluate_module_path
from .models.mrcfa.configuration_mrcfa import MRCFA_PRESETS, VSPW_CLASSES, MrcfaConfig
from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor, MrcfaVideoProcessor  # same class, former name
from .models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaVideoSemanticSegmenterOutput
from .models.mrcfa.pipeline_mrcfa import VideoSemanticSegmentationPipeline, register_pipeline
from .models.mrcfa.streaming_mrcfa import StreamingVideoSegmenter, segment_video

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(MrcfaConfig.model_type, MrcfaConfig, exist_ok=True)
    AutoModel.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)
    AutoModelForSemanticSegmentation.register(MrcfaConfig, MrcfaForVideoSemanticSegmentation, exist_ok=True)
    # one processor for every backend: no torchvision needed, no fallback warning when it is installed. Configs saved
    # before the rename say "image_processor_type": "MrcfaVideoProcessor", a name the Auto classes look up by the
    # `__name__` of the registered classes: a subclass of that name, under a key no backend request picks first, lets
    # them resolve it to MrcfaImageProcessor.
    legacy_name = type("MrcfaVideoProcessor", (MrcfaImageProcessor,), {"__module__": __name__})
    backends = {"pil": MrcfaImageProcessor, "torchvision": MrcfaImageProcessor, "former_name": legacy_name}
    AutoImageProcessor.register(MrcfaConfig, image_processor_classes=backends, exist_ok=True)
    AutoVideoProcessor.register(MrcfaConfig, video_processor_classes=backends, exist_ok=True)
    register_pipeline()


_register()

__all__ = [
    "MRCFA_PRESETS",
    "VSPW_CLASSES",
    "MrcfaConfig",
    "MrcfaForVideoSemanticSegmentation",
    "MrcfaVideoSemanticSegmenterOutput",
    "MrcfaImageProcessor",
    "MrcfaVideoProcessor",
    "StreamingVideoSegmenter",
    "VideoSemanticSegmentationPipeline",
    "segment_video",
    "VideoSegmentationMetrics",
    "evaluate_module_path",
]
