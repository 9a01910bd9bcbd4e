"""scripts/run_vss.py end to end with a tiny model: outputs, exact resume after SIGKILL, 2-process training, bad input,
bad data."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file

from mrcfa.training import DEMO_OUTPUT_DIR, build_model, parse_config_overrides
from mrcfa.training.trainer import resolve_resume_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "run_vss.py"
TINY_OVERRIDES = "hidden_sizes=[8,16,32,32],depths=[1,1,1,1],num_attention_heads=[1,1,1,1],decoder_hidden_size=16"


# The script's main, in process, as transformers tests its examples (tests/test_pytorch_examples.py).
sys.path.insert(0, str(SCRIPT.parent))
import run_vss  # noqa: E402


@pytest.fixture(scope="module")
def tiny_vspw(tmp_path_factory):
    from mrcfa.data import make_synthetic_vspw

    return make_synthetic_vspw(
        tmp_path_factory.mktemp("tiny_vspw"),
        seed=3,
        num_classes=3,
        height=64,
        width=96,
        video_frame_counts={"train": [11, 12, 13, 14], "val": [17, 18], "test": [10]},
    )


def tiny_args(dataset, output_dir, *extra):
    return [
        "--dataset_name", str(dataset), "--output_dir", str(output_dir),
        "--config_name", "b0", "--config_overrides", TINY_OVERRIDES,
        "--crop_size", "64", "96", "--image_scale", "96", "64",
        "--learning_rate", "1e-3", "--warmup_steps", "2", "--per_device_train_batch_size", "2",
        "--logging_steps", "2", "--report_to", "none", "--disable_tqdm", "true", "--seed", "7",
        *extra,
    ]  # fmt: skip


def _env(threads=2):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def _run(args, timeout=240, threads=2):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(threads),
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _parses(path):
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _weights(folder):
    return load_file(Path(folder) / "model.safetensors")


# ------------------------------------------------------------------------------------------------- training
@pytest.mark.slow
def test_train_eval_outputs_and_exact_resume_after_sigkill(tiny_vspw, tmp_path):
    args = ["--max_steps", "12", "--save_steps", "4", "--save_total_limit", "5"]
    # 1. uninterrupted run, with evaluation
    full = tmp_path / "full"
    proc = _run(tiny_args(tiny_vspw, full, *args))
    assert "mIoU" in proc.stdout and "mVC16" in proc.stdout
    for name in (
        "config.json", "model.safetensors", "preprocessor_config.json", "README.md",
        "configuration_mrcfa.py", "modeling_mrcfa.py", "modeling_mrcfa_head.py", "pipeline_mrcfa.py",
        "all_results.json", "eval_results.json", "train_results.json", "trainer_state.json",
    ):  # fmt: skip
        assert (full / name).is_file(), name
    results = json.loads((full / "all_results.json").read_text())
    assert results["eval_num_videos"] == 2 and results["eval_num_frames"] == 35
    for key in ("eval_mIoU", "eval_mVC8", "eval_mVC16", "train_loss"):
        assert 0.0 <= results[key] <= (1.0 if key != "train_loss" else 10.0), key
    assert len(json.loads((full / "config.json").read_text())["id2label"]) == 3
    state = json.loads((full / "trainer_state.json").read_text())
    assert state["global_step"] == 12
    lrs = [e["learning_rate"] for e in state["log_history"] if "learning_rate" in e]
    assert lrs[0] < lrs[1] and lrs[-1] < lrs[1]  # warm-up then poly decay
    # its card describes this model: trained from scratch on this folder (ours: Apache-2.0), its measured metrics
    card = ModelCard.load(full / "README.md")
    assert (
        card.data.license == "apache-2.0"
        and card.data.license_name is None
        and getattr(card.data, "widget", None) is None
    )
    (measured,) = [r for r in card.data.eval_results if r.metric_type == "mean_iou"]
    assert measured.metric_value == pytest.approx(100 * results["eval_mIoU"])
    assert measured.dataset_name == tiny_vspw.name and measured.dataset_split == "val"
    assert "random (trained from scratch, config b0)" in card.text and "academic use" not in card.text

    # 2. the same run killed with SIGKILL right after its first checkpoint, then resumed
    killed = tmp_path / "killed"
    cmd = [sys.executable, str(SCRIPT), *tiny_args(tiny_vspw, killed, *args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), cwd=ROOT)
    deadline = time.time() + 180
    state_file = killed / "checkpoint-4" / "trainer_state.json"  # the checkpoint's last file: complete once it parses
    while not (state_file.is_file() and _parses(state_file)):
        assert proc.poll() is None, "the run ended before writing its first checkpoint"
        assert time.time() < deadline, "no checkpoint within 180 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists() and not (killed / "checkpoint-12").exists()

    with pytest.raises(ValueError, match="already holds a run"):  # no silent overwrite of the killed run
        run_vss.main(tiny_args(tiny_vspw, killed, *args))
    _run(tiny_args(tiny_vspw, killed, *args, "--resume_from_checkpoint", "latest", "--do_eval", "false"))
    reference, resumed = _weights(full), _weights(killed)
    assert reference.keys() == resumed.keys() and len(reference) > 50
    different = [k for k in reference if not torch.equal(reference[k], resumed[k])]
    assert not different, f"{len(different)} tensors differ after resume, e.g. {different[:3]}"
    # and the run did train: weights moved away from the first checkpoint
    first = _weights(killed / "checkpoint-4")
    assert not torch.equal(
        first["decode_head.frame_decoder.classifier.weight"], resumed["decode_head.frame_decoder.classifier.weight"]
    )


@pytest.mark.slow
@pytest.mark.parametrize("num_frames", [4, 1])
def test_two_processes_shard_videos_and_stay_in_sync(tiny_vspw, tmp_path, num_frames):
    """DDP on 2 CPU processes; with --num_frames 1 the temporal head gets no gradient (find_unused_parameters)."""
    out = tmp_path / "dist"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(29517 + num_frames), str(SCRIPT),
        *tiny_args(tiny_vspw, out, "--max_steps", "4", "--check_weight_sync_steps", "1", "--num_frames", str(num_frames)),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(threads=1), cwd=ROOT)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert log.count("weights identical on all 2 processes after each of 4 checked steps") == 2
    assert "process 0 of 2: 2 of 4 train videos" in log and "process 1 of 2: 2 of 4 train videos" in log
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_num_videos"] == 2 and results["eval_num_frames"] == 35  # both ranks' videos merged
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4
    assert (out / "model.safetensors").is_file()
    if num_frames == 1:
        assert "single_frame evaluation" in proc.stdout


def test_single_frame_training_and_evaluation(tiny_vspw, tmp_path, capsys):
    out = tmp_path / "t1"
    results = run_vss.main(tiny_args(tiny_vspw, out, "--max_steps", "3", "--num_frames", "1"))
    assert "single_frame evaluation" in capsys.readouterr().out
    assert results["eval_num_frames"] == 35 and results["train_num_videos"] == 4
    assert json.loads((out / "all_results.json").read_text())["eval_num_frames"] == 35
    # the final save ships the Inference Endpoints handler, its requirements and the processor it loads
    for name in ("handler.py", "requirements.txt", "preprocessor_config.json", "image_processing_mrcfa.py"):
        assert (out / name).is_file(), name


# ------------------------------------------------------------------------------------------------- bad input
def test_bad_input_errors(tiny_vspw, tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(ValueError, match="neither a config file / folder nor a preset.*b9"):
        run_vss.main(tiny_args(tiny_vspw, out, "--config_name", "b9"))
    with pytest.raises(ValueError, match="has no masks"):
        run_vss.main(tiny_args(tiny_vspw, out, "--train_split", "test"))
    with pytest.raises(ValueError, match="unknown MrcfaConfig field"):
        run_vss.main(tiny_args(tiny_vspw, out, "--config_overrides", "depth=[1,1,1,1]"))
    with pytest.raises(ValueError, match="num_frames must be 4"):
        run_vss.main(tiny_args(tiny_vspw, out, "--num_frames", "2"))
    with pytest.raises(ValueError, match="divisible by 32"):
        run_vss.main(tiny_args(tiny_vspw, out, "--crop_size", "60", "96"))
    with pytest.raises(ValueError, match="no checkpoint"):
        run_vss.main(tiny_args(tiny_vspw, out, "--resume_from_checkpoint", "latest"))
    (out / "checkpoint-3").mkdir(parents=True)
    with pytest.raises(ValueError, match="already holds a run.*overwrite_output_dir"):
        run_vss.main(tiny_args(tiny_vspw, out))


def test_checkpoint_label_mismatch_needs_ignore_mismatched_sizes(tiny_vspw, tmp_path):
    from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation

    checkpoint = tmp_path / "ckpt5"
    config = MrcfaConfig.from_preset("b0", num_labels=5, **parse_config_overrides(TINY_OVERRIDES))
    MrcfaForVideoSemanticSegmentation(config).save_pretrained(checkpoint)
    args = ["--model_name_or_path", str(checkpoint), "--do_train", "false", "--max_eval_videos", "1"]
    with pytest.raises(ValueError, match="predicts 5 classes but the dataset has 3.*--ignore_mismatched_sizes"):
        run_vss.main(tiny_args(tiny_vspw, tmp_path / "eval", *args))
    results = run_vss.main(tiny_args(tiny_vspw, tmp_path / "eval", *args, "--ignore_mismatched_sizes", "true"))
    assert results["eval_num_videos"] == 1 and results["eval_num_frames"] == 17
    saved = json.loads((tmp_path / "eval" / "eval_results.json").read_text())
    assert saved["eval_num_videos"] == 1


def test_mit_encoder_weights_are_transferred(tiny_vspw, tmp_path):
    from transformers import SegformerConfig, SegformerForImageClassification

    overrides = parse_config_overrides(TINY_OVERRIDES)
    encoder = SegformerForImageClassification(
        SegformerConfig(
            hidden_sizes=overrides["hidden_sizes"],
            depths=overrides["depths"],
            num_attention_heads=overrides["num_attention_heads"],
            num_labels=10,
        )
    )
    encoder.save_pretrained(tmp_path / "mit")
    model = build_model({0: "a", 1: "b", 2: "c"}, model_name_or_path=str(tmp_path / "mit"))
    assert model.config.model_type == "mrcfa" and model.config.num_labels == 3
    source = encoder.segformer.state_dict()
    target = model.segformer.state_dict()
    assert all(torch.equal(source[k], target[k]) for k in source)
    with pytest.raises(ValueError, match="expected an MRCFA checkpoint or a SegFormer"):
        from transformers import BertConfig

        BertConfig(num_hidden_layers=1, hidden_size=8, num_attention_heads=1, intermediate_size=8).save_pretrained(
            tmp_path / "bert"
        )
        build_model({0: "a"}, model_name_or_path=str(tmp_path / "bert"))


def test_demo_recipe_and_argument_sources(tmp_path):
    model_args, data_args, training_args, explicit = run_vss.parse_arguments(["--max_steps", "5"])
    assert data_args.dataset_name is None and training_args.max_steps == 5 and "max_steps" in explicit
    assert training_args.learning_rate == 1e-3 and data_args.crop_size == [192, 192]
    assert model_args.config_name == "b0" and training_args.output_dir == DEMO_OUTPUT_DIR
    # a second demo run refuses to replace the first (resolve_resume_checkpoint names the flags)
    assert not training_args.overwrite_output_dir and training_args.use_cpu
    assert training_args.dataloader_num_workers == 1
    assert training_args.threads == (None if os.environ.get("OMP_NUM_THREADS") else 1)
    # a real dataset: the official recipe
    _, data_args, training_args, _ = run_vss.parse_arguments(["--dataset_name", "x", "--output_dir", "o"])
    assert (
        training_args.learning_rate == 6e-5
        and training_args.max_steps == 160_000
        and training_args.warmup_steps == 1500
    )
    assert (
        data_args.crop_size == [480, 480]
        and training_args.max_grad_norm == 0.0
        and not training_args.overwrite_output_dir
    )
    # one JSON file
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"dataset_name": "x", "output_dir": "o", "learning_rate": 1e-4, "crop_size": [64, 96]}))
    _, data_args, training_args, explicit = run_vss.parse_arguments([str(path)])
    assert (
        training_args.learning_rate == 1e-4 and data_args.crop_size == [64, 96] and training_args.max_steps == 160_000
    )
    assert parse_config_overrides('{"depths": [1, 1, 1, 1]}') == {"depths": [1, 1, 1, 1]}
    assert parse_config_overrides("depths=[1,1,1,1], hidden_act=gelu, drop_path_rate=0") == {
        "depths": [1, 1, 1, 1],
        "hidden_act": "gelu",
        "drop_path_rate": 0,
    }


@pytest.mark.slow
def test_demo_generates_caches_and_uses_its_synthetic_set(tmp_path):
    """No --dataset_name: the synthetic VSPW is generated once (demo knobs recorded), reused, trained on, evaluated."""
    cache = tmp_path / "cache"
    args = [
        "--synthetic_dir", str(cache), "--synthetic_num_videos", "2", "1", "--synthetic_num_frames", "12", "12",
        "--synthetic_frame_size", "64", "96", "--crop_size", "64", "96", "--image_scale", "96", "64",
        "--config_overrides", TINY_OVERRIDES, "--max_steps", "2", "--report_to", "none", "--disable_tqdm", "true",
    ]  # fmt: skip
    results = run_vss.main([*args, "--output_dir", str(tmp_path / "a")])
    (root,) = cache.glob("synthetic-vspw-*")
    params = json.loads((root / ".complete").read_text())
    assert params["shared_object_class"] is True and params["hidden_prob"] == 0.35 and params["motion_scale"] == 0.3
    assert len((root / "train.txt").read_text().split()) == 2 and len((root / "val.txt").read_text().split()) == 1
    assert results["eval_num_frames"] == 12 and 0.0 <= results["eval_mIoU"] <= 1.0
    stamp = (root / ".complete").stat().st_mtime_ns
    run_vss.main([*args, "--output_dir", str(tmp_path / "b")])
    assert [p.name for p in cache.glob("synthetic-vspw-*")] == [root.name]
    assert (root / ".complete").stat().st_mtime_ns == stamp  # reused, not regenerated
    run_vss.main([*args, "--output_dir", str(tmp_path / "c"), "--synthetic_shared_object_class", "false"])
    assert len(list(cache.glob("synthetic-vspw-*"))) == 2  # other generator arguments: another cached set


def test_argument_mistakes_are_one_line_with_exit_status_2(tmp_path, monkeypatch):
    """The script prints a mistake as one line with exit status 2 (a run of the script); the other mistakes raise
    the same way (in this process, which is quicker)."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--config_overrides", "stm_keep_ratio=5", "--max_steps", "1"],
        capture_output=True, text=True, timeout=240, env=_env(1), cwd=tmp_path,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[-1] == (
        "run_vss.py: error: --config_overrides 'stm_keep_ratio=5' gives an invalid MRCFA config: stm_keep_ratio must "
        "be in (0, 1], got 5."
    )
    monkeypatch.chdir(tmp_path)
    cases = {
        ("--output_dir", "/proc/mrcfa-run"): "--output_dir /proc/mrcfa-run is not writable",
        ("--model_name_or_path", str(tmp_path / "nope")): "no such folder, and not a Hub model id",
    }
    for args, message in cases.items():
        with pytest.raises((ValueError, OSError)) as error:
            run_vss.main([*args, "--max_steps", "1"])
        assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "runs").exists()  # nothing written before the checks


def test_argument_mistakes_come_before_the_data_model_and_trainer_imports(tmp_path):
    # run_vss.py imports only TrainingArguments (and through it torch) before its arguments are checked: the data,
    # the model, datasets and the Trainer wait, and `import mrcfa` does not register in this script
    cases = {
        ("--bogus", "1"): "unrecognized arguments: --bogus 1 (see --help).",
        ("--num_frames", "3"): "--num_frames must be 4 (MRCFA clips) or 1",
        ("--lr_schedule", "cosine"): "--lr_schedule must be 'official_poly' or 'trainer', got 'cosine'.",
    }
    # one process runs the script once per mistake (each run must stop before the heavy imports)
    code = f"""
import runpy, sys
for args in {[list(args) for args in cases]!r}:
    sys.argv = [{str(SCRIPT)!r}, *args]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit:
        assert exit.code == 2, exit.code
    heavy = sorted(m for m in ("datasets", "transformers.trainer", "transformers.modeling_utils",
                               "mrcfa.models.mrcfa.modeling_mrcfa", "mrcfa.training.trainer") if m in sys.modules)
    assert not heavy, heavy
    print("stopped:", *args, file=sys.stderr)
import mrcfa
assert not mrcfa._registered
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, env=_env(1), cwd=tmp_path
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("run_vss.py: error: ", "stopped: "))]
    expected = []
    for args, message in cases.items():
        expected += [f"run_vss.py: error: {message}", "stopped: " + " ".join(args)]
    assert len(errors) == len(expected) and all(line.startswith(want) for line, want in zip(errors, expected)), (
        proc.stderr[-2000:]
    )


# ------------------------------------------------------------------------------------------------- bad data
SKIP_FIX = "or skip the clips that use it: --skip_corrupt (run_vss.py), skip_corrupt=True (load_vspw)."


def _break(root, relative, kind):
    """Break one file of a VSPW copy: a truncated JPEG, a mask of the wrong size or with a value beyond the classes.
    Returns (file, problem): the broken file and the first sentences of the error run_vss.py must report."""
    import numpy as np
    from PIL import Image

    path = root / relative
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(OSError) as decoding:  # PIL's own words, quoted by the message
            Image.open(path).load()
        return path, f"corrupt or unreadable frame {path}: {decoding.value}. Expected a valid JPEG file. Replace it"
    frame = path.parent.parent / "origin" / path.with_suffix(".jpg").name
    if kind == "size":
        Image.fromarray(np.ones((10, 96), np.uint8), "L").save(path)
        return path, (
            f"frame {frame} is 96x64 (WxH) but its mask {path} is 96x10: a frame and its mask must have the same "
            "size. Fix the mask"
        )
    mask = np.asarray(Image.open(path)).copy()
    mask[4, 7] = 9
    Image.fromarray(mask, "L").save(path)
    return path, (
        f"mask {path} has value 9 at (y=4, x=7) but the dataset has 3 classes: expected 0 (others), 1..3 or 255 "
        "(ignored). If the dataset has more classes, list them in label_num_dic_final.json (or pass num_classes=...); "
        "else fix the mask"
    )


def _copy(tiny_vspw, tmp_path):
    import shutil

    return Path(shutil.copytree(tiny_vspw, tmp_path / "vspw")).resolve()


def _error_line(args):
    """Run run_vss.py; assert exit status 2 and one error line, no traceback; return that line."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=240, env=_env(1), cwd=ROOT
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert [line for line in lines if "error:" in line] == lines[-1:], proc.stderr[-4000:]
    return lines[-1]


# train: the first train batch reads frame 1 of video 1_hc0fap; val: evaluation reads frame 1 of 1001_qxgdzk
BAD_FILES = {
    ("train", "truncated"): "data/1_hc0fap/origin/00000002.jpg",
    ("train", "size"): "data/1_hc0fap/mask/00000002.png",
    ("val", "values"): "data/1001_qxgdzk/mask/00000002.png",
}


# each kind of bad file once and each split (every kind in every split: test_data_errors.py, in the loader itself)
@pytest.mark.parametrize("split, kind", list(BAD_FILES))
def test_bad_data_is_one_line_with_exit_status_2(tiny_vspw, tmp_path, split, kind):
    root = _copy(tiny_vspw, tmp_path)
    _, problem = _break(root, BAD_FILES[split, kind], kind)
    out = tmp_path / "run"
    if split == "train":  # through a DataLoader worker, before the first checkpoint
        line = _error_line(tiny_args(root, out, "--max_steps", "3", "--dataloader_num_workers", "1"))
        assert line == (
            f"run_vss.py: error: {problem}, {SKIP_FIX} Training stopped at step 0, with no checkpoint saved: run "
            "again once the data is fixed."
        )
        assert not any(out.glob("checkpoint-*"))
    else:  # at the evaluation after training: the trained model is kept
        line = _error_line(tiny_args(root, out, "--max_steps", "1"))
        checkpoint = out / "checkpoint-1"
        assert line == (
            f"run_vss.py: error: {problem}, {SKIP_FIX} Evaluation stopped after training (step 1); the last "
            f"checkpoint, {checkpoint}, is kept: once the data is fixed, evaluate it with --model_name_or_path "
            f"{checkpoint} --do_train false --output_dir {out}-eval"
        )
        assert (checkpoint / "model.safetensors").is_file()


def test_skip_corrupt_skips_and_reports_the_clips_of_bad_files(tiny_vspw, tmp_path):
    root = _copy(tiny_vspw, tmp_path)
    train_file, train_problem = _break(root, BAD_FILES["train", "truncated"], "truncated")
    val_file, val_problem = _break(root, "data/1001_qxgdzk/origin/00000011.jpg", "truncated")  # frame 10 of 17
    out = tmp_path / "run"
    args = ["--max_steps", "3", "--dataloader_num_workers", "1", "--skip_corrupt", "true"]
    proc = _run(tiny_args(root, out, *args), threads=1)
    warnings = [line.split("UserWarning: ", 1)[1] for line in proc.stderr.splitlines() if "UserWarning: " in line]
    problem = train_problem.removesuffix(" Replace it")
    assert f"skipping the clip of video '1_hc0fap' with frames [10, 7, 4, 1]: {problem}" in warnings
    problem = val_problem.removesuffix(" Replace it")
    for frames in ([1, 4, 7, 10], [4, 7, 10, 13], [7, 10, 13, 16]):  # the eval clips that read frame 10
        assert f"skipping the clip of video '1001_qxgdzk' with frames {frames}: {problem}" in warnings
    assert (
        "video '1001_qxgdzk': the clip of frame 10 was skipped (skip_corrupt), so only its frames 0..9 are evaluated."
        in warnings
    )
    results = json.loads((out / "all_results.json").read_text())
    assert results["eval_num_videos"] == 2 and results["eval_num_frames"] == 10 + 18


@pytest.mark.slow
def test_bad_data_after_a_checkpoint_keeps_it_and_says_how_to_resume(tiny_vspw, tmp_path):
    root = _copy(tiny_vspw, tmp_path)
    relative = "data/1_hc0fap/origin/00000001.jpg"  # frame 0 of 1_hc0fap: first read by the 4th train batch
    good = (root / relative).read_bytes()
    _, problem = _break(root, relative, "truncated")
    out = tmp_path / "run"
    args = ["--max_steps", "6", "--save_steps", "2", "--dataloader_num_workers", "1", "--do_eval", "false"]
    line = _error_line(tiny_args(root, out, *args))
    checkpoint = out / "checkpoint-2"
    assert line == (
        f"run_vss.py: error: {problem}, {SKIP_FIX} Training stopped at step 3; the last checkpoint, {checkpoint}, is "
        f"kept: once the data is fixed, resume with --resume_from_checkpoint {checkpoint}"
    )
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 2
    # the data fixed, the run resumes from that checkpoint as told and ends
    (root / relative).write_bytes(good)
    _run(tiny_args(root, out, *args, "--resume_from_checkpoint", str(checkpoint)), threads=1)
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6
    # resuming a finished run would take a step past max_steps: refused
    with pytest.raises(ValueError) as error:  # in this process (quicker): the script prints it as one line
        run_vss.main(tiny_args(root, out, *args, "--resume_from_checkpoint", "latest"))
    last = out / "checkpoint-6"
    assert str(error.value) == (
        f"checkpoint {last} is at step 6, the end of training (max_steps 6): nothing left to resume. Raise "
        f"--max_steps to train on, or evaluate it with --model_name_or_path {last} --do_train false --output_dir "
        f"{out}-eval."
    )
    # a folder of weights is no training checkpoint: one line, naming what to pass instead
    weights = tmp_path / "weights"
    shutil.copytree(last, weights, ignore=shutil.ignore_patterns("trainer_state.json"))
    with pytest.raises(ValueError) as error:
        run_vss.main(tiny_args(root, tmp_path / "again", *args, "--resume_from_checkpoint", str(weights)))
    assert str(error.value) == (
        f"--resume_from_checkpoint {weights} is not a training checkpoint (it has no trainer_state.json, the step, "
        "schedule and data position to resume from): pass a checkpoint-N folder saved during training, or start a "
        f"new training from these weights with --model_name_or_path {weights}."
    )


def test_resume_needs_a_training_checkpoint(tmp_path):
    """`--resume_from_checkpoint` names a folder with trainer_state.json; a run folder without one points to its last
    checkpoint; evaluation alone takes any model folder."""
    run = tmp_path / "run"
    for step in (2, 4):
        (run / f"checkpoint-{step}").mkdir(parents=True)
        (run / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert resolve_resume_checkpoint(str(tmp_path / "out"), str(run / "checkpoint-4")) == str(run / "checkpoint-4")
    with pytest.raises(ValueError) as error:
        resolve_resume_checkpoint(str(tmp_path / "out"), str(run))
    assert str(error.value) == (
        f"--resume_from_checkpoint {run} is not a training checkpoint (it has no trainer_state.json, the step, schedule "
        f"and data position to resume from): its last checkpoint is {run / 'checkpoint-4'}: pass that."
    )
    assert resolve_resume_checkpoint(str(tmp_path / "out"), str(run), do_train=False) == str(run)
