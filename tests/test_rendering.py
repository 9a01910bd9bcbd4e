"""The library under the front ends: the shared per-frame loop (`mrcfa.rendering`), `segment_video(with_frames=True)`,
`probe_video`, the user-error type, the output checks and model loading (`mrcfa.errors`, `mrcfa.checks`,
`mrcfa.loading`). The commands and the app over them are tested in test_cli*.py, test_pipelines_cli.py and
test_app.py."""

import json
import shutil
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from conftest import save_tiny_model
from PIL import Image
from test_cli_checks import H, W, make_frames

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor, segment_video
from mrcfa.checks import check_writable_dir, check_writable_file
from mrcfa.errors import UsageError
from mrcfa.loading import load_model, model_backend
from mrcfa.models.mrcfa.video_io_mrcfa import VideoInfo, VideoReadError, iter_frames, probe_video
from mrcfa.rendering import SegmentedFrame, iter_segmented_frames, write_legend
from mrcfa.video_writer import OverlayVideoWriter
from mrcfa.visualization import colorize, draw_legend, frame_legend, overlay_frame, palette_for, preview_image


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"), scale=(96, 64))


@pytest.fixture(scope="module")
def loaded(model_dir):
    return MrcfaForVideoSemanticSegmentation.from_pretrained(model_dir).eval(), MrcfaImageProcessor.from_pretrained(
        model_dir
    )


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(make_frames(7)):
        frame.save(path / f"img{i:03d}.png")
    return path


@pytest.mark.parametrize("batch_size", [1, 3])
def test_segment_video_with_frames_pairs_each_frame_with_its_labels(loaded, batch_size):
    model, processor = loaded
    frames = make_frames(7, seed=1)
    plain = list(segment_video(model, frames, processor=processor, batch_size=batch_size))
    pairs = list(segment_video(model, frames, processor=processor, batch_size=batch_size, with_frames=True))
    assert len(pairs) == 7
    for k, (frame, labels) in enumerate(pairs):
        assert frame is frames[k]  # the input object itself
        assert torch.equal(labels, plain[k]) and labels.shape == (H, W)
    # logits too
    logits = list(segment_video(model, frames, processor=processor, output="logits", with_frames=True))
    assert [frame for frame, _ in logits] == frames and logits[0][1].ndim == 3


def test_segmented_frames_of_a_folder_with_a_corrupt_frame(loaded, frames_dir, tmp_path):
    model, processor = loaded
    folder = tmp_path / "frames"
    shutil.copytree(frames_dir, folder)
    (folder / "img003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    skipped = []
    frames = list(
        iter_segmented_frames(
            model,
            folder,
            processor=processor,
            batch_size=2,
            skip_corrupt=True,
            on_skip=lambda name, error: skipped.append(name),
        )
    )
    assert skipped == ["img003"]
    # positions in the video count the skipped frame; names are the file stems
    assert [(f.index, f.name) for f in frames] == [(i, f"img{i:03d}") for i in (0, 1, 2, 4, 5, 6)]
    assert [f.title for f in frames][2:4] == ["frame 2 (img002)", "frame 4 (img004)"]
    readable = [Image.open(frames_dir / f"img{i:03d}.png").convert("RGB") for i in (0, 1, 2, 4, 5, 6)]
    expected = list(segment_video(model, readable, processor=processor))
    palette = palette_for(model.config.num_labels)
    for segmented, frame, labels in zip(frames, readable, expected):
        assert isinstance(segmented, SegmentedFrame) and "mrcfa.place" not in segmented.frame.info
        np.testing.assert_array_equal(np.asarray(segmented.frame), np.asarray(frame))
        np.testing.assert_array_equal(segmented.labels, labels.numpy())
        assert segmented.counts.tolist() == np.bincount(labels.numpy().ravel(), minlength=7).tolist()
        assert segmented.counts.sum() == H * W and (segmented.palette == palette).all()
        image = segmented.label_image()
        assert image.mode == "P" and np.array_equal(np.asarray(image), labels.numpy())
        np.testing.assert_array_equal(segmented.overlay(), overlay_frame(frame, labels.numpy(), palette))
        with_legend = Image.fromarray(overlay_frame(frame, labels.numpy(), palette))
        draw_legend(with_legend, frame_legend(labels.numpy(), model.config.id2label, palette), segmented.title)
        np.testing.assert_array_equal(segmented.overlay(legend=True), np.asarray(with_legend))
        expected_preview = preview_image(frame, labels.numpy(), palette, model.config.id2label, segmented.title)
        np.testing.assert_array_equal(np.asarray(segmented.preview()), np.asarray(expected_preview))
    # without skip_corrupt the unreadable frame ends the video there, after the frames before it
    reader = iter_segmented_frames(model, folder, processor=processor)
    assert [next(reader).name for _ in range(3)] == ["img000", "img001", "img002"]
    with pytest.raises(VideoReadError, match="cannot read image"):
        next(reader)


def test_segmented_frames_of_a_video_file_and_a_list(loaded, tmp_path):
    model, processor = loaded
    video = tmp_path / "clip.mp4"
    with OverlayVideoWriter(video, rate=10) as writer:
        for frame in make_frames(5, seed=2):
            writer.write(np.asarray(frame))
    decoded = list(iter_frames(video))
    frames = list(iter_segmented_frames(model, video, processor=processor, max_frames=4))
    assert [(f.index, f.name, f.title) for f in frames] == [(i, f"{i:05d}", f"frame {i}") for i in range(4)]
    expected = list(segment_video(model, decoded[:4], processor=processor))
    assert all(np.array_equal(f.labels, e.numpy()) for f, e in zip(frames, expected))
    # a list holding one image object twice, two frames per batch: each result keeps its own place
    image = make_frames(1, seed=3)[0]
    twice = list(iter_segmented_frames(model, [image, image, make_frames(1)[0]], processor=processor, batch_size=2))
    assert [(f.index, f.name) for f in twice] == [(0, "00000"), (1, "00001"), (2, "00002")]
    assert "mrcfa.place" not in image.info


def test_write_legend(tmp_path):
    palette = palette_for(3)
    legend = write_legend(tmp_path, np.array([5, 0, 2]), {0: "road", 1: "sky", 2: "car"}, palette)
    assert json.loads((tmp_path / "legend.json").read_text()) == legend
    assert legend[2] == {"id": 2, "name": "car", "color": palette[2].tolist(), "pixels": 2}
    assert (tmp_path / "legend.txt").read_text().splitlines()[0] == f"0\troad\t#{bytes(palette[0]).hex()}\t5"
    (tmp_path / "json_only").mkdir()
    write_legend(tmp_path / "json_only", np.array([1]), {}, palette, text=False)
    assert [p.name for p in (tmp_path / "json_only").iterdir()] == ["legend.json"]


def test_palette_and_colorize():
    palette = palette_for(130)
    assert palette.shape == (130, 3) and palette.dtype == np.uint8
    assert palette[:2].tolist() == [[120, 120, 120], [180, 120, 120]]  # VSPW's, then extended deterministically
    assert np.array_equal(palette, palette_for(130)) and np.array_equal(palette[:7], palette_for(7))
    image = colorize(np.array([[0, 1], [129, 2]]), palette)
    assert image.mode == "P" and image.getpalette()[3 * 129 : 3 * 130] == palette[129].tolist()


def test_probe_video(frames_dir, tmp_path):
    video = tmp_path / "clip.mp4"
    with OverlayVideoWriter(video, rate=Fraction(25, 2)) as writer:
        for frame in make_frames(6):
            writer.write(np.asarray(frame))
    info = probe_video(video)
    assert (info.num_frames, info.fps, info.width, info.height) == (6, Fraction(25, 2), W, H)
    assert info.expected_frames == 6 and info.duration == pytest.approx(6 / 12.5, abs=0.1)
    assert probe_video(frames_dir) == VideoInfo(7, None, W, H)
    assert probe_video(frames_dir / "img000.png") == VideoInfo(1, None, W, H)
    assert probe_video(make_frames(3)) == VideoInfo(3, None)
    # no frame count: the estimate from the duration
    assert VideoInfo(None, Fraction(15), duration=Fraction(2)).expected_frames == 30
    assert VideoInfo(None, None).expected_frames is None
    # what reading raises at its start
    with pytest.raises(FileNotFoundError, match="input not found"):
        probe_video(tmp_path / "missing.mp4")
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(VideoReadError, match="cannot open video") as info:
        probe_video(text)
    assert isinstance(info.value.__cause__, av.error.FFmpegError)


def test_user_errors_are_one_type(tmp_path):
    from mrcfa.app import AppInputError
    from mrcfa.cli._common import CliError
    from mrcfa.training import UsageError as TrainingUsageError

    assert TrainingUsageError is UsageError and CliError is UsageError and issubclass(AppInputError, UsageError)
    assert issubclass(UsageError, ValueError)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="--output .* exists and is not a folder"):
        check_writable_dir(tmp_path / "file", "--output")
    with pytest.raises(UsageError, match="--overlay .* is a folder: expected a file name"):
        check_writable_file(tmp_path, "--overlay")
    assert check_writable_dir(tmp_path / "new" / "folder", "--output") == tmp_path / "new" / "folder"
    assert not (tmp_path / "new").exists()  # nothing created


def test_model_backend_and_loading(model_dir, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    (export / "mrcfa_onnx.json").write_text("{}")
    (export / "config.json").write_text("{}")
    assert model_backend(str(export)) == "onnxruntime" and model_backend(str(model_dir)) == "pytorch"
    assert model_backend("org/name") == "pytorch"
    with pytest.raises(UsageError, match="--backend must be one of auto, pytorch, onnxruntime"):
        model_backend(str(model_dir), "tensorrt")
    with pytest.raises(UsageError, match="has no mrcfa_onnx.json"):
        model_backend(str(model_dir), "onnxruntime")
    model, processor = load_model(str(model_dir))
    assert isinstance(model, MrcfaForVideoSemanticSegmentation) and not model.training
    assert processor.size == {"longest_edge": 96, "shortest_edge": 64}
    not_mrcfa = tmp_path / "segformer"
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    SegformerForSemanticSegmentation(
        SegformerConfig(hidden_sizes=[8, 16, 32, 64], decoder_hidden_size=16, depths=[1, 1, 1, 1])
    ).save_pretrained(not_mrcfa)
    with pytest.raises(UsageError, match="is a SegformerForSemanticSegmentation, not an MRCFA model"):
        load_model(str(not_mrcfa))
