"""Streaming video segmentation: official test clips, exactness against per-clip forwards, bounded cache."""

import json

import pytest
import torch
from conftest import tiny_config

from mrcfa import MrcfaForVideoSemanticSegmentation
from mrcfa.models.mrcfa.streaming_mrcfa import StreamingVideoSegmenter, segment_video
from mrcfa.models.mrcfa.video_clips_mrcfa import test_clip_indices

H, W = 64, 96


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MrcfaForVideoSemanticSegmentation(tiny_config()).eval()


@pytest.fixture(scope="module")
def frames():
    gen = torch.Generator().manual_seed(4)
    return [torch.randn(3, H, W, generator=gen) for _ in range(25)]


def test_clip_rule_matches_fixture(fixtures_dir):
    clips = json.loads((fixtures_dir / "mrcfa_ref_clip_indices.json").read_text())["clips"]
    for n, per_frame in clips.items():
        for i, expected in enumerate(per_frame):
            assert list(test_clip_indices(i)) == expected, (n, i)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_streaming_equals_per_clip_forward(model, frames, batch_size):
    streamed = list(segment_video(model, iter(frames), output="logits", batch_size=batch_size))
    assert len(streamed) == len(frames)
    worst = 0.0
    with torch.no_grad():
        for i, logits in enumerate(streamed):
            clip = torch.stack([frames[j] for j in test_clip_indices(i)])[None]
            worst = max(worst, (model(clip).logits[0] - logits).abs().max().item())
    assert worst <= 1e-5


def test_each_frame_encoded_once_and_cache_bounded(model, frames):
    calls = []
    handle = model.segformer.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    try:
        segmenter = StreamingVideoSegmenter(model, output="labels")
        peak = 0
        for frame in frames:
            (labels,) = segmenter.push([frame])
            assert labels.shape == (H, W) and labels.dtype == torch.int64
            peak = max(peak, len(segmenter.cached_frames))
    finally:
        handle.remove()
    assert sum(calls) == len(frames)  # one encoder pass per frame, never re-encoded
    assert peak <= 10  # only what future clips still need
    assert segmenter.cached_frames == list(range(16, 25))
    # the cached past frames keep only reference-side features
    kept = segmenter.session.cache[20]
    assert kept.logits is None and kept.fused_eighth is None and kept.value_tokens is not None


def test_labels_are_argmax_of_upsampled_logits(model, frames):
    logits = list(segment_video(model, frames[:12], output="logits"))
    labels = list(segment_video(model, frames[:12], output="labels"))
    for lg, lb in zip(logits, labels):
        expected = torch.nn.functional.interpolate(lg[None], size=(H, W), mode="bilinear")[0].argmax(0)
        assert torch.equal(lb, expected)


def test_generator_of_unknown_length_and_reset(model, frames):
    def gen():
        yield from frames[:5]

    first = list(segment_video(model, gen(), output="logits"))
    again = list(segment_video(model, gen(), output="logits"))
    assert len(first) == 5 and all(torch.equal(a, b) for a, b in zip(first, again))


def test_bad_input(model, frames):
    with pytest.raises(ValueError, match="no frames"):
        list(segment_video(model, []))
    with pytest.raises(ValueError, match=r"preprocessed \[3, H, W\] tensors"):
        list(segment_video(model, [torch.randn(H, W, 3)]))
    with pytest.raises(ValueError, match="all frames of a video must have the same size"):
        list(segment_video(model, [frames[0], torch.randn(3, H, W + 32)]))
    with pytest.raises(ValueError, match="output must be"):
        list(segment_video(model, frames, output="masks"))
    with pytest.raises(ValueError, match="batch_size"):
        list(segment_video(model, frames, batch_size=0))


def test_non_finite_frames_are_rejected_with_their_index(model, frames):
    broken = [f.clone() for f in frames[:6]]
    broken[4][0, 3, 5] = float("nan")
    broken[5][1, 0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"frame 4 of the video has NaN or infinite pixel values \(frames \[4, 5\]\)"):
        list(segment_video(model, broken, batch_size=3))
    with pytest.raises(ValueError, match="frame 4 of the video has NaN"):
        list(segment_video(model, broken[:5]))


def test_video_paths_are_read_and_wrong_types_say_what_is_accepted(model, tmp_path):
    import numpy as np
    from PIL import Image

    from mrcfa import MrcfaImageProcessor

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (40, 70, 3), dtype=np.uint8)) for _ in range(5)]
    for i, image in enumerate(images):
        image.save(tmp_path / f"{i:03d}.png")
    processor = MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H})
    from_folder = list(segment_video(model, str(tmp_path), processor=processor))
    from_list = list(segment_video(model, images, processor=processor))
    assert len(from_folder) == 5 and all(torch.equal(a, b) for a, b in zip(from_folder, from_list))
    with pytest.raises(TypeError, match="takes a video: the path of a video file.*one frame\\? pass \\[frame\\]"):
        list(segment_video(model, torch.randn(3, H, W)))
    with pytest.raises(TypeError, match="got int"):
        list(segment_video(model, 3))
