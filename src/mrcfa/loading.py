# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Loading a model for inference by name, as every front end does (`mrcfa segment`, the app).

* `load_model`: an MRCFA checkpoint (folder or Hub id) with PyTorch, and its processor.
* `load_onnx_model`: a folder written by `mrcfa export-onnx`, run with ONNX Runtime, and its processor.
* `model_backend`: which of the two a model name is (or `--backend` asks for).

A name that is neither a model folder nor a Hub id, a device this machine lacks, a model that is not MRCFA: each is a
`mrcfa.errors.UsageError` with one line naming the argument (`--model`, `--device`, `--backend`). torch and
transformers are imported when a model is loaded, not when this module is.
"""

from __future__ import annotations

from pathlib import Path

from .checks import check_device
from .errors import UsageError
from .hub_paths import check_model_name_or_path

__all__ = ["BACKENDS", "load_model", "load_onnx_model", "model_backend"]

#: How a model runs: `auto` picks `onnxruntime` for an `mrcfa export-onnx` folder (see `model_backend`).
BACKENDS = ("auto", "pytorch", "onnxruntime")
#: The file `mrcfa export-onnx` writes (`mrcfa.onnx_export.METADATA_FILE`; not imported here: that imports torch).
ONNX_METADATA_FILE = "mrcfa_onnx.json"
#: Weight files of a PyTorch model folder (`save_pretrained`, sharded or not).
WEIGHT_PATTERNS = ("model.safetensors", "model-*.safetensors", "pytorch_model.bin", "pytorch_model-*.bin")


def model_backend(model_id: str, backend: str = "auto") -> str:
    """`"pytorch"` or `"onnxruntime"`: how `model_id` runs with `--backend backend` (`UsageError` if it cannot).

    `auto` is `onnxruntime` for a local folder written by `mrcfa export-onnx` (it holds `mrcfa_onnx.json`) without
    PyTorch weights, `pytorch` otherwise (a model folder, or a Hub id).
    """
    if backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}.")
    folder = Path(model_id).expanduser()
    exported = (folder / ONNX_METADATA_FILE).is_file()
    if backend == "auto":
        weights = any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS) if folder.is_dir() else True
        return "onnxruntime" if exported and not weights else "pytorch"
    if backend == "onnxruntime" and not exported:
        raise UsageError(
            f"--backend onnxruntime runs a folder written by `mrcfa export-onnx`, but --model {model_id!r} has no "
            f"{ONNX_METADATA_FILE} (export it first: mrcfa export-onnx {model_id} OUT_DIR)."
        )
    return backend


def load_onnx_model(directory: str, device: str = "cpu", threads: int | None = None):
    """`(runner, processor)` of an `mrcfa export-onnx` folder: an `OnnxStreamingModel` on `device` (`cpu`, or `cuda`
    / `cuda:N` with ONNX Runtime's CUDA execution provider), and the export's processor.

    A device ONNX Runtime cannot use, or a folder it cannot load, raises `UsageError` with a one-line message.
    """
    import torch

    from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor
    from .onnx_runtime import OnnxStreamingModel, import_onnxruntime

    try:
        ort = import_onnxruntime()
    except ImportError as err:
        raise UsageError(f"--model {directory} is an ONNX export: {err}") from err
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise UsageError(f"--device {device!r} is not a device (expected cpu, cuda or cuda:N): {err}") from err
    if parsed.type == "cpu":
        providers = ["CPUExecutionProvider"]
    elif parsed.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise UsageError(
                f"--device {device}: this onnxruntime ({ort.__version__}) has no CUDA execution provider (it has "
                f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu, or use --device cpu."
            )
        providers = [("CUDAExecutionProvider", {"device_id": parsed.index or 0}), "CPUExecutionProvider"]
    else:
        raise UsageError(f"--device {device}: the ONNX Runtime backend runs on cpu or cuda, not {parsed.type}.")
    try:
        runner = OnnxStreamingModel(directory, providers=providers, threads=threads)
    except (OSError, ValueError, RuntimeError) as err:  # onnxruntime's load errors are RuntimeError subclasses
        raise UsageError(f"cannot load the ONNX export {directory!r}: {' '.join(str(err).split())}") from err
    return runner, runner.processor or MrcfaImageProcessor()


def load_model(model_id: str, device: str = "cpu", trust_remote_code: bool = False):
    """`(model, processor)` of an MRCFA checkpoint (folder or Hub id), the model in eval mode on `device`.

    A model that cannot be loaded, or is not an MRCFA model, raises `UsageError` with a one-line message (a name that
    is no model folder nor Hub id: `mrcfa.hub_paths.ModelPathError`).
    """
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    from . import register
    from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

    register()  # the mrcfa command defers registration with the Auto classes to here

    check_model_name_or_path(model_id, argument="--model")  # a missing folder is not reported as a bad Hub id
    check_device(device)
    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        where = "" if Path(model_id).exists() else "no such folder, and the Hub lookup failed: "
        raise UsageError(f"cannot load the model {model_id!r}: {where}{err}") from err
    if not hasattr(model, "decode_head") or not hasattr(model.decode_head, "clip_forward"):
        raise UsageError(f"{model_id!r} is a {type(model).__name__}, not an MRCFA model.")
    try:
        processor = AutoImageProcessor.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        processor = MrcfaImageProcessor()  # no preprocessor config: the official test preprocessing
    return model.to(device).eval(), processor
