"""ONNX streaming export (docs/deployment.md): `mrcfa export-onnx` writes the per-frame and per-clip graphs, and
`OnnxStreamingModel` drives the streaming session (`runner(inference_session=..., frame=...)`, `segment_video`)
through ONNX Runtime with the PyTorch streaming output."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

from mrcfa import (
    MrcfaForVideoSemanticSegmentation,
    MrcfaStreamingBackend,
    MrcfaVideoInferenceSession,
    StreamingVideoSegmenter,
    segment_video,
)
from mrcfa.cli import main
from mrcfa.models.mrcfa.session_mrcfa import propagate_in_video, streaming_step

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def export_run(converted_a, tmp_path_factory):
    """`mrcfa export-onnx` of fixture A's model in a fresh process (as a user runs it): its folder and its output."""
    out = tmp_path_factory.mktemp("onnx_a")
    command = [sys.executable, "-m", "mrcfa", "export-onnx", str(converted_a), str(out), "--overwrite"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


@pytest.fixture(scope="module")
def exported_a(export_run):
    return export_run[0]


@pytest.mark.slow
def test_export_command_checks_and_prints_no_torchvision_notice(export_run, converted_a):
    """The export checks ONNX Runtime against PyTorch, and says nothing of torchvision (torch's exporter logs its
    registration of torchvision's ops on first use; mrcfa.onnx_export filters that logger's notice)."""
    out, result = export_run
    assert "check: max |ONNX Runtime - PyTorch|" in result.stdout
    assert [line for line in (result.stdout + result.stderr).splitlines() if "torchvision" in line] == []
    assert json.loads((out / "mrcfa_onnx.json").read_text())["example_size"]


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
    """A streaming backend that is not an nn.Module, as OnnxStreamingModel: the protocol on the PyTorch model's parts
    (the clip part computes the reference logits too, as the ONNX clip graph does)."""

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, model):
        self.model, self.config, self.calls = model, model.config, 0

    def __call__(self, *, inference_session, frame=None, frame_idx=None):
        return streaming_step(self, inference_session, frame=frame, frame_idx=frame_idx)

    def encode_stream_frames(self, pixel_values, *, frame_logits=True):
        self.calls += 1
        return self.model.encode_frames(pixel_values)[0]

    def stream_target_logits(self, target, references, size):
        return self.model.decode_head.clip_forward(target, references, size).logits


def test_streaming_runs_any_backend_of_the_protocol():
    from mrcfa.onnx_runtime import OnnxStreamingModel

    # the ONNX runner implements the protocol, no longer pretending to be an nn.Module
    assert not hasattr(OnnxStreamingModel, "decode_head") and not hasattr(OnnxStreamingModel, "eval")
    for name in ("__call__", "encode_stream_frames", "stream_target_logits", "propagate_in_video_iterator"):
        assert callable(getattr(OnnxStreamingModel, name)), name

    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    frames = [torch.randn(3, 64, 96) for _ in range(12)]
    runner = _Runner(model)
    assert isinstance(runner, MrcfaStreamingBackend) and not isinstance(runner, torch.nn.Module)
    with torch.no_grad():
        expected = list(segment_video(model, frames, output="logits", batch_size=2))
    actual = list(segment_video(runner, frames, output="logits", batch_size=2))
    assert runner.calls == 6 and len(actual) == len(expected) == 12
    for a, e in zip(actual, expected):  # the runner's clip part also computes the reference logits: rounding only
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-5)
    session = MrcfaVideoInferenceSession(video=torch.stack(frames))
    propagated = [o.logits[0] for o in propagate_in_video(runner, session)]  # the session's own loop
    assert all(torch.equal(a, p) for a, p in zip(actual, propagated))
    with pytest.raises(ValueError, match="runs on cpu"):
        StreamingVideoSegmenter(runner, device="meta")
    with pytest.raises(TypeError, match="needs an MRCFA model .* got Module"):
        StreamingVideoSegmenter(torch.nn.Module())


@pytest.mark.slow
def test_onnx_runner_drives_the_session(exported_a, converted_a, ref_a):
    from mrcfa.onnx_runtime import OnnxStreamingModel

    runner = OnnxStreamingModel(exported_a, threads=1)
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(converted_a).eval()
    assert isinstance(runner, MrcfaStreamingBackend)
    frames = _video(ref_a, (96, 128))
    session = runner.processor.init_video_session(inference_device=runner.device)
    torch_session = MrcfaVideoInferenceSession(inference_device=model.device)
    stepped = []
    for i, frame in enumerate(frames):  # frames 0-2 alone, 3-8 fixed clips, 9-15 [i-9, i-6, i-3, i]
        output = runner(inference_session=session, frame=frame)
        assert output.frame_idx == i and len(session.cache) <= 10
        error = (output.logits - model(inference_session=torch_session, frame=frame).logits).abs().max().item()
        assert error <= 1e-4, (i, error)
        stepped.append(output.logits[0])
    assert session.cached_frame_indices == torch_session.cached_frame_indices == list(range(7, 16))

    preloaded = MrcfaVideoInferenceSession(video=torch.stack(frames))
    with pytest.raises(ValueError, match="MRCFA is causal"):
        runner(inference_session=preloaded, frame_idx=3)
    propagated = [o.logits[0] for o in runner.propagate_in_video_iterator(preloaded)]
    assert max((a - b).abs().max().item() for a, b in zip(propagated, stepped)) <= 1e-6


@pytest.mark.slow
def test_onnx_runner_streams_several_videos_as_one_batch(exported_a, ref_a):
    """`segment_videos` / `streaming_step_batch` on the ONNX graphs (dynamic batch): each video as it streams alone."""
    from mrcfa import segment_videos
    from mrcfa.onnx_runtime import OnnxStreamingModel

    runner = OnnxStreamingModel(exported_a, threads=1)
    videos = [_video(ref_a)[:11], _video(ref_a, (96, 128))[:5], _video(ref_a)[3:16], _video(ref_a, (96, 128))]
    calls = []
    encode = runner.encode_stream_frames
    runner.encode_stream_frames = lambda x, **kw: calls.append(x.shape[0]) or encode(x, **kw)
    results = {}
    for event in segment_videos(runner, videos, streams=3, output="logits"):
        if hasattr(event, "result"):
            results.setdefault(event.video_index, []).append(event.result)
        else:
            assert event.num_frames == len(videos[event.video_index]), event
    assert max(calls) == 2  # two videos of one size at once
    for k, video in enumerate(videos):
        alone = list(segment_video(runner, video, output="logits"))
        error = max((a - e).abs().max().item() for a, e in zip(results[k], alone))
        assert len(results[k]) == len(video) and error <= 1e-5, (k, error)


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


def _raw_frames_dir(path, n=6, size=(96, 160)):
    """`n` raw RGB frames (PNG) of a slowly shifting random texture."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(size[0], size[1] + 4 * n, 3), dtype=np.uint8)
    path.mkdir()
    for i in range(n):
        Image.fromarray(np.ascontiguousarray(base[:, 4 * i : 4 * i + size[1]])).save(path / f"{i:05d}.png")
    return path


def _labels(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("0*.png"))}


@pytest.mark.slow
def test_segment_command_runs_an_onnx_export(exported_a, converted_a, tmp_path, capsys):
    from mrcfa.onnx_runtime import OnnxStreamingModel

    frames = _raw_frames_dir(tmp_path / "frames")
    common = ["--batch-size", "2", "--threads", "1"]
    assert main(["segment", str(frames), "--model", str(exported_a), "--output", str(tmp_path / "ort"), *common]) == 0
    captured = capsys.readouterr()
    assert "segmented 6 frames" in captured.out
    assert f"ONNX Runtime: {exported_a} with 1 intra-op threads on cpu" in captured.err
    assert json.loads((tmp_path / "ort" / "summary.json").read_text())["backend"] == "onnxruntime"
    onnx_labels = _labels(tmp_path / "ort")
    assert len(onnx_labels) == 6

    # the command's label maps are the runner's, with the export's own processor
    runner = OnnxStreamingModel(exported_a, threads=1)
    images = [Image.open(frames / name).convert("RGB") for name in onnx_labels]
    for labels, name in zip(segment_video(runner, images, processor=runner.processor, batch_size=2), onnx_labels):
        np.testing.assert_array_equal(labels.numpy(), onnx_labels[name])

    # and PyTorch's (fixture A's weights are untrained: its exact ties may flip under rounding)
    assert main(["segment", str(frames), "--model", str(converted_a), "--output", str(tmp_path / "pt"), *common]) == 0
    assert json.loads((tmp_path / "pt" / "summary.json").read_text())["backend"] == "pytorch"
    torch_labels = _labels(tmp_path / "pt")
    assert torch_labels.keys() == onnx_labels.keys()
    same = np.mean([np.mean(torch_labels[n] == onnx_labels[n]) for n in onnx_labels])
    assert same >= 0.999, same

    # an explicit --backend pytorch refuses the export (it has no weights); --backend onnxruntime needs an export
    capsys.readouterr()
    bad = ["segment", str(frames), "--output", str(tmp_path / "bad")]
    assert main([*bad, "--model", str(exported_a), "--backend", "pytorch"]) == 2
    assert "cannot load the model" in capsys.readouterr().err
    assert main([*bad, "--model", str(converted_a), "--backend", "onnxruntime"]) == 2
    assert "has no mrcfa_onnx.json (export it first" in capsys.readouterr().err


def test_segment_command_checks_the_onnx_device(tmp_path, capsys):
    import onnxruntime

    frames = _raw_frames_dir(tmp_path / "frames", n=1)
    export = tmp_path / "export"  # only what the backend choice and the device check read
    export.mkdir()
    (export / "config.json").write_text("{}")
    (export / "mrcfa_onnx.json").write_text("{}")
    bad = ["segment", str(frames), "--model", str(export), "--output", str(tmp_path / "out"), "--quiet"]
    assert main([*bad, "--device", "mps"]) == 2
    assert capsys.readouterr().err == (
        "mrcfa segment: error: --device mps: the ONNX Runtime backend runs on cpu or cuda, not mps.\n"
    )
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert main([*bad, "--device", "cuda"]) == 2
        assert "has no CUDA execution provider" in capsys.readouterr().err
    assert main([*bad, "--device", "cpu"]) == 2  # the folder is not a real export
    assert capsys.readouterr().err == (
        f"mrcfa segment: error: cannot load the ONNX export '{export}': {export}: unsupported export (format None; "
        "this mrcfa reads format 1, written by `mrcfa export-onnx`).\n"
    )
    assert not (tmp_path / "out").exists()
