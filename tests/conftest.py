"""Shared test fixtures: the official reference data of ../shared/fixtures and small models built from configs."""

import os
from pathlib import Path

import pytest
import torch

FIXTURES = Path(os.environ.get("MRCFA_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))

if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, for what they start too
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


# Markers used by transformers' common test suites (tests/test_modeling_mrcfa_common.py runs them).
TRANSFORMERS_SUITE_MARKERS = (
    "accelerate_tests",
    "flash_attn_test",
    "flash_attn_3_test",
    "flash_attn_4_test",
    "torch_compile_test",
)


def pytest_configure(config):
    for marker in TRANSFORMERS_SUITE_MARKERS:
        config.addinivalue_line("markers", f"{marker}: marker of transformers' common test suites")
    if not FIXTURES.is_dir():
        raise pytest.UsageError(f"reference fixtures not found at {FIXTURES} (set MRCFA_FIXTURES)")


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def ref_a(fixtures_dir):
    """Fixture A: inputs and official outputs (dict of tensors from the three safetensors files)."""
    from safetensors.torch import load_file

    tensors = {}
    for name in ("mrcfa_ref_a.safetensors", "mrcfa_ref_a.intermediates.safetensors"):
        tensors.update(load_file(fixtures_dir / name))
    tensors.update({f"train/{k}": v for k, v in load_file(fixtures_dir / "mrcfa_ref_a.train.safetensors").items()})
    return tensors


@pytest.fixture(scope="session")
def converted_a(fixtures_dir, tmp_path_factory):
    """Fixture A's official checkpoint converted with the converter (written to a temp dir)."""
    from mrcfa.conversion import convert_original_checkpoint

    out = tmp_path_factory.mktemp("converted_a")
    convert_original_checkpoint(fixtures_dir / "mrcfa_ref_a.pth", out)
    return out


@pytest.fixture
def model_a(converted_a):
    from mrcfa import MrcfaForVideoSemanticSegmentation

    return MrcfaForVideoSemanticSegmentation.from_pretrained(converted_a).eval()


def tiny_config(**overrides):
    """A small MRCFA config for fast tests (B0 encoder widths, 1 block per stage, 7 classes)."""
    from mrcfa import MrcfaConfig

    kwargs = dict(
        hidden_sizes=(16, 32, 64, 128),
        depths=(1, 1, 1, 1),
        num_attention_heads=(1, 1, 2, 4),
        decoder_hidden_size=32,
        num_labels=7,
        refinement_layout="two_layer",
    )
    kwargs.update(overrides)
    return MrcfaConfig(**kwargs)


def save_tiny_model(path, *, scale=(96, 64), seed=0):
    """Save a randomly initialised `tiny_config()` model (eval mode, `seed`) and a processor resizing to `scale`
    (long, short side) in `path`; returns `path`."""
    import torch

    from mrcfa import MrcfaForVideoSemanticSegmentation, MrcfaImageProcessor

    torch.manual_seed(seed)
    MrcfaForVideoSemanticSegmentation(tiny_config()).eval().save_pretrained(path)
    MrcfaImageProcessor(size={"longest_edge": scale[0], "shortest_edge": scale[1]}).save_pretrained(path)
    return path
