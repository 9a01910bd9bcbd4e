"""ONNX streaming export (docs/deployment.md): `mrcfa export-onnx` writes the per-frame and per-clip graphs, and
`segment_video` with `OnnxStreamingModel` streams a video through ONNX Runtime with the PyTorch streaming output."""

import json

import pytest
import torch
from conftest import tiny_config

from mrcfa import MrcfaForVideoSemanticSegmentation, StreamingVideoSegmenter, segment_video
from mrcfa.cli import main

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def exported_a(converted_a, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx_a")
    assert main(["export-onnx", str(converted_a), str(out), "--overwrite"]) == 0  # also checks ORT vs PyTorch
    return out


def _video(ref_a, size=None):
    """16 frames: fixture A's 8 frames, then the same frames mirrored; cropped to `size` (top-left) if given."""
    frames = list(ref_a["clip"].flatten(0, 1))
    frames += [f.flip(-1) for f in frames]
    if size is not None:
        frames = [f[:, : size[0], : size[1]].contiguous() for f in frames]
    return frames


@pytest.mark.slow
def test_onnx_streaming_equals_pytorch_streaming_on_fixture_a(exported_a, converted_a, ref_a):
    from mrcfa.onnx_runtime import OnnxStreamingModel

    metadata = json.loads((exported_a / "mrcfa_onnx.json").read_text())
    assert {metadata["frame_model"], metadata["clip_model"]} <= {p.name for p in exported_a.iterdir()}
    runner = OnnxStreamingModel(exported_a, threads=1)
    assert runner.processor is not None and runner.config.num_labels == 124
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(converted_a).eval()

    # the traced size and two others (dynamic height and width), batched and frame by frame
    for size, batch_size in ((None, 1), ((96, 128), 3), ((64, 224), 2)):
        frames = _video(ref_a, size)
        expected = list(segment_video(model, frames, output="logits", batch_size=batch_size))
        actual = list(segment_video(runner, frames, output="logits", batch_size=batch_size))
        assert len(actual) == len(frames) == 16
        error = max((a - e).abs().max().item() for a, e in zip(actual, expected))
        assert error <= 1e-4, (size, error)  # measured 2.5e-6 (fixture size)
        labels = list(segment_video(runner, frames, batch_size=batch_size))
        for a, e, logits in zip(labels, segment_video(model, frames, batch_size=batch_size), expected):
            # identical labels wherever PyTorch's own prediction is decided by more than the logits' error bound;
            # fixture A has a few exact ties (top-2 margin 0.0 after the upsampling), which any rounding may flip
            resized = torch.nn.functional.interpolate(logits[None], size=e.shape, mode="bilinear", align_corners=False)
            top2 = resized[0].topk(2, dim=0).values
            decided = (top2[0] - top2[1]) > 1e-4
            assert torch.equal(a[decided], e[decided])
            assert (a != e).sum() <= 4, (a != e).sum()

    # frame 3's official clip is [0, 1, 2, 3], fixture A's first clip: ONNX Runtime gives the official logits
    actual = list(segment_video(runner, _video(ref_a)[:4], output="logits"))
    torch.testing.assert_close(actual[3], ref_a["eval_head_out"][0], atol=1e-4, rtol=1e-4)


class _Runner:
    """A model behind the streaming interface without being an nn.Module (what OnnxStreamingModel provides)."""

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, model):
        self.model, self.config, self.calls = model, model.config, 0

    @property
    def decode_head(self):
        return self

    def eval(self):
        return self

    def encode_frames(self, pixel_values):
        self.calls += 1
        return self.model.encode_frames(pixel_values)

    def clip_forward(self, target, references, size):
        return self.model.decode_head.clip_forward(target, references, size)


def test_streaming_accepts_a_runner_with_the_model_interface():
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    frames = [torch.randn(3, 64, 96) for _ in range(12)]
    runner = _Runner(model)
    with torch.no_grad():
        expected = list(segment_video(model, frames, output="logits", batch_size=2))
    actual = list(segment_video(runner, frames, output="logits", batch_size=2))
    assert runner.calls == 6 and len(actual) == len(expected) == 12
    for a, e in zip(actual, expected):  # the runner's clip_forward also computes the reference logits: rounding only
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="runs on cpu"):
        StreamingVideoSegmenter(runner, device="meta")


def test_export_onnx_command_errors(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["export-onnx", str(tmp_path / "model"), str(tmp_path / "full")]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["export-onnx", str(tmp_path / "model"), str(tmp_path / "out"), "--example-size", "100", "160"]) == 2
    assert "--example-size must be multiples of 32" in capsys.readouterr().err
    assert main(["export-onnx", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("mrcfa export-onnx: error: ")


def test_runner_needs_an_export_folder(tmp_path):
    from mrcfa.onnx_runtime import OnnxStreamingModel

    with pytest.raises(FileNotFoundError, match="not an MRCFA ONNX export"):
        OnnxStreamingModel(tmp_path)
