"""`mrcfa segment` on collections (issue 20, items 2-3): several inputs, folders of videos, patterns and @LIST, one
folder per video and manifest.jsonl, resume, a bad video among good ones, shares across processes (torchrun, gloo);
and summaries that tell the truth (issue 21, items 3-4): declared / read / skipped / written frames and the missing
tail of a truncated video, small shares shown as "<1%", the middle frame as preview without a frame count, odd
sizes kept by the overlay."""

import filecmp
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import save_tiny_model
from PIL import Image

from mrcfa.cli import main
from mrcfa.collection import (
    list_videos,
    manifest_part,
    merge_manifests,
    name_videos,
    plan_shares,
    segment_collection,
    video_weights,
)
from mrcfa.errors import UsageError
from mrcfa.loading import load_model
from mrcfa.models.mrcfa.video_io_mrcfa import VideoWriter, iter_frames
from mrcfa.segmenting import SegmentationOptions, missing_tail_message, result_line
from mrcfa.visualization import draw_legend, palette_for, preview_image, share_text

H, W = 40, 70
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"), scale=(96, 64))


def random_frames(n, seed=0, size=(W, H)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(n)]


def write_video(path, n, seed=0, rate=10):
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for frame in random_frames(n, seed):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def segment(capsys, *args):
    """`mrcfa segment ARGS --quiet`: (exit status, stderr, stdout)."""
    code = main(["segment", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return code, captured.err, captured.out


def error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("mrcfa segment: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def manifest(root):
    return [json.loads(line) for line in (Path(root) / "manifest.jsonl").read_text().splitlines()]


def summary(folder):
    return json.loads((Path(folder) / "summary.json").read_text())


def assert_same_results(a, b):
    """Every file of the two output folders is byte-identical, but summary.json's time and the manifest's (and
    paths under the folder, in summary.json)."""
    a, b = Path(a), Path(b)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in files:
        if name.name == "summary.json":
            first = json.loads((a / name).read_text().replace(str(a), str(b)))  # the overlay's path: under b
            assert {**first, "seconds": 0} == {**summary(b / name.parent), "seconds": 0}, name
        elif name.name != "manifest.jsonl":
            assert filecmp.cmp(a / name, b / name, shallow=False), name


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A folder of five videos of different lengths (frame counts 4, 4, 12, 12, 4), one of them a .mkv (no count)."""
    folder = tmp_path_factory.mktemp("videos")
    for i, (name, n) in enumerate([("a.mp4", 4), ("b.avi", 4), ("c.mp4", 12), ("d.mkv", 12), ("e.mp4", 4)]):
        write_video(folder / name, n, seed=i)
    return folder


# -------------------------------------------------------------------------- inputs, names, shares
def test_inputs_folders_patterns_lists_and_names(tmp_path, videos):
    frames = tmp_path / "frames"  # a folder of frames (with a stray video) is one video
    frames.mkdir()
    Image.fromarray(random_frames(1)[0]).save(frames / "000.png")
    shutil.copy(videos / "a.mp4", frames / "stray.mp4")
    vspw = tmp_path / "vspw_video" / "origin"  # a VSPW video folder is one video
    vspw.mkdir(parents=True)
    Image.fromarray(random_frames(1)[0]).save(vspw / "000.jpg")
    assert list_videos([str(videos / "a.mp4")]) == ([videos / "a.mp4"], False)
    assert list_videos([str(frames)]) == ([frames], False)
    assert list_videos([str(tmp_path / "vspw_video")]) == ([tmp_path / "vspw_video"], False)
    every = [videos / n for n in ("a.mp4", "b.avi", "c.mp4", "d.mkv", "e.mp4")]
    assert list_videos([str(videos)]) == (every, True)  # a folder of videos, sorted
    assert list_videos([str(videos / "*.mp4")]) == ([videos / n for n in ("a.mp4", "c.mp4", "e.mp4")], True)
    assert list_videos([str(videos / "c.mp4")] * 2) == ([videos / "c.mp4"], True)  # named twice: once
    listing = tmp_path / "lists" / "videos.txt"
    listing.parent.mkdir()
    listing.write_text(f"# clips\n\n{os.path.relpath(videos / 'e.mp4', listing.parent)}\n  {frames}  \n")
    assert list_videos([f"@{listing}", str(videos / "a.mp4")]) == ([videos / "e.mp4", frames, videos / "a.mp4"], True)

    mistakes = [
        ([str(tmp_path / "missing.mp4")], f"input not found: {tmp_path / 'missing.mp4'}"),
        ([str(tmp_path / "*.webm")], f"no file matches {tmp_path / '*.webm'}"),
        ([str(listing)], f"{listing} is a text file, not a video: to segment the videos it lists (one per line), "
                         f"pass @{listing}"),
        ([f"@{tmp_path / 'none.txt'}"], f"@{tmp_path / 'none.txt'}: no such list file"),
    ]  # fmt: skip
    (tmp_path / "empty.txt").write_text("# nothing\n")
    mistakes.append(([f"@{tmp_path / 'empty.txt'}"], "lists no videos"))
    (tmp_path / "holes.txt").write_text("gone.mp4\n")
    mistakes.append(([f"@{tmp_path / 'holes.txt'}"], f"input not found: {tmp_path / 'gone.mp4'}"))
    for inputs, message in mistakes:
        with pytest.raises(UsageError) as info:
            list_videos(inputs)
        assert message in str(info.value), (inputs, str(info.value))

    sources = [Path("/x/clip.mp4"), Path("/y/clip.avi"), Path("/z/CLIP.mp4"), Path("/x/clip-2.mp4")]
    sources += [Path("/x/manifest.jsonl.mp4"), Path("/x/other.mp4")]
    named = name_videos(sources)
    assert [v.name for v in named] == ["clip", "clip-2", "CLIP-3", "clip-2-2", "manifest.jsonl-2", "other"]
    assert [v.index for v in named] == list(range(6)) and named[1].source == Path("/y/clip.avi")


def test_plan_shares_balances_frames_deterministically():
    weights = [4, 4, 12, None, 4, 30, 0]  # None: the mean of the known counts (9)
    shares = plan_shares(weights, 2)
    assert shares == [[5, 6], [0, 1, 2, 3, 4]]  # 30 + 0 | 12 + 9 + 4 + 4 + 4: largest first onto the least loaded
    assert sorted(i for share in shares for i in share) == list(range(7))  # each video once
    assert shares == plan_shares(list(weights), 2)  # the same plan in every process
    assert plan_shares(weights, 1) == [list(range(7))]
    assert plan_shares([5, 5, 5], 4) == [[0], [1], [2], []]
    with pytest.raises(ValueError, match="num_processes must be >= 1"):
        plan_shares(weights, 0)


# -------------------------------------------------------------------------- a collection, a bad video, resume
def test_collection_with_a_bad_video_then_resume(model_dir, videos, tmp_path, capsys):
    folder = tmp_path / "videos"
    shutil.copytree(videos, folder)
    (folder / "bad.mp4").write_bytes(b"\x00 not a video")
    out = tmp_path / "out"
    code, err, stdout = segment(capsys, folder, "--model", model_dir, "--output", out, "--overlay", "overlay.mp4",
                                "--preview", "preview.png")  # fmt: skip
    bad = folder / "bad.mp4"
    first = f"cannot open video {bad}: "
    assert code == 2
    line = error_line(err)
    assert line.startswith(f"mrcfa segment: error: 1 of 6 videos failed or are incomplete (the first: {bad}: {first}")
    assert line.endswith(f"{out / 'manifest.jsonl'} lists each video with its status and error.")
    records = manifest(out)
    assert [r["input"] for r in records] == [str(folder / n) for n in ("a.mp4", "b.avi", "bad.mp4", "c.mp4",
                                                                      "d.mkv", "e.mp4")]  # fmt: skip
    assert [r["status"] for r in records] == ["done", "done", "failed", "done", "done", "done"]
    assert [r["frames"] for r in records] == [4, 4, 0, 12, 12, 4]
    assert records[2]["error"].startswith(first) and records[2]["output"] == str(out / "bad")
    assert all(r["error"] is None and r["seconds"] > 0 for r in records if r["status"] == "done")
    assert not (out / "bad").exists() and not list(out.glob("manifest.rank*"))
    assert f"segmented 12 frames -> {out / 'c'} (" in stdout
    for name, n in (("a", 4), ("c", 12), ("d", 12)):
        assert sorted(p.name for p in (out / name).iterdir()) == [f"{i:05d}.png" for i in range(n)] + [
            "legend.json", "legend.txt", "overlay.mp4", "preview.png", "summary.json"
        ]  # fmt: skip
        assert summary(out / name)["complete"] is True
    assert summary(out / "d")["preview_frame"] == "frame 5"  # a .mkv gives no frame count: still the middle

    # each video's folder holds what the one-video command writes
    single = tmp_path / "single"
    code, _, stdout = segment(capsys, folder / "c.mp4", "--model", model_dir, "--output", single, "--overlay",
                              tmp_path / "overlay.mp4", "--preview", tmp_path / "preview.png")  # fmt: skip
    assert (
        code == 0 and stdout == f"{result_line(single)}\n" and stdout.startswith(f"segmented 12 frames -> {single} (")
    )
    for name in [p.name for p in single.glob("*.png")] + ["legend.json", "legend.txt"]:
        assert filecmp.cmp(single / name, out / "c" / name, shallow=False), name
    for name in ("overlay.mp4", "preview.png"):
        assert filecmp.cmp(tmp_path / name, out / "c" / name, shallow=False), name

    # resume: complete videos are skipped, a partial one (killed: no summary) is redone, a file of the user's stays
    clean = tmp_path / "clean"
    shutil.copytree(out, clean)
    (out / "d" / "summary.json").unlink()
    (out / "d" / "00003.png").unlink()
    (out / "d" / "notes.md").write_text("mine")
    (folder / "bad.mp4").unlink()
    code, err, stdout = segment(capsys, folder, "--model", model_dir, "--output", out, "--overlay", "overlay.mp4",
                                "--preview", "preview.png")  # fmt: skip
    assert code == 0, err
    assert stdout.splitlines()[-1] == (
        f"segmented 1 videos (12 frames); 4 complete from an earlier run, skipped -> {out} (manifest.jsonl)"
    )
    assert f"{out / 'a'}: complete from an earlier run, skipped" in stdout
    records = manifest(out)
    assert [r["status"] for r in records] == ["skipped-complete"] * 3 + ["done", "skipped-complete"]
    assert [r["frames"] for r in records] == [4, 4, 12, 12, 4]
    assert (out / "d" / "notes.md").read_text() == "mine"
    (out / "d" / "notes.md").unlink()
    (clean / "manifest.jsonl").unlink()
    (out / "manifest.jsonl").unlink()
    assert_same_results(clean, out)

    # complete results of another model are not replaced without --overwrite; with it, every video is redone
    other = tmp_path / "other_model"
    shutil.copytree(model_dir, other)
    code, err, _ = segment(capsys, folder / "a.mp4", folder / "b.avi", "--model", other, "--output", out)
    assert code == 2 and "2 of 2 videos failed or are incomplete" in error_line(err)
    assert manifest(out)[0]["error"] == (
        f"{out / 'a'} holds the complete results of {folder / 'a.mp4'} with the model {model_dir}: pass --overwrite "
        "to replace them, or choose another --output."
    )
    code, err, stdout = segment(capsys, folder / "a.mp4", folder / "b.avi", "--model", other, "--output", out,
                                "--overwrite")  # fmt: skip
    assert code == 0 and [r["status"] for r in manifest(out)] == ["done", "done"]
    assert summary(out / "a")["model"] == str(other)


def test_collection_arguments_are_checked_first(model_dir, videos, tmp_path, capsys):
    cases = [
        (["--overlay", tmp_path / "o.mp4"], f"--overlay {tmp_path / 'o.mp4'}: with several videos, --overlay is a "
                                            "file name written into each video's folder under --output (e.g. "
                                            "--overlay o.mp4), not a path."),
        (["--preview", "sub/p.png"], "--preview sub/p.png: with several videos, --preview is a file name"),
        (["--streams", "0"], "--streams must be >= 1, got 0."),
    ]  # fmt: skip
    for extra, message in cases:
        code, err, _ = segment(capsys, videos, "--model", model_dir, "--output", tmp_path / "out", *extra)
        assert code == 2 and message in error_line(err), err
    assert not (tmp_path / "out").exists()


def test_a_video_folder_that_is_an_input_is_never_written(model_dir, videos, tmp_path, capsys):
    """`--output DIR` where `DIR/<name>` is a folder of frames given as input: its frames are not replaced."""
    frames = tmp_path / "clip"
    frames.mkdir()
    for i, frame in enumerate(random_frames(3)):
        Image.fromarray(frame).save(frames / f"{i:05d}.png")
    before = {p.name: p.read_bytes() for p in frames.iterdir()}
    code, err, _ = segment(capsys, frames, videos / "a.mp4", "--model", model_dir, "--output", tmp_path)
    assert code == 2 and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in frames.iterdir()} == before
    assert err == (
        f"mrcfa segment: error: --output {tmp_path} contains the input frames folder 1 {frames}: an output may not be, "
        "contain or lie inside an input (nothing was written); choose another --output.\n"
    )


def test_a_preview_named_like_a_frame_is_refused(model_dir, videos, tmp_path, capsys):
    """--preview where a frame's label PNG goes (one would replace the other): refused before any work, for a folder
    of frames, a video file (frames named by position) and each video of a collection."""
    frames = tmp_path / "clip"
    frames.mkdir()
    for name, frame in zip(("img000", "img001", "img002"), random_frames(3)):
        Image.fromarray(frame).save(frames / f"{name}.png")
    out = tmp_path / "out"
    cases = [
        ([frames, "--preview", out / "img001.png"], f"--preview {out / 'img001.png'}: the label PNG of frame img001 "
                                                    f"of {frames} is written there"),
        ([videos / "a.mp4", "--preview", out / "00002.png"], f"--preview {out / '00002.png'}: the label PNG of frame "
                                                             f"00002 of {videos / 'a.mp4'} is written there"),
        ([frames, videos / "a.mp4", "--preview", "img002.png"], f"--preview {out / 'clip' / 'img002.png'}: the label "
                                                                f"PNG of frame img002 of {frames} is written there"),
        ([frames, videos / "a.mp4", "--preview", "00000.png"], f"--preview {out / 'a' / '00000.png'}: the label "
                                                               f"PNG of frame 00000 of {videos / 'a.mp4'} is written "
                                                               "there"),
    ]  # fmt: skip
    for args, message in cases:
        code, err, _ = segment(capsys, *args, "--model", model_dir, "--output", out)
        assert code == 2 and error_line(err) == (
            f"mrcfa segment: error: {message}; choose another name (e.g. preview.png) or another folder."
        )
    assert not out.exists()
    code, err, _ = segment(capsys, frames, "--model", model_dir, "--output", out, "--preview", out / "img001.jpg")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["img000.png", "img001.jpg", "img001.png", "img002.png",
                                                      "legend.json", "legend.txt", "summary.json"]  # fmt: skip


def test_shares_of_two_processes_are_the_run_of_one(model_dir, videos, tmp_path, capsys):
    """The library path of a 2-process run, one process after the other: disjoint shares whose union, merged, is
    the 1-process run (the launch itself: test_torchrun_two_processes_and_a_killed_run, slow)."""
    model, processor = load_model(str(model_dir))
    sources, _ = list_videos([str(videos)])
    items = name_videos(sources)
    options = SegmentationOptions(model_name=str(model_dir), preview="preview.png", progress=False)
    one, two = tmp_path / "one", tmp_path / "two"
    alone = segment_collection(model, processor, items, one, options)
    merge_manifests(one, items)
    weights = video_weights(items, two, options)
    assert weights == [4, 4, 12, None, 4]
    parts = [
        segment_collection(model, processor, items, two, options, process_index=k, num_processes=2, weights=weights)
        for k in (0, 1)
    ]
    assert [[r["input"] for r in part] for part in parts] == [
        [str(videos / n) for n in names] for names in (("c.mp4", "e.mp4"), ("a.mp4", "b.avi", "d.mkv"))
    ]  # d's count is unknown: the mean (6); c 12 | d 6, a 4, b 4 | e 4
    assert [json.loads(x)["input"] for x in manifest_part(two, 1).read_text().splitlines()] == [
        r["input"] for r in parts[1]
    ]
    merged = merge_manifests(two, items, 2)
    assert [r["input"] for r in merged] == [r["input"] for r in alone] == [str(s) for s in sources]
    assert not manifest_part(two, 0).exists() and not manifest_part(two, 1).exists()
    assert [r["status"] for r in merged] == ["done"] * 5
    assert_same_results(one, two)
    # a rerun of the 2-process run skips everything (weights 0), and a video no process reported is named
    assert video_weights(items, two, options) == [0] * 5
    assert merge_manifests(two, items, 2)[0] == {
        "input": str(videos / "a.mp4"), "output": str(two / "a"), "frames": 0, "seconds": 0.0, "status": "failed",
        "error": "not segmented: its process stopped before it",
    }  # fmt: skip


# -------------------------------------------------------------------------- batched streams (--streams N)
@pytest.fixture
def mixed(tmp_path, videos):
    """Videos of two sizes and four kinds: files with and without a frame count, a folder of frames, a bad file and
    a truncated video (its header declares 40 frames, 9 are left)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("a.mp4", "c.mp4", "d.mkv"):
        shutil.copy(videos / name, folder / name)
    frames = tmp_path / "frames"  # another size: 64x48, five frames named by their time
    frames.mkdir()
    for i, frame in enumerate(random_frames(5, seed=7, size=(64, 48))):
        Image.fromarray(frame).save(frames / f"t{i * 40}.png")
    (folder / "bad.mp4").write_bytes(b"\x00 not a video")
    truncated = write_video(folder / "truncated.avi", 40, seed=3)
    with av.open(str(truncated)) as container:
        positions = [packet.pos for packet in container.demux(video=0) if packet.size]
    truncated.write_bytes(truncated.read_bytes()[: positions[9]])
    return [folder / "a.mp4", folder / "bad.mp4", folder / "c.mp4", frames, folder / "d.mkv", truncated]


def test_streams_write_what_one_stream_writes(model_dir, mixed, tmp_path, capsys, monkeypatch):
    """`--streams 3` over videos of two sizes, a bad and a truncated one: every file is byte-identical to `--streams
    1` (which is the one-video path: test_collection_with_a_bad_video_then_resume), the manifest the same, and the
    encoder did see three videos at once."""
    from mrcfa.models.mrcfa import streaming_mrcfa

    batched = []

    def step(backend, sessions, frames, **kwargs):
        batched.append(len(sessions))
        return streaming_step_batch(backend, sessions, frames, **kwargs)

    streaming_step_batch = streaming_mrcfa.streaming_step_batch
    monkeypatch.setattr(streaming_mrcfa, "streaming_step_batch", step)
    runs = {}
    for streams in (1, 3):
        out = tmp_path / f"streams{streams}"
        batched.clear()
        code, err, stdout = segment(capsys, *mixed, "--model", model_dir, "--output", out, "--streams", streams,
                                    "--overlay", "overlay.mp4", "--preview", "preview.png")  # fmt: skip
        assert code == 2 and "2 of 6 videos failed or are incomplete" in error_line(err)
        assert max(batched) == streams
        runs[streams] = [{**r, "seconds": 0} for r in manifest(out)]
    assert [r["status"] for r in runs[3]] == ["done", "failed", "done", "done", "done", "incomplete"]
    assert [r["frames"] for r in runs[3]] == [4, 0, 12, 5, 12, 9]
    assert runs[3] == [{**r, "output": r["output"].replace("streams1", "streams3")} for r in runs[1]]
    assert sorted(p.name for p in (tmp_path / "streams3" / "frames").glob("*.png")) == sorted(
        [f"t{i * 40}.png" for i in range(5)] + ["preview.png"]
    )
    assert summary(tmp_path / "streams3" / "truncated")["frames_missing"] == {"first": 9, "last": 39}
    assert_same_results(tmp_path / "streams1", tmp_path / "streams3")


def test_streams_survive_a_failing_model_and_an_interruption(model_dir, videos, tmp_path, monkeypatch):
    """The model failing on one step ends the two videos in flight with its error (their summaries say so) and the
    run goes on; an interruption leaves the open videos incomplete; the reruns redo them to the results of a clean
    run."""
    from mrcfa.models.mrcfa import streaming_mrcfa

    model, processor = load_model(str(model_dir))
    items = name_videos(list_videos([str(videos)])[0])  # a, b, c, d, e: 4, 4, 12, 12, 4 frames
    options = SegmentationOptions(model_name=str(model_dir), progress=False)
    clean = tmp_path / "clean"
    segment_collection(model, processor, items, clean, options)
    real, calls = streaming_mrcfa.streaming_step_batch, []

    def failing(backend, sessions, frames, fail_at, error, **kwargs):
        calls.append(len(sessions))
        if len(calls) == fail_at:
            raise error
        return real(backend, sessions, frames, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(streaming_mrcfa, "streaming_step_batch", functools.partial(
        failing, fail_at=7, error=RuntimeError("CUDA error: device lost")))  # fmt: skip
    records = segment_collection(model, processor, items, out, options, streams=2)
    # steps 1-4: a and b (4 frames each); then c and d side by side, step 7 (their frame 2) fails; then e alone
    by_name = {Path(r["output"]).name: r for r in records}
    assert [by_name[n]["status"] for n in "abcde"] == ["done", "done", "failed", "failed", "done"]
    assert by_name["c"]["error"] == by_name["d"]["error"] == "RuntimeError: CUDA error: device lost"
    for name in "cd":
        assert summary(out / name)["complete"] is False and summary(out / name)["frames_written"] == 2

    calls.clear()
    monkeypatch.setattr(streaming_mrcfa, "streaming_step_batch", functools.partial(
        failing, fail_at=3, error=KeyboardInterrupt()))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        segment_collection(model, processor, items, out, options, streams=2)
    assert [json.loads(line)["status"] for line in manifest_part(out, 0).read_text().splitlines()] == [
        "skipped-complete", "skipped-complete", "skipped-complete"
    ]  # fmt: skip
    for name in "cd":  # in flight when interrupted: what was written, and a summary saying it is not complete
        assert summary(out / name) == {**summary(out / name), "complete": False, "frames_written": 2,
                                       "error": "KeyboardInterrupt"}  # fmt: skip

    monkeypatch.setattr(streaming_mrcfa, "streaming_step_batch", real)
    records = segment_collection(model, processor, items, out, options, streams=2)
    assert [r["status"] for r in records] == ["skipped-complete"] * 3 + ["done"] * 2
    merge_manifests(clean, items)
    merge_manifests(out, items)
    assert_same_results(clean, out)


def _launch(args, cwd):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        command + ["-m", "mrcfa", "segment", *map(str, args), "--quiet", "--threads", "1"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_torchrun_two_processes_and_a_killed_run(model_dir, tmp_path, monkeypatch, capsys):
    """`torchrun --nproc_per_node 2 -m mrcfa segment ...` on CPU (gloo): the union of the two shares is the 1-process
    run byte for byte, each video once (with --streams 2: each process two videos at once); a 2-process run killed
    after its first video resumes to the same result."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, (name, n) in enumerate([("a.mp4", 4), ("b.mp4", 4), ("c.mp4", 40), ("d.mp4", 40), ("e.mp4", 4)]):
        write_video(folder / name, n, seed=i)
    args = [folder, "--model", model_dir, "--output", "out", "--overlay", "overlay.mp4", "--preview", "preview.png"]
    for run in ("one", "two", "killed"):
        (tmp_path / run).mkdir()
    monkeypatch.chdir(tmp_path / "one")  # the same relative --output everywhere: the same summaries
    code, err, _ = segment(capsys, *args, "--threads", "1")
    assert code == 0, err

    process = _launch([*args, "--streams", "2"], tmp_path / "two")  # each process: two videos at once
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert stdout.splitlines()[-1] == "segmented 5 videos (92 frames) -> out (manifest.jsonl)"
    assert [r["status"] for r in manifest(tmp_path / "two" / "out")] == ["done"] * 5
    assert [r["input"] for r in manifest(tmp_path / "two" / "out")] == [str(folder / f"{n}.mp4") for n in "abcde"]
    # each video segmented once, by one of the processes (their lines may interleave)
    assert [stdout.count(f" frames -> out/{n} (") for n in "abcde"] == [1] * 5, stdout
    assert_same_results(tmp_path / "one" / "out", tmp_path / "two" / "out")

    # shares: a, c and e on the first process, b and d on the second; stop the launch (SIGTERM: torchrun terminates
    # its processes at once) when a is done and c under way
    out = tmp_path / "killed" / "out"
    process = _launch(args, tmp_path / "killed")
    deadline = time.monotonic() + 300
    while not ((out / "a" / "summary.json").exists() and (out / "c" / "00002.png").exists()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1][-3000:]
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert not (out / "c" / "summary.json").exists() and not (out / "manifest.jsonl").exists()
    process = _launch(args, tmp_path / "killed")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    statuses = {Path(r["input"]).name: r["status"] for r in manifest(out)}
    assert statuses["a.mp4"] == "skipped-complete" and statuses["c.mp4"] == "done" and statuses["e.mp4"] == "done"
    assert set(statuses.values()) <= {"done", "skipped-complete"}
    assert_same_results(tmp_path / "one" / "out", out)


# -------------------------------------------------------------------------- summaries that tell the truth
def test_truncated_video_is_incomplete_and_says_which_frames_are_missing(model_dir, tmp_path, capsys):
    video = write_video(tmp_path / "video.avi", 40)
    with av.open(str(video)) as container:
        positions = [packet.pos for packet in container.demux(video=0) if packet.size]
    video.write_bytes(video.read_bytes()[: positions[9]])  # the header still declares 40 frames; 9 are left
    message = "the video declares 40 frames; 9 were read: frames 9-39 are missing (truncated?)"
    assert missing_tail_message(40, 9) == message
    for extra in ([], ["--skip-corrupt"]):
        out = tmp_path / f"out{len(extra)}"
        code, err, stdout = segment(capsys, video, "--model", model_dir, "--output", out, "--preview",
                                    tmp_path / f"p{len(extra)}.png", *extra)  # fmt: skip
        assert code == 2 and stdout == ""
        assert error_line(err) == (
            f"mrcfa segment: error: {message} -- stopped after 9 frames: {out} holds them with legend.json and "
            'summary.json ("complete": false).'
        )
        written = summary(out)
        assert {k: written[k] for k in ("complete", "frames_declared", "frames_read", "frames_skipped",
                                        "frames_written", "frames_missing", "error", "preview_frame")} == {
            "complete": False, "frames_declared": 40, "frames_read": 9, "frames_skipped": [], "frames_written": 9,
            "frames_missing": {"first": 9, "last": 39}, "error": message, "preview_frame": "frame 4",
        }  # fmt: skip
        assert len(list(out.glob("0*.png"))) == 9
    # --max-frames caps what is declared: the first 9 frames are the whole request
    code, _, stdout = segment(capsys, video, "--model", model_dir, "--output", tmp_path / "o", "--max-frames", "9")
    assert (
        code == 0 and summary(tmp_path / "o")["complete"] is True and summary(tmp_path / "o")["frames_declared"] == 9
    )
    # in a collection the video is incomplete, with the same error
    code, err, _ = segment(capsys, video, write_video(tmp_path / "good.mp4", 3), "--model", model_dir, "--output",
                           tmp_path / "many")  # fmt: skip
    assert code == 2 and "1 of 2 videos failed or are incomplete" in error_line(err)
    assert manifest(tmp_path / "many")[0] == {**manifest(tmp_path / "many")[0], "status": "incomplete", "frames": 9,
                                              "error": message}  # fmt: skip
    assert missing_tail_message(40, 7, 2) == (
        "the video declares 40 frames; 7 were read and 2 skipped: frames 9-39 are missing (truncated?)"
    )
    assert missing_tail_message(10, 9) == "the video declares 10 frames; 9 were read: frame 9 is missing (truncated?)"


def test_small_shares_read_the_same_in_the_last_line_and_the_legend(tmp_path):
    assert [share_text(s) for s in (0.0, 0.003, 0.0049, 0.009, 0.0151, 0.41, 0.993, 0.996, 1.0)] == [
        "0%", "<1%", "<1%", "<1%", "2%", "41%", ">99%", ">99%", "100%",
    ]  # fmt: skip
    palette = palette_for(3)
    (tmp_path / "summary.json").write_text(json.dumps({"frames_written": 2, "frames_skipped": [], "error": None}))
    pixels = [9960, 36, 4]  # 99.6%, 0.36%, 0.04%
    legend = [{"id": i, "name": n, "color": palette[i].tolist(), "pixels": p}
              for i, (n, p) in enumerate(zip(("road", "pole", "sign"), pixels))]  # fmt: skip
    (tmp_path / "legend.json").write_text(json.dumps(legend))
    assert result_line(tmp_path) == f"segmented 2 frames -> {tmp_path} (road >99%, pole <1%, sign <1%)"

    def drawn(share):
        image = Image.new("RGB", (200, 120))
        entry = {"id": 1, "name": "pole", "color": palette[1].tolist(), "pixels": 1, "share": share}
        return np.asarray(draw_legend(image, [entry], "frame 0"))

    assert np.array_equal(drawn(0.0036), drawn(0.009))  # both "pole <1%", not "pole 0%"
    assert not np.array_equal(drawn(0.0036), drawn(0.0)) and not np.array_equal(drawn(0.0036), drawn(0.02))


def test_preview_is_the_middle_frame_without_a_frame_count(model_dir, tmp_path, capsys):
    video = tmp_path / "video.mkv"  # Matroska stores no frame count nor stream duration
    with VideoWriter(video, rate=10) as writer:
        for frame in random_frames(9):
            writer.write(frame)
    code, _, _ = segment(capsys, video, "--model", model_dir, "--output", tmp_path / "out", "--preview",
                         tmp_path / "preview.png")  # fmt: skip
    assert code == 0
    written = summary(tmp_path / "out")
    assert written["frames_declared"] is None and written["preview_frame"] == "frame 4" and written["complete"]
    frame = list(iter_frames(video))[4]
    labels = np.asarray(Image.open(tmp_path / "out" / "00004.png")).astype(np.int64)
    model_config = json.loads((model_dir / "config.json").read_text())
    id2label = {int(k): v for k, v in model_config["id2label"].items()}
    expected = preview_image(frame, labels, palette_for(7), id2label, "frame 4")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "preview.png")), np.asarray(expected))


def test_overlay_keeps_an_odd_size(model_dir, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(random_frames(3, size=(71, 41))):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    for suffix in (".mp4", ".mkv", ".avi", ".mov"):
        overlay = tmp_path / f"overlay{suffix}"
        code, err, stdout = segment(capsys, folder, "--model", model_dir, "--output", tmp_path / suffix[1:],
                                    "--overlay", overlay)  # fmt: skip
        assert code == 0, err
        with av.open(str(overlay)) as container:
            decoded = list(container.decode(video=0))
        assert [(f.width, f.height) for f in decoded] == [(71, 41)] * 3, suffix
        assert summary(tmp_path / suffix[1:])["overlay"]["size"] == "71x41" and "cropped" not in stdout
    # an encoder that cannot keep it (libx264 in yuv420p) drops the last row and column, and says so
    with VideoWriter(tmp_path / "x264.mp4", rate=10, codec="libx264") as writer:
        writer.write(random_frames(1, size=(71, 41))[0])
    assert writer.size == (70, 40)
    out = tmp_path / "mp4"
    written = summary(out)
    written["overlay"].update(size="70x40", cropped_from="71x41")
    (out / "summary.json").write_text(json.dumps(written))
    assert result_line(out).endswith(
        "; the overlay is 70x40: its encoder cannot keep the odd size 71x41, the last row / column is left out"
    )
