# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""`mrcfa export-onnx`: export an MRCFA model's streaming inference to ONNX (two graphs: per frame, per clip).

    mrcfa export-onnx MODEL OUT_DIR [--example-size 128 160] [--opset N] [--overwrite] [--no-check]

MODEL is a model folder or Hub id. OUT_DIR receives `frame.onnx` (encoder + per-frame head, dynamic batch, height
and width), `clip.onnx` (the temporal head of one clip), the model's `config.json`, its `preprocessor_config.json`
and `mrcfa_onnx.json`. Unless `--no-check`, both graphs are then run with ONNX Runtime on a random clip and compared
with PyTorch. Stream a video through them with `mrcfa.onnx_runtime.OnnxStreamingModel` and `mrcfa.segment_video`
(docs/deployment.md). Needs `onnx` and `onnxscript` to export, `onnxruntime` to check and run
(`pip install "mrcfa[onnx]"`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..checks import check_outputs_apart
from ._common import CliError, standalone_main

__all__ = ["main", "run"]

NAME = "export-onnx"
HELP = "export streaming inference (per-frame and per-clip graphs) to ONNX"
DESCRIPTION = __doc__
USER_ERRORS = (ValueError, OSError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="MRCFA model directory or Hub id")
    parser.add_argument("output_dir", help="directory to write the ONNX graphs to")
    parser.add_argument(
        "--example-size", type=int, nargs=2, default=None, metavar=("H", "W"),
        help="size of the traced example frames (multiples of 32, at least 64 96; the exported graphs take any "
        "size) (default: 128 160)",
    )  # fmt: skip
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: the exporter's)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty output directory")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch check")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow the checkpoint's own code")


def _check(model, output_dir: Path, size: tuple[int, int]) -> float:
    """Max |ONNX Runtime - PyTorch| of the logits of a random clip streamed through both (4 frames: a full clip)."""
    import torch

    from ..models.mrcfa.streaming_mrcfa import segment_video
    from ..onnx_runtime import OnnxStreamingModel

    frames = [torch.randn(3, *size, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    expected = list(segment_video(model, frames, output="logits"))
    actual = list(segment_video(OnnxStreamingModel(output_dir), frames, output="logits"))
    return max((a - e.float().cpu()).abs().max().item() for a, e in zip(actual, expected))


def run(args: argparse.Namespace) -> int:
    """Export `args.model` to `args.output_dir`; returns the exit status."""
    output_dir = Path(args.output_dir)
    check_outputs_apart({"output folder": output_dir}, {"model folder": args.model})  # before loading anything
    if output_dir.exists() and not output_dir.is_dir():
        raise CliError(f"{output_dir} exists and is not a directory.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not args.overwrite:
        raise CliError(f"{output_dir} is not empty (use --overwrite to write into it).")
    height, width = args.example_size or (128, 160)
    if height % 32 or width % 32 or height < 64 or width < 96:
        raise CliError(f"--example-size must be multiples of 32 of at least 64 x 96, got {height} {width}.")
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError as err:
            raise CliError(f"exporting to ONNX needs {module}: pip install 'mrcfa[onnx]'.") from err

    from ..onnx_export import export_streaming_onnx
    from .segment import load_model

    model, processor = load_model(args.model, "cpu", args.trust_remote_code)
    start = time.perf_counter()
    export_streaming_onnx(
        model, output_dir, processor=processor, example_size=(height, width), opset_version=args.opset
    )
    files = ", ".join(sorted(p.name for p in output_dir.iterdir()))
    print(f"exported {args.model} to {output_dir} in {time.perf_counter() - start:.0f} s: {files}")
    if not args.no_check:
        try:
            error = _check(model, output_dir, (height, width))
        except ImportError as err:
            print(f"check skipped: {err}")
        else:
            print(f"check: max |ONNX Runtime - PyTorch| of streamed logits {error:.2e}")
            if error > 1e-3:
                print("error: the ONNX graphs do not reproduce the model", file=sys.stderr)
                return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mrcfa.cli.export_onnx` (same as `mrcfa export-onnx`)."""
    return standalone_main(sys.modules[__name__], "mrcfa export-onnx", argv)


if __name__ == "__main__":
    sys.exit(main())
