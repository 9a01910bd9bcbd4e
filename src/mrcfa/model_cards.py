# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Hugging Face Hub model cards (``README.md``) for MRCFA checkpoints.

`render_model_card(config)` builds the card of a model from its `MrcfaConfig`: metadata (built with huggingface_hub's
`ModelCardData` / `EvalResult`) and a Markdown body (model details, results, usage, conversion, limitations, licence,
citation). A config that is exactly one of the official architectures (`MRCFA_PRESETS` b0..b5 with the official
head, 4-frame clips and VSPW's 124 classes) is named after it; for B0, B1, B2 and B5 the card carries the paper's
VSPW numbers in its `model-index`, stated as reported by the paper (they were not re-measured). B3, B4 and custom
configs get no evaluation results.

The committed cards in `model_cards/` are this module's output (`scripts/generate_model_cards.py` regenerates them);
the converter writes the card of every converted checkpoint with `write_model_card`.
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
    "OFFICIAL_CARD_PRESETS",
    "PAPER_RESULTS",
    "PaperResult",
    "default_model_name",
    "has_vspw_labels",
    "match_encoder_size",
    "match_preset",
    "model_card_data",
    "render_model_card",
    "write_model_card",
]

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


#: The paper's VSPW validation results (SPEC section 10). Only these sizes were evaluated / released.
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

_CITATION = """\
@inproceedings{sun2022mining,
  title     = {Mining Relations among Cross-Frame Affinities for Video Semantic Segmentation},
  author    = {Sun, Guolei and Liu, Yun and Tang, Hao and Chhatkuli, Ajad and Zhang, Le and Van Gool, Luc},
  booktitle = {Computer Vision -- ECCV 2022},
  series    = {Lecture Notes in Computer Science},
  pages     = {522--539},
  publisher = {Springer},
  year      = {2022}
}"""


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


def _eval_results(metrics: Mapping[str, float], from_paper: bool) -> list[EvalResult]:
    names = dict(CARD_METRICS)
    source = {"source_name": "MRCFA paper (ECCV 2022)", "source_url": PAPER_URL} if from_paper else {}
    return [
        EvalResult(
            task_type="image-segmentation",
            task_name="Video Semantic Segmentation",
            dataset_type="vspw",
            dataset_name="VSPW (480p)",
            dataset_split="validation",
            metric_type=metric,
            metric_name=names[metric],
            metric_value=value,
            **source,
        )
        for metric, value in metrics.items()
    ]


# ------------------------------------------------------------------------------------------------------- metadata
def model_card_data(
    config, *, model_name: str | None = None, results: Mapping[str, float] | None = None
) -> ModelCardData:
    """The card's metadata (see `render_model_card` for the arguments)."""
    name, _ = _split_name(model_name or default_model_name(config))
    preset = match_preset(config)
    vspw = has_vspw_labels(config)
    metrics, from_paper = _resolve_results(config, results)
    return ModelCardData(
        library_name="transformers",
        pipeline_tag="image-segmentation",
        license="other",
        license_name=WEIGHTS_LICENSE_NAME,
        license_link=WEIGHTS_LICENSE_LINK,
        tags=[tag for tag in TAGS if vspw or tag != "vspw"],
        datasets=["vspw"] if vspw else None,
        base_model=f"nvidia/mit-{preset}" if preset is not None else None,
        model_name=name if metrics else None,
        eval_results=_eval_results(metrics, from_paper) or None,
        widget=[dict(example) for example in WIDGET],
    )


# ----------------------------------------------------------------------------------------------------------- body
def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _tuple_text(values) -> str:
    return ", ".join(str(v) for v in values)


def _body(config, *, name: str, repo_id: str, source: str | None, metrics: dict, from_paper: bool) -> str:
    preset = match_preset(config)
    encoder = match_encoder_size(config)
    vspw = has_vspw_labels(config)
    released = preset in PAPER_RESULTS and vspw  # one of the paper's models, whose weights the authors released
    size = preset.upper() if preset else None
    num_labels = len(config.id2label) if getattr(config, "id2label", None) else config.num_labels
    params = _count_parameters(config)
    refs = _tuple_text(config.reference_offsets)
    classes = "VSPW's 124 classes" if vspw else f"{num_labels} classes"

    out: list[str] = []
    add = out.append

    # ---- title and summary
    paper = f"the paper [{PAPER_TITLE}]({PAPER_URL}) (ECCV 2022)"
    if released:
        add(f"# MRCFA-{size} (VSPW)\n")
        add(
            f"MRCFA-{size} video semantic segmentation model trained on [VSPW]({VSPW_URL}) (480p, 124 classes), "
            f"from {paper}. The weights are the authors' official checkpoint ([official code]({OFFICIAL_CODE_URL})), "
            "converted to a Hugging Face `transformers` model by the `mrcfa` package.\n"
        )
    else:
        add(f"# MRCFA-{size} (VSPW)\n" if preset and vspw else f"# MRCFA ({name})\n")
        if preset:
            arch = f"It has the official MRCFA-{size} architecture"
        elif encoder:
            arch = (
                f"Its configuration is custom: a MiT-{encoder.upper()} encoder with head or clip settings that differ "
                f"from the official MRCFA-{encoder.upper()}"
            )
        else:
            arch = "Its configuration is custom"
        add(
            f"An MRCFA video semantic segmentation model with {classes}, for the `mrcfa` package, which implements "
            f"{paper} natively in Hugging Face `transformers`. {arch}. It is not one of the models evaluated in the "
            "paper, whose authors released MRCFA-B0, B1, B2 and B5 weights for VSPW.\n"
        )
    add(
        f"MRCFA segments the latest frame of a {config.num_clips}-frame clip: a SegFormer (MiT) encoder runs on every "
        f"frame, cross-frame affinities between the target frame and the {config.num_clips - 1} earlier reference "
        "frames are computed at three scales, refined (Single-scale Affinity Refinement) and aggregated across scales "
        "(Multi-scale Affinity Aggregation) on a subset of reference tokens chosen by Selective Token Masking, and "
        "then used to aggregate the reference frames' features into the prediction.\n"
    )

    # ---- model details
    add("## Model details\n")
    add("| | |\n|---|---|")
    add(f"| Architecture | `MrcfaForVideoSemanticSegmentation` (`model_type: {config.model_type}`) |")
    add(
        f"| Encoder | MiT{'-' + encoder.upper() if encoder else ''}: hidden sizes {_tuple_text(config.hidden_sizes)}, "
        f"depths {_tuple_text(config.depths)} |"
    )
    add(f"| Decoder width | {config.decoder_hidden_size} |")
    add(
        f"| Clip | {config.num_clips} frames: references at offsets {refs} (frames), then the target frame "
        f"(`reference_offsets`) |"
    )
    layout = {"two_layer": "two conv-GN-ReLU layers per unit", "single_layer": "one conv-GN-ReLU layer per unit"}
    add(
        f"| Selective Token Masking | keeps {config.stm_keep_ratio:g} of the reference tokens, scored by the sum of "
        f"their top-{config.stm_top_k} affinities |"
    )
    add(f"| Affinity refinement | `{config.refinement_layout}` ({layout.get(config.refinement_layout, 'custom')}) |")
    add(f"| Classes | {num_labels}{' (VSPW, `config.id2label`)' if vspw else ''} |")
    paper_params = f"; the paper reports {_fmt(PAPER_RESULTS[preset].params_millions)}M" if released else ""
    add(f"| Parameters | {params / 1e6:.2f}M ({params:,}){paper_params} |")
    add("| Input | RGB frames normalised with ImageNet mean / std; height and width multiples of 32 |")
    add("| Output | logits at 1/4 of the input resolution for the target frame |\n")
    if released:
        add(
            "Training (official recipe, not re-run here): VSPW 480p train split, MiT encoder initialised from "
            "ImageNet-1k weights, 160k iterations of AdamW (lr 6e-5, head lr x10, weight decay 0.01, poly schedule "
            "with warm-up), 2 clips of 480x480 crops per GPU on 4 GPUs.\n"
        )

    # ---- results
    add("## Evaluation results\n")
    if metrics and from_paper:
        paper = PAPER_RESULTS[preset]
        add(
            "VSPW validation set, 480p, as reported by the paper (these numbers were **not** re-measured with the "
            "converted weights; the conversion was verified numerically against the official code instead, see "
            "below):\n"
        )
        add("| Model | Params (paper) | mIoU | mVC8 | mVC16 | FPS (paper's GPU) |")
        add("|---|---|---|---|---|---|")
        add(
            f"| **MRCFA-{size}** | {_fmt(paper.params_millions)}M | {_fmt(paper.mean_iou)} | {_fmt(paper.mvc8)} | "
            f"{_fmt(paper.mvc16)} | {_fmt(paper.fps)} |"
        )
        base = SEGFORMER_B1_BASELINE
        add(
            f"| SegFormer-B1 (image baseline) | {_fmt(base.params_millions)}M | {_fmt(base.mean_iou)} | "
            f"{_fmt(base.mvc8)} | {_fmt(base.mvc16)} | {_fmt(base.fps)} |\n"
        )
        add(
            "mIoU is the mean intersection over union over the 124 classes; mVC8 / mVC16 (video consistency) is the "
            "fraction of pixels whose prediction stays unchanged over 8 / 16 consecutive frames among the pixels "
            "whose ground truth does, averaged over all windows. Frames are evaluated with the official test "
            "protocol (clips of frames i-9, i-6, i-3, i).\n"
        )
    elif metrics:
        rows = " | ".join(_fmt(v) for v in metrics.values())
        add(
            "VSPW validation set (480p). These numbers were supplied when this card was generated; they are not "
            "the paper's.\n"
        )
        add("| " + " | ".join(dict(CARD_METRICS)[m] for m in metrics) + " |")
        add("|" + "---|" * len(metrics))
        add(f"| {rows} |\n")
    else:
        reason = (
            f"The paper reports no results for MRCFA-{size}"
            if preset is not None and vspw
            else "This configuration is not one of the models evaluated in the paper"
        )
        add(
            f"{reason}, so this card has no evaluation results (no `model-index`). The paper's VSPW numbers exist "
            "for MRCFA-B0, B1, B2 and B5 only.\n"
        )

    # ---- usage
    add("## Usage\n")
    add(
        "Install the `mrcfa` package (with its `video` extra to read video files). Importing `mrcfa` registers the "
        "model with the `transformers` Auto classes and adds the `video-semantic-segmentation` pipeline.\n"
    )
    add("### Images\n")
    add(
        "A single image has no temporal context: the model returns its per-frame SegFormer prediction. The code "
        "files saved with the weights make this work without installing `mrcfa`.\n"
    )
    add(
        "```python\nfrom transformers import pipeline\n\n"
        f'segmenter = pipeline("image-segmentation", model="{repo_id}", trust_remote_code=True)\n'
        'for segment in segmenter("frame.jpg"):\n'
        '    print(segment["label"], segment["mask"].size)\n```\n'
    )
    add("### Videos\n")
    add(
        "`mrcfa.segment_video` runs the official test protocol on a stream of frames (each frame is encoded once; "
        "frame i is segmented with frames i-9, i-6 and i-3 as references) and yields one label map per frame:\n"
    )
    add(
        "```python\nimport mrcfa\nfrom transformers import AutoImageProcessor, AutoModel\n\n"
        f'repo = "{repo_id}"\n'
        "model = AutoModel.from_pretrained(repo)\n"
        "processor = AutoImageProcessor.from_pretrained(repo)\n\n"
        "frames = [...]  # the frames of one video, oldest first (PIL images or RGB arrays)\n"
        "for labels in mrcfa.segment_video(model, frames, processor=processor):\n"
        "    ...  # the label map (class ids) of the next frame; class names in model.config.id2label\n```\n"
    )
    add("The same as a pipeline, from a video file or a folder of frames:\n")
    add(
        "```python\nimport mrcfa  # registers the video-semantic-segmentation pipeline\n"
        "from transformers import pipeline\n\n"
        f'segmenter = pipeline("video-semantic-segmentation", model="{repo_id}")\n'
        'results = segmenter("video.mp4")  # or "path/to/frames/"\n```\n'
    )
    add("### Command line\n")
    add(f"```bash\nmrcfa-segment video.mp4 --model {repo_id} --output out/ --overlay out.mp4\n```\n")
    add("writes the label maps of every frame to `out/` and a colour overlay video to `out.mp4`.\n")
    add("### Without the `mrcfa` package\n")
    add(
        "The checkpoint ships its modelling code, so `transformers` alone can run clips with "
        "`trust_remote_code=True`:\n"
    )
    add(
        "```python\nimport torch\nfrom transformers import AutoModel\n\n"
        f'model = AutoModel.from_pretrained("{repo_id}", trust_remote_code=True).eval()\n'
        f"# clip: [batch, {config.num_clips}, 3, height, width], normalised frames i{refs.replace(', ', ', i')}, "
        "i (target last);\n"
        "# height and width multiples of 32\n"
        "with torch.no_grad():\n"
        "    logits = model(pixel_values=clip).logits  # [batch, num_labels, height / 4, width / 4], target frame\n"
        "labels = logits.argmax(1)\n```\n"
    )

    # ---- conversion
    if released or source:
        add("## Conversion and verification\n")
        if source:
            origin = f"the checkpoint file `{source}`"
        else:
            origin = (
                f"the official MRCFA-{size} checkpoint released by the authors (download link in the "
                f"[official README]({OFFICIAL_CODE_URL}))"
            )
        add(
            f"The weights were converted from {origin} with the `mrcfa` converter, which reads the mmsegmentation "
            "checkpoint safely (`torch.load(weights_only=True)`; its embedded config text is parsed, never executed), "
            "infers the architecture from the tensor shapes, renames every tensor (splitting the fused key/value "
            "projections of the encoder), and writes `config.json`, `model.safetensors` (float32), the code files "
            "for `trust_remote_code`, the preprocessor config and this card:\n"
        )
        add(
            "```bash\npython scripts/convert_mrcfa_original_to_hf.py "
            f"--checkpoint_path {shlex.quote(source or 'checkpoint.pth')} --output_dir {shlex.quote(name)}\n```\n"
        )
        add(
            "The conversion and the implementation are verified against outputs recorded with the official code on a "
            "reference checkpoint in the official format: the parity tests reproduce the encoder features, the "
            "per-frame and final logits, the Selective Token Masking mask, the refined affinities and the training "
            "loss within 1e-4 of the official values.\n"
        )

    # ---- limitations
    add("## Limitations\n")
    resizing = (
        "Frames are resized as in the official pipeline (to fit 853x480 keeping the aspect ratio, then to multiples "
        "of 32)."
    )
    if released:
        add(
            "- Trained on VSPW 480p (124 classes, mostly everyday scenes); accuracy drops on other domains and "
            f"resolutions. {resizing}"
        )
    elif vspw:
        add(
            "- Predicts VSPW's 124 classes; the training data and the accuracy of these weights are not recorded. "
            + resizing
        )
    else:
        add("- The training data and the accuracy of these weights are not recorded in this card.")
    add(
        "- Height and width of the model input must be multiples of 32; the processor resizes frames accordingly "
        "and the predictions are resized back to the frame size."
    )
    add(
        "- The first frames of a video (frames 0-2) are segmented without temporal context, as in the official "
        "test protocol; frames 3-8 use fixed clips of earlier frames."
    )
    add(
        "- Inference on CPU is slow (every frame runs the full encoder, and each target frame an affinity "
        "refinement over three scales); use a GPU for long videos."
    )
    add(
        "- The weights are licensed for academic use only (see below); the video consistency gains are measured "
        "on VSPW and do not guarantee temporally stable output elsewhere.\n"
    )

    # ---- licence
    add("## License\n")
    official_terms = (
        "the official repository's README states \"This project is only for academic use. For other purposes, "
        f'please contact us." ([official repository]({WEIGHTS_LICENSE_LINK})). Its LICENSE file carries MIT text; '
        "this card follows the more restrictive README statement (`license: other`, `license_name: mrcfa-academic`)"
    )
    if released:
        add(f"The weights are the official MRCFA weights and keep the official terms: {official_terms}.")
    else:
        add(
            "These weights are assumed to derive from the official MRCFA code or weights and to keep their terms: "
            f"{official_terms}. Change the licence if your weights are not bound by these terms."
        )
    add("The `mrcfa` code is licensed under Apache-2.0.\n")

    # ---- citation
    add("## Citation\n")
    add(f"```bibtex\n{_CITATION}\n```")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------------- public API
def render_model_card(
    config,
    *,
    model_name: str | None = None,
    source: str | None = None,
    results: Mapping[str, float] | None = None,
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
    """
    name, repo_id = _split_name(model_name or default_model_name(config))
    metrics, from_paper = _resolve_results(config, results)
    data = model_card_data(config, model_name=model_name, results=results)
    body = _body(config, name=name, repo_id=repo_id, source=source, metrics=metrics, from_paper=from_paper)
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
    return str(card)


def write_model_card(
    output_dir: str | Path, config, *, model_name: str | None = None, source: str | None = None
) -> Path:
    """Write `render_model_card(config, ...)` to `output_dir/README.md` and return its path."""
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_model_card(config, model_name=model_name, source=source), encoding="utf-8")
    return path
