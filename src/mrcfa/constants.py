# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Constants of the VSPW dataset and the official MRCFA pipeline, shared by the data, inference and training code."""

# The VSPW classes and palette ship with checkpoints (the Inference Endpoints handler colours label maps with the
# palette): defined next to the config, re-exported here.
from .models.mrcfa.configuration_mrcfa import VSPW_CLASSES, VSPW_PALETTE

# Official normalisation (RGB, 0-255 scale) and the ignored label value: defined once, next to the processor that
# ships with checkpoints, and re-exported here.
from .models.mrcfa.image_transforms_mrcfa import IGNORE_INDEX, IMAGE_MEAN, IMAGE_STD

#: Number of VSPW classes after label reduction (raw mask 0 = "others" is ignored).
VSPW_NUM_CLASSES = len(VSPW_CLASSES)

#: Official resize scale (long side, short side) for VSPW 480p, train and test.
IMAGE_SCALE = (853, 480)

#: Official train crop size (height, width).
CROP_SIZE = (480, 480)

#: Official reference offsets of the 4-frame clip (train and test), relative to the target frame.
REFERENCE_OFFSETS = (-9, -6, -3)

__all__ = [
    "CROP_SIZE",
    "IGNORE_INDEX",
    "IMAGE_MEAN",
    "IMAGE_SCALE",
    "IMAGE_STD",
    "REFERENCE_OFFSETS",
    "VSPW_NUM_CLASSES",
    "VSPW_PALETTE",
]

assert len(VSPW_PALETTE) == VSPW_NUM_CLASSES
