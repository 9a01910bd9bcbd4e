"""The image-segmentation pipeline (Hub widget), the video-semantic-segmentation pipeline and `mrcfa-segment`
(`mrcfa segment`)."""

import json
import logging
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from transformers import pipeline

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaVideoProcessor, segment_video
from mrcfa.cli.segment import main as cli_main

H, W = 90, 150  # raw frames; the processor resizes them (keep ratio to 853x480, then multiples of 32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    path = tmp_path_factory.mktemp("model")
    model.save_pretrained(path)
    MrcfaVideoProcessor().save_pretrained(path)
    return path


def make_frames(n, size=(W, H), seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size[1], size[0] + n * 2, 3), dtype=np.uint8)
    return [Image.fromarray(np.ascontiguousarray(base[:, 2 * i : 2 * i + size[0]])) for i in range(n)]


def write_video(path, frames, fps=10):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(make_frames(12)):
        frame.save(path / f"{i:08d}.jpg", quality=95)
    return path


def test_image_segmentation_pipeline_is_supported(model_dir, caplog):
    with caplog.at_level(logging.ERROR, logger="transformers"):
        segmenter = pipeline("image-segmentation", model=str(model_dir))
        results = segmenter(make_frames(1)[0])
    assert not [r for r in caplog.records if "not supported" in r.getMessage()]
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir)
    assert {r["label"] for r in results} <= set(model.config.id2label.values())
    masks = np.stack([np.array(r["mask"]) > 0 for r in results])
    assert masks.shape[1:] == (H, W) and (masks.sum(0) == 1).all()  # a partition of the image


def test_video_pipeline_inputs_agree(model_dir, frames_dir):
    segmenter = pipeline("video-semantic-segmentation", model=str(model_dir))
    from_folder = segmenter(str(frames_dir))
    assert [r["frame_name"] for r in from_folder] == [f"{i:08d}" for i in range(12)]
    assert all(r["labels"].shape == (H, W) for r in from_folder)
    frames = [Image.open(p).convert("RGB") for p in sorted(frames_dir.glob("*.jpg"))]
    from_list = segmenter(frames, return_masks=True, batch_size=3)
    assert all(torch.equal(a["labels"], b["labels"]) for a, b in zip(from_folder, from_list))
    masks = from_list[5]["masks"]
    assert sum(np.array(m["mask"]).astype(bool).sum() for m in masks) == H * W
    # streaming underneath: identical to segment_video with the same processor
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir)
    direct = list(segment_video(model, frames, processor=MrcfaVideoProcessor.from_pretrained(model_dir)))
    assert all(torch.equal(a["labels"], b) for a, b in zip(from_list, direct))
    assert len(segmenter(str(frames_dir), max_frames=4)) == 4


def test_video_pipeline_on_a_video_file(model_dir, tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, make_frames(11))
    results = pipeline("video-semantic-segmentation", model=str(model_dir))(str(video))
    assert len(results) == 11 and results[10]["frame_index"] == 10 and results[0]["labels"].shape == (H, W)


def test_cli_on_a_generated_video(model_dir, tmp_path, capsys):
    video = tmp_path / "video.mp4"
    write_video(video, make_frames(14))
    out = tmp_path / "out"
    code = cli_main(
        [
            str(video),
            "--model",
            str(model_dir),
            "--output",
            str(out),
            "--overlay",
            str(tmp_path / "overlay.mp4"),
            "--preview",
            str(tmp_path / "preview.png"),
            "--batch-size",
            "2",
        ]
    )
    assert code == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == [f"{i:05d}.png" for i in range(14)]
    first = Image.open(pngs[0])
    assert first.mode == "P" and first.size == (W, H)
    assert first.getpalette()[:6] == [120, 120, 120, 180, 120, 120]  # VSPW palette
    legend = json.loads((out / "legend.json").read_text())
    assert len(legend) == 7 and sum(e["pixels"] for e in legend) == 14 * H * W
    with av.open(str(tmp_path / "overlay.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 14
    assert Image.open(tmp_path / "preview.png").size == (2 * W, H)
    assert "segmented 14 frames" in capsys.readouterr().out
    # existing results are not overwritten without --overwrite
    assert cli_main([str(video), "--model", str(model_dir), "--output", str(out)]) == 2
    assert "already holds results" in capsys.readouterr().err
    assert (
        cli_main([str(video), "--model", str(model_dir), "--output", str(out), "--overwrite", "--max-frames", "5"])
        == 0
    )
    assert len(list(out.glob("*.png"))) == 5


def test_cli_folder_with_grayscale_and_rgba_frames(model_dir, tmp_path):
    folder = tmp_path / "vspw_video" / "origin"
    folder.mkdir(parents=True)
    frames = make_frames(4)
    frames[1].convert("L").save(folder / "001.png")
    frames[2].convert("RGBA").save(folder / "002.png")
    frames[0].save(folder / "000.png")
    frames[3].save(folder / "003.png")
    assert cli_main([str(tmp_path / "vspw_video"), "--model", str(model_dir), "--output", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == ["000.png", "001.png", "002.png", "003.png"]


@pytest.mark.parametrize(
    "make_input,message",
    [
        (lambda d: d / "missing.mp4", "input not found"),
        (lambda d: [(d / "broken.mp4").write_bytes(b"\x00garbage"), d / "broken.mp4"][1], "cannot open video"),
        (lambda d: [(d / "empty").mkdir(), d / "empty"][1], "no frames in"),
    ],
)
def test_cli_bad_input(model_dir, tmp_path, capsys, make_input, message):
    source = make_input(tmp_path)
    assert cli_main([str(source), "--model", str(model_dir), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_frames_of_different_sizes(model_dir, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    make_frames(1)[0].save(folder / "0.png")
    make_frames(1, size=(W + 10, H))[0].save(folder / "1.png")
    assert cli_main([str(folder), "--model", str(model_dir), "--output", str(tmp_path / "out")]) == 2
    assert "all frames of a video must have the same size" in capsys.readouterr().err


def test_cli_video_without_frames(model_dir, tmp_path, capsys):
    video = tmp_path / "none.avi"  # a valid container whose video stream has no frames
    container = av.open(str(video), mode="w")
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
    container.start_encoding()
    container.close()
    assert cli_main([str(video), "--model", str(model_dir), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "has no frames" in err and "Traceback" not in err


def test_console_script_entry_point(model_dir, frames_dir, tmp_path, capsys):
    exe = [sys.executable, "-c", "import sys; from mrcfa.cli.segment import main; sys.exit(main())"]  # the alias
    result = subprocess.run(
        exe + [str(frames_dir), "--model", str(model_dir), "--output", str(tmp_path / "o"), "--max-frames", "3"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    from mrcfa.cli.segment import main as segment_main  # the same entry point, in this process: a mistake

    assert segment_main([str(tmp_path / "nope"), "--model", str(model_dir), "--output", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == f"mrcfa-segment: error: input not found: {tmp_path / 'nope'}\n"


def test_image_pipeline_with_remote_code_only(model_dir, tmp_path):
    """The Hub widget path: the model's own code, no mrcfa package, offline; no 'not supported' error logged."""
    code = f"""
import sys
sys.modules["mrcfa"] = None
import numpy as np
from PIL import Image
from transformers import pipeline
segmenter = pipeline("image-segmentation", model={str(model_dir)!r}, trust_remote_code=True)
results = segmenter(Image.fromarray(np.full(({H}, {W}, 3), 90, np.uint8)))
assert "transformers_modules" in type(segmenter.model).__module__
print("LABELS", sorted(r["label"] for r in results))
"""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "LABELS ['LABEL_" in result.stdout
    assert "not supported" not in result.stderr
