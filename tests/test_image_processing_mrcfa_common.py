"""transformers' own common image-processor tests (`ImageProcessingTestMixin`, with
`PostProcessSemanticSegmentationTestMixin`) run on `MrcfaImageProcessor`, in the shape transformers uses for its own
processors (`tests/models/segformer/test_image_processing_segformer.py`).

The suite comes from the source distribution of the installed transformers version (see `transformers_test_suite.py`);
without network access or pip the module is skipped. MRCFA has one backend, PIL (no torchvision: a
`fast_image_processing_class` / torchvision backend is not provided on purpose). Tests that do not apply are skipped
with the reason next to the skip. The classes `import mrcfa` registers with the Auto classes (the processor for the
`pil` and `torchvision` keys, its former name `MrcfaVideoProcessor`) are saved and reloaded one by one in
`test_processor.py::test_every_registered_processor_class_saves_and_loads`.
"""

from __future__ import annotations

import unittest

import numpy as np
import pytest
import torch
from PIL import Image
from transformers_test_suite import SuiteUnavailable, load_image_processing_test_suite

try:
    _COMMON = load_image_processing_test_suite()
except SuiteUnavailable as err:  # no network / pip / incompatible suite: not a failure of this project
    pytest.skip(f"transformers' common image-processing test suite is unavailable: {err}", allow_module_level=True)

from transformers.modeling_outputs import SemanticSegmenterOutput  # noqa: E402

from mrcfa.models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor  # noqa: E402
from mrcfa.models.mrcfa.image_transforms_mrcfa import keep_ratio_size  # noqa: E402

ImageProcessingTestMixin = _COMMON.ImageProcessingTestMixin
PostProcessSemanticSegmentationTestMixin = _COMMON.PostProcessSemanticSegmentationTestMixin
prepare_image_inputs = _COMMON.prepare_image_inputs


class MrcfaImageProcessingTester:
    """Small processor settings and random inputs (sizes kept small: the two cv2-exact resizes run per image)."""

    def __init__(
        self,
        parent,
        batch_size=7,
        num_channels=3,
        min_resolution=30,
        max_resolution=120,
        do_resize=True,
        size=None,
        size_divisor=32,
        do_normalize=True,
        image_mean=(123.675, 116.28, 103.53),
        image_std=(58.395, 57.12, 57.375),
        do_reduce_labels=False,
        num_labels=5,
    ):
        self.parent = parent
        self.batch_size = batch_size
        self.num_channels = num_channels
        self.min_resolution = min_resolution
        self.max_resolution = max_resolution
        self.do_resize = do_resize
        self.size = size if size is not None else {"longest_edge": 160, "shortest_edge": 96}
        self.size_divisor = size_divisor
        self.do_normalize = do_normalize
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.do_reduce_labels = do_reduce_labels
        self.num_labels = num_labels
        # one backend (PIL), as the mixin reads it
        self.image_processing_classes = {"pil": MrcfaImageProcessor}

    def prepare_image_processor_dict(self):
        return {
            "do_resize": self.do_resize,
            "size": self.size,
            "size_divisor": self.size_divisor,
            "do_normalize": self.do_normalize,
            "image_mean": self.image_mean,
            "image_std": self.image_std,
            "do_reduce_labels": self.do_reduce_labels,
        }

    def expected_output_image_shape(self, images):
        """Keep-ratio resize, then up to multiples of 32, of each image; a batch is padded to the largest sizes. The
        channels are the input's (`test_call_numpy_4_channels` keeps 4 with `do_convert_rgb=False` and 4-value
        mean / std, as transformers' processors do; by default frames are converted to RGB)."""
        sizes = []
        for image in images:
            if isinstance(image, Image.Image):
                width, height = image.size
            elif isinstance(image, np.ndarray):
                height, width = image.shape[0], image.shape[1]
            else:
                height, width = image.shape[1], image.shape[2]
            sizes.append(
                keep_ratio_size(
                    height, width, self.size["longest_edge"], self.size["shortest_edge"], self.size_divisor
                )
            )
        return self.num_channels, max(h for h, _ in sizes), max(w for _, w in sizes)

    def prepare_image_inputs(self, equal_resolution=False, numpify=False, torchify=False, **kwargs):
        return prepare_image_inputs(
            batch_size=kwargs.get("batch_size") or self.batch_size,
            num_channels=kwargs.get("num_channels") or self.num_channels,
            min_resolution=kwargs.get("min_resolution") or self.min_resolution,
            max_resolution=kwargs.get("max_resolution") or self.max_resolution,
            size_divisor=kwargs.get("size_divisor"),
            equal_resolution=equal_resolution,
            numpify=numpify,
            torchify=torchify,
        )

    def prepare_processor_inputs(self, **kwargs):
        return {"images": self.prepare_image_inputs(**kwargs)}

    def prepare_post_process_semantic_segmentation_inputs(self):
        height, width = 24, 40  # stride-4 logits of a 96x160 input
        inputs = {
            "outputs": SemanticSegmenterOutput(logits=torch.randn(self.batch_size, self.num_labels, height, width))
        }
        return inputs, {"num_labels": self.num_labels, "height": height, "width": width}


class MrcfaImageProcessingTest(ImageProcessingTestMixin, PostProcessSemanticSegmentationTestMixin, unittest.TestCase):
    image_processing_class = MrcfaImageProcessor
    image_processor_tester_class = MrcfaImageProcessingTester

    @property
    def image_processor_dict(self):
        return self.image_processor_tester.prepare_image_processor_dict()

    def test_image_processor_properties(self):
        image_processing = self.image_processing_class(**self.image_processor_dict)
        for name in ("do_resize", "size", "size_divisor", "do_normalize", "image_mean", "image_std", "do_convert_rgb"):
            self.assertTrue(hasattr(image_processing, name), name)

    @unittest.skip(
        reason="the mixin reloads the saved folder in a fresh process without mrcfa and without trust_remote_code, "
        "but a saved MRCFA processor is custom code (auto_map), which transformers loads only with "
        "trust_remote_code=True: test_processor.py::test_trust_remote_code_without_the_package does that, with "
        "torchvision blocked as here"
    )
    def test_pil_can_run_without_torchvision(self):
        pass

    @unittest.skip(
        reason="transformers' policy for models added to transformers after 2025-09-01 (a torchvision backend); "
        "MRCFA is an external, trust_remote_code model whose processor must not need torchvision"
    )
    def test_new_models_require_torchvision_backend(self):
        pass
