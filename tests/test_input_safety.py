"""No command destroys or rewrites an input, with or without `--overwrite` (issue 21, item 1).

Every output of every command (`mrcfa segment`'s --output, --overlay and --preview, `mrcfa convert`, `mrcfa
export-onnx`, `mrcfa export-parquet`, `mrcfa cards`, `mrcfa app --write-space`, `scripts/run_vss.py`) that is,
contains or lies inside one of its inputs -- named directly, through a symbolic link, or as a hard link to an input
file -- is refused before any work with one line naming both paths (`mrcfa.checks.check_outputs_apart`), and the
inputs keep every byte. Also: `mrcfa segment` without --overwrite names the path that holds earlier results.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, save_tiny_model
from PIL import Image

from mrcfa.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "run_vss.py"
TAIL = ": an output may not be, contain or lie inside an input (nothing was written); choose another {}."


def refusal(argument, what):
    """The message of `check_outputs_apart` for `argument` and the relation `what` (e.g. "is the model folder X")."""
    return f"{argument} {what}{TAIL.format(argument)}"


def snapshot(root):
    """Every file and folder under `root` (links not followed) -> its SHA-256 (a file), its target (a link) or None
    (a folder): equal snapshots mean nothing was added, removed or changed."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = "-> " + os.readlink(path)
            elif path.is_file():
                state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                state[key] = None
    return state


# ------------------------------------------------------------------------------------------------------- inputs
def make_originals(root):
    """One copy of every kind of input in the folder `root` (returned): frames, a VSPW video folder, a video, a model,
    a VSPW dataset, the model card template. Each test works on a copy (`Paths`)."""
    import av

    from mrcfa.data import make_synthetic_vspw

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)) for _ in range(4)]
    (root / "frames").mkdir()
    (root / "vspw_video" / "origin").mkdir(parents=True)
    for i, frame in enumerate(frames):
        frame.save(root / "frames" / f"img{i:03d}.png")
        frame.save(root / "vspw_video" / "origin" / f"{i + 1:08d}.jpg")
    with av.open(str(root / "video.mp4"), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 40, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    save_tiny_model(root / "models" / "tiny")
    make_synthetic_vspw(root / "vspw", seed=1, num_classes=2, num_videos=(1, 1, 1), num_frames=(2, 2), height=32,
                        width=32)  # fmt: skip
    (root / "templates").mkdir()
    shutil.copyfile(ROOT / "src" / "mrcfa" / "templates" / "model_card.md", root / "templates" / "model_card.md")
    return root


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    return make_originals(tmp_path_factory.mktemp("originals"))


class Paths:
    """The inputs of one test, copied under `tmp/in`, and where its outputs go (`tmp/out`)."""

    def __init__(self, tmp_path, originals, checkpoint=False):
        tmp = tmp_path.resolve()
        self.inputs = Path(shutil.copytree(originals, tmp / "in"))
        self.out = tmp / "out"
        self.out.mkdir()
        self.frames = self.inputs / "frames"
        self.frame = self.frames / "img000.png"
        self.vspw_video = self.inputs / "vspw_video"
        self.video = self.inputs / "video.mp4"
        self.models = self.inputs / "models"
        self.model = self.models / "tiny"
        self.vspw = self.inputs / "vspw"
        self.template = self.inputs / "templates" / "model_card.md"
        self.checkpoint = self.inputs / "ckpt" / "mrcfa.pth"
        if checkpoint:
            self.checkpoint.parent.mkdir()
            shutil.copyfile(FIXTURES / "mrcfa_ref_a.pth", self.checkpoint)

    def symlink(self, target, name="link"):
        """`out/name`, a symbolic link to `target`."""
        (self.out / name).symlink_to(target)
        return self.out / name

    def hardlink(self, target, name):
        """`out/name`, a hard link to the file `target`."""
        (self.out / name).hardlink_to(target)
        return self.out / name


def refused(capsys, argv, prog, message):
    """Run `mrcfa ARGV` in process: exit status 2, one line on stderr (no traceback), exactly `message`."""
    code = main([*map(str, argv)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.splitlines() == [f"{prog}: error: {message}"], err


# ------------------------------------------------------------------------------------------------ mrcfa segment
# Each case: (id, paths -> (command-line arguments after INPUT, the argument refused, what it does)). The input is
# the frames folder unless the arguments start with another input.
def _segment_cases():
    return [
        ("output-is-frames", lambda p: ([p.frames, "--output", p.frames], "--output", f"{p.frames} is the input frames folder {p.frames}")),
        ("output-contains-frames", lambda p: ([p.frames, "--output", p.inputs], "--output", f"{p.inputs} contains the input frames folder {p.frames}")),
        ("output-inside-frames", lambda p: ([p.frames, "--output", p.frames / "seg"], "--output", f"{p.frames / 'seg'} lies inside the input frames folder {p.frames}")),
        ("output-symlink-to-frames", lambda p: ([p.frames, "--output", p.symlink(p.frames)], "--output", f"{p.out / 'link'} is the input frames folder {p.frames} (through links: {p.out / 'link'} is {p.frames})")),
        ("output-inside-symlink-to-frames", lambda p: ([p.frames, "--output", p.symlink(p.frames) / "seg"], "--output", f"{p.out / 'link' / 'seg'} lies inside the input frames folder {p.frames} (through links: {p.out / 'link' / 'seg'} is {p.frames / 'seg'})")),
        ("output-holds-hardlink-to-a-frame", lambda p: ([p.frames, "--output", p.out], "--output", f"{p.out} holds {p.hardlink(p.frame, 'img000.png')}, the same file as {p.frame} of the input frames folder {p.frames} (a hard link)")),
        ("output-holds-symlink-to-frames", lambda p: ([p.frames, "--output", p.out], "--output", f"{p.out} holds {p.symlink(p.frames, 'frames')}, a link to the input frames folder {p.frames}")),
        ("output-is-vspw-video", lambda p: ([p.vspw_video, "--output", p.vspw_video], "--output", f"{p.vspw_video} is the input frames folder {p.vspw_video}")),
        ("output-inside-vspw-video", lambda p: ([p.vspw_video, "--output", p.vspw_video / "origin"], "--output", f"{p.vspw_video / 'origin'} lies inside the input frames folder {p.vspw_video}")),
        ("output-is-video", lambda p: ([p.video, "--output", p.video], "--output", f"{p.video} is the input video {p.video}")),
        ("output-is-model", lambda p: ([p.video, "--output", p.model], "--output", f"{p.model} is the model folder (--model) {p.model}")),
        ("output-contains-model", lambda p: ([p.video, "--output", p.models], "--output", f"{p.models} contains the model folder (--model) {p.model}")),
        ("output-inside-model", lambda p: ([p.video, "--output", p.model / "seg"], "--output", f"{p.model / 'seg'} lies inside the model folder (--model) {p.model}")),
        ("overlay-is-video", lambda p: ([p.video, "--output", p.out / "seg", "--overlay", p.video], "--overlay", f"{p.video} is the input video {p.video}")),
        ("overlay-hardlink-to-video", lambda p: ([p.video, "--output", p.out / "seg", "--overlay", p.hardlink(p.video, "o.mp4")], "--overlay", f"{p.out / 'o.mp4'} is the input video {p.video} (the same file: a hard link)")),
        ("overlay-symlink-to-video", lambda p: ([p.video, "--output", p.out / "seg", "--overlay", p.symlink(p.video, "o.mp4")], "--overlay", f"{p.out / 'o.mp4'} is the input video {p.video} (through links: {p.out / 'o.mp4'} is {p.video})")),
        ("overlay-inside-frames", lambda p: ([p.frames, "--output", p.out / "seg", "--overlay", p.frames / "o.mp4"], "--overlay", f"{p.frames / 'o.mp4'} lies inside the input frames folder {p.frames}")),
        ("overlay-inside-model", lambda p: ([p.frames, "--output", p.out / "seg", "--overlay", p.model / "o.mp4"], "--overlay", f"{p.model / 'o.mp4'} lies inside the model folder (--model) {p.model}")),
        ("preview-is-a-frame", lambda p: ([p.frames, "--output", p.out / "seg", "--preview", p.frame], "--preview", f"{p.frame} lies inside the input frames folder {p.frames}")),
        ("preview-hardlink-to-a-frame", lambda p: ([p.frames, "--output", p.out / "seg", "--preview", p.hardlink(p.frame, "p.png")], "--preview", f"{p.out / 'p.png'} is the same file as {p.frame} of the input frames folder {p.frames} (a hard link)")),
        ("preview-symlink-to-a-frame", lambda p: ([p.frames, "--output", p.out / "seg", "--preview", p.symlink(p.frame, "p.png")], "--preview", f"{p.out / 'p.png'} lies inside the input frames folder {p.frames} (through links: {p.out / 'p.png'} is {p.frame})")),
        ("preview-inside-vspw-video", lambda p: ([p.vspw_video, "--output", p.out / "seg", "--preview", p.vspw_video / "origin" / "00000001.jpg"], "--preview", f"{p.vspw_video / 'origin' / '00000001.jpg'} lies inside the input frames folder {p.vspw_video}")),
        ("preview-inside-model", lambda p: ([p.frames, "--output", p.out / "seg", "--preview", p.model / "p.png"], "--preview", f"{p.model / 'p.png'} lies inside the model folder (--model) {p.model}")),
    ]  # fmt: skip


SEGMENT_CASES = _segment_cases()


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", [c for _, c in SEGMENT_CASES], ids=[i for i, _ in SEGMENT_CASES])
def test_segment_outputs_never_overlap_its_inputs(case, overwrite, originals, tmp_path, capsys):
    p = Paths(tmp_path, originals)
    (source, *args), argument, what = case(p)
    before = snapshot(p.inputs)
    argv = ["segment", source, "--model", p.model, *args, "--quiet", *(["--overwrite"] if overwrite else [])]
    refused(capsys, argv, "mrcfa segment", refusal(argument, what))
    assert snapshot(p.inputs) == before
    assert not (p.out / "seg").exists()


def test_segment_names_the_path_that_holds_earlier_results(originals, tmp_path, capsys):
    p = Paths(tmp_path, originals)
    base = ["segment", p.frames, "--model", p.model, "--quiet"]
    hint = "pass --overwrite to replace {}, or choose another {}."
    # results in --output: that folder, and one of its files
    (p.out / "seg").mkdir()
    (p.out / "seg" / "img000.png").write_bytes(b"earlier")
    (p.out / "seg" / "legend.json").write_text("{}")
    message = f"{p.out / 'seg'} already holds results (img000.png, ...): {hint.format('them', '--output')}"
    refused(capsys, [*base, "--output", p.out / "seg"], "mrcfa segment", message)
    # an earlier overlay or preview, --output new: the file that exists (not the folder, which does not)
    for flag, name in (("--overlay", "o.mp4"), ("--preview", "p.png")):
        (p.out / name).write_bytes(b"earlier")
        message = f"{flag} {p.out / name} already exists: {hint.format('it', flag)}"
        refused(capsys, [*base, "--output", p.out / "new", flag, p.out / name], "mrcfa segment", message)
        assert not (p.out / "new").exists()
    assert (p.out / "seg" / "img000.png").read_bytes() == b"earlier"


# ------------------------------------------------------------------------------------------------ mrcfa convert
CONVERT_CASES = [
    ("output-is-checkpoint", lambda p: (p.checkpoint, f"{p.checkpoint} is the official checkpoint (--checkpoint-path) {p.checkpoint}")),
    ("output-contains-checkpoint", lambda p: (p.checkpoint.parent, f"{p.checkpoint.parent} contains the official checkpoint (--checkpoint-path) {p.checkpoint}")),
    ("output-symlink-to-its-folder", lambda p: (p.symlink(p.checkpoint.parent), f"{p.out / 'link'} contains the official checkpoint (--checkpoint-path) {p.checkpoint} (through links: {p.out / 'link'} is {p.checkpoint.parent})")),
    ("output-holds-hardlink", lambda p: (p.hardlink(p.checkpoint, "model.pth").parent, f"{p.out} holds {p.out / 'model.pth'}, the same file as the official checkpoint (--checkpoint-path) {p.checkpoint} (a hard link)")),
]  # fmt: skip


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", [c for _, c in CONVERT_CASES], ids=[i for i, _ in CONVERT_CASES])
def test_convert_output_never_overlaps_the_checkpoint(case, overwrite, originals, tmp_path, capsys):
    p = Paths(tmp_path, originals, checkpoint=True)
    output, what = case(p)
    before = snapshot(p.inputs)
    argv = ["convert", "--checkpoint-path", p.checkpoint, "--output-dir", output, *(["--overwrite"] * overwrite)]
    refused(capsys, argv, "mrcfa convert", refusal("--output-dir", what))
    assert snapshot(p.inputs) == before


def test_conversion_library_refuses_too(originals, tmp_path):
    from mrcfa.conversion import convert_original_checkpoint
    from mrcfa.errors import UsageError

    p = Paths(tmp_path, originals, checkpoint=True)
    before = snapshot(p.inputs)
    what = f"contains the checkpoint (checkpoint_path) {p.checkpoint}"
    with pytest.raises(UsageError) as caught:
        convert_original_checkpoint(p.checkpoint, p.checkpoint.parent, overwrite=True)
    assert str(caught.value) == refusal("output_dir", f"{p.checkpoint.parent} {what}")
    assert snapshot(p.inputs) == before


# -------------------------------------------------------------------------------------------- mrcfa export-onnx
EXPORT_ONNX_CASES = [
    ("output-is-model", lambda p: (p.model, f"{p.model} is the model folder {p.model}")),
    ("output-contains-model", lambda p: (p.models, f"{p.models} contains the model folder {p.model}")),
    ("output-inside-model", lambda p: (p.model / "onnx", f"{p.model / 'onnx'} lies inside the model folder {p.model}")),
    ("output-symlink-to-model", lambda p: (p.symlink(p.model), f"{p.out / 'link'} is the model folder {p.model} (through links: {p.out / 'link'} is {p.model})")),
    ("output-holds-hardlink", lambda p: (p.hardlink(p.model / "config.json", "config.json").parent, f"{p.out} holds {p.out / 'config.json'}, the same file as {p.model / 'config.json'} of the model folder {p.model} (a hard link)")),
]  # fmt: skip


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", [c for _, c in EXPORT_ONNX_CASES], ids=[i for i, _ in EXPORT_ONNX_CASES])
def test_export_onnx_output_never_overlaps_the_model(case, overwrite, originals, tmp_path, capsys):
    p = Paths(tmp_path, originals)
    output, what = case(p)
    before = snapshot(p.inputs)
    refused(capsys, ["export-onnx", p.model, output, *(["--overwrite"] * overwrite)], "mrcfa export-onnx",
            refusal("output folder", what))  # fmt: skip
    assert snapshot(p.inputs) == before


def test_onnx_export_library_refuses_the_folder_the_model_came_from(originals, tmp_path):
    from mrcfa import MrcfaForVideoSemanticSegmentation
    from mrcfa.errors import UsageError
    from mrcfa.onnx_export import export_streaming_onnx

    p = Paths(tmp_path, originals)
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(p.model)
    before = snapshot(p.inputs)
    with pytest.raises(UsageError) as caught:
        export_streaming_onnx(model, p.model / "onnx")
    assert str(caught.value) == refusal("output folder", f"{p.model / 'onnx'} lies inside the model folder {p.model}")
    assert snapshot(p.inputs) == before


# ----------------------------------------------------------------------------------------- mrcfa export-parquet
EXPORT_PARQUET_CASES = [
    ("output-is-vspw", lambda p: (p.vspw, f"{p.vspw} is the VSPW folder {p.vspw}")),
    ("output-contains-vspw", lambda p: (p.inputs, f"{p.inputs} contains the VSPW folder {p.vspw}")),
    ("output-inside-vspw", lambda p: (p.vspw / "parquet", f"{p.vspw / 'parquet'} lies inside the VSPW folder {p.vspw}")),
    ("output-symlink-into-vspw", lambda p: (p.symlink(p.vspw) / "parquet", f"{p.out / 'link' / 'parquet'} lies inside the VSPW folder {p.vspw} (through links: {p.out / 'link' / 'parquet'} is {p.vspw / 'parquet'})")),
    ("output-holds-hardlink", lambda p: (p.hardlink(p.vspw / "train.txt", "README.md").parent, f"{p.out} holds {p.out / 'README.md'}, the same file as {p.vspw / 'train.txt'} of the VSPW folder {p.vspw} (a hard link)")),
]  # fmt: skip


@pytest.mark.parametrize("case", [c for _, c in EXPORT_PARQUET_CASES], ids=[i for i, _ in EXPORT_PARQUET_CASES])
def test_export_parquet_output_never_overlaps_the_vspw_folder(case, originals, tmp_path, capsys):
    p = Paths(tmp_path, originals)
    output, what = case(p)
    before = snapshot(p.inputs)
    refused(capsys, ["export-parquet", p.vspw, output], "mrcfa export-parquet", refusal("output folder", what))
    assert snapshot(p.inputs) == before


# --------------------------------------------------------------------------------- mrcfa cards, mrcfa app
CARDS_CASES = [
    ("output-contains-template", lambda p: (p.template.parent, f"{p.template.parent} contains the model card template {p.template}")),
    ("output-is-template", lambda p: (p.template, f"{p.template} is the model card template {p.template}")),
    ("output-symlink-to-its-folder", lambda p: (p.symlink(p.template.parent), f"{p.out / 'link'} contains the model card template {p.template} (through links: {p.out / 'link'} is {p.template.parent})")),
]  # fmt: skip


@pytest.mark.parametrize("case", [c for _, c in CARDS_CASES], ids=[i for i, _ in CARDS_CASES])
def test_cards_never_write_over_their_template(case, originals, tmp_path, capsys, monkeypatch):
    import mrcfa.model_cards

    p = Paths(tmp_path, originals)
    monkeypatch.setattr(mrcfa.model_cards, "MODEL_CARD_TEMPLATE", p.template)  # the cards render this copy
    output, what = case(p)
    before = snapshot(p.inputs)
    refused(capsys, ["cards", "--output-dir", output], "mrcfa cards", refusal("--output-dir", what))
    assert snapshot(p.inputs) == before


SPACE_CASES = [
    ("space-is-model", lambda p: (p.model, f"{p.model} is the model folder (--model) {p.model}")),
    ("space-inside-model", lambda p: (p.model / "space", f"{p.model / 'space'} lies inside the model folder (--model) {p.model}")),
    ("space-contains-model", lambda p: (p.models, f"{p.models} contains the model folder (--model) {p.model}")),
]  # fmt: skip


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", [c for _, c in SPACE_CASES], ids=[i for i, _ in SPACE_CASES])
def test_app_space_never_overlaps_the_model(case, overwrite, originals, tmp_path, capsys):
    p = Paths(tmp_path, originals)
    output, what = case(p)
    before = snapshot(p.inputs)
    argv = ["app", "--write-space", output, "--model", p.model, *(["--overwrite"] * overwrite)]
    refused(capsys, argv, "mrcfa app", refusal("--write-space", what))
    assert snapshot(p.inputs) == before


# ---------------------------------------------------------------------------------------------- run_vss.py
def _run_vss_cases():
    dataset = "dataset folder (--dataset_name)"
    model = "initial model folder (--model_name_or_path)"
    resume = "checkpoint to resume from (--resume_from_checkpoint)"
    evaluate = ["--do_train", "false"]
    return [
        ("output-is-dataset", lambda p: (p.vspw, [], f"is the {dataset} {p.vspw}")),
        ("output-inside-dataset", lambda p: (p.vspw / "run", [], f"lies inside the {dataset} {p.vspw}")),
        ("output-contains-dataset", lambda p: (p.inputs, [], f"contains the {dataset} {p.vspw}")),
        ("output-symlink-to-dataset", lambda p: (p.symlink(p.vspw), [], f"is the {dataset} {p.vspw} (through links: {p.out / 'link'} is {p.vspw})")),
        ("output-is-model", lambda p: (p.model, ["--model_name_or_path", p.model, *evaluate], f"is the {model} {p.model}")),
        ("output-inside-model", lambda p: (p.model / "eval", ["--model_name_or_path", p.model, *evaluate], f"lies inside the {model} {p.model}")),
        ("output-contains-model", lambda p: (p.models, ["--model_name_or_path", p.model, *evaluate], f"contains the {model} {p.model}")),
        ("output-is-resumed-checkpoint", lambda p: (p.model, ["--resume_from_checkpoint", p.model], f"is the {resume} {p.model}")),
        ("output-inside-resumed-checkpoint", lambda p: (p.model / "run", ["--resume_from_checkpoint", p.model], f"lies inside the {resume} {p.model}")),
    ]  # fmt: skip


RUN_VSS_CASES = _run_vss_cases()


@pytest.fixture(scope="module")
def run_vss():
    sys.path.insert(0, str(SCRIPT.parent))
    import run_vss

    return run_vss


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "overwrite"])
@pytest.mark.parametrize("case", [c for _, c in RUN_VSS_CASES], ids=[i for i, _ in RUN_VSS_CASES])
def test_run_vss_output_dir_never_overlaps_the_data_or_the_initial_model(
    case, overwrite, run_vss, originals, tmp_path
):
    from mrcfa.errors import UsageError

    p = Paths(tmp_path, originals)
    output, args, what = case(p)
    before = snapshot(p.inputs)
    argv = ["--dataset_name", p.vspw, "--output_dir", output, "--max_steps", "1", "--report_to", "none", *args]
    with pytest.raises(UsageError) as caught:
        run_vss.main([*map(str, argv), *(["--overwrite_output_dir", "true"] if overwrite else [])])
    assert str(caught.value) == refusal("--output_dir", f"{output} {what}")
    assert snapshot(p.inputs) == before


def test_run_vss_refusal_is_one_line_with_exit_status_2(originals, tmp_path):
    p = Paths(tmp_path, originals)
    before = snapshot(p.inputs)
    args = ["--dataset_name", p.vspw, "--output_dir", p.vspw, "--overwrite_output_dir", "true", "--max_steps", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=240, cwd=tmp_path)  # fmt: skip
    message = refusal("--output_dir", f"{p.vspw} is the dataset folder (--dataset_name) {p.vspw}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if "error" in line] == [f"run_vss.py: error: {message}"]
    assert snapshot(p.inputs) == before


# ---------------------------------------------------------------------------------------------- the check itself
def test_check_outputs_apart(tmp_path, monkeypatch):
    from mrcfa.checks import check_outputs_apart
    from mrcfa.errors import UsageError

    run = tmp_path / "run"
    (run / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "frames").mkdir()
    # apart: a sibling whose name starts with the input's, a missing input, a Hub id, outputs not given
    check_outputs_apart({"--output": tmp_path / "frames2", "--preview": tmp_path / "frames.png"},
                        {"input frames folder": tmp_path / "frames"})  # fmt: skip
    check_outputs_apart({"--output": tmp_path / "x"}, {"model": "org/name", "missing": tmp_path / "x", "none": None})
    check_outputs_apart({"--output": None, "--overlay": ""}, {"input frames folder": tmp_path / "frames"})
    # a checkpoint to resume from may lie inside the output folder, but the output may not be or lie inside it
    check_outputs_apart({"--output_dir": run}, {"checkpoint": run / "checkpoint-2"}, may_contain=("checkpoint",))
    with pytest.raises(UsageError, match="lies inside the checkpoint"):
        check_outputs_apart({"--output_dir": run / "checkpoint-2" / "x"}, {"checkpoint": run / "checkpoint-2"},
                            may_contain=("checkpoint",))  # fmt: skip
    with pytest.raises(UsageError, match="contains the checkpoint"):
        check_outputs_apart({"--output_dir": run}, {"checkpoint": run / "checkpoint-2"})
    # `..` and `~` are resolved
    base = tmp_path.resolve()
    with pytest.raises(UsageError) as caught:
        check_outputs_apart({"--output": base / "run" / ".." / "frames"}, {"input frames folder": base / "frames"})
    assert str(caught.value) == refusal("--output", f"{base / 'run' / '..' / 'frames'} is the input frames folder "
                                        f"{base / 'frames'}")  # fmt: skip
    monkeypatch.setenv("HOME", str(base))
    with pytest.raises(UsageError) as caught:
        check_outputs_apart({"--output": "~/frames/seg"}, {"input frames folder": base / "frames"})
    assert str(caught.value) == refusal(
        "--output", f"{base / 'frames' / 'seg'} lies inside the input frames folder {base / 'frames'}"
    )
