# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Export the two halves of streaming inference to ONNX (docs/deployment.md).

Streaming inference (`mrcfa.segment_video`, docs/design.md "Streaming inference") runs two parts of the model:

* the **frame part**, once per frame: encoder + per-frame head (`model.encode_frames`): `pixel_values`
  `[N, 3, H, W]` -> per-frame logits, the fused map at 1/8 and the target- and reference-side tokens;
* the **clip part**, once per predicted frame with a full clip: the temporal head (`model.decode_head.clip_forward`):
  one target frame's target-side features and its `R = num_clips - 1` reference frames' reference-side features ->
  the logits of the target.

`export_streaming_onnx(model, directory)` writes them as `frame.onnx` and `clip.onnx` (dynamic batch, height and
width; `torch.onnx.export` with `dynamo=True`, which needs `onnxscript`), the model's `config.json`, the processor's
`preprocessor_config.json` when one is given, and `mrcfa_onnx.json` (file names, input / output names). Run them with
`mrcfa.onnx_runtime.OnnxStreamingModel`, which `segment_video` accepts in place of the model.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checks import check_outputs_apart
from .models.mrcfa.modeling_mrcfa_head import MrcfaFrameFeatures

__all__ = [
    "CLIP_FILE",
    "CLIP_INPUTS",
    "FRAME_FILE",
    "FRAME_OUTPUTS",
    "METADATA_FILE",
    "ClipPart",
    "FramePart",
    "export_streaming_onnx",
]

logger = logging.getLogger(__name__)

FRAME_FILE = "frame.onnx"
CLIP_FILE = "clip.onnx"
METADATA_FILE = "mrcfa_onnx.json"
FORMAT_VERSION = 1

#: Outputs of the frame part (`MrcfaFrameFeatures` fields, tuples flattened), in order.
FRAME_OUTPUTS = (
    "logits",  # [N, C, H/4, W/4]
    "fused_eighth",  # [N, D, H/8, W/8]
    "target_tokens_0",  # [N, N32, c4]
    "target_tokens_1",  # [N, N16, c3]
    "target_tokens_2",  # [N, N8, c2]
    "reference_tokens_0",  # [N, N32, c4]
    "reference_tokens_1",  # [N, N32, c3]
    "reference_tokens_2",  # [N, N32, c2]
    "value_tokens",  # [N, N32, D]
)
#: Inputs of the clip part: the target frames' fields (leading dim B) then the references' (leading dims [B, R]).
CLIP_INPUTS = (
    "fused_eighth",
    "target_tokens_0",
    "target_tokens_1",
    "target_tokens_2",
    "reference_tokens_0",
    "reference_tokens_1",
    "reference_tokens_2",
    "value_tokens",
)


class FramePart(nn.Module):
    """The per-frame part of streaming: `pixel_values` `[N, 3, H, W]` -> the `FRAME_OUTPUTS` tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features, _, _ = self.model.encode_frames(pixel_values, return_fused_map=False, return_encoder_outputs=False)
        return (
            features.logits,
            features.fused_eighth,
            *features.target_tokens,
            *features.reference_tokens,
            features.value_tokens,
        )


class ClipPart(nn.Module):
    """The per-clip (temporal) part of streaming: the `CLIP_INPUTS` tensors -> the target's logits `[B, C, H/4, W/4]`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.head = model.decode_head

    def forward(self, fused_eighth, target_tokens_0, target_tokens_1, target_tokens_2, reference_tokens_0,
                reference_tokens_1, reference_tokens_2, value_tokens) -> torch.Tensor:  # fmt: skip
        target = MrcfaFrameFeatures(
            fused_eighth=fused_eighth, target_tokens=(target_tokens_0, target_tokens_1, target_tokens_2)
        )
        references = MrcfaFrameFeatures(
            reference_tokens=(reference_tokens_0, reference_tokens_1, reference_tokens_2), value_tokens=value_tokens
        )
        h8, w8 = fused_eighth.shape[-2:]
        return self.head.clip_forward(target, references, (2 * h8, 2 * w8)).logits


def _example_inputs(model: nn.Module, height: int, width: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Example inputs of both parts: 2 frames / 2 clips (a size of 1 would be frozen into the graph)."""
    num_clips = model.config.num_clips
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(2 * num_clips, 3, height, width, generator=generator)
    with torch.no_grad():
        features, _, _ = model.encode_frames(pixel_values, return_fused_map=False, return_encoder_outputs=False)
    per_clip = features.unflatten(2, num_clips)
    target = per_clip.index((slice(None), -1))
    references = per_clip.index((slice(None), slice(0, num_clips - 1)))
    clip_inputs = (target.fused_eighth, *target.target_tokens, *references.reference_tokens, references.value_tokens)
    clip_inputs = tuple(t.contiguous() for t in clip_inputs)  # as ONNX Runtime passes them (strides enter the trace)
    return pixel_values[:2], clip_inputs


# torch.onnx's dynamo exporter registers the ONNX translations of torchvision's operators (nms, roi_align, roi_pool,
# deform_conv2d) on every export and logs "torchvision is not installed. Skipping torchvision::<op>" as a warning for
# each when it is not (torch/onnx/_internal/exporter/_registration.py, `_get_overload`): four lines per graph that say
# nothing about an MRCFA model, which uses none of them.
_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


def _not_torchvision_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("torchvision is not installed")


@contextlib.contextmanager
def _without_torchvision_notices() -> Iterator[None]:
    """Drop torch.onnx's "torchvision is not installed" warnings (only those) while exporting."""
    logger = logging.getLogger(_REGISTRATION_LOGGER)
    logger.addFilter(_not_torchvision_notice)
    try:
        yield
    finally:
        logger.removeFilter(_not_torchvision_notice)


def export_streaming_onnx(
    model: nn.Module,
    output_dir: str | os.PathLike,
    *,
    processor: Any = None,
    example_size: tuple[int, int] = (128, 160),
    opset_version: int | None = None,
    optimize: bool = True,
) -> dict[str, Any]:
    """Export the frame part and the clip part of `model` (an `MrcfaForVideoSemanticSegmentation`) to `output_dir`.

    Args:
        model: the model (any dtype or device: a float32 CPU copy is exported; the model itself is left unchanged).
        output_dir: folder to write `frame.onnx`, `clip.onnx`, `config.json`, `mrcfa_onnx.json` (and the processor's
            `preprocessor_config.json`) to; created if missing.
        processor: an `MrcfaImageProcessor` to save next to the graphs (the runner preprocesses raw frames with it).
        example_size: `(H, W)` of the example frames that are traced (multiples of 32, at least 64 x 96 so that no
            grid side is 1). The exported graphs take any size divisible by 32 whose 1/32 grid has at least
            `stm_top_k` tokens.
        opset_version: ONNX opset (default: the exporter's).
        optimize: let the exporter optimise the graphs (constant folding, fusions).

    Returns:
        The metadata written to `mrcfa_onnx.json`.
    """
    if not hasattr(model, "encode_frames") or not hasattr(getattr(model, "decode_head", None), "clip_forward"):
        raise TypeError(f"export_streaming_onnx needs an MRCFA model, got {type(model).__name__}.")
    height, width = example_size
    if height % 32 or width % 32 or height < 64 or width < 96:
        raise ValueError(f"example_size must be multiples of 32 of at least 64 x 96, got {height} x {width}.")
    # the folder the model was loaded from (`from_pretrained`) is never written to, nor an output around it
    check_outputs_apart({"output folder": output_dir}, {"model folder": getattr(model, "name_or_path", None)})
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    exported = model
    if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in model.parameters()):
        exported = copy.deepcopy(model).to("cpu", torch.float32)
    was_training = model.training
    exported.eval()
    try:
        pixel_values, clip_inputs = _example_inputs(exported, height, width)
        auto = torch.export.Dim.AUTO
        frame_shapes = {"pixel_values": {0: auto, 2: auto, 3: auto}}
        # every size is dynamic except the channels and the number of references (one ensemble decoder each)
        clip_shapes = {name: {0: auto, 1: auto} for name in CLIP_INPUTS[1:4]}
        clip_shapes["fused_eighth"] = {0: auto, 2: auto, 3: auto}
        clip_shapes.update({name: {0: auto, 2: auto} for name in CLIP_INPUTS[4:]})
        kwargs = {"dynamo": True, "optimize": optimize, "external_data": False}
        if opset_version is not None:
            kwargs["opset_version"] = opset_version
        with warnings.catch_warnings(), torch.no_grad(), _without_torchvision_notices():
            warnings.simplefilter("ignore")  # the exporter's FutureWarnings / tracer notes
            torch.onnx.export(
                FramePart(exported).eval(),
                (pixel_values,),
                str(output_dir / FRAME_FILE),
                input_names=["pixel_values"],
                output_names=list(FRAME_OUTPUTS),
                dynamic_shapes=frame_shapes,
                **kwargs,
            )
            torch.onnx.export(
                ClipPart(exported).eval(),
                clip_inputs,
                str(output_dir / CLIP_FILE),
                input_names=list(CLIP_INPUTS),
                output_names=["logits"],
                dynamic_shapes={name: clip_shapes[name] for name in CLIP_INPUTS},
                **kwargs,
            )
    finally:
        model.train(was_training)

    model.config.save_pretrained(output_dir)
    if processor is not None:
        processor.save_pretrained(output_dir)
    metadata = {
        "format_version": FORMAT_VERSION,
        "model_type": model.config.model_type,
        "frame_model": FRAME_FILE,
        "frame_inputs": ["pixel_values"],
        "frame_outputs": list(FRAME_OUTPUTS),
        "clip_model": CLIP_FILE,
        "clip_inputs": list(CLIP_INPUTS),
        "clip_outputs": ["logits"],
        "num_references": model.config.num_clips - 1,
        "reference_offsets": list(model.config.reference_offsets),
        "example_size": [height, width],
        "torch_version": torch.__version__,
    }
    (output_dir / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata
