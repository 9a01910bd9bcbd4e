"""Inputs that used to give silent wrong results or raw errors (issue 11, items 1-3 and 8): non-finite frames, float
frames already rescaled to [0, 1], pixel_values of another dtype, and what `segment_video` accepts."""

import logging

import av
import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image
from transformers.utils.logging import warning_once

from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor, segment_video
from mrcfa.models.mrcfa.image_processing_mrcfa import RESCALED_INPUT_WARNING, RESCALED_TWICE_WARNING

H, W = 64, 96
PROCESSOR_LOGGER = "mrcfa.models.mrcfa.image_processing_mrcfa"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MrcfaForVideoSemanticSegmentation(tiny_config()).eval()


@pytest.fixture(scope="module")
def processor():
    return MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H})


def rgb_frames(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40, 70, 3), dtype=np.uint8) for _ in range(n)]


# ---------------------------------------------------------------------------------------------- 1. non-finite input
def test_processor_rejects_non_finite_frames_naming_them(processor):
    good = np.full((40, 70, 3), 100.0, dtype=np.float32)
    bad = good.copy()
    bad[3, 4, 1] = np.nan
    infinite = good.copy()
    infinite[0, 0, 0] = np.inf
    cases = [
        (dict(images=[good, bad]), "image 1 has NaN or infinite pixel values"),
        (dict(images=torch.from_numpy(infinite)), "the image has NaN or infinite pixel values"),
        (dict(videos=[good, good, bad]), "frame 2 of the clip has NaN or infinite pixel values"),
        (dict(videos=[[good, good], [infinite, good]]), "frame 0 of clip 1 has NaN or infinite pixel values"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            processor(**kwargs)
    assert processor(images=[good, good])["pixel_values"].shape[0] == 2  # finite frames still pass


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_segment_video_names_the_frame_of_the_video_through_the_processor(model, processor):
    frames = [frame.astype(np.float32) for frame in rgb_frames(7)]
    frames[5][2, 2, 0] = np.inf
    # the processor's check of raw frames, named by segment_video with the frame's index in the video
    with pytest.raises(ValueError, match=r"^frame 5 of the video: the image has NaN or infinite pixel values"):
        list(segment_video(model, frames, processor=processor, batch_size=3))  # frame 5 is item 2 of its batch
    # a processor that makes infinite values (image_std 0) is caught on the model input, naming the frame
    broken = MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H}, image_std=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"^frame 0 of the video has NaN or infinite pixel values"):
        list(segment_video(model, rgb_frames(2), processor=broken))


def test_forward_rejects_non_finite_pixel_values_naming_clip_and_frame(model):
    x = torch.randn(2, 4, 3, H, W)
    x[1, 2, 0, 5, 5] = float("nan")
    x[1, 3, 2, 0, 0] = float("-inf")
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"NaN or infinite values in frame 2 of clip 1 \(2 frames in all\)"):
            model(x)
        with pytest.raises(ValueError, match=r"NaN or infinite values in item 1: every value must be finite"):
            model(x[:, 2])
        huge = torch.full((1, 4, 3, H, W), 1e300, dtype=torch.float64)  # finite in float64, infinite once cast
        with pytest.raises(ValueError, match="once converted from torch.float64 to the weights dtype torch.float32"):
            model(huge)
        assert torch.isfinite(model(x[:1]).logits).all()  # the finite clip of the batch is fine


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_pipelines_reject_non_finite_input_naming_the_frame(model, processor):
    from transformers import pipeline

    from mrcfa.models.mrcfa.video_io_mrcfa import VideoReadError

    video = pipeline("video-semantic-segmentation", model=model, image_processor=processor)
    frames = [frame.astype(np.float32) for frame in rgb_frames(4)]
    frames[2][0, 0, 0] = np.nan
    with pytest.raises(VideoReadError, match="^frame 0 of the list of frames: frame arrays must be uint8"):
        video(frames)  # the video pipeline takes decoded (uint8) frames only: nothing non-finite gets in
    assert len(video(rgb_frames(4))) == 4
    broken = MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H}, image_std=[0.0, 0.0, 0.0])
    image = pipeline("image-segmentation", model=model, image_processor=broken)
    with pytest.raises(ValueError, match="pixel_values has NaN or infinite values in item 0"):
        image(Image.fromarray(rgb_frames(1)[0]))  # caught by the model's forward


# ---------------------------------------------------------------------------------------------- 2. [0, 1] floats
def _warnings(caplog, call):
    warning_once.cache_clear()  # transformers' warning_once: once per process and message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=PROCESSOR_LOGGER):
        result = call()
    return [r.getMessage() for r in caplog.records if r.name == PROCESSOR_LOGGER], result


def test_frames_already_rescaled_are_warned_about_as_transformers_does(caplog, processor):
    unit = np.random.default_rng(0).random((40, 70, 3)).astype(np.float32)  # values in [0, 1]
    # the official processor expects 0-255 values: warned, with what to do
    messages, _ = _warnings(caplog, lambda: processor(images=unit))
    assert messages == [RESCALED_INPUT_WARNING]
    messages, _ = _warnings(caplog, lambda: processor(videos=[unit * 255, unit]))
    assert messages == [RESCALED_INPUT_WARNING]
    # do_rescale on [0, 1] frames: transformers' own warning, word for word
    rescaling = dict(do_rescale=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    messages, _ = _warnings(caplog, lambda: processor(images=unit, **rescaling))
    assert messages == [RESCALED_TWICE_WARNING]
    assert RESCALED_TWICE_WARNING.startswith("It looks like you are trying to rescale already rescaled images.")
    # what the warning suggests gives the result of 0-255 frames, silently
    messages, taken = _warnings(caplog, lambda: processor(images=unit, do_rescale=True, rescale_factor=255))
    assert messages == []
    np.testing.assert_allclose(taken["pixel_values"], processor(images=unit * 255)["pixel_values"], atol=1e-4)
    # do_rescale=False with a [0, 1] normalisation expects [0, 1] frames: no warning
    messages, _ = _warnings(caplog, lambda: processor(images=unit, image_mean=[0.5] * 3, image_std=[0.5] * 3))
    assert messages == []
    # 0-255 floats and uint8 frames are what the processor expects
    messages, _ = _warnings(caplog, lambda: processor(images=[unit * 255, (unit * 255).astype(np.uint8)]))
    assert messages == []


# ---------------------------------------------------------------------------------------------- 3. dtypes
def test_pixel_values_of_other_float_dtypes_are_cast_and_integers_rejected(model):
    x = torch.randn(1, 4, 3, H, W)
    with torch.no_grad():
        expected = model(x).logits
        for dtype, tolerance in ((torch.float64, 1e-6), (torch.float16, 1e-2), (torch.bfloat16, 5e-2)):
            logits = model(x.to(dtype)).logits
            assert logits.dtype == torch.float32
            torch.testing.assert_close(logits, expected, atol=tolerance, rtol=0)
        for dtype in (torch.uint8, torch.int64, torch.bool):
            with pytest.raises(ValueError, match=f"floating-point tensor of normalised frames.*got {dtype}"):
                model(x.to(dtype))
        # mixed precision: float32 input under autocast stays accepted
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x).logits
        assert mixed.shape == expected.shape and torch.isfinite(mixed).all()
        # a model converted to bfloat16 takes the processor's float32 output
        half = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
        half.load_state_dict(model.state_dict())
        assert half.to(torch.bfloat16)(x).logits.dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------- 8. segment_video
def test_segment_video_takes_the_video_pipelines_inputs(model, processor, tmp_path):
    frames = [Image.fromarray(frame) for frame in rgb_frames(5)]
    folder = tmp_path / "vspw_video" / "origin"
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        frame.save(folder / f"{i:05d}.png")
    video = tmp_path / "video.avi"
    with av.open(str(video), mode="w") as container:
        stream = container.add_stream("ffv1", rate=10)  # lossless: decodes to the same frames
        stream.width, stream.height, stream.pix_fmt = 70, 40, "bgr0"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    expected = list(segment_video(model, frames, processor=processor))
    for source in (folder, tmp_path / "vspw_video", str(video)):
        labels = list(segment_video(model, source, processor=processor))
        assert len(labels) == 5 and all(torch.equal(a, b) for a, b in zip(labels, expected)), source
    for wrong, shown in ((torch.randn(3, H, W), "Tensor of shape"), (42, "got int"), (None, "got NoneType")):
        with pytest.raises(TypeError, match=f"takes a video: the path of a video file, of a folder.*{shown}"):
            list(segment_video(model, wrong, processor=processor))
