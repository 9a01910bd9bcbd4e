"""scripts/benchmark_gpu.py runs on CPU at a tiny size (`--device cpu --tiny`) and writes its JSON (no timing
assertions; on a CUDA device it measures MRCFA-B1 at 480x864)."""

import json
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_benchmark_gpu_runs_tiny_on_cpu(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import benchmark_gpu

    output = tmp_path / "bench.json"
    benchmark_gpu.main(["--device", "cpu", "--tiny", "--repeats", "1", "--frames", "10", "--output", str(output)])
    results = json.loads(output.read_text())
    assert results["environment"]["device"] == "cpu" and results["environment"]["size"] == [64, 96]
    for section in ("streaming", "streams", "clip_forward", "checks", "pipeline", "train_step"):
        assert "error" not in results[section], results[section].get("traceback")
    for precision in ("fp32", "bf16"):
        for batch in ("batch1", "batch4"):
            entry = results["streaming"][precision][batch]
            assert entry["mrcfa_streaming_fps"] > 0 and entry["segformer_fps"] > 0
        assert results["clip_forward"][precision]["ratio_clip_over_segformer_frame"] > 0
        # several videos in lockstep: 4 videos of 10 frames, every frame predicted for each number of streams
        rows = results["streams"][precision]
        assert [rows[f"streams{n}"]["streams"] for n in (1, 2, 4)] == [1, 2, 4]
        assert all(
            rows[f"streams{n}"]["frames"] == 40 and rows[f"streams{n}"]["frames_per_second"] > 0 for n in (1, 2, 4)
        )
        assert results["train_step"][precision]["seconds_per_step_median"] > 0
    for n in (2, 4):  # fp32: the logits of each video streamed alone
        assert results["streams"]["fp32"][f"streams{n}"]["max_abs_logits_vs_first"] <= 1e-5
        assert results["streams"]["fp32"][f"streams{n}"]["labels_equal_first"]
    checks = results["checks"]
    assert checks["stream_vs_clip_max_abs"] <= 1e-5
    for precision in ("bf16", "fp16"):
        assert checks[precision]["stm_identical"] and checks[precision]["finite"]
    assert results["pipeline"]["labels_equal_segment_video"]


def test_benchmark_streams_runs_small(tmp_path, monkeypatch, capsys):
    """scripts/benchmark_streams.py (the CPU table of docs/deployment.md) at a small size: every frame of every video
    predicted for each number of streams, the logits those of each video streamed alone."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    import benchmark_streams

    output = tmp_path / "streams.json"
    argv = ["--preset", "b0", "--height", "64", "--width", "96", "--videos", "3", "--frames", "5", "--threads", "1"]
    rows = benchmark_streams.main([*argv, "--streams", "1", "2", "3", "--repeats", "1", "--json", str(output)])
    assert [row["streams"] for row in rows] == [1, 2, 3] and all(row["frames"] == 15 for row in rows)
    assert all(row["max_abs_logits_vs_first"] <= 1e-5 and row["labels_equal_first"] for row in rows)
    saved = json.loads(output.read_text())
    assert saved["rows"] == rows and set(saved["head_seconds_per_clip"]) == {"1", "2", "4"}
    table = capsys.readouterr().out
    assert "| streams | frames/s | s/frame | vs 1 stream |" in table
    assert [line.split(" | ")[0] for line in table.splitlines() if line[:3] in ("| 1", "| 2", "| 3")] == [
        "| 1",
        "| 2",
        "| 3",
    ]
