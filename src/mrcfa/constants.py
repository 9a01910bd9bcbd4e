# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Constants of the VSPW dataset and the official MRCFA pipeline, shared by the data, inference and training code."""

from .models.mrcfa.configuration_mrcfa import VSPW_CLASSES

# Official normalisation (RGB, 0-255 scale) and the ignored label value: defined once, next to the processor that
# ships with checkpoints, and re-exported here.
from .models.mrcfa.image_transforms_mrcfa import IGNORE_INDEX, IMAGE_MEAN, IMAGE_STD

#: Number of VSPW classes after label reduction (raw mask 0 = "others" is ignored).
VSPW_NUM_CLASSES = len(VSPW_CLASSES)

#: The official VSPW colour palette (RGB per class id 0..123).
VSPW_PALETTE = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80),
    (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4),
    (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0),
    (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112), (0, 255, 133),
    (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255), (51, 255, 0),
    (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0), (0, 255, 153),
    (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255),
    (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255),
    (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255),
    (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255),
    (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0),
)  # fmt: skip

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
