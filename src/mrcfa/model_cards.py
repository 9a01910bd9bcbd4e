# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Hugging Face Hub model cards (``README.md``) for MRCFA checkpoints.

`render_model_card(config)` builds the card of a model from its `MrcfaConfig`: metadata (built with huggingface_hub's
`ModelCardData` / `EvalResult`) and a Markdown body (model details, results, usage, conversion, limitations, licence,
citation) rendered from the Jinja template `mrcfa/templates/model_card.md` with `ModelCard.from_template`; this
module computes the template's variables, the template holds the text.

A config that is exactly one of the official architectures (`MRCFA_PRESETS` b0..b5 with the official head, 4-frame
clips and VSPW's 124 classes) is named after it; for B0, B1, B2 and B5 the card carries the paper's VSPW numbers in
its `model-index`, stated as reported by the paper (they were not re-measured). B3, B4 and custom configs get no
evaluation results.

The committed cards in `model_cards/` are this module's output (`mrcfa cards` regenerates them, `mrcfa cards --check`
compares); the converter writes the card of every converted checkpoint with `write_model_card`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .models.mrcfa.configuration_mrcfa import MRCFA_PRESETS, VSPW_CLASSES, MrcfaConfig

__all__ = [
    "CARD_METRICS",
    "HUB_ORGANIZATION",
    "MODEL_CARD_TEMPLATE",
    "OFFICIAL_CARD_PRESETS",
    "PAPER_RESULTS",
    "PaperResult",
    "TrainingRecord",
    "default_model_name",
    "has_vspw_labels",
    "match_encoder_size",
    "match_preset",
    "model_card_data",
    "render_model_card",
    "weights_terms_of",
    "write_model_card",
]

#: The Jinja template of the card's body (shipped as package data).
MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"

PAPER_TITLE = "Mining Relations among Cross-Frame Affinities for Video Semantic Segmentation"
PAPER_URL = "https://arxiv.org/abs/2207.10436"
OFFICIAL_CODE_URL = "https://github.com/GuoleiSun/VSS-MRCFA"
#: The official README's licence statement ("This project is only for academic use. For other purposes, please
#: contact us."). The repository's LICENSE file holds MIT text, which contradicts the README; the weights follow the
#: more restrictive README statement, so the card links to it rather than to the LICENSE file.
WEIGHTS_LICENSE_NAME = "mrcfa-academic"
WEIGHTS_LICENSE_LINK = f"{OFFICIAL_CODE_URL}#license"
VSPW_URL = "https://github.com/sssdddwww2/vspw_dataset_download"

#: Hub organisation used in the usage examples of the cards (`mrcfa/mrcfa-b1-vspw`).
HUB_ORGANIZATION = "mrcfa"

TAGS = ("video-semantic-segmentation", "semantic-segmentation", "vision", "mrcfa", "segformer", "vspw")

#: Single-image widget examples (the widget runs the image-segmentation task; nothing is downloaded by the tests).
WIDGET = (
    {
        "src": "https://huggingface.co/datasets/hf-internal-testing/fixtures_ade20k/resolve/main/ADE_val_00000001.jpg",
        "example_title": "ADE20K scene",
    },
    {
        "src": "https://huggingface.co/datasets/mishig/sample_images/resolve/main/football-match.jpg",
        "example_title": "Football match",
    },
)

#: (metric type in the model-index, display name) of the VSPW metrics, in card order.
CARD_METRICS = (("mean_iou", "mIoU"), ("mvc8", "mVC8"), ("mvc16", "mVC16"))


@dataclass(frozen=True)
class PaperResult:
    """One row of the paper's VSPW table (val split, 480p), as reported by the paper."""

    mean_iou: float
    mvc8: float
    mvc16: float
    params_millions: float
    fps: float  # on the paper's GPU

    def metrics(self) -> dict[str, float]:
        return {"mean_iou": self.mean_iou, "mvc8": self.mvc8, "mvc16": self.mvc16}


#: The paper's VSPW validation results (metrics as defined in docs/design.md, "Metrics"). Only these sizes were
#: evaluated / released.
PAPER_RESULTS = {
    "b0": PaperResult(mean_iou=35.2, mvc8=88.0, mvc16=83.2, params_millions=5.2, fps=50.0),
    "b1": PaperResult(mean_iou=38.9, mvc8=88.8, mvc16=84.4, params_millions=16.2, fps=40.1),
    "b2": PaperResult(mean_iou=45.3, mvc8=90.3, mvc16=86.2, params_millions=27.3, fps=32.1),
    "b5": PaperResult(mean_iou=49.9, mvc8=90.9, mvc16=87.4, params_millions=84.5, fps=15.7),
}
#: The image-based baseline of the paper's table, quoted for comparison.
SEGFORMER_B1_BASELINE = PaperResult(mean_iou=36.5, mvc8=84.7, mvc16=79.9, params_millions=13.8, fps=58.7)

#: Presets with a committed card in `model_cards/` (`mrcfa-<preset>-vspw.md`).
OFFICIAL_CARD_PRESETS = tuple(PAPER_RESULTS)

# Fields that define the architecture and the test-time behaviour of an official model; a config matches a preset
# only if all of them equal the preset's.
_ARCHITECTURE_FIELDS = (
    "num_channels", "num_encoder_blocks", "depths", "hidden_sizes", "sr_ratios", "patch_sizes", "strides",
    "num_attention_heads", "mlp_ratios", "decoder_hidden_size", "num_clips", "reference_offsets", "stm_top_k",
    "stm_keep_ratio", "refinement_layout",
)  # fmt: skip


# ------------------------------------------------------------------------------------------------ config matching
def _normalized(value):
    if isinstance(value, (list, tuple)):
        return tuple(_normalized(v) for v in value)
    return value


def match_encoder_size(config) -> str | None:
    """The MiT size ("b0".."b5") whose `hidden_sizes` and `depths` equal the config's, or None."""
    hidden_sizes, depths = _normalized(config.hidden_sizes), _normalized(config.depths)
    for name, preset in MRCFA_PRESETS.items():
        if hidden_sizes == _normalized(preset["hidden_sizes"]) and depths == _normalized(preset["depths"]):
            return name
    return None


def match_preset(config) -> str | None:
    """The official preset ("b0".."b5") the config is exactly, or None.

    The encoder size is found from `hidden_sizes` / `depths`; every other architecture field (head variant: STM keep
    ratio and refinement layout, decoder width, clip length and reference offsets, MiT hyper-parameters) must then
    equal that preset's, otherwise the model is not the official one (e.g. a MiT-B0 encoder with the B1 head).
    """
    name = match_encoder_size(config)
    if name is None:
        return None
    reference = MrcfaConfig.from_preset(name)
    for field in _ARCHITECTURE_FIELDS:
        if _normalized(getattr(config, field, None)) != _normalized(getattr(reference, field)):
            return None
    return name


def has_vspw_labels(config) -> bool:
    """Whether the classifier predicts VSPW's 124 classes, in the official order."""
    id2label = getattr(config, "id2label", None) or {}
    if len(id2label) != len(VSPW_CLASSES):
        return False
    return all(str(id2label.get(i, id2label.get(str(i)))) == name for i, name in enumerate(VSPW_CLASSES))


def default_model_name(config) -> str:
    """`mrcfa-b1-vspw` for an official VSPW architecture, `mrcfa-b1` for an official architecture with other
    classes, `mrcfa-custom` otherwise."""
    preset = match_preset(config)
    if preset is None:
        return "mrcfa-custom"
    return f"mrcfa-{preset}-vspw" if has_vspw_labels(config) else f"mrcfa-{preset}"


def _split_name(model_name: str) -> tuple[str, str]:
    """(display name, repo id): a name with a slash is a full repo id, otherwise it lives in `HUB_ORGANIZATION`."""
    model_name = model_name.strip().strip("/")
    if not model_name:
        raise ValueError("model_name must not be empty.")
    if "/" in model_name:
        return model_name.rsplit("/", 1)[1], model_name
    return model_name, f"{HUB_ORGANIZATION}/{model_name}"


def _count_parameters(config) -> int:
    """Parameters of `MrcfaForVideoSemanticSegmentation(config)` (built on the meta device: no memory, no init)."""
    import torch

    from .models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation

    if not isinstance(config, MrcfaConfig):
        config = MrcfaConfig.from_dict(config.to_dict())
    with torch.device("meta"):
        model = MrcfaForVideoSemanticSegmentation(config)
    return sum(p.numel() for p in model.parameters())


def _resolve_results(config, results: Mapping[str, float] | None) -> tuple[dict[str, float], bool]:
    """(metric type -> value, whether they are the paper's)."""
    if results is None:
        preset = match_preset(config)
        if preset in PAPER_RESULTS and has_vspw_labels(config):
            return PAPER_RESULTS[preset].metrics(), True
        return {}, False
    known = {metric for metric, _ in CARD_METRICS}
    unknown = sorted(set(results) - known)
    if unknown:
        raise ValueError(f"unknown result metrics {unknown}: expected some of {sorted(known)}.")
    return {metric: float(results[metric]) for metric, _ in CARD_METRICS if metric in results}, False


def _eval_results(
    metrics: Mapping[str, float], from_paper: bool, training: TrainingRecord | None = None
) -> list[EvalResult]:
    names = dict(CARD_METRICS)
    source = {"source_name": "MRCFA paper (ECCV 2022)", "source_url": PAPER_URL} if from_paper else {}
    if training is not None:
        dataset = {
            "dataset_type": training.dataset_id or "synthetic-vspw"
            if training.synthetic
            else training.dataset_id or "vspw",
            "dataset_name": training.dataset,
            "dataset_split": training.eval_split,
        }
    else:
        dataset = {"dataset_type": "vspw", "dataset_name": "VSPW (480p)", "dataset_split": "validation"}
    return [
        EvalResult(
            task_type="image-segmentation",
            task_name="Video Semantic Segmentation",
            **dataset,
            metric_type=metric,
            metric_name=names[metric],
            metric_value=value,
            **source,
        )
        for metric, value in metrics.items()
    ]


# -------------------------------------------------------------------------------------------- trained models
#: Whose licence terms a trained model's weights carry (see `TrainingRecord.weights_terms`).
WEIGHTS_TERMS = ("ours", "official", "base_model")
#: `license_name` of a trained model whose weights keep the terms of the model they were initialised from.
BASE_MODEL_TERMS = "base-model-terms"


@dataclass(frozen=True)
class TrainingRecord:
    """What `scripts/run_vss.py` knows of a model it trained, for that model's card.

    Attributes:
        dataset: the training data as people should read it, e.g. "synthetic VSPW (mrcfa synthetic: 5 classes, ...)".
        synthetic: whether that data is the synthetic VSPW of `mrcfa.data.synthetic`.
        dataset_id: the Hub dataset id of the data (for the card's `datasets:`), when it is one.
        train_split / eval_split: the splits trained and evaluated on.
        initialization: where the weights started, e.g. "random (trained from scratch)" or "nvidia/mit-b1".
        base_model: the Hub id of the initial weights (the card's `base_model:`), when they came from the Hub.
        weights_terms: whose licence the weights carry: "ours" (trained from scratch by this package: Apache-2.0),
            "official" (initialised from converted official MRCFA weights: their academic-use terms) or
            "base_model" (initialised from other weights: that model's terms).
        max_steps / num_frames / crop_size / learning_rate: the recipe, for the card's training section.
    """

    dataset: str
    synthetic: bool = False
    dataset_id: str | None = None
    train_split: str = "train"
    eval_split: str = "val"
    initialization: str = "random (trained from scratch)"
    base_model: str | None = None
    weights_terms: str = "ours"
    max_steps: int | None = None
    num_frames: int = 4
    crop_size: tuple[int, int] | None = None
    learning_rate: float | None = None

    def __post_init__(self):
        if self.weights_terms not in WEIGHTS_TERMS:
            raise ValueError(f"weights_terms must be one of {WEIGHTS_TERMS}, got {self.weights_terms!r}.")


def weights_terms_of(
    model_name_or_path: str | None,
    *,
    is_mrcfa_checkpoint: bool,
    token: str | bool | None = None,
    revision: str | None = None,
) -> str:
    """Whose licence terms weights initialised from `model_name_or_path` carry (`TrainingRecord.weights_terms`).

    None (trained from scratch): "ours". Otherwise the checkpoint's card decides: the official weights' licence
    (`license_name: mrcfa-academic`, as converted checkpoints declare) gives "official", Apache-2.0 without a custom
    licence name (a model this package trained from scratch) gives "ours". Without a readable card, an MRCFA
    checkpoint is taken to carry the official terms (the cautious answer) and any other model (an ImageNet MiT
    encoder, ...) its own ("base_model").
    """
    if model_name_or_path is None:
        return "ours"
    path = Path(model_name_or_path)
    try:
        if path.is_dir():
            data = ModelCard.load(path / "README.md").data if (path / "README.md").is_file() else None
        else:
            data = ModelCard.load(model_name_or_path, token=token, revision=revision).data
    except Exception:  # offline, private or no card: nothing tells the terms
        data = None
    license_name = getattr(data, "license_name", None)
    if license_name == WEIGHTS_LICENSE_NAME:
        return "official"
    if license_name == BASE_MODEL_TERMS:
        return "base_model"
    if getattr(data, "license", None) == "apache-2.0" and license_name is None and is_mrcfa_checkpoint:
        return "ours"
    return "official" if is_mrcfa_checkpoint else "base_model"


# ------------------------------------------------------------------------------------------------------- metadata
def model_card_data(
    config,
    *,
    model_name: str | None = None,
    results: Mapping[str, float] | None = None,
    training: TrainingRecord | None = None,
) -> ModelCardData:
    """The card's metadata (see `render_model_card` for the arguments)."""
    name, _ = _split_name(model_name or default_model_name(config))
    preset = match_preset(config)
    vspw = has_vspw_labels(config)
    metrics, from_paper = _resolve_results(config, results)
    if training is None:
        licence = {"license": "other", "license_name": WEIGHTS_LICENSE_NAME, "license_link": WEIGHTS_LICENSE_LINK}
        datasets = ["vspw"] if vspw else None
        base_model = f"nvidia/mit-{preset}" if preset is not None else None
    else:
        licence = _training_licence(training)
        datasets = [training.dataset_id] if training.dataset_id else None
        base_model = training.base_model
    return ModelCardData(
        library_name="transformers",
        pipeline_tag="image-segmentation",
        **licence,
        tags=[tag for tag in TAGS if vspw or tag != "vspw"]
        + (["synthetic-data"] if training and training.synthetic else []),
        datasets=datasets,
        base_model=base_model,
        model_name=name if metrics else None,
        eval_results=_eval_results(metrics, from_paper, training) or None,
        # The widget's examples are natural scenes: they fit VSPW's classes, not a model of other classes (e.g. the
        # synthetic demo's), which gets none rather than misleading ones.
        widget=[dict(example) for example in WIDGET] if vspw else None,
    )


def _training_licence(training: TrainingRecord) -> dict:
    if training.weights_terms == "ours":
        return {"license": "apache-2.0"}
    if training.weights_terms == "official":
        return {"license": "other", "license_name": WEIGHTS_LICENSE_NAME, "license_link": WEIGHTS_LICENSE_LINK}
    link = f"https://huggingface.co/{training.base_model}" if training.base_model else None
    return {"license": "other", "license_name": BASE_MODEL_TERMS, "license_link": link}


# ---------------------------------------------------------------------------------------------- template variables
def _tuple_text(values) -> str:
    return ", ".join(str(v) for v in values)


def _template_variables(
    config, *, name: str, repo_id: str, source: str | None, metrics: dict[str, float], from_paper: bool
) -> dict:
    """The variables of `MODEL_CARD_TEMPLATE` (besides the card data's own fields)."""
    preset = match_preset(config)
    encoder = match_encoder_size(config)
    vspw = has_vspw_labels(config)
    released = preset in PAPER_RESULTS and vspw  # one of the paper's models, whose weights the authors released
    size = preset.upper() if preset else None
    num_labels = len(config.id2label) if getattr(config, "id2label", None) else config.num_labels
    params = _count_parameters(config)
    if preset:
        architecture = f"It has the official MRCFA-{size} architecture"
    elif encoder:
        architecture = (
            f"Its configuration is custom: a MiT-{encoder.upper()} encoder with head or clip settings that differ "
            f"from the official MRCFA-{encoder.upper()}"
        )
    else:
        architecture = "Its configuration is custom"
    layouts = {"two_layer": "two conv-GN-ReLU layers per unit", "single_layer": "one conv-GN-ReLU layer per unit"}
    return {
        # where the model comes from
        "name": name,
        "repo_id": repo_id,
        "source": source,
        "preset": preset,
        "size": size,
        "encoder_size": encoder.upper() if encoder else None,
        "vspw": vspw,
        "released": released,
        "architecture": architecture,
        "classes": "VSPW's 124 classes" if vspw else f"{num_labels} classes",
        # model details
        "model_type": config.model_type,
        "hidden_sizes": _tuple_text(config.hidden_sizes),
        "depths": _tuple_text(config.depths),
        "decoder_hidden_size": config.decoder_hidden_size,
        "num_clips": config.num_clips,
        "reference_offsets": _tuple_text(config.reference_offsets),
        "clip_frames": ", ".join(f"i{offset}" for offset in config.reference_offsets),  # "i-9, i-6, i-3"
        "stm_keep_ratio": f"{config.stm_keep_ratio:g}",
        "stm_top_k": config.stm_top_k,
        "refinement_layout": config.refinement_layout,
        "refinement_description": layouts.get(config.refinement_layout, "custom"),
        "num_labels": num_labels,
        "parameters": f"{params / 1e6:.2f}M ({params:,})",
        # results: the paper's (PaperResult rows) or supplied [(display name, value)]
        "paper": PAPER_RESULTS.get(preset),
        "baseline": SEGFORMER_B1_BASELINE,
        "paper_metrics": bool(metrics) and from_paper,
        "supplied_metrics": [] if from_paper else [(dict(CARD_METRICS)[m], v) for m, v in metrics.items()],
        # conversion
        "convert_command": "python scripts/convert_mrcfa_original_to_hf.py "
        f"--checkpoint_path {shlex.quote(source or 'checkpoint.pth')} --output_dir {shlex.quote(name)}",
        # links
        "paper_title": PAPER_TITLE,
        "paper_url": PAPER_URL,
        "code_url": OFFICIAL_CODE_URL,
        "vspw_url": VSPW_URL,
    }


# ------------------------------------------------------------------------------------------------------- public API
def render_model_card(
    config,
    *,
    model_name: str | None = None,
    source: str | None = None,
    results: Mapping[str, float] | None = None,
    training: TrainingRecord | None = None,
) -> str:
    """The Hub model card (`README.md` text) of an MRCFA model.

    Args:
        config (`MrcfaConfig`): the model's configuration (a loaded `config.json` works too).
        model_name (`str`, *optional*): name of the model in the `model-index` and the examples; defaults to
            `default_model_name(config)` (e.g. `mrcfa-b1-vspw`). Without a slash the examples use the repo id
            `mrcfa/<model_name>`; with one (`org/name`) it is the repo id.
        source (`str`, *optional*): file name of the checkpoint the weights were converted from.
        results (`Mapping[str, float]`, *optional*): VSPW validation metrics (`mean_iou`, `mvc8`, `mvc16`, in %) to
            state instead of the paper's; `{}` gives a card without results. By default the paper's numbers are
            used for the official B0, B1, B2 and B5 VSPW models and no results for anything else.
        training (`TrainingRecord`, *optional*): how this model was trained (by `scripts/run_vss.py`): the card then
            describes that training, its data (`results` are measured on its eval split) and the licence its
            weights carry, instead of presenting the model as derived from the official weights.
    """
    name, repo_id = _split_name(model_name or default_model_name(config))
    metrics, from_paper = _resolve_results(config, results)
    if training is not None and from_paper:  # a trained model is never described by the paper's numbers
        metrics, from_paper = {}, False
        results = {}
    data = model_card_data(config, model_name=model_name, results=results, training=training)
    variables = _template_variables(
        config, name=name, repo_id=repo_id, source=source, metrics=metrics, from_paper=from_paper
    )
    variables["training"] = training
    card = ModelCard.from_template(data, template_path=str(MODEL_CARD_TEMPLATE), **variables)
    return str(card)


def write_model_card(
    output_dir: str | Path, config, *, model_name: str | None = None, source: str | None = None
) -> Path:
    """Write `render_model_card(config, ...)` to `output_dir/README.md` and return its path."""
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(config, model_name=model_name, source=source), encoding="utf-8")
    return path
