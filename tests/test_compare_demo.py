"""scripts/compare_demo.py: both demo runs (MRCFA and the single-frame baseline) end to end, tiny, then the scores."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = "hidden_sizes=[8,16,32,32],depths=[1,1,1,1],num_attention_heads=[1,1,1,1],decoder_hidden_size=16"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare_demo = _load("compare_demo")


@pytest.mark.slow
def test_compare_demo_trains_both_runs_and_scores_hidden_objects(tmp_path, capsys):
    forwarded = [
        "--synthetic_dir", str(tmp_path / "cache"), "--synthetic_num_videos", "2", "1",
        "--synthetic_num_frames", "12", "12", "--synthetic_frame_size", "64", "96", "--crop_size", "64", "96",
        "--image_scale", "96", "64", "--config_overrides", TINY, "--max_steps", "2", "--report_to", "none",
        "--disable_tqdm", "true",
    ]  # fmt: skip
    out = tmp_path / "cmp"
    summary = compare_demo.main(["--output_dir", str(out), "--", *forwarded])
    printed = capsys.readouterr().out
    assert "accuracy, hidden objects" in printed and "MRCFA - 1 frame" in printed
    saved = json.loads((out / "comparison.json").read_text())
    assert saved["mrcfa_wins_all"] == summary["mrcfa_wins_all"]
    for name in ("mrcfa", "single_frame"):
        run = saved[name]
        assert (out / name / "model.safetensors").is_file() and run["wall_time_s"] > 0
        assert all(0.0 <= run["pixel_accuracy"][k] <= 1.0 for k in ("visible objects", "hidden objects", "background"))
        assert run["eval_mIoU"] == json.loads((out / name / "all_results.json").read_text())["eval_mIoU"]
    # the baseline really is single-frame: its run saved the T=1 evaluation
    assert json.loads((out / "single_frame" / "all_results.json").read_text())["eval_num_frames"] == 12
    # re-scoring without training gives the same accuracies (deterministic inference)
    again = compare_demo.main(["--output_dir", str(out), "--skip_training", "--", *forwarded])
    assert again["mrcfa"]["pixel_accuracy"] == summary["mrcfa"]["pixel_accuracy"]
    assert again["mrcfa"]["wall_time_s"] is None
    with pytest.raises(SystemExit):
        compare_demo.main(["--output_dir", str(out), "--", "--num_frames", "1"])
    with pytest.raises(SystemExit):
        compare_demo.main(["--output_dir", str(out), "--", "--dataset_name", "x"])
