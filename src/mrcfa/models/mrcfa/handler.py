# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The Hugging Face Inference Endpoints handler of an MRCFA checkpoint (`handler.py` of the model repository).

`MrcfaForVideoSemanticSegmentation.save_pretrained` saves this file next to the model code, with `requirements.txt`
(`REQUIREMENTS`: what the endpoint installs on top of its image). An Endpoint created from the repository finds it
(huggingface-inference-toolkit): it loads this file as a top-level module, calls `EndpointHandler(path)` once, then
`handler(data)` for each request, `data` being the request: `{"inputs": ..., "parameters": {...}}` for a JSON body;
for an `image/*` body the toolkit decodes the image itself (`{"inputs": <PIL image>}`).

Requests (`data["inputs"]`, optional `data["parameters"]`):

* an **image** (a PIL image, its file's bytes, or a base64 string of them) -> what transformers'
  `pipeline("image-segmentation")` returns for it, as the Hub's widget renders it: one
  `{"score": None, "label": class name, "mask": base64 PNG (0 / 255)}` per class present. No parameters.
* a **video** (the bytes of a video file, MP4 / WebM / MOV / MKV / ..., or a base64 string of them; the toolkit
  takes no `video/*` body, so a JSON body with base64 is the way) -> `{"num_frames", "fps", "width", "height",
  "label_maps": [base64 palette PNG per frame, pixel value = class id], "legend": [{"id", "name", "color",
  "pixels", "share"} per class present, largest first], "overlay": base64 MP4 (with `return_overlay`)}`, segmented
  as the `video-semantic-segmentation` pipeline does (streaming, the official test clips). Parameters
  (`VIDEO_PARAMETERS`): `max_frames` (segment only the first frames; at most the endpoint's limit),
  `return_overlay` (bool).
* a bad request (not an image or a video, a truncated file, more frames or pixels than the endpoint's limits, an
  unknown parameter) -> `{"error": "<one line>"}`; the handler keeps serving.

Limits: `max_frames` (default `DEFAULT_MAX_FRAMES`, env `MRCFA_MAX_FRAMES`) frames per video and `max_pixels`
(default `DEFAULT_MAX_PIXELS`, env `MRCFA_MAX_PIXELS`) pixels per image or frame.

Loaded as a top-level file, this module cannot import its sibling files: the model, the processor and the streaming
and video code come from the checkpoint's own code through transformers (`trust_remote_code`). It imports only the
standard library, torch, transformers and what transformers depends on (numpy, PIL); PyAV is needed (and imported
by the checkpoint's video code) only for videos.
"""

from __future__ import annotations

import base64
import binascii
import collections
import importlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation, pipeline

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "EndpointHandler",
    "REQUIREMENTS",
    "RequestError",
    "VIDEO_PARAMETERS",
    "write_requirements",
]

logger = logging.getLogger(__name__)

#: What an endpoint installs on top of the inference toolkit's image (`requirements.txt`): the transformers this code
#: is written for (the image may carry an older one) and PyAV for videos.
REQUIREMENTS = ("transformers>=5.24,<6", "av>=18")
#: Default limits per request: frames of a video (20 s at 15 frames per second), pixels of an image or frame (1080p).
DEFAULT_MAX_FRAMES = 300
DEFAULT_MAX_PIXELS = 1920 * 1080
#: The parameters a video request takes.
VIDEO_PARAMETERS = {
    "max_frames": "segment only the first max_frames frames (1 to the endpoint's limit)",
    "return_overlay": "also return the video with the classes' colours blended in (base64 H.264 MP4)",
}
#: Frame rate of the overlay when the video gives none (VSPW's frames are 15 per second).
DEFAULT_FPS = 15
#: Leading bytes of video containers, for the temporary file's suffix (PyAV also probes the content).
_VIDEO_SIGNATURES = ((b"\x1a\x45\xdf\xa3", ".mkv"), (b"RIFF", ".avi"), (b"OggS", ".ogv"))


class RequestError(ValueError):
    """A request the handler cannot serve; its message goes back to the client as `{"error": message}`."""


def write_requirements(folder: str | os.PathLike) -> Path:
    """Write `requirements.txt` (`REQUIREMENTS`) into `folder`; returns its path."""
    path = Path(folder) / "requirements.txt"
    path.write_text("".join(f"{requirement}\n" for requirement in REQUIREMENTS))
    return path


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def _limit(value: int | None, variable: str, default: int) -> int:
    """A limit: `value` when given, else the environment variable `variable` when set, else `default`."""
    name = variable.removeprefix("MRCFA_").lower()
    if value is None and variable in os.environ:
        value, name = os.environ[variable], variable
    if value is None:
        return default
    try:
        limit = int(value) if not isinstance(value, (bool, float)) else 0
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return limit


def _png_base64(image: Image.Image) -> str:
    """`image` as a base64 PNG (how the inference toolkit writes a PIL image into JSON)."""
    with io.BytesIO() as buffer:
        image.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")


class EndpointHandler:
    """Serves an MRCFA checkpoint on an Inference Endpoint (the module docstring describes requests and responses).

    Args:
        path: the checkpoint folder (the endpoint's repository); defaults to this file's folder.
        max_frames: most frames per video (env `MRCFA_MAX_FRAMES`, else `DEFAULT_MAX_FRAMES`).
        max_pixels: most pixels per image or video frame (env `MRCFA_MAX_PIXELS`, else `DEFAULT_MAX_PIXELS`).
        device: where the model runs (default: the GPU when there is one).

    The folder's `preprocessor_config.json` gives the processor; without one, the default `MrcfaImageProcessor`
    (the official VSPW test preprocessing) of the checkpoint's code.
    """

    def __init__(
        self,
        path: str | os.PathLike = "",
        *,
        max_frames: int | None = None,
        max_pixels: int | None = None,
        device: str | torch.device | None = None,
    ):
        folder = Path(path) if str(path) else Path(__file__).resolve().parent
        self.max_frames = _limit(max_frames, "MRCFA_MAX_FRAMES", DEFAULT_MAX_FRAMES)
        self.max_pixels = _limit(max_pixels, "MRCFA_MAX_PIXELS", DEFAULT_MAX_PIXELS)
        self.device = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
        self.model = AutoModelForSemanticSegmentation.from_pretrained(folder, trust_remote_code=True)
        self.model.to(self.device).eval()
        if (folder / "preprocessor_config.json").is_file():
            self.processor = AutoImageProcessor.from_pretrained(folder, trust_remote_code=True)
        else:
            self.processor = self._code("image_processing_mrcfa").MrcfaImageProcessor()
        self.image_pipeline = pipeline(
            "image-segmentation", model=self.model, image_processor=self.processor, device=self.device
        )
        self.palette = self._code("configuration_mrcfa").palette_for(self.model.config.num_labels)

    def _code(self, module: str):
        """A module of the checkpoint's code: a sibling of the loaded model's module (the installed `mrcfa` package's
        or transformers' copy of the checkpoint folder, `trust_remote_code`)."""
        package = type(self.model).__module__.rpartition(".")[0]
        return importlib.import_module(f"{package}.{module}")

    # ------------------------------------------------------------------------------------------------- requests
    def __call__(self, data: dict[str, Any]) -> list[dict[str, Any]] | dict[str, Any]:
        """Answer one request: an image, a video, or `{"error": "<one line>"}` (never an exception)."""
        try:
            return self._answer(data)
        except RequestError as err:
            return {"error": _one_line(err)}
        except Exception as err:  # noqa: BLE001 - a failed request must neither stop the endpoint nor leak a traceback
            logger.exception("MRCFA endpoint: the request failed")
            if isinstance(err, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            return {"error": _one_line(f"the request failed: {type(err).__name__}: {err}")}

    def _answer(self, data: Any) -> list[dict[str, Any]] | dict[str, Any]:
        if not isinstance(data, dict) or "inputs" not in data:
            raise RequestError(
                'a request is {"inputs": <image or video>, "parameters": {...}}, got '
                f"{type(data).__name__}{f' with keys {sorted(data)}' if isinstance(data, dict) else ''}."
            )
        unknown = sorted(set(data) - {"inputs", "parameters"})
        if unknown:
            raise RequestError(f'unknown request key(s) {unknown}: a request has "inputs" and optional "parameters".')
        parameters = data.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise RequestError(f'"parameters" must be an object, got {type(parameters).__name__}.')
        inputs = data["inputs"]
        if isinstance(inputs, Image.Image):
            return self.segment_image(inputs, parameters)
        payload = self._payload(inputs)
        image = self._open_image(payload)
        if image is not None:
            return self.segment_image(image, parameters)
        return self.segment_video(payload, parameters)

    @staticmethod
    def _payload(inputs: Any) -> bytes:
        """The bytes of an image or video file: given as bytes, or as a base64 string (a data URL too)."""
        if isinstance(inputs, str):
            text = inputs.strip()
            if text.startswith("data:") and ";base64," in text[:100]:
                text = text.split(",", 1)[1]
            try:
                inputs = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(
                    "inputs is a string but not base64 data: send the image or video file base64-encoded (URLs "
                    "and paths are not fetched)."
                ) from None
        if not isinstance(inputs, (bytes, bytearray, memoryview)):
            raise RequestError(
                "inputs must be one image or video: its file's bytes, a base64 string of them, or an image; got "
                f"{type(inputs).__name__}."
            )
        if not inputs:
            raise RequestError("inputs is empty: send an image or a video file.")
        return bytes(inputs)

    def _open_image(self, payload: bytes) -> Image.Image | None:
        """The decoded image of `payload`, or None when it is not an image file (a video, or neither)."""
        try:
            image = Image.open(io.BytesIO(payload))
        except UnidentifiedImageError:
            return None
        except Image.DecompressionBombError as err:
            raise RequestError(
                f"the image has too many pixels ({err}); this endpoint takes {self.max_pixels}."
            ) from None
        except (OSError, SyntaxError, ValueError) as err:
            raise RequestError(f"the image cannot be decoded (truncated or corrupt?): {err}") from None
        if image.format == "MPEG":  # PIL identifies MPEG video streams but cannot decode them: a video
            return None
        self._check_pixels(image.size, "the image")
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise RequestError(f"the {image.format} image cannot be decoded (truncated or corrupt?): {err}") from None
        return image

    def _check_pixels(self, size: tuple[int, int], what: str) -> None:
        width, height = size
        if width * height > self.max_pixels:
            raise RequestError(
                f"{what} is {width}x{height} = {width * height} pixels, more than this endpoint's limit of "
                f"{self.max_pixels} pixels: send a smaller one."
            )

    # --------------------------------------------------------------------------------------------------- images
    def segment_image(self, image: Image.Image, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """`pipeline("image-segmentation")(image)`, masks as base64 PNGs."""
        if parameters:
            raise RequestError(
                f"unknown parameter(s) {sorted(parameters)} for an image: an image takes no parameters "
                f"({', '.join(VIDEO_PARAMETERS)} are for videos)."
            )
        self._check_pixels(image.size, "the image")
        return [
            {"score": segment["score"], "label": segment["label"], "mask": _png_base64(segment["mask"])}
            for segment in self.image_pipeline(image)
        ]

    # --------------------------------------------------------------------------------------------------- videos
    def _video_parameters(self, parameters: dict[str, Any]) -> tuple[int | None, bool]:
        unknown = sorted(set(parameters) - set(VIDEO_PARAMETERS))
        if unknown:
            allowed = "; ".join(f"{name}: {meaning}" for name, meaning in VIDEO_PARAMETERS.items())
            raise RequestError(f"unknown parameter(s) {unknown} for a video: the parameters are {allowed}.")
        max_frames = parameters.get("max_frames")
        if max_frames is not None and (
            isinstance(max_frames, bool) or not isinstance(max_frames, int) or not 1 <= max_frames <= self.max_frames
        ):
            raise RequestError(f"max_frames must be an integer from 1 to {self.max_frames}, got {max_frames!r}.")
        overlay = parameters.get("return_overlay", False)
        if not isinstance(overlay, bool):
            raise RequestError(f"return_overlay must be true or false, got {overlay!r}.")
        return max_frames, overlay

    def segment_video(self, payload: bytes, parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """Segment the video file `payload` (bytes) as the `video-semantic-segmentation` pipeline does."""
        max_frames, return_overlay = self._video_parameters(parameters or {})
        video_io = self._code("video_io_mrcfa")
        streaming = self._code("streaming_mrcfa")
        suffix = next((s for magic, s in _VIDEO_SIGNATURES if payload.startswith(magic)), ".mp4")
        with tempfile.TemporaryDirectory(prefix="mrcfa-endpoint-") as folder:
            path = Path(folder) / f"input{suffix}"
            path.write_bytes(payload)

            def unreadable(err: Exception) -> RequestError:  # the reader's message, without the temporary path
                reason = str(err).replace(f": '{path}'", "").replace(f" {path}", "")
                return RequestError(f"inputs is neither an image nor a video that can be decoded: {reason}")

            try:
                info = video_io.probe_video(path)
                if max_frames is None and info.num_frames is not None and info.num_frames > self.max_frames:
                    raise self._too_long(info.num_frames)
                first = next(video_io.iter_frames(path, max_frames=1))
            except video_io.VideoReadError as err:  # not a video, or a truncated / corrupt one
                raise unreadable(err) from None
            self._check_pixels(first.size, "a frame of the video")

            frames_read: collections.deque[Image.Image] = collections.deque()

            def frames():
                limit = max_frames if max_frames is not None else self.max_frames + 1
                for index, frame in enumerate(video_io.iter_frames(path, max_frames=limit)):
                    if index == self.max_frames:  # the container did not say how long it is
                        raise self._too_long(None)
                    frames_read.append(frame)
                    yield frame

            fps = float(info.fps) if info.fps else None
            counts = np.zeros(len(self.palette), dtype=np.int64)
            label_maps = []
            overlay_path = Path(folder) / "overlay.mp4"
            writer = (
                video_io.VideoWriter(overlay_path, info.fps or DEFAULT_FPS, codec="libx264")
                if return_overlay
                else None
            )
            try:
                for labels in streaming.segment_video(
                    self.model, frames(), processor=self.processor, device=self.device
                ):
                    labels = labels.cpu().numpy()
                    counts += np.bincount(labels.ravel(), minlength=len(counts))
                    label_image = self._label_image(labels)
                    label_maps.append(_png_base64(label_image))
                    frame = frames_read.popleft()
                    if writer is not None:
                        writer.write(np.asarray(Image.blend(frame, label_image.convert("RGB"), 0.5)))
            except video_io.VideoReadError as err:  # a frame that cannot be decoded
                raise unreadable(err) from None
            finally:
                if writer is not None:
                    writer.close()
            result = {
                "num_frames": len(label_maps),
                "fps": fps,
                "width": first.width,
                "height": first.height,
                "label_maps": label_maps,
                "legend": self._legend(counts),
            }
            if writer is not None:
                result["overlay"] = base64.b64encode(overlay_path.read_bytes()).decode("ascii")
        return result

    def _too_long(self, frames: int | None) -> RequestError:
        count = f"{frames} frames, more than" if frames is not None else "more frames than"
        return RequestError(
            f"the video has {count} this endpoint's limit of {self.max_frames}: pass "
            f'"parameters": {{"max_frames": N}} (N <= {self.max_frames}) to segment only its first N frames.'
        )

    def _label_image(self, labels: np.ndarray) -> Image.Image:
        """A palette PNG image of an `[H, W]` label map (pixel value = class id, colours of `self.palette`); a 16-bit
        grey image when there are more than 256 classes."""
        if len(self.palette) > 256:
            return Image.fromarray(labels.astype(np.uint16))
        image = Image.fromarray(labels.astype(np.uint8))
        image.putpalette(self.palette.tobytes())  # "L" -> "P"
        return image

    def _legend(self, counts: np.ndarray) -> list[dict[str, Any]]:
        """The classes present, largest first: `{"id", "name", "color", "pixels", "share"}` (share of all pixels)."""
        total = max(int(counts.sum()), 1)
        id2label = self.model.config.id2label
        return [
            {
                "id": int(index),
                "name": id2label.get(int(index), str(int(index))),
                "color": self.palette[index].tolist(),
                "pixels": int(counts[index]),
                "share": int(counts[index]) / total,
            }
            for index in sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
        ]
