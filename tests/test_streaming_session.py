"""Streaming as a session (transformers' Sam2Video shape): `model(inference_session=..., frame=...)` frame by frame,
`propagate_in_video_iterator` over a preloaded video, the session's bounded cache and its errors."""

import numpy as np
import pytest
import torch
from conftest import tiny_config

from mrcfa import (
    MrcfaForVideoSemanticSegmentation,
    MrcfaImageProcessor,
    MrcfaStreamingBackend,
    MrcfaStreamingOutput,
    MrcfaVideoInferenceSession,
    segment_video,
)
from mrcfa.models.mrcfa.video_clips_mrcfa import REFERENCE_OFFSETS, test_clip_indices

H, W = 64, 96
NUM_FRAMES = 14  # frames 0-2 alone, 3-8 the fixed clips, 9-13 [i-9, i-6, i-3, i]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MrcfaForVideoSemanticSegmentation(tiny_config()).eval()


@pytest.fixture(scope="module")
def processor():
    return MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H})


@pytest.fixture(scope="module")
def frames():
    gen = torch.Generator().manual_seed(4)
    return [torch.randn(3, H, W, generator=gen) for _ in range(NUM_FRAMES)]


def per_clip_logits(model, frames):
    """`model(clip).logits[0]` for the official test clip of every frame."""
    with torch.no_grad():
        return [
            model(torch.stack([frames[j] for j in test_clip_indices(i)])[None]).logits[0] for i in range(len(frames))
        ]


@pytest.fixture(scope="module")
def expected(model, frames):
    return per_clip_logits(model, frames)


def max_error(actual, expected):
    assert len(actual) == len(expected)
    return max((a - e).abs().max().item() for a, e in zip(actual, expected))


def test_the_video_covers_every_kind_of_official_clip():
    kinds = [len(test_clip_indices(i)) for i in range(NUM_FRAMES)]
    assert kinds[:3] == [1, 1, 1] and set(kinds[3:]) == {4}
    assert [test_clip_indices(i)[0] for i in range(3, 9)] == [0] * 6  # the fixed clips start at frame 0
    assert test_clip_indices(13) == (4, 7, 10, 13)


def test_model_is_a_streaming_backend(model):
    assert isinstance(model, MrcfaStreamingBackend)
    assert not isinstance(object(), MrcfaStreamingBackend)


def test_frame_by_frame_equals_per_clip_forward_and_segment_video(model, processor, frames, expected):
    session = processor.init_video_session(inference_device=model.device, dtype=model.dtype)
    assert isinstance(session, MrcfaVideoInferenceSession) and session.num_frames is None
    stepped = []
    for i, frame in enumerate(frames):
        output = model(inference_session=session, frame=frame)
        assert isinstance(output, MrcfaStreamingOutput) and output.frame_idx == i
        assert output.logits.shape == (1, 7, H // 4, W // 4)
        stepped.append(output.logits[0])
        assert session.next_frame_idx == i + 1 and session.input_size == (H, W)
    assert max_error(stepped, expected) <= 1e-5  # every official clip: 0-2 alone, 3-8 fixed, >= 9
    streamed = list(segment_video(model, frames, output="logits"))
    assert all(torch.equal(a, b) for a, b in zip(stepped, streamed))


def test_consecutive_frames_pushed_together(model, frames, expected):
    session = MrcfaVideoInferenceSession(inference_device=model.device)
    outputs = [
        model(inference_session=session, frame=torch.stack(frames[:5])),  # [N, 3, H, W]
        model(inference_session=session, frame=frames[5], frame_idx=5),  # [3, H, W], the next index given
        model(inference_session=session, frame=frames[6:NUM_FRAMES]),  # a list of [3, H, W]
    ]
    assert [o.frame_idx for o in outputs] == [0, 5, 6] and [len(o.logits) for o in outputs] == [5, 1, 8]
    assert max_error(list(torch.cat([o.logits for o in outputs])), expected) <= 1e-5


def test_propagate_over_a_preloaded_video_equals_the_clip_forward_and_segment_video(model, processor):
    rng = np.random.default_rng(1)
    raw = [rng.integers(0, 256, (40, 70, 3), dtype=np.uint8) for _ in range(NUM_FRAMES)]
    session = processor.init_video_session(video=raw, inference_device="cpu", dtype=torch.float32)
    assert session.num_frames == NUM_FRAMES and (session.video_height, session.video_width) == (40, 70)
    pixel_values = processor(videos=raw, return_tensors="pt")["pixel_values"][0]
    assert torch.equal(torch.stack([session.processed_frames[i] for i in range(NUM_FRAMES)]), pixel_values)

    outputs = list(model.propagate_in_video_iterator(session))
    assert [o.frame_idx for o in outputs] == list(range(NUM_FRAMES))
    propagated = [o.logits[0] for o in outputs]
    assert max_error(propagated, per_clip_logits(model, list(pixel_values))) <= 1e-5
    streamed = list(segment_video(model, raw, processor=processor, output="logits", batch_size=3))
    assert max_error(propagated, streamed) <= 1e-5
    with pytest.raises(ValueError, match="all of them have been predicted"):
        model(inference_session=session)

    # in parts: a few frames, one by index, then the rest; reset starts again from frame 0
    session.reset_inference_session()
    parts = [o.logits[0] for o in model.propagate_in_video_iterator(session, max_frame_num_to_track=4)]
    assert session.next_frame_idx == 4
    parts.append(model(inference_session=session, frame_idx=4).logits[0])
    parts += [o.logits[0] for o in model.propagate_in_video_iterator(session, start_frame_idx=5)]
    assert all(torch.equal(a, b) for a, b in zip(parts, propagated)) and len(parts) == NUM_FRAMES


def test_preloading_reads_video_paths(model, processor, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    images = [Image.fromarray(rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)) for _ in range(4)]
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i:03d}.png")
    from_folder = processor.init_video_session(video=str(tmp_path))
    from_list = processor.init_video_session(video=images)
    assert from_folder.num_frames == 4
    assert all(torch.equal(from_folder.processed_frames[i], from_list.processed_frames[i]) for i in range(4))


def test_frames_must_come_in_order(model, processor, frames):
    session = MrcfaVideoInferenceSession()
    with pytest.raises(ValueError, match=r"frame_idx 3 is not the next frame of the video \(0\): MRCFA is causal"):
        model(inference_session=session, frame=frames[3], frame_idx=3)
    model(inference_session=session, frame=frames[0], frame_idx=0)
    with pytest.raises(ValueError, match=r"frame_idx 0 is not the next frame of the video \(1\)"):
        model(inference_session=session, frame=frames[0], frame_idx=0)  # no going back either
    assert session.next_frame_idx == 1 and session.cached_frame_indices == [0]  # a refused step changes nothing

    preloaded = MrcfaVideoInferenceSession(video=torch.stack(frames[:5]))
    with pytest.raises(ValueError, match=r"frame_idx 2 is not the next frame of the video \(0\)"):
        model(inference_session=preloaded, frame_idx=2)
    with pytest.raises(ValueError, match=r"frame_idx 2 is not the next frame of the video \(0\)"):
        list(model.propagate_in_video_iterator(preloaded, start_frame_idx=2))


def test_session_cache_is_bounded(model, frames):
    gen = torch.Generator().manual_seed(5)
    video = frames + [torch.randn(3, H, W, generator=gen) for _ in range(25 - NUM_FRAMES)]
    horizon = -min(REFERENCE_OFFSETS)
    for step in (1, 4):
        session = MrcfaVideoInferenceSession()
        for start in range(0, len(video), step):
            model(inference_session=session, frame=video[start : start + step])
            cached = session.cached_frame_indices
            assert len(cached) <= horizon <= 10  # 9 frames at most between steps, whatever the video length
            # exactly the frames that a later frame's clip still uses
            later = {
                j
                for t in range(session.next_frame_idx, session.next_frame_idx + horizon)
                for j in test_clip_indices(t)
            }
            assert set(cached) == later & set(range(session.next_frame_idx))
            for index in cached:  # past frames keep only their reference-side features
                features = session.cache[index]
                assert features.logits is None and features.target_tokens is None and features.value_tokens is not None
        assert session.cached_frame_indices == list(range(16, 25))


def test_session_errors_say_what_is_expected(model, frames):
    streaming = MrcfaVideoInferenceSession()
    with pytest.raises(ValueError, match=r"pass frame= \(the next frame's pixel_values\), or preload the video"):
        model(inference_session=streaming)
    with pytest.raises(ValueError, match="needs a session with a preloaded video"):
        model.propagate_in_video_iterator(streaming)
    with pytest.raises(ValueError, match="holds a preloaded video: step through it with frame_idx="):
        model(inference_session=MrcfaVideoInferenceSession(video=torch.stack(frames[:2])), frame=frames[0])
    with pytest.raises(TypeError, match="must be an MrcfaVideoInferenceSession"):
        model(inference_session={}, frame=frames[0])
    with pytest.raises(ValueError, match="takes its frames as frame=, without \\['pixel_values'\\]"):
        model(torch.stack(frames[:4])[None], inference_session=streaming, frame=frames[0])
    with pytest.raises(ValueError, match="frame= and frame_idx= are for streaming: pass inference_session= too"):
        model(frame=frames[0])
    with pytest.raises(
        ValueError, match=r"preprocessed \[3, H, W\] tensors .* frame 0 of the video is Tensor \(64, 96, 3\)"
    ):
        model(inference_session=streaming, frame=frames[0].permute(1, 2, 0))
    with pytest.raises(ValueError, match="frame 0 of the video is a torch.uint8 tensor"):
        model(inference_session=streaming, frame=frames[0].to(torch.uint8))
    with pytest.raises(ValueError, match="divisible by 32, got 64x80"):
        model(inference_session=streaming, frame=frames[0][..., :80])
    with pytest.raises(ValueError, match="the session's inference_device is meta but the model runs on cpu"):
        model(inference_session=MrcfaVideoInferenceSession(inference_device="meta"), frame=frames[0])
    nan = frames[0].clone()
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="^frame 0 of the video has NaN or infinite pixel values: every pixel"):
        model(inference_session=streaming, frame=nan)
    assert streaming.next_frame_idx == 0 and streaming.input_size is None  # a refused step changes nothing

    model(inference_session=streaming, frame=torch.stack(frames[:3]))
    broken = [f.clone() for f in frames[3:6]]
    broken[1][0, 3, 5] = float("nan")
    broken[2][1, 0, 0] = float("inf")
    with pytest.raises(
        ValueError, match=r"^frame 4 of the video has NaN or infinite pixel values \(frames \[4, 5\]\)"
    ):
        model(inference_session=streaming, frame=broken)
    with pytest.raises(ValueError, match=r"frame 3 has input size \(64, 128\) .* same size"):
        model(inference_session=streaming, frame=torch.randn(3, H, W + 32))
    huge = torch.full((3, H, W), 1e300, dtype=torch.float64)  # finite in float64, infinite in the model's float32
    with pytest.raises(ValueError, match="frame 3 of the video has NaN or infinite pixel values"):
        model(inference_session=streaming, frame=huge)
    assert streaming.next_frame_idx == 3

    model.train()
    try:
        with pytest.raises(ValueError, match=r"eval mode: call model.eval\(\) first"):
            model(inference_session=streaming, frame=frames[3])
    finally:
        model.eval()


def test_segment_video_with_frames_pairs_each_frame_as_given_with_its_result(model, processor, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)) for _ in range(5)]
    expected = list(segment_video(model, images, processor=processor))
    pairs = list(segment_video(model, iter(images), processor=processor, batch_size=3, with_frames=True))
    assert [frame for frame, _ in pairs] == images and all(a is b for (a, _), b in zip(pairs, images))
    assert all(torch.equal(labels, e) for (_, labels), e in zip(pairs, expected))
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i:03d}.png")
    read = list(segment_video(model, str(tmp_path), processor=processor, with_frames=True))
    assert all(isinstance(frame, Image.Image) and frame.size == (70, 40) for frame, _ in read)
    assert all(torch.equal(labels, e) for (_, labels), e in zip(read, expected))


def test_session_with_remote_code_only(tmp_path):
    """From a saved checkpoint with trust_remote_code, in a process without mrcfa: the processor's session drives the
    model (transformers loads the processor's and the model's code as separate copies of the modules)."""
    import os
    import subprocess
    import sys
    import textwrap

    from conftest import save_tiny_model

    folder = save_tiny_model(tmp_path / "model", scale=(W, H))
    assert (folder / "session_mrcfa.py").is_file()
    rng = np.random.default_rng(4)
    raw = rng.integers(0, 256, (11, 40, 70, 3), dtype=np.uint8)
    np.save(tmp_path / "frames.npy", raw)
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(folder).eval()
    processor = MrcfaImageProcessor.from_pretrained(folder)
    expected = torch.stack(list(segment_video(model, list(raw), processor=processor, output="logits")))
    torch.save(expected, tmp_path / "expected.pt")
    code = f"""
    import sys
    sys.modules["mrcfa"] = None  # the package is not installed for this user
    import numpy as np, torch
    from transformers import AutoImageProcessor, AutoModel
    processor = AutoImageProcessor.from_pretrained({str(folder)!r}, trust_remote_code=True)
    model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
    assert "transformers_modules" in type(model).__module__
    frames = np.load({str(tmp_path / "frames.npy")!r})
    expected = torch.load({str(tmp_path / "expected.pt")!r})
    session = processor.init_video_session(video=list(frames))
    propagated = torch.cat([o.logits for o in model.propagate_in_video_iterator(session)])
    assert (propagated - expected).abs().max() <= 1e-5, "propagated logits differ"
    session = processor.init_video_session()
    for frame, logits in zip(frames, expected):
        pixel_values = processor(images=frame, return_tensors="pt")["pixel_values"][0]
        assert torch.equal(model(inference_session=session, frame=pixel_values).logits[0], logits), "stepped differ"
    print("OK", session.next_frame_idx, len(session.cache))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""})
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 0 and "OK 11 9" in result.stdout, result.stderr[-3000:]
