"""User mistakes and damaged inputs in the `mrcfa` commands (issue 11, items 4-7, 9 and 16): one line and exit
status 2 before any work starts, a consistent output when a frame cannot be read, and outputs a person can read
(the overlay's frame rate, class boundaries, the legend, the preview)."""

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import save_tiny_model
from PIL import Image

from mrcfa import MrcfaForVideoSemanticSegmentation
from mrcfa.cli import main
from mrcfa.hub_paths import ModelPathError, check_model_name_or_path, looks_like_hub_id
from mrcfa.visualization import (
    class_boundaries,
    draw_legend,
    frame_legend,
    overlay_frame,
    palette_for,
    preview_image,
)

H, W = 40, 70
UNWRITABLE = Path("/sys/mrcfa-test")  # no process can create files in /sys (root included)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"), scale=(96, 64))


def make_frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(make_frames(12)):
        frame.save(path / f"img{i:03d}.png")
    return path


def write_video(path, frames, rate=10):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W - W % 2, H, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame.crop((0, 0, stream.width, H)))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def segment(capsys, *args):
    """`mrcfa segment ARGS`: (exit status, stderr, stdout)."""
    code = main(["segment", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return code, captured.err, captured.out


def one_error_line(err, prog="mrcfa segment"):
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -------------------------------------------------------------------------- 4. unwritable outputs, before any work
def test_unwritable_outputs_are_refused_before_any_work(model_dir, frames_dir, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "folder.png").mkdir()
    cases = [
        (
            ["--output", UNWRITABLE / "out"],
            "--output /sys/mrcfa-test/out is not writable: cannot create files in /sys",
        ),
        (["--output", tmp_path / "a_file"], "exists and is not a folder"),
        (["--output", tmp_path / "a_file" / "out"], "cannot create the folder, " + str(tmp_path / "a_file")),
        (["--overlay", UNWRITABLE / "o.mp4"], "--overlay /sys/mrcfa-test/o.mp4 is not writable"),
        (["--preview", UNWRITABLE / "p.png"], "--preview /sys/mrcfa-test/p.png is not writable"),
        (["--preview", tmp_path / "folder.png"], "is a folder: expected a file name"),
    ]
    for extra, message in cases:
        if "--output" not in extra:
            extra = ["--output", tmp_path / "out", *extra]
        code, err, _ = segment(capsys, frames_dir, "--model", model_dir, *extra)
        assert code == 2 and message in one_error_line(err), (extra, err)
        assert not (tmp_path / "out").exists()  # nothing written, the model not even loaded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder.png"]


def test_converter_output_dir_is_checked_before_reading_the_checkpoint(tmp_path, capsys):
    # the checkpoint does not even exist: the output is checked first
    for output, message in (
        (UNWRITABLE / "model", "--output-dir /sys/mrcfa-test/model is not writable"),
        (Path(__file__), "exists and is not a folder"),
    ):
        code = main(["convert", "--checkpoint-path", str(tmp_path / "missing.pth"), "--output-dir", str(output)])
        assert code == 2 and message in one_error_line(capsys.readouterr().err, "mrcfa convert")
    script = Path(__file__).resolve().parents[1] / "scripts" / "convert_mrcfa_original_to_hf.py"
    result = subprocess.run(
        [sys.executable, str(script), "--checkpoint_path", "x.pth", "--output_dir", str(UNWRITABLE / "model")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--output-dir /sys/mrcfa-test/model is not writable" in one_error_line(
        result.stderr, "convert_mrcfa_original_to_hf.py"
    )


# -------------------------------------------------------------------------- 5. device, overlay name, fps, sizes
def test_argument_mistakes_are_one_line(model_dir, frames_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    out = tmp_path / "out"
    cases = [
        (["--device", "cuda"], "--device cuda: this torch ("),
        (["--device", "cuda:1"], "; use --device cpu."),
        (["--device", "mps"], "--device mps: this torch ("),
        (["--device", "gpu0"], "--device 'gpu0' is not a torch device (expected cpu, cuda, cuda:N or mps)"),
        (["--overlay", tmp_path / "o.png"], "the overlay is a video, expected a file name ending in .mp4, .mkv"),
        (["--overlay", tmp_path / "o.png"], "(for an image of one frame, use --preview)"),
        (["--overlay", tmp_path / "o"], "the overlay is a video, expected a file name ending in"),
        (["--preview", tmp_path / "p.mp4"], "the preview is an image, expected a file name ending in .png, .jpg"),
        (
            ["--overlay", tmp_path / "o.mp4", "--fps", "0"],
            "--fps must be a positive number of frames per second, got 0",
        ),
        (["--overlay", tmp_path / "o.mp4", "--fps", "-2.5"], "got -2.5"),
        (["--overlay", tmp_path / "o.mp4", "--fps", "nan"], "got nan"),
        (["--legend"], "--legend draws the legend into the overlay video: pass --overlay VIDEO too"),
        (["--batch-size", "-1"], "--batch-size must be >= 1, got -1"),
        (["--max-frames", "0"], "--max-frames must be >= 1, got 0"),
    ]
    for extra, message in cases:
        code, err, _ = segment(capsys, frames_dir, "--model", model_dir, "--output", out, *extra)
        assert code == 2 and message in one_error_line(err), (extra, err)
    assert sorted(tmp_path.iterdir()) == []  # nothing was written: no PNG named .png holding MPEG, no partial PNGs
    assert main(["convert", "--checkpoint-path", "x.pth", "--output-dir", str(out), "--num-attention-heads",
                 "0", "1", "2", "4"]) == 2  # fmt: skip
    assert "expected 4 positive integers" in one_error_line(capsys.readouterr().err, "mrcfa convert")


# -------------------------------------------------------------------------- 6. converter flags the config rejects
def test_converter_flags_that_fail_config_validation(fixtures_dir, tmp_path, capsys):
    checkpoint = str(fixtures_dir / "mrcfa_ref_a.pth")
    cases = [
        (["--stm_keep_ratio", "5"], "mrcfa convert: error: --stm-keep-ratio 5.0: stm_keep_ratio must be in (0, 1]"),
        (["--stm-keep-ratio", "0"], "--stm-keep-ratio 0.0: stm_keep_ratio must be in (0, 1], got 0.0."),
        (["--num-attention-heads", "3", "3", "3", "3"], "--num-attention-heads 3 3 3 3: hidden size"),
    ]
    for extra, message in cases:
        code = main(["convert", "--checkpoint-path", checkpoint, "--output-dir", str(tmp_path / "c"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in one_error_line(err, "mrcfa convert"), (extra, err)
        assert "StrictDataclass" not in err and not (tmp_path / "c").exists()


# -------------------------------------------------------------------------- 7. a model path that does not exist
def test_missing_model_paths_are_not_reported_as_bad_hub_ids(frames_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [
        (tmp_path / "no_such_model", "no such folder, and not a Hub model id"),
        ("./runs/no-such-model", "no such folder, and not a Hub model id"),
        ("org/name/extra", "no such folder, and not a Hub model id"),
        (tmp_path / "empty", "is a folder without config.json, not a model folder"),
        (Path(__file__), "is a file, not a model folder"),
    ]
    for model, message in cases:
        code, err, _ = segment(capsys, frames_dir, "--model", model, "--output", tmp_path / "out")
        line = one_error_line(err)
        assert code == 2 and f"--model '{model}'" in line and message in line, err
        assert "Repo id must" not in line and not (tmp_path / "out").exists()
        with pytest.raises(ModelPathError, match=message) as info:
            check_model_name_or_path(model, argument="model_name_or_path")
        assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)
    # well-formed Hub ids are left to the Hub; existing model folders pass
    assert [looks_like_hub_id(n) for n in ("nvidia/mit-b1", "mrcfa", "a/b/c", "/abs", "~/m", "../m")] == [
        True, True, False, False, False, False,
    ]  # fmt: skip
    assert check_model_name_or_path("nvidia/mit-b1") == "nvidia/mit-b1"


# -------------------------------------------------------------------------- 9. a corrupt frame in the middle
def test_corrupt_frame_leaves_a_consistent_output_or_is_skipped(model_dir, frames_dir, tmp_path, capsys):
    folder = tmp_path / "frames"
    shutil.copytree(frames_dir, folder)
    (folder / "img005.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    out = tmp_path / "out"
    code, err, _ = segment(capsys, folder, "--model", model_dir, "--output", out, "--overlay", tmp_path / "o.mp4")
    line = one_error_line(err)
    assert code == 2 and "cannot read image" in line and "img005.png" in line
    assert "stopped after 5 frames" in line and "Pass --skip-corrupt to skip unreadable frames." in line
    assert sorted(p.name for p in out.glob("*.png")) == [f"img{i:03d}.png" for i in range(5)]
    legend = json.loads((out / "legend.json").read_text())
    assert sum(e["pixels"] for e in legend) == 5 * H * W  # the legend counts what was written
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["frames_written"] == 5 and "img005.png" in summary["error"]
    with av.open(str(tmp_path / "o.mp4")) as container:  # the overlay is a playable video of those frames
        assert sum(1 for _ in container.decode(video=0)) == 5

    code, err, stdout = segment(capsys, folder, "--model", model_dir, "--output", out, "--overwrite", "--skip-corrupt")
    assert code == 0 and "warning: skipping frame img005: cannot read image" in err and "Traceback" not in err
    assert "segmented 11 frames" in stdout and "skipped 1 unreadable frames" in stdout
    assert len(list(out.glob("*.png"))) == 11 and not (out / "img005.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and [s["frame"] for s in summary["frames_skipped"]] == ["img005"]


def test_corrupt_packet_of_a_video_file(model_dir, tmp_path, capsys):
    video = tmp_path / "video.mp4"
    write_video(video, make_frames(12))
    with av.open(str(video)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    data = bytearray(video.read_bytes())
    pos, size = packets[6]
    data[pos + 4 : pos + size] = (bytes(range(256)) * size)[: size - 4]  # garbage in frame 6's packet
    video.write_bytes(bytes(data))
    code, err, _ = segment(capsys, video, "--model", model_dir, "--output", tmp_path / "a")
    assert code == 2 and "cannot decode frame 6 of video" in one_error_line(err)
    assert len(list((tmp_path / "a").glob("*.png"))) == 6 and (tmp_path / "a" / "legend.txt").exists()
    code, err, _ = segment(capsys, video, "--model", model_dir, "--output", tmp_path / "b", "--skip-corrupt")
    assert code == 0 and "skipping frame 00006" in err
    names = sorted(p.stem for p in (tmp_path / "b").glob("*.png"))
    assert names == [f"{i:05d}" for i in range(12) if i != 6]


def test_input_that_cannot_be_opened_leaves_nothing(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00 not a video")
    code, err, _ = segment(capsys, broken, "--model", model_dir, "--output", tmp_path / "out")
    assert code == 2 and "cannot open video" in one_error_line(err)
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_non_finite_model_input_is_one_line_naming_the_frame(model_dir, frames_dir, tmp_path, capsys):
    """Decoded frames are uint8; a preprocessor that makes infinite values (image_std 0) is caught naming the frame."""
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    config = json.loads((broken / "preprocessor_config.json").read_text())
    (broken / "preprocessor_config.json").write_text(json.dumps({**config, "image_std": [0.0, 0.0, 0.0]}))
    code, err, _ = segment(capsys, frames_dir, "--model", broken, "--output", tmp_path / "out")
    assert code == 2 and "frame 0 of the video has NaN or infinite pixel values" in one_error_line(err)


# -------------------------------------------------------------------------- 16. outputs a person can read
def test_overlay_keeps_the_frame_rate_and_preview_shows_the_middle_frame(model_dir, frames_dir, tmp_path, capsys):
    video = tmp_path / "video.mp4"
    write_video(video, make_frames(9), rate=Fraction(25, 2))
    code, _, _ = segment(capsys, video, "--model", model_dir, "--output", tmp_path / "a", "--overlay",
                         tmp_path / "a.mp4", "--preview", tmp_path / "a.png", "--legend")  # fmt: skip
    assert code == 0
    with av.open(str(tmp_path / "a.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(25, 2)  # the input's, not 15
        assert sum(1 for _ in container.decode(video=0)) == 9
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["preview_frame"] == "frame 4" and summary["overlay"]["fps"] == "25/2"
    preview = Image.open(tmp_path / "a.png")
    assert preview.size == (2 * (W - W % 2), H)

    # a folder: 15 fps unless --fps; the preview is the middle frame, titled with its index and name
    args = ["--model", model_dir, "--overlay", tmp_path / "b.mp4", "--preview", tmp_path / "b.png"]
    assert segment(capsys, frames_dir, "--output", tmp_path / "b", *args)[0] == 0
    with av.open(str(tmp_path / "b.mp4")) as container:
        assert container.streams.video[0].average_rate == 15
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["preview_frame"] == "frame 5 (img005)"
    labels = np.array(Image.open(tmp_path / "b" / "img005.png"))
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir)
    palette = palette_for(7)
    frame = Image.open(frames_dir / "img005.png").convert("RGB")
    expected = preview_image(frame, labels, palette, model.config.id2label, "frame 5 (img005)")
    assert np.array_equal(np.array(Image.open(tmp_path / "b.png")), np.array(expected))
    assert segment(capsys, frames_dir, "--output", tmp_path / "c", *args[:2], "--overlay", tmp_path / "c.mp4",
                   "--fps", "12.5")[0] == 0  # fmt: skip
    with av.open(str(tmp_path / "c.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(25, 2)


def test_boundaries_keep_dark_classes_visible_and_the_legend_is_drawn():
    palette = palette_for(124)
    luminance = palette.astype(float) @ [0.299, 0.587, 0.114]
    dark, light = int(np.argmin(luminance)), int(np.argmax(luminance))
    labels = np.full((60, 80), light)
    labels[20:40, 30:50] = dark
    frame = Image.new("RGB", (80, 60), (20, 20, 20))  # as dark as the dark class
    out = overlay_frame(frame, labels, palette)
    edges = class_boundaries(labels)
    assert edges.sum() == 76 + 80 and edges[20, 30] and edges[19, 30] and not edges[30, 40]
    assert (out[20, 35] == 255).all() and (out[19, 35] == 0).all()  # white inside the dark class, black outside
    plain = overlay_frame(frame, labels, palette, boundaries=False)
    assert (out[~edges] == plain[~edges]).all()

    legend = frame_legend(labels, {dark: "dark", light: "light"}, palette)
    assert [(e["name"], round(e["share"], 4)) for e in legend] == [("light", 0.9167), ("dark", 0.0833)]
    big = np.repeat(np.repeat(out, 4, axis=0), 4, axis=1)  # 240x320
    image = Image.fromarray(big.copy())
    draw_legend(image, legend, "frame 3")
    drawn = np.array(image)
    changed = np.argwhere((drawn != big).any(-1))
    assert len(changed) and changed[:, 0].max() < 60 and changed[:, 1].max() < 160  # a box at the top-left
    swatch_colours = {tuple(int(c) for c in drawn[y, x]) for y, x in changed}
    assert tuple(palette[dark]) in swatch_colours and tuple(palette[light]) in swatch_colours
