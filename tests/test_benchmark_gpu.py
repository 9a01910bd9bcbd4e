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
    for section in ("streaming", "clip_forward", "checks", "pipeline", "train_step"):
        assert "error" not in results[section], results[section].get("traceback")
    for precision in ("fp32", "bf16"):
        for batch in ("batch1", "batch4"):
            entry = results["streaming"][precision][batch]
            assert entry["mrcfa_streaming_fps"] > 0 and entry["segformer_fps"] > 0
        assert results["clip_forward"][precision]["ratio_clip_over_segformer_frame"] > 0
        assert results["train_step"][precision]["seconds_per_step_median"] > 0
    checks = results["checks"]
    assert checks["stream_vs_clip_max_abs"] <= 1e-5
    for precision in ("bf16", "fp16"):
        assert checks[precision]["stm_identical"] and checks[precision]["finite"]
    assert results["pipeline"]["labels_equal_segment_video"]
