"""Model cards: the committed cards in model_cards/, the generator (mrcfa.model_cards) and the converter's card.

Everything is validated locally with huggingface_hub's card classes; no test touches the network.
"""

import re
import socket
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results

from mrcfa import MrcfaConfig
from mrcfa.model_cards import (
    OFFICIAL_CARD_PRESETS,
    PAPER_RESULTS,
    default_model_name,
    has_vspw_labels,
    match_encoder_size,
    match_preset,
    render_model_card,
    write_model_card,
)

REPO = Path(__file__).resolve().parents[1]
CARDS_DIR = REPO / "model_cards"

# The paper's VSPW val table (metrics: docs/design.md, "Metrics"), written out independently of mrcfa.model_cards:
# preset -> (mIoU, mVC8, mVC16, params in millions).
PAPER_TABLE = {
    "b0": (35.2, 88.0, 83.2, 5.2),
    "b1": (38.9, 88.8, 84.4, 16.2),
    "b2": (45.3, 90.3, 86.2, 27.3),
    "b5": (49.9, 90.9, 87.4, 84.5),
}
REQUIRED_TAGS = {"video-semantic-segmentation", "semantic-segmentation", "vision", "mrcfa", "segformer", "vspw"}
REQUIRED_SECTIONS = (
    "## Model details",
    "## Evaluation results",
    "## Usage",
    "### Images",
    "### Videos",
    "### Command line",
    "### Without the `mrcfa` package",
    "## Deploy",
    "### An HTTP API: Inference Endpoints",
    "### A web page: a Space",
    "## Limitations",
    "## License",
    "## Citation",
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("model-card tests must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def card_path(preset):
    return CARDS_DIR / f"mrcfa-{preset}-vspw.md"


def front_matter(text):
    match = re.match(r"\A---\n(.*?)\n---\n", text, flags=re.S)
    assert match, "the card must start with a YAML block"
    return yaml.safe_load(match.group(1))


def metric_values(card):
    return {r.metric_type: r.metric_value for r in card.data.eval_results or []}


# ---------------------------------------------------------------------------------------------- committed cards
def test_committed_cards_are_exactly_the_official_four():
    assert sorted(OFFICIAL_CARD_PRESETS) == sorted(PAPER_TABLE)
    assert sorted(p.name for p in CARDS_DIR.glob("*.md")) == sorted(card_path(p).name for p in PAPER_TABLE)


@pytest.mark.parametrize("preset", sorted(PAPER_TABLE))
def test_committed_card_equals_generator_output(preset):
    expected = render_model_card(MrcfaConfig.from_preset(preset))
    assert card_path(preset).read_text(encoding="utf-8") == expected, "model_cards/ is stale: run `mrcfa cards`"


@pytest.mark.parametrize("preset", sorted(PAPER_TABLE))
def test_committed_card_metadata(preset):
    text = card_path(preset).read_text(encoding="utf-8")
    card = ModelCard(text)
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "image-segmentation"
    assert data.license == "other"
    assert data.license_name == "mrcfa-academic"
    assert data.license_link.startswith("https://github.com/GuoleiSun/VSS-MRCFA")
    assert REQUIRED_TAGS <= set(data.tags)
    assert data.datasets == ["vspw"]
    assert data.base_model == f"nvidia/mit-{preset}"
    widget = data.to_dict()["widget"]
    assert widget and all(example["src"].startswith("https://") for example in widget)
    assert data.model_name == f"mrcfa-{preset}-vspw"

    # The metadata is plain YAML, and huggingface_hub writes it back unchanged.
    meta = front_matter(text)
    assert meta == data.to_dict()
    assert str(ModelCard(text)) == text


@pytest.mark.parametrize("preset", sorted(PAPER_TABLE))
def test_committed_card_results_are_the_papers(preset):
    text = card_path(preset).read_text(encoding="utf-8")
    card = ModelCard(text)
    miou, mvc8, mvc16, params = PAPER_TABLE[preset]
    assert metric_values(card) == {"mean_iou": miou, "mvc8": mvc8, "mvc16": mvc16}
    for result in card.data.eval_results:
        assert result.task_type == "image-segmentation"
        assert result.task_name == "Video Semantic Segmentation"
        assert result.dataset_type == "vspw"
        assert result.dataset_split == "validation"
        assert result.source_url == "https://arxiv.org/abs/2207.10436"
    assert {r.metric_name for r in card.data.eval_results} == {"mIoU", "mVC8", "mVC16"}

    # model-index <-> EvalResult round trip
    model_index = front_matter(text)["model-index"]
    name, results = model_index_to_eval_results(model_index)
    assert name == f"mrcfa-{preset}-vspw"
    assert eval_results_to_model_index(name, results) == model_index
    assert results == card.data.eval_results

    # The body states the same numbers, as reported by the paper.
    assert "as reported by the paper" in card.text
    row = f"| **MRCFA-{preset.upper()}** | {params}M | {miou} | {mvc8} | {mvc16} |"
    assert row in card.text


@pytest.mark.parametrize("preset", sorted(PAPER_TABLE))
def test_committed_card_sections_and_usage(preset):
    text = ModelCard(card_path(preset).read_text(encoding="utf-8")).text
    positions = [text.index(section) for section in REQUIRED_SECTIONS]
    assert positions == sorted(positions)
    repo_id = f"mrcfa/mrcfa-{preset}-vspw"
    for snippet in (
        f'pipeline("image-segmentation", model="{repo_id}", trust_remote_code=True)',
        "mrcfa.segment_video(model, frames, processor=processor)",
        "AutoImageProcessor.from_pretrained(repo)",
        f'pipeline("video-semantic-segmentation", model="{repo_id}")',
        f"mrcfa-segment video.mp4 --model {repo_id} --output out/ --overlay out.mp4",
        f'AutoModel.from_pretrained("{repo_id}", trust_remote_code=True)',
        # deploying: the Endpoint with the shipped handler (the serverless widget runs no custom code), the Space
        "never the code of a repository",
        "`handler.py`",
        f'repository="{repo_id}",\n    framework="pytorch",\n    task="custom",',
        'endpoint.client.image_segmentation("frame.jpg")',
        '-H "Content-Type: image/jpeg" --data-binary @frame.jpg',
        'json={"inputs": video, "parameters": {"max_frames": 100}}',
        "MRCFA_MAX_FRAMES",
        f"mrcfa app --write-space my-space --model {repo_id}",
        "python scripts/convert_mrcfa_original_to_hf.py --checkpoint_path",
        "1e-4",
        "multiples of 32",
        "without temporal context",
        "academic use",
        "@inproceedings{",
        "Van Gool, Luc",
    ):
        assert snippet in text, snippet
    # Every Python example at least compiles.
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        compile(block, "<card>", "exec")


def test_cards_command_detects_stale_cards(tmp_path):
    """`mrcfa cards` (formerly scripts/generate_model_cards.py)."""
    from mrcfa.cli import main

    assert main(["cards", "--output-dir", str(tmp_path), "--check"]) == 1
    assert main(["cards", "--output-dir", str(tmp_path)]) == 0
    assert main(["cards", "--output-dir", str(tmp_path), "--check"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(card_path(p).name for p in PAPER_TABLE)
    (tmp_path / "mrcfa-b1-vspw.md").write_text("stale", encoding="utf-8")
    assert main(["cards", "--output-dir", str(tmp_path), "--check"]) == 1
    assert main(["cards", "--output_dir", str(tmp_path), "--check"]) == 1  # the old spelling still works
    assert main(["cards", "--output-dir", str(CARDS_DIR), "--check"]) == 0  # the committed cards are up to date


def test_card_templates_are_package_data():
    from mrcfa.model_cards import MODEL_CARD_TEMPLATE

    assert MODEL_CARD_TEMPLATE.is_file() and MODEL_CARD_TEMPLATE.parent.name == "templates"
    assert (MODEL_CARD_TEMPLATE.parent / "dataset_card.md").is_file()
    setup_cfg = (REPO / "setup.cfg").read_text(encoding="utf-8")
    assert "templates/*.md" in setup_cfg.split("[options.package_data]")[1].split("[")[0]


# ---------------------------------------------------------------------------------------------------- generator
def test_paper_results_constant_matches_the_table():
    for preset, (miou, mvc8, mvc16, params) in PAPER_TABLE.items():
        result = PAPER_RESULTS[preset]
        assert (result.mean_iou, result.mvc8, result.mvc16, result.params_millions) == (miou, mvc8, mvc16, params)


def test_preset_matching():
    for preset in ("b0", "b1", "b2", "b3", "b4", "b5"):
        config = MrcfaConfig.from_preset(preset)
        assert match_preset(config) == preset
        assert match_encoder_size(config) == preset
        assert has_vspw_labels(config)
        assert default_model_name(config) == f"mrcfa-{preset}-vspw"
    # a MiT-B0 encoder with the B1 head (like the parity fixture) is not MRCFA-B0
    hybrid = MrcfaConfig.from_preset("b0", stm_keep_ratio=0.5, refinement_layout="two_layer")
    assert match_encoder_size(hybrid) == "b0" and match_preset(hybrid) is None
    assert match_preset(MrcfaConfig.from_preset("b1", num_clips=3, reference_offsets=(-6, -3))) is None
    assert match_preset(MrcfaConfig.from_preset("b2", decoder_hidden_size=128)) is None
    other_labels = MrcfaConfig.from_preset("b1", num_labels=10)
    assert match_preset(other_labels) == "b1" and not has_vspw_labels(other_labels)
    assert default_model_name(other_labels) == "mrcfa-b1"


def test_generator_for_converted_b1_config(tmp_path):
    # A config as saved with a converted checkpoint and loaded back (lists instead of tuples, string label keys).
    MrcfaConfig.from_preset("b1").save_pretrained(tmp_path)
    config = MrcfaConfig.from_pretrained(tmp_path)
    assert match_preset(config) == "b1"

    path = write_model_card(tmp_path, config, source="mrcfa_b1_vspw.pth")
    assert path == tmp_path / "README.md"
    card = ModelCard.load(path)  # a local file: no Hub access
    assert card.data.model_name == "mrcfa-b1-vspw"
    assert metric_values(card) == {"mean_iou": 38.9, "mvc8": 88.8, "mvc16": 84.4}
    assert "`mrcfa_b1_vspw.pth`" in card.text
    assert "| **MRCFA-B1** | 16.2M | 38.9 | 88.8 | 84.4 |" in card.text
    assert "the paper reports 16.2M" in card.text
    # the same card as the committed one, apart from the named source file
    assert card.data.to_dict() == ModelCard(card_path("b1").read_text(encoding="utf-8")).data.to_dict()


def test_model_name_and_repo_id():
    config = MrcfaConfig.from_preset("b2")
    text = render_model_card(config, model_name="my-org/mrcfa-b2-finetuned")
    card = ModelCard(text)
    assert card.data.model_name == "mrcfa-b2-finetuned"
    assert 'model="my-org/mrcfa-b2-finetuned"' in card.text
    text = render_model_card(config, model_name="mrcfa-b2-copy")
    assert 'model="mrcfa/mrcfa-b2-copy"' in text
    with pytest.raises(ValueError):
        render_model_card(config, model_name=" / ")


@pytest.mark.parametrize("preset", ["b3", "b4"])
def test_presets_without_paper_results_have_no_model_index(preset):
    text = render_model_card(MrcfaConfig.from_preset(preset))
    meta = front_matter(text)
    assert "model-index" not in meta and "model_name" not in meta
    card = ModelCard(text)
    assert card.data.eval_results is None
    assert f"The paper reports no results for MRCFA-{preset.upper()}" in card.text
    assert "as reported by the paper" not in card.text
    assert card.data.datasets == ["vspw"] and card.data.base_model == f"nvidia/mit-{preset}"


def test_custom_config_has_no_model_index():
    from conftest import tiny_config

    config = tiny_config()
    assert match_preset(config) is None and not has_vspw_labels(config)
    text = render_model_card(config)
    meta = front_matter(text)
    assert "model-index" not in meta
    card = ModelCard(text)
    assert card.data.eval_results is None
    assert card.data.datasets is None and card.data.base_model is None
    assert "vspw" not in card.data.tags
    assert card.data.library_name == "transformers" and card.data.license_name == "mrcfa-academic"
    assert "not one of the models evaluated in the paper" in card.text
    assert "## Conversion and verification" not in card.text  # nothing known about where the weights come from
    assert "7 classes" in card.text


def test_hybrid_config_gets_no_paper_numbers():
    config = MrcfaConfig.from_preset("b0", stm_keep_ratio=0.5, refinement_layout="two_layer")
    card = ModelCard(render_model_card(config, source="mrcfa_ref_a.pth"))
    assert card.data.eval_results is None
    assert "35.2" not in card.text
    assert "MiT-B0 encoder with head or clip settings that differ" in card.text
    assert "`mrcfa_ref_a.pth`" in card.text


def test_explicit_results():
    config = MrcfaConfig.from_preset("b1")
    card = ModelCard(render_model_card(config, results={"mean_iou": 38.5, "mvc16": 84.0}))
    assert metric_values(card) == {"mean_iou": 38.5, "mvc16": 84.0}
    assert all(r.source_url is None for r in card.data.eval_results)
    assert "not the paper's" in card.text and "as reported by the paper" not in card.text
    assert ModelCard(render_model_card(config, results={})).data.eval_results is None
    with pytest.raises(ValueError, match="unknown result metrics"):
        render_model_card(config, results={"accuracy": 1.0})


# ---------------------------------------------------------------------------------------------------- converter
def test_converter_writes_the_card(fixtures_dir, tmp_path):
    from mrcfa.conversion import convert_original_checkpoint

    convert_original_checkpoint(fixtures_dir / "mrcfa_ref_a.pth", tmp_path, write_processor=False)
    readme = tmp_path / "README.md"
    assert readme.is_file()
    config = MrcfaConfig.from_pretrained(tmp_path)
    assert readme.read_text(encoding="utf-8") == render_model_card(config, source="mrcfa_ref_a.pth")
    card = ModelCard.load(readme)
    # fixture A is a MiT-B0 encoder with the B1 head and random weights: no paper numbers
    assert card.data.eval_results is None
    assert "`mrcfa_ref_a.pth`" in card.text


# --------------------------------------------------------------------------------------- cards of trained models
def test_trained_model_card_describes_its_training_and_licence(tmp_path):
    from mrcfa.model_cards import TrainingRecord, weights_terms_of

    config = MrcfaConfig.from_preset("b0", num_labels=5)
    demo = TrainingRecord(
        dataset="synthetic VSPW (`mrcfa synthetic`: 5 classes, 24 train / 12 val videos, seed 0)",
        synthetic=True,
        max_steps=1600,
        crop_size=(192, 192),
        learning_rate=1e-3,
    )
    card = ModelCard(render_model_card(config, model_name="mrcfa-demo", results={"mean_iou": 89.1}, training=demo))
    assert card.data.license == "apache-2.0" and card.data.license_name is None
    assert (
        getattr(card.data, "widget", None) is None
        and card.data.datasets is None
        and "synthetic-data" in card.data.tags
    )
    (result,) = card.data.eval_results
    assert (result.dataset_type, result.dataset_split, result.metric_value) == ("synthetic-vspw", "val", 89.1)
    assert result.dataset_name.startswith("synthetic VSPW")
    text = card.text
    assert "1600 steps of AdamW (lr 0.001), 4-frame clips, 192x192 crops" in text
    assert "meaningless on real video" in text and "academic use" not in text and "Apache-2.0" in text

    # initialised from converted official weights: their terms; from an encoder: the encoder's
    official = TrainingRecord(dataset="VSPW_480p", initialization="mrcfa/mrcfa-b1-vspw (an MRCFA checkpoint)",
                              base_model="mrcfa/mrcfa-b1-vspw", weights_terms="official")  # fmt: skip
    card = ModelCard(render_model_card(MrcfaConfig.from_preset("b1"), training=official))
    assert card.data.license_name == "mrcfa-academic" and "academic use" in card.text
    assert card.data.eval_results is None and "not evaluated" in card.text  # never the paper's numbers
    encoder = TrainingRecord(dataset="VSPW_480p", initialization="nvidia/mit-b1 (encoder)", base_model="nvidia/mit-b1",
                             weights_terms="base_model")  # fmt: skip
    card = ModelCard(render_model_card(MrcfaConfig.from_preset("b1"), training=encoder))
    assert card.data.license_name == "base-model-terms" and card.data.base_model == "nvidia/mit-b1"
    assert card.data.license_link == "https://huggingface.co/nvidia/mit-b1"
    with pytest.raises(ValueError, match="weights_terms must be one of"):
        TrainingRecord(dataset="x", weights_terms="mine")

    # whose terms a checkpoint folder carries, from its card
    assert weights_terms_of(None, is_mrcfa_checkpoint=False) == "ours"
    converted = tmp_path / "converted"
    write_model_card(converted, MrcfaConfig.from_preset("b1"), source="mrcfa_b1.pth")
    assert weights_terms_of(str(converted), is_mrcfa_checkpoint=True) == "official"
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "README.md").write_text(render_model_card(config, training=demo), encoding="utf-8")
    assert weights_terms_of(str(ours), is_mrcfa_checkpoint=True) == "ours"
    assert weights_terms_of(str(tmp_path / "no_card"), is_mrcfa_checkpoint=True) == "official"  # cautious
    assert weights_terms_of(str(tmp_path / "no_card"), is_mrcfa_checkpoint=False) == "base_model"
