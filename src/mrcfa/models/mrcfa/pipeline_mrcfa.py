# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The `video-semantic-segmentation` pipeline.

`import mrcfa` registers it with transformers; saved checkpoints also carry this file and declare it in their config
(`custom_pipelines`), so that it loads without the package too:

    >>> from transformers import pipeline
    >>> segmenter = pipeline("video-semantic-segmentation", model="path/or/hub-id", trust_remote_code=True)
    >>> results = segmenter("video.mp4")            # or a folder of frames, or a list of PIL images
    >>> results[0]["labels"].shape                  # [H, W] label map of frame 0

Underneath, `mrcfa.segment_video` streams the video through one `MrcfaVideoInferenceSession`
(`model(inference_session=session, frame=pixel_values)`): each frame is encoded once and predicted with the official
test-time clip.

A `model=` folder that does not exist reaches transformers as a Hub id, and `pipeline()` then reports the Hub's naming
rules ("Repo id must be in the form..."): with the package, `mrcfa.hub_paths.check_model_name_or_path(model)` first
says "no such folder, and not a Hub model id".
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModelForSemanticSegmentation, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .streaming_mrcfa import segment_video
from .video_io_mrcfa import frame_names, iter_frames

__all__ = ["CUSTOM_PIPELINES", "TASK", "VideoSemanticSegmentationPipeline", "register_pipeline"]


class VideoSemanticSegmentationPipeline(Pipeline):
    """Segments every frame of a video with an MRCFA model.

    Input: a video file path (PyAV), a folder of frames, a VSPW video folder (`origin/`), or a list of frames
    (PIL images or `[H, W, 3]` uint8 arrays). Output: one dict per frame, in order, with `frame_index`, `frame_name`
    (file stem for folders, else None), `labels` (`[H, W]` int64 tensor at the frame's size) and, with
    `return_masks=True`, `masks`: `[{"label": class name, "score": None, "mask": PIL image (L, 0/255)}]` for each
    class present, as transformers' image-segmentation pipeline returns for semantic segmentation.

    Call options: `batch_size` (frames encoded together), `max_frames`, `return_masks`.
    """

    _load_processor = False
    _load_image_processor = True
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, return_masks=None, max_frames=None, frames_per_batch=None, **kwargs):
        preprocess, forward, postprocess = {}, {}, {}
        if max_frames is not None:
            preprocess["max_frames"] = max_frames
        if frames_per_batch is not None:
            forward["frames_per_batch"] = frames_per_batch
        if return_masks is not None:
            postprocess["return_masks"] = return_masks
        return preprocess, forward, postprocess

    def __call__(self, inputs: Any, **kwargs) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Segment one video, or several given as a list of paths (see the class docstring)."""
        if "batch_size" in kwargs:  # frames of one video are batched inside the streaming loop
            kwargs["frames_per_batch"] = kwargs.pop("batch_size")
        if isinstance(inputs, list) and inputs and not all(isinstance(i, (str, os.PathLike)) for i in inputs):
            inputs = tuple(inputs)  # a list of frames is one video, not a batch of inputs
        return super().__call__(inputs, **kwargs)

    def preprocess(self, inputs, max_frames=None):
        if isinstance(inputs, np.ndarray) and inputs.ndim == 4 or isinstance(inputs, tuple):
            inputs = list(inputs)
        return {"frames": iter_frames(inputs, max_frames=max_frames), "names": frame_names(inputs)}

    def _forward(self, model_inputs, frames_per_batch=1):
        # label maps come back at each frame's size: the processor returns `original_sizes` with the pixel values
        labels = list(
            segment_video(
                self.model,
                model_inputs["frames"],
                processor=self.image_processor,
                batch_size=frames_per_batch,
                device=self.device,
            )
        )
        return {"labels": labels, "names": model_inputs["names"]}

    def postprocess(self, model_outputs, return_masks=False):
        names = model_outputs["names"]
        id2label = self.model.config.id2label
        results = []
        for index, labels in enumerate(model_outputs["labels"]):
            item = {
                "frame_index": index,
                "frame_name": names[index] if names is not None else None,
                "labels": labels.cpu(),
            }
            if return_masks:
                item["masks"] = [
                    {
                        "label": id2label.get(int(c), str(int(c))),
                        "score": None,
                        "mask": Image.fromarray((labels == c).to(torch.uint8).cpu().numpy() * 255, mode="L"),
                    }
                    for c in labels.unique().tolist()
                ]
            results.append(item)
        return results


#: The task, and its entry in a saved config's `custom_pipelines` (the form `Pipeline.save_pretrained` writes). Its
#: input is a video, as for transformers' own `video-classification` task.
TASK = "video-semantic-segmentation"
CUSTOM_PIPELINES = {
    TASK: {
        "impl": "pipeline_mrcfa.VideoSemanticSegmentationPipeline",
        "pt": ["AutoModelForSemanticSegmentation"],
        "type": "video",
    }
}


def register_pipeline() -> None:
    """Register the task with transformers' `pipeline()` in this process."""
    PIPELINE_REGISTRY.register_pipeline(
        TASK, pipeline_class=VideoSemanticSegmentationPipeline, pt_model=AutoModelForSemanticSegmentation, type="video"
    )
