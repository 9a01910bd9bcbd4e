"""The converter of official checkpoints: outputs, inference of the architecture, and its refusals."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from mrcfa.conversion import ConversionError, convert_original_checkpoint, infer_config, load_official_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_converted_directory(converted_a):
    files = {p.name for p in converted_a.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "configuration_mrcfa.py",
        "modeling_mrcfa.py",
        "modeling_mrcfa_head.py",
        "pipeline_mrcfa.py",
        "streaming_mrcfa.py",
        "preprocessor_config.json",
        "README.md",
        "handler.py",  # the Inference Endpoints handler (tests/test_endpoint_handler.py) and what it needs installed
        "requirements.txt",
    } <= files
    config = json.loads((converted_a / "config.json").read_text())
    assert config["model_type"] == "mrcfa"
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSemanticSegmentation"}
    assert set(config["custom_pipelines"]) == {"video-semantic-segmentation"}
    assert config["id2label"]["0"] == "wall" and len(config["id2label"]) == 124
    with safe_open(converted_a / "model.safetensors", "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
        keys = set(f.keys())
    assert dtypes <= {"F32", "I64"}  # float16 source -> float32
    assert not any("conv_seg" in k for k in keys)
    preprocessor = json.loads((converted_a / "preprocessor_config.json").read_text())
    assert "AutoImageProcessor" in preprocessor.get("auto_map", {})


def test_every_official_key_is_used(fixtures_dir):
    from mrcfa.conversion import convert_state_dict

    state_dict, meta = load_official_checkpoint(fixtures_dir / "mrcfa_ref_a.pth")
    config = infer_config(state_dict, meta)
    converted = convert_state_dict(state_dict, config)
    # 260 official tensors - 2 conv_seg + one extra per split kv projection (weight and bias of 8 blocks)
    assert len(converted) == 260 - 2 + 16
    for key, value in state_dict.items():
        if "attn.kv." in key or "conv_seg" in key:
            continue
        from mrcfa.conversion import map_official_key

        assert torch.equal(converted[map_official_key(key)], value.float()), key
    kv = state_dict["backbone.block1.0.attn.kv.weight"].float()
    assert torch.equal(converted["segformer.stages.0.blocks.0.attention.k_proj.weight"], kv[:32])
    assert torch.equal(converted["segformer.stages.0.blocks.0.attention.v_proj.weight"], kv[32:])


def test_head_variant_from_meta_config_and_overrides(fixtures_dir):
    state_dict, meta = load_official_checkpoint(fixtures_dir / "mrcfa_ref_a.pth")
    assert infer_config(state_dict, meta).stm_keep_ratio == 0.5
    b0_meta = dict(meta, config=meta["config"].replace("backbone='b1'", "backbone='b0'"))
    assert infer_config(state_dict, b0_meta).stm_keep_ratio == 0.8
    assert infer_config(state_dict, meta, stm_keep_ratio=0.7).stm_keep_ratio == 0.7
    # no config text: guessed from the shapes (two-layer refinement -> the b1 head), with a warning
    assert infer_config(state_dict, {"CLASSES": meta["CLASSES"]}).stm_keep_ratio == 0.5


def _write(tmp_path, state_dict, meta, name="ckpt.pth"):
    path = tmp_path / name
    torch.save({"meta": meta, "state_dict": state_dict}, path)
    return path


def test_refuses_unknown_and_missing_keys(fixtures_dir, tmp_path):
    state_dict, meta = load_official_checkpoint(fixtures_dir / "mrcfa_ref_a.pth")
    extra = dict(
        state_dict, **{"decode_head.mystery.weight": torch.zeros(3), "backbone.extra_norm.bias": torch.zeros(3)}
    )
    with pytest.raises(
        ConversionError,
        match=r"2 keys .* cannot be mapped: \['backbone.extra_norm.bias', 'decode_head.mystery.weight'\]",
    ):
        convert_original_checkpoint(_write(tmp_path, extra, meta, "extra.pth"))
    missing = {k: v for k, v in state_dict.items() if not k.startswith("decode_head.sr1_feat")}
    with pytest.raises(ConversionError, match="missing.*temporal_aggregation.value_reduction.bias"):
        convert_original_checkpoint(_write(tmp_path, missing, meta, "missing.pth"))
    bad_shape = dict(state_dict, **{"decode_head.sr3.bias": torch.zeros(7)})
    with pytest.raises(ConversionError, match="shape mismatch: decode_head.cross_frame_affinity.reduce_stage3.bias"):
        convert_original_checkpoint(_write(tmp_path, bad_shape, meta, "shape.pth"))
    # conv_seg is the only key that may be absent or dropped
    no_conv_seg = {k: v for k, v in state_dict.items() if "conv_seg" not in k}
    convert_original_checkpoint(_write(tmp_path, no_conv_seg, meta, "noconvseg.pth"))


def test_refuses_bad_files_and_meta(fixtures_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        convert_original_checkpoint(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConversionError, match="cannot read"):
        convert_original_checkpoint(junk)
    state_dict, meta = load_official_checkpoint(fixtures_dir / "mrcfa_ref_a.pth")
    with pytest.raises(ConversionError, match="meta\\['CLASSES'\\] has 3 names but the classifier has 124"):
        convert_original_checkpoint(_write(tmp_path, state_dict, dict(meta, CLASSES=("a", "b", "c"))))
    with pytest.raises(ConversionError, match="num_clips=5 but the checkpoint has 4 decoders"):
        convert_original_checkpoint(_write(tmp_path, state_dict, dict(meta, config="num_clips=5\n")))


def test_refuses_to_overwrite(fixtures_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not empty"):
        convert_original_checkpoint(fixtures_dir / "mrcfa_ref_a.pth", out)
    assert (out / "keep.txt").read_text() == "user data"


def test_command_line(fixtures_dir, tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, str(ROOT / "scripts" / "convert_mrcfa_original_to_hf.py")]
    result = subprocess.run(
        cmd + ["--checkpoint_path", str(fixtures_dir / "mrcfa_ref_a.pth"), "--output_dir", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "5,282,171 parameters" in result.stdout and "stm_keep_ratio=0.5" in result.stdout
    assert (out / "model.safetensors").is_file()
    again = subprocess.run(
        cmd + ["--checkpoint_path", str(fixtures_dir / "mrcfa_ref_a.pth"), "--output_dir", str(out)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    assert again.stderr.strip().startswith("convert_mrcfa_original_to_hf.py: error:")
