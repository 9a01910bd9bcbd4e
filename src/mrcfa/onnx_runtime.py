# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Streaming video segmentation with ONNX Runtime (docs/deployment.md).

    from mrcfa import segment_video
    from mrcfa.onnx_runtime import OnnxStreamingModel

    model = OnnxStreamingModel("mrcfa-onnx/")  # written by `mrcfa export-onnx MODEL mrcfa-onnx/`
    for labels in segment_video(model, "video.mp4", processor=model.processor):
        ...

    session = model.processor.init_video_session()  # or frame by frame, as with the PyTorch model
    logits = model(inference_session=session, frame=pixel_values).logits

`OnnxStreamingModel` runs the two graphs of `mrcfa.onnx_export` as an `MrcfaStreamingBackend` (the frame graph is
`encode_stream_frames`, the clip graph `stream_target_logits`), so the session, its frame cache and the official
test clips are the same code as with the PyTorch model. Needs `onnxruntime` (`pip install "mrcfa[onnx]"`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .models.mrcfa.configuration_mrcfa import MrcfaConfig
from .models.mrcfa.modeling_mrcfa_head import MrcfaFrameFeatures
from .models.mrcfa.session_mrcfa import (
    MrcfaPropagationMixin,
    MrcfaStreamingOutput,
    MrcfaVideoInferenceSession,
    streaming_step,
)
from .onnx_export import CLIP_INPUTS, FORMAT_VERSION, FRAME_OUTPUTS, METADATA_FILE

__all__ = ["OnnxStreamingModel", "import_onnxruntime"]


def import_onnxruntime():
    """The `onnxruntime` module, or an `ImportError` that says how to install it."""
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError(
            "running the ONNX export needs onnxruntime: pip install onnxruntime (or 'mrcfa[onnx]')."
        ) from err
    return onnxruntime


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


class OnnxStreamingModel(MrcfaPropagationMixin):
    """The frame and clip graphs of an ONNX streaming export: an `MrcfaStreamingBackend`, driven like the PyTorch
    model (`runner(inference_session=..., frame=...)`, `propagate_in_video_iterator`, `mrcfa.segment_video`).

    Args:
        directory: a folder written by `mrcfa export-onnx` / `mrcfa.onnx_export.export_streaming_onnx`.
        providers: ONNX Runtime execution providers (default: CPU).
        threads: intra-op threads of each session (default: ONNX Runtime's, one per core).
        allow_spinning: let ONNX Runtime's worker threads busy-wait for work between runs (its default). Off here:
            between two graph runs streaming does PyTorch work (caching, post-processing) that spinning threads
            would take the cores from.
        session_options: an `onnxruntime.SessionOptions` (overrides `threads` and `allow_spinning`).

    Attributes:
        config: the model's `MrcfaConfig`; `processor`: the saved `MrcfaImageProcessor`, or `None` when the export
        has none.
    """

    #: Where inputs and outputs live (ONNX Runtime takes and returns host arrays).
    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        providers: list[Any] | None = None,
        threads: int | None = None,
        allow_spinning: bool = False,
        session_options: Any = None,
    ):
        ort = import_onnxruntime()
        self.directory = Path(directory)
        metadata_path = self.directory / METADATA_FILE
        if not metadata_path.is_file():
            raise FileNotFoundError(f"{self.directory} is not an MRCFA ONNX export (no {METADATA_FILE}).")
        try:
            self.metadata = json.loads(metadata_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{metadata_path} is not valid JSON: {err}") from err
        if not isinstance(self.metadata, dict) or (
            list(self.metadata.get("frame_outputs", ())) != list(FRAME_OUTPUTS)
            or list(self.metadata.get("clip_inputs", ())) != list(CLIP_INPUTS)
            or not {"frame_model", "clip_model"} <= self.metadata.keys()
        ):
            version = self.metadata.get("format_version") if isinstance(self.metadata, dict) else None
            raise ValueError(
                f"{self.directory}: unsupported export (format {version}; this mrcfa reads format "
                f"{FORMAT_VERSION}, written by `mrcfa export-onnx`)."
            )
        self.config = MrcfaConfig.from_pretrained(self.directory)
        self.processor = None
        if (self.directory / "preprocessor_config.json").is_file():
            from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

            self.processor = MrcfaImageProcessor.from_pretrained(self.directory)
        if session_options is None:
            session_options = ort.SessionOptions()
            if threads:
                session_options.intra_op_num_threads = threads
            session_options.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
        providers = providers or ["CPUExecutionProvider"]
        self.frame_session = ort.InferenceSession(
            str(self.directory / self.metadata["frame_model"]), session_options, providers=providers
        )
        self.clip_session = ort.InferenceSession(
            str(self.directory / self.metadata["clip_model"]), session_options, providers=providers
        )

    # ------------------------------------------------------------------------------ MrcfaStreamingBackend
    def __call__(
        self,
        *,
        inference_session: MrcfaVideoInferenceSession,
        frame: torch.Tensor | Sequence[torch.Tensor] | None = None,
        frame_idx: int | None = None,
    ) -> MrcfaStreamingOutput:
        """One session step, as `model(inference_session=..., frame=..., frame_idx=...)` of the PyTorch model."""
        return streaming_step(self, inference_session, frame=frame, frame_idx=frame_idx)

    def encode_stream_frames(self, pixel_values: torch.Tensor, *, frame_logits: bool = True) -> MrcfaFrameFeatures:
        """The frame graph on frames `[N, 3, H, W]` (it computes the per-frame logits whatever `frame_logits`)."""
        outputs = [torch.from_numpy(o) for o in self.frame_session.run(None, {"pixel_values": _numpy(pixel_values)})]
        named = dict(zip(FRAME_OUTPUTS, outputs))
        return MrcfaFrameFeatures(
            logits=named["logits"],
            fused_eighth=named["fused_eighth"],
            target_tokens=tuple(named[f"target_tokens_{i}"] for i in range(3)),
            reference_tokens=tuple(named[f"reference_tokens_{i}"] for i in range(3)),
            value_tokens=named["value_tokens"],
        )

    def stream_target_logits(
        self, target: MrcfaFrameFeatures, references: MrcfaFrameFeatures, size: tuple[int, int]
    ) -> torch.Tensor:
        """The clip graph: logits `[B, C, *size]` of the target frames (leading dim `B`) from their references
        (`[B, R]`)."""
        values = (
            target.fused_eighth,
            *target.target_tokens,
            *references.reference_tokens,
            references.value_tokens,
        )
        (logits,) = self.clip_session.run(None, {name: _numpy(v) for name, v in zip(CLIP_INPUTS, values)})
        logits = torch.from_numpy(logits)
        if tuple(logits.shape[-2:]) != tuple(size):
            raise ValueError(f"the clip graph returned logits of size {tuple(logits.shape[-2:])}, expected {size}.")
        return logits

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.directory)!r})"
