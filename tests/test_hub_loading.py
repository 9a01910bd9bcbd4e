"""Loading paths real users take: Auto classes, trust_remote_code without the package, an offline Hub cache, and
SegFormer / MiT checkpoints (current and legacy transformers-4 key names) for the encoder."""

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from packaging.requirements import Requirement
from safetensors.torch import save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSemanticSegmentation,
    SegformerConfig,
    SegformerForImageClassification,
    SegformerForSemanticSegmentation,
    SegformerModel,
)

import mrcfa
from mrcfa import MrcfaConfig, MrcfaForVideoSemanticSegmentation

H, W = 64, 96


@pytest.fixture(scope="module")
def saved_tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = MrcfaForVideoSemanticSegmentation(tiny_config()).eval()
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    x = torch.randn(1, 4, 3, H, W, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(x).logits
    torch.save({"x": x, "expected": expected}, path.parent / "tiny_io.pt")
    return path


def run_isolated(code: str, env_extra: dict, tmp_path) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter where `import mrcfa` fails (as for a user without the package)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": ""}, **env_extra)
    prelude = "import sys\nsys.modules['mrcfa'] = None  # the package is not installed for this user\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, env=env, cwd=tmp_path
    )


# What the checkpoint code (src/mrcfa/models/mrcfa/) may import: the standard library, torch, transformers and
# transformers' own dependencies, and modules of the same folder through single-dot relative imports.
SHIPPED_FOLDER = Path(mrcfa.__file__).parent / "models" / "mrcfa"
TRANSFORMERS_DEPENDENCIES = {
    Requirement(r).name.replace("-", "_").lower()
    for r in importlib.metadata.requires("transformers") or ()
    if "extra ==" not in r
}
ALLOWED_TOP_LEVEL = {"torch", "transformers", "PIL"} | TRANSFORMERS_DEPENDENCIES | set(sys.stdlib_module_names)
# PyAV is transformers' own optional video backend: allowed only inside a function (imported when a video file is read,
# with an install hint when missing).
OPTIONAL_LAZY = {"av"}


def shipped_import_violations(folder: Path) -> list[str]:
    """`file:line: what` for every import in `folder`'s modules that a checkpoint's remote code could not satisfy."""
    siblings = {p.stem for p in folder.glob("*.py")}
    bad = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        in_function = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    module = (node.module or "").split(".")[0]
                    if node.level != 1 or not node.module or module not in siblings:
                        bad.append(f"{path.name}:{node.lineno}: from {'.' * node.level}{node.module or ''} import ...")
                    continue
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in ALLOWED_TOP_LEVEL and not (top in OPTIONAL_LAZY and id(node) in in_function):
                    bad.append(f"{path.name}:{node.lineno}: import {name}")
    return bad


def test_shipped_model_code_imports_only_torch_transformers_and_its_folder(tmp_path):
    assert {"configuration_mrcfa", "modeling_mrcfa", "modeling_mrcfa_head"} <= {
        p.stem for p in SHIPPED_FOLDER.glob("*.py")
    }
    assert shipped_import_violations(SHIPPED_FOLDER) == []
    # the guard itself fails on what it must catch
    (tmp_path / "modeling_x.py").write_text(
        "import torch\nfrom mrcfa.metrics import VideoSegmentationMetrics\nimport cv2\nfrom ..constants import A\n"
        "from .configuration_x import B\nfrom .missing import C\nimport av\ndef read():\n    import av\n"
    )
    (tmp_path / "configuration_x.py").write_text("from transformers import SegformerConfig\nimport numpy, json\n")
    assert shipped_import_violations(tmp_path) == [
        "modeling_x.py:2: import mrcfa.metrics",
        "modeling_x.py:3: import cv2",
        "modeling_x.py:4: from ..constants import ...",
        "modeling_x.py:6: from .missing import ...",
        "modeling_x.py:7: import av",
    ]


def test_auto_classes_after_import(saved_tiny):
    assert mrcfa.MrcfaConfig is MrcfaConfig
    assert isinstance(AutoConfig.from_pretrained(saved_tiny), MrcfaConfig)
    assert type(AutoModel.from_pretrained(saved_tiny)) is MrcfaForVideoSemanticSegmentation
    assert type(AutoModelForSemanticSegmentation.from_pretrained(saved_tiny)) is MrcfaForVideoSemanticSegmentation
    assert isinstance(AutoModel.from_config(tiny_config()), MrcfaForVideoSemanticSegmentation)


def test_trust_remote_code_without_the_package(saved_tiny, tmp_path):
    # save_pretrained copies the modeling file with its relative imports, the kernel implementations among them
    assert {"modeling_mrcfa.py", "modeling_mrcfa_head.py", "kernels_mrcfa.py", "loss_mrcfa.py"} <= {
        p.name for p in saved_tiny.glob("*.py")
    }
    code = f"""
    import torch
    from transformers import AutoModel, AutoModelForSemanticSegmentation
    try:
        import mrcfa
        raise SystemExit("mrcfa should not be importable here")
    except ImportError:
        pass
    io = torch.load({str(saved_tiny.parent / "tiny_io.pt")!r})
    for cls in (AutoModel, AutoModelForSemanticSegmentation):
        model = cls.from_pretrained({str(saved_tiny)!r}, trust_remote_code=True).eval()
        assert type(model).__name__ == "MrcfaForVideoSemanticSegmentation", type(model)
        assert "transformers_modules" in type(model).__module__, type(model).__module__
        kernels = model.kernels_for(io["x"])  # the CPU kernels, from the checkpoint's kernels_mrcfa.py
        assert type(kernels).__name__ == "MrcfaCpuKernels", kernels
        assert "transformers_modules" in type(kernels).__module__, type(kernels).__module__
        with torch.no_grad():
            err = (model(io["x"]).logits - io["expected"]).abs().max().item()
        assert err < 1e-6, err
    print("OK")
    """
    result = run_isolated(code, {}, tmp_path)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


def _make_hub_cache(model_dir, hf_home, repo_id="org/name"):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)  # no trailing newline
    shutil.copytree(model_dir, repo / "snapshots" / revision)
    return repo_id


def test_offline_hub_cache_with_and_without_package(saved_tiny, tmp_path):
    repo_id = _make_hub_cache(saved_tiny, tmp_path / "hf_home")
    io_path = str(saved_tiny.parent / "tiny_io.pt")
    check = f"""
    io = torch.load({io_path!r})
    with torch.no_grad():
        err = (model.eval()(io["x"]).logits - io["expected"]).abs().max().item()
    assert err < 1e-6, err
    print("OK", type(model).__module__)
    """
    with_package = "import sys; sys.modules.pop('mrcfa')\nimport torch, mrcfa\nfrom transformers import AutoModel\n"
    with_package += f"model = AutoModel.from_pretrained({repo_id!r})\n" + textwrap.dedent(check)
    result = run_isolated(with_package, {"PYTHONPATH": os.pathsep.join(sys.path)}, tmp_path)
    assert result.returncode == 0 and "OK mrcfa.models.mrcfa.modeling_mrcfa" in result.stdout, result.stderr[-3000:]

    remote = "import torch\nfrom transformers import AutoModel\n"
    remote += f"model = AutoModel.from_pretrained({repo_id!r}, trust_remote_code=True)\n" + textwrap.dedent(check)
    result = run_isolated(remote, {}, tmp_path)
    assert result.returncode == 0 and "OK transformers_modules" in result.stdout, result.stderr[-3000:]


def _to_legacy_names(state_dict):
    renames = [
        ("attention.q_proj", "attention.self.query"),
        ("attention.k_proj", "attention.self.key"),
        ("attention.v_proj", "attention.self.value"),
        ("attention.sequence_reduction.sequence_reduction", "attention.self.sr"),
        ("attention.sequence_reduction.layer_norm", "attention.self.layer_norm"),
        ("attention.o_proj", "attention.output.dense"),
        ("mlp.fc1", "mlp.dense1"),
        ("mlp.fc2", "mlp.dense2"),
        ("layernorm_before", "layer_norm_1"),
        ("layernorm_after", "layer_norm_2"),
    ]
    legacy = {}
    for key, value in state_dict.items():
        key = re.sub(r"stages\.(\d+)\.patch_embeddings\.", r"encoder.patch_embeddings.\1.", key)
        key = re.sub(r"stages\.(\d+)\.blocks\.", r"encoder.block.\1.", key)
        key = re.sub(r"stages\.(\d+)\.layer_norm", r"encoder.layer_norm.\1", key)
        for old, new in renames:
            key = key.replace(old, new)
        legacy[key] = value.contiguous()
    return legacy


@pytest.mark.parametrize(
    "source_cls", [SegformerModel, SegformerForImageClassification, SegformerForSemanticSegmentation]
)
@pytest.mark.parametrize("legacy", [False, True])
def test_encoder_from_segformer_checkpoint(source_cls, legacy, tmp_path):
    config = SegformerConfig(
        hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 4], num_labels=150
    )
    torch.manual_seed(0)
    source = source_cls(config)
    source.save_pretrained(tmp_path)
    state_dict = source.state_dict()
    prefix = "" if source_cls is SegformerModel else "segformer."
    if legacy:
        save_file(_to_legacy_names(state_dict), tmp_path / "model.safetensors", metadata={"format": "pt"})
        assert any(".encoder.block." in k or k.startswith("encoder.block.") for k in _to_legacy_names(state_dict))
    model, info = MrcfaForVideoSemanticSegmentation.from_pretrained(tmp_path, output_loading_info=True)
    target = model.state_dict()
    encoder_keys = [k for k in state_dict if k.startswith(prefix) and not k.startswith("decode_head")]
    encoder_keys = [k for k in encoder_keys if k != "classifier.weight" and k != "classifier.bias"]
    assert len(encoder_keys) == len([k for k in target if k.startswith("segformer.")])
    for key in encoder_keys:
        assert torch.equal(target["segformer." + key.removeprefix(prefix)], state_dict[key]), key
    assert not any(k.startswith("segformer.") for k in info["missing_keys"])
    assert all(k.startswith("decode_head.") for k in info["missing_keys"])
    # the head starts fresh with VSPW's classes (the source's 150 labels mean nothing to it)
    assert model.config.num_labels == 124 and model.decode_head.frame_decoder.classifier.out_channels == 124
    assert model.segformer.stages[0].layer_norm.eps == 1e-6
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 4, 3, H, W)).logits.shape == (1, 124, H // 4, W // 4)


def test_segformer_checkpoint_with_new_labels(tmp_path):
    source = SegformerForImageClassification(
        SegformerConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 4])
    )
    source.save_pretrained(tmp_path)
    id2label = {0: "road", 1: "car"}
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(
        tmp_path, id2label=id2label, label2id={"road": 0, "car": 1}
    )
    assert model.config.num_labels == 2 and model.decode_head.ensemble.target_decoder[1].out_channels == 2


def test_mit_b1_config_gives_the_b1_head():
    b1 = SegformerConfig(hidden_sizes=[64, 128, 320, 512], depths=[2, 2, 2, 2], num_labels=1000)
    config = MrcfaConfig.from_dict(b1.to_dict())
    assert config.refinement_layout == "two_layer" and config.stm_keep_ratio == 0.5 and config.num_labels == 124
    b0 = SegformerConfig(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], decoder_hidden_size=256)
    assert MrcfaConfig.from_dict(b0.to_dict()).stm_keep_ratio == 0.8
    b2 = SegformerConfig(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 6, 3], decoder_hidden_size=768)
    config = MrcfaConfig.from_dict(b2.to_dict())
    assert config.refinement_layout == "single_layer" and config.decoder_hidden_size == 256


def test_video_pipeline_from_a_checkpoint_without_the_package(saved_tiny, tmp_path):
    """pipeline("video-semantic-segmentation", trust_remote_code=True) from a folder and from an offline Hub cache, in a
    process where mrcfa cannot be imported: the pipeline code ships with the checkpoint (`custom_pipelines`)."""
    import json

    import numpy as np

    from mrcfa import MrcfaImageProcessor, segment_video

    folder = tmp_path / "with_processor"
    shutil.copytree(saved_tiny, folder)
    processor = MrcfaImageProcessor(size={"longest_edge": W, "shortest_edge": H})
    processor.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"]["video-semantic-segmentation"]["type"] == "video"
    assert (folder / "pipeline_mrcfa.py").is_file() and (folder / "streaming_mrcfa.py").is_file()

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 50, 80, 3), dtype=np.uint8)
    np.save(tmp_path / "frames.npy", frames)
    model = MrcfaForVideoSemanticSegmentation.from_pretrained(folder).eval()
    expected = torch.stack(list(segment_video(model, list(frames), processor=processor)))
    torch.save(expected, tmp_path / "expected.pt")
    repo_id = _make_hub_cache(folder, tmp_path / "hf_home")
    code = f"""
    import numpy as np, torch
    from transformers import pipeline
    for source in ({str(folder)!r}, {repo_id!r}):  # a folder, then the offline Hub cache
        segmenter = pipeline("video-semantic-segmentation", model=source, trust_remote_code=True)
        assert "transformers_modules" in type(segmenter).__module__, type(segmenter).__module__
        frames = list(np.load({str(tmp_path / "frames.npy")!r}))
        results = segmenter(frames, return_masks=True)
        labels = torch.stack([r["labels"] for r in results])
        assert torch.equal(labels, torch.load({str(tmp_path / "expected.pt")!r})), source + ": labels differ"
        assert results[0]["masks"] and results[0]["labels"].shape == (50, 80)
        print("OK", source, len(results))
    """
    result = run_isolated(code, {}, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-2:] == [f"OK {folder} 12", f"OK {repo_id} 12"], result.stdout
