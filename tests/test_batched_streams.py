"""Batched streams: several videos advanced in lockstep as one batch (`streaming_step_batch` on sessions,
`segment_videos` on videos) give every frame the prediction it gets alone, refill finished slots, report a video that
fails without stopping the others, and keep each session's cache bounded."""

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

from mrcfa import (
    MrcfaForVideoSemanticSegmentation,
    MrcfaImageProcessor,
    MrcfaStreamError,
    MrcfaVideoInferenceSession,
    VideoFailed,
    VideoFinished,
    VideoFrameResult,
    segment_video,
    segment_videos,
    streaming_step_batch,
)
from mrcfa.models.mrcfa import streaming_mrcfa
from mrcfa.models.mrcfa.session_mrcfa import streaming_step
from mrcfa.models.mrcfa.video_clips_mrcfa import REFERENCE_OFFSETS, test_clip_indices
from mrcfa.models.mrcfa.video_io_mrcfa import CorruptFrameError, VideoReadError

SMALL, LARGE = (64, 96), (96, 128)
# (input size, frames): some shorter than 9 (the first [i-9, i-6, i-3, i] clip), two longer than 12; two sizes, in an
# order where 2 and 3 streams run videos of one size and full clips side by side
VIDEOS = [(SMALL, 5), (SMALL, 14), (LARGE, 2), (SMALL, 13), (SMALL, 8), (LARGE, 10)]
HORIZON = -min(REFERENCE_OFFSETS)  # 9 cached frames at most between steps


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MrcfaForVideoSemanticSegmentation(tiny_config()).eval()


@pytest.fixture(scope="module")
def videos():
    """Preprocessed videos, lists of `[3, H, W]` frames."""
    gen = torch.Generator().manual_seed(7)
    return [[torch.randn(3, *size, generator=gen) for _ in range(n)] for size, n in VIDEOS]


@pytest.fixture(scope="module")
def alone(model, videos):
    """Each video's logits streamed alone (`segment_video`, batch 1)."""
    return [list(segment_video(model, video, output="logits")) for video in videos]


def per_video(events):
    """Results by video, checking the order of the events: each video's frames in order, then one final event."""
    results, final = {}, {}
    for event in events:
        assert event.video_index not in final, f"an event after video {event.video_index} ended"
        if isinstance(event, VideoFrameResult):
            frames = results.setdefault(event.video_index, [])
            assert event.frame_index == len(frames)
            frames.append(event.result)
        else:
            assert isinstance(event, (VideoFinished, VideoFailed))
            assert event.num_frames == len(results.get(event.video_index, []))
            final[event.video_index] = event
    return results, final


def max_error(actual, expected):
    assert len(actual) == len(expected)
    return max((a - e).abs().max().item() for a, e in zip(actual, expected))


@pytest.mark.parametrize("streams", [1, 2, 3])
def test_streams_equal_each_video_alone(model, videos, alone, streams, monkeypatch):
    encoded, clips = [], []
    encode, head = model.encode_stream_frames, model.stream_target_logits
    monkeypatch.setattr(
        model, "encode_stream_frames", lambda x, **kw: encoded.append(tuple(x.shape)) or encode(x, **kw)
    )
    monkeypatch.setattr(
        model, "stream_target_logits", lambda t, r, s: clips.append(len(t.fused_eighth)) or head(t, r, s)
    )

    events = list(segment_videos(model, videos, streams=streams, output="logits"))
    results, final = per_video(events)
    assert sorted(final) == list(range(len(VIDEOS)))
    for k, (video, expected) in enumerate(zip(videos, alone)):
        assert isinstance(final[k], VideoFinished) and final[k].num_frames == len(video) and final[k].video is video
        assert max_error(results[k], expected) <= 1e-5, k
        labels = [r.argmax(0) for r in results[k]]
        assert all(torch.equal(a, e.argmax(0)) for a, e in zip(labels, expected))

    # each frame encoded once; the encoder sees one frame of each open video of a size: `streams` at once at most
    assert sum(shape[0] for shape in encoded) == sum(n for _, n in VIDEOS)
    assert max(shape[0] for shape in encoded) == streams
    assert {shape[2:] for shape in encoded} == {SMALL, LARGE}
    # the temporal head runs the full clips of the open videos together
    assert max(clips) == streams and sum(clips) == sum(max(0, n - 3) for _, n in VIDEOS)


def test_a_finished_video_gives_its_slot_to_the_next(model, videos):
    short, long_, other = videos[2], videos[1][:12], videos[0]  # 2, 12 and 5 frames, of two sizes
    events = list(segment_videos(model, [short, long_, other], streams=2, output="logits"))
    order = [(type(e).__name__, e.video_index) for e in events]
    # step 1-2: videos 0 and 1 together; step 3: video 0 has ended, video 2 takes its slot next to video 1
    assert order[:4] == [("VideoFrameResult", 0), ("VideoFrameResult", 1)] * 2
    assert order[4:7] == [("VideoFinished", 0), ("VideoFrameResult", 2), ("VideoFrameResult", 1)]
    active, peak = set(), 0
    for event in events:
        if isinstance(event, VideoFrameResult):
            active.add(event.video_index)
        else:
            active.discard(event.video_index)
        peak = max(peak, len(active))
    assert peak == 2
    results, final = per_video(events)
    assert [final[k].num_frames for k in range(3)] == [2, 12, 5]
    assert all(isinstance(final[k], VideoFinished) for k in range(3))


def test_consecutive_frames_per_step_equal_batch_1(model, videos, alone, monkeypatch):
    encoded = []
    encode = model.encode_stream_frames
    monkeypatch.setattr(model, "encode_stream_frames", lambda x, **kw: encoded.append(x.shape[0]) or encode(x, **kw))
    results, final = per_video(segment_videos(model, videos[:4], streams=2, batch_size=3, output="logits"))
    assert max(encoded) == 6  # 3 frames of each of 2 videos of one size
    for k in range(4):
        assert isinstance(final[k], VideoFinished) and max_error(results[k], alone[k]) <= 1e-5


def test_a_video_that_fails_is_reported_and_the_others_complete(model, tmp_path):
    processor = MrcfaImageProcessor(size={"longest_edge": 96, "shortest_edge": 64})
    rng = np.random.default_rng(5)

    def images(n, height, width):
        return [Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(n)]

    good = images(11, 40, 70)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(images(6, 70, 40)):  # portrait: another input size
        image.save(folder / f"{i:03d}.png")
    broken = tmp_path / "broken"  # a corrupt image in the middle of a folder of frames
    broken.mkdir()
    readable = images(5, 40, 70)
    for i, image in enumerate(readable):
        image.save(broken / f"{i:03d}.png")
    (broken / "002.png").write_bytes(b"not a png")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video" * 100)
    missing = tmp_path / "missing.mp4"
    nan = [np.full((40, 70, 3), np.nan, dtype=np.float32)]  # refused by the processor
    videos = [good, str(missing), str(folder), corrupt, str(broken), 5, [], nan, good[:4]]

    events = list(segment_videos(model, videos, processor=processor, streams=3, with_frames=True))
    results, final = per_video(events)
    assert sorted(final) == list(range(len(videos)))
    assert [type(final[k]).__name__ for k in range(len(videos))] == [
        "VideoFinished",
        "VideoFailed",
        "VideoFinished",
        "VideoFailed",
        "VideoFailed",
        "VideoFailed",
        "VideoFailed",
        "VideoFailed",
        "VideoFinished",
    ]
    assert isinstance(final[1].error, FileNotFoundError) and final[1].video == str(missing)
    assert isinstance(final[3].error, VideoReadError) and final[3].num_frames == 0
    assert isinstance(final[4].error, CorruptFrameError) and final[4].num_frames == 2  # frames 0-1 predicted
    assert isinstance(final[5].error, TypeError) and "video 5 of segment_videos is not a video" in str(final[5].error)
    assert isinstance(final[6].error, ValueError) and "no frames" in str(final[6].error)
    assert "frame 0 of the video" in str(final[7].error)

    # the videos that complete (and the frames before a failure) get the labels they get alone
    for k, video in ((0, good), (2, str(folder)), (8, good[:4]), (4, readable[:2])):
        expected = list(segment_video(model, video, processor=processor))
        assert len(results[k]) == final[k].num_frames == len(expected)
        assert all(torch.equal(a, e) for a, e in zip(results[k], expected))
    frames = [e.frame for e in events if isinstance(e, VideoFrameResult) and e.video_index == 0]
    assert all(a is b for a, b in zip(frames, good)) and len(frames) == len(good)


def test_a_frame_the_model_refuses_ends_only_its_video(model, videos, alone):
    wrong_size = videos[0][:4] + [torch.randn(3, *LARGE)]  # frame 4 of another size
    with_nan = [f.clone() for f in videos[2]]
    with_nan[1][0, 0, 0] = float("nan")
    events = list(segment_videos(model, [wrong_size, videos[3], with_nan], streams=3, output="logits"))
    results, final = per_video(events)
    assert isinstance(final[0], VideoFailed) and final[0].num_frames == 4
    assert "frame 4 has input size (96, 128) but earlier frames of this video have (64, 96)" in str(final[0].error)
    assert isinstance(final[2], VideoFailed) and final[2].num_frames == 1
    assert str(final[2].error).startswith("frame 1 of the video has NaN")
    assert isinstance(final[1], VideoFinished) and max_error(results[1], alone[3]) <= 1e-5
    assert max_error(results[0], alone[0][:4]) <= 1e-5


def test_each_stream_keeps_a_bounded_cache(model, videos, monkeypatch):
    seen = []

    def step(backend, sessions, frames, **kwargs):
        outputs = streaming_step_batch(backend, sessions, frames, **kwargs)
        seen.append([(s.next_frame_idx, s.cached_frame_indices) for s in sessions])
        return outputs

    monkeypatch.setattr(streaming_mrcfa, "streaming_step_batch", step)
    list(segment_videos(model, videos, streams=3, output="logits"))
    assert max(len(sessions) for sessions in seen) == 3
    for sessions in seen:
        for next_frame, cached in sessions:
            assert len(cached) <= HORIZON <= 10
            later = {j for t in range(next_frame, next_frame + HORIZON) for j in test_clip_indices(t)}
            assert set(cached) == later & set(range(next_frame))  # exactly what later clips use


def test_streaming_step_batch_equals_each_session_alone(model, videos, alone):
    """Sessions of two sizes at different frame indices: frames predicted alone and with clips in one step."""
    chosen = [videos[1], videos[3], videos[5], videos[4]]  # 14, 13, 10, 8 frames; SMALL, SMALL, LARGE, SMALL
    expected = [alone[1], alone[3], alone[5], alone[4]]
    sessions = [MrcfaVideoInferenceSession() for _ in chosen]
    offsets = [0, 2, 4, 6]  # session k starts `offsets[k]` steps late
    stepped = [[] for _ in chosen]
    for step in range(max(len(v) + o for v, o in zip(chosen, offsets))):
        members = [k for k, (v, o) in enumerate(zip(chosen, offsets)) if 0 <= step - o < len(v)]
        outputs = streaming_step_batch(
            model, [sessions[k] for k in members], [chosen[k][step - offsets[k]] for k in members]
        )
        for k, output in zip(members, outputs):
            assert output.frame_idx == step - offsets[k] and output.logits.shape[0] == 1
            stepped[k].append(output.logits[0])
            assert len(sessions[k].cache) <= HORIZON
    for k in range(len(chosen)):
        assert max_error(stepped[k], expected[k]) <= 1e-5

    # preloaded videos (frames=None), one clip per temporal-head call: the same
    preloaded = [MrcfaVideoInferenceSession(video=torch.stack(v)) for v in (videos[3], videos[5])]
    outputs = [streaming_step_batch(model, preloaded, clip_batch_size=1) for _ in range(10)]
    assert max_error([o[0].logits[0] for o in outputs], alone[3][:10]) <= 1e-5
    assert max_error([o[1].logits[0] for o in outputs], alone[5]) <= 1e-5


def test_streaming_step_batch_errors_change_nothing(model, videos):
    small, large = videos[0], videos[2]
    a, b = MrcfaVideoInferenceSession(), MrcfaVideoInferenceSession()
    streaming_step_batch(model, [a, b], [small[0], large[0]])
    bad = large[1].clone()
    bad[0, 0, 0] = float("inf")
    with pytest.raises(MrcfaStreamError, match="^stream 1: frame 1 of the video has NaN or infinite") as info:
        streaming_step_batch(model, [a, b], [small[1], bad])
    assert info.value.stream == 1 and isinstance(info.value, ValueError)
    assert a.next_frame_idx == b.next_frame_idx == 1 and a.cached_frame_indices == [0]  # a did not move either
    with pytest.raises(MrcfaStreamError, match=r"^stream 0: frame 1 has input size \(96, 128\)"):
        streaming_step_batch(model, [a, b], [large[1], large[1]])
    with pytest.raises(ValueError, match="appears twice"):
        streaming_step_batch(model, [a, a], [small[1], small[2]])
    with pytest.raises(ValueError, match="frames has 1 entries for 2 sessions"):
        streaming_step_batch(model, [a, b], [small[1]])
    with pytest.raises(ValueError, match="non-empty list of MrcfaVideoInferenceSession"):
        streaming_step_batch(model, [], [])
    with pytest.raises(TypeError, match=r"use streaming_step_batch\(model, sessions, frames\)"):
        model(inference_session=[a, b], frame=[small[1], large[1]])
    assert a.next_frame_idx == b.next_frame_idx == 1 and (a.input_size, b.input_size) == (SMALL, LARGE)
    # after the errors the step goes on as if they had not happened
    outputs = streaming_step_batch(model, [a, b], [small[1], large[1]])
    assert [o.frame_idx for o in outputs] == [1, 1] and a.cached_frame_indices == b.cached_frame_indices == [0, 1]
    model.train()
    try:
        with pytest.raises(ValueError, match="eval mode"):
            streaming_step_batch(model, [MrcfaVideoInferenceSession()], [videos[0][0]])
    finally:
        model.eval()


def test_segment_videos_argument_errors(model, videos):
    with pytest.raises(TypeError, match="for one video, use segment_video"):
        segment_videos(model, "video.mp4")
    with pytest.raises(ValueError, match="streams must be an integer >= 1, got 0"):
        segment_videos(model, videos, streams=0)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        segment_videos(model, videos, batch_size=0)
    with pytest.raises(ValueError, match="output must be"):
        segment_videos(model, videos, output="masks")
    with pytest.raises(TypeError, match="needs an MRCFA model"):
        segment_videos(torch.nn.Linear(2, 2), videos)
    assert list(segment_videos(model, [], streams=2)) == []


def test_single_session_step_runs_one_clip_per_call(model, videos, alone, monkeypatch):
    """`streaming_step` (one session, consecutive frames encoded together) still runs one clip per temporal-head call;
    `streaming_step_batch` on that one session runs them together, with the same logits."""
    clips = []
    head = model.stream_target_logits
    monkeypatch.setattr(
        model, "stream_target_logits", lambda t, r, s: clips.append(len(t.fused_eighth)) or head(t, r, s)
    )
    session = MrcfaVideoInferenceSession()
    logits = torch.cat([streaming_step(model, session, videos[1][i : i + 4]).logits for i in range(0, 14, 4)])
    assert max_error(list(logits), alone[1]) <= 1e-5 and set(clips) == {1} and len(clips) == 14 - 3
    clips.clear()
    session = MrcfaVideoInferenceSession()
    logits = torch.cat(
        [streaming_step_batch(model, [session], [videos[1][i : i + 4]])[0].logits for i in range(0, 14, 4)]
    )
    assert max_error(list(logits), alone[1]) <= 1e-5 and clips == [1, 4, 4, 2]


def test_frames_before_one_the_processor_refuses_are_predicted(model):
    processor = MrcfaImageProcessor(size={"longest_edge": 96, "shortest_edge": 64})
    rng = np.random.default_rng(6)
    frames = [rng.integers(0, 256, (40, 70, 3)).astype(np.float32) for _ in range(7)]
    frames[4][0, 0, 0] = np.nan
    events = list(segment_videos(model, [frames, frames[:3]], processor=processor, streams=2, batch_size=3))
    results, final = per_video(events)
    assert isinstance(final[0], VideoFailed) and final[0].num_frames == 4  # frame 3 of the step [3, 4, 5] too
    assert str(final[0].error).startswith("frame 4 of the video")
    assert isinstance(final[1], VideoFinished) and final[1].num_frames == 3
    expected = list(segment_video(model, frames[:4], processor=processor))
    assert all(torch.equal(a, e) for a, e in zip(results[0], expected))
