# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Conversion of official MRCFA checkpoints (mmsegmentation 0.13 format) to `MrcfaForVideoSemanticSegmentation`.

An official checkpoint is `{'meta': {...}, 'state_dict': {...}}` saved by mmcv. The architecture is inferred from the
tensor shapes and from the text of `meta['config']`, which is read with regular expressions and never executed.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError

from .checks import check_outputs_apart
from .models.mrcfa.configuration_mrcfa import MRCFA_PRESETS, MrcfaConfig

logger = logging.getLogger(__name__)

#: Keys of the official state dict that have no counterpart and may be dropped (BaseDecodeHead's unused classifier).
DROPPABLE_PREFIXES = ("decode_head.conv_seg.",)

#: MiT hyper-parameters that are not visible in tensor shapes; identical for every official size (mit_b0..mit_b5).
MIT_NUM_ATTENTION_HEADS = (1, 2, 5, 8)
MIT_STRIDES = (4, 2, 2, 2)


class ConversionError(ValueError):
    """The checkpoint cannot be converted (unknown keys, missing keys, shape mismatch, unreadable file)."""


class ConfigOverrideError(ConversionError):
    """Config overrides that the configuration rejects (alone, or with the checkpoint's inferred fields).

    `fields`: the overrides the reason names (all of them when it names none); `reason`: the configuration's message.
    """

    def __init__(self, fields: dict, reason: str):
        self.fields, self.reason = fields, reason
        given = ", ".join(f"{name}={value!r}" for name, value in fields.items())
        super().__init__(f"invalid config override {given}: {reason}")


_ENCODER_RULES = [
    (r"backbone\.patch_embed(\d)\.proj\.(weight|bias)", "segformer.stages.{s}.patch_embeddings.proj.{1}"),
    (r"backbone\.patch_embed(\d)\.norm\.(weight|bias)", "segformer.stages.{s}.patch_embeddings.layer_norm.{1}"),
    (r"backbone\.block(\d)\.(\d+)\.norm1\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.layernorm_before.{2}"),
    (r"backbone\.block(\d)\.(\d+)\.norm2\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.layernorm_after.{2}"),
    (r"backbone\.block(\d)\.(\d+)\.attn\.q\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.attention.q_proj.{2}"),
    (r"backbone\.block(\d)\.(\d+)\.attn\.proj\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.attention.o_proj.{2}"),
    (
        r"backbone\.block(\d)\.(\d+)\.attn\.sr\.(weight|bias)",
        "segformer.stages.{s}.blocks.{1}.attention.sequence_reduction.sequence_reduction.{2}",
    ),
    (
        r"backbone\.block(\d)\.(\d+)\.attn\.norm\.(weight|bias)",
        "segformer.stages.{s}.blocks.{1}.attention.sequence_reduction.layer_norm.{2}",
    ),
    (r"backbone\.block(\d)\.(\d+)\.mlp\.fc1\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.mlp.fc1.{2}"),
    (r"backbone\.block(\d)\.(\d+)\.mlp\.fc2\.(weight|bias)", "segformer.stages.{s}.blocks.{1}.mlp.fc2.{2}"),
    (
        r"backbone\.block(\d)\.(\d+)\.mlp\.dwconv\.dwconv\.(weight|bias)",
        "segformer.stages.{s}.blocks.{1}.mlp.dwconv.dwconv.{2}",
    ),
    (r"backbone\.norm(\d)\.(weight|bias)", "segformer.stages.{s}.layer_norm.{1}"),
]

_HEAD = "decode_head."
_HEAD_RULES = [
    (r"decode_head\.linear_c(\d)\.proj\.(weight|bias)", _HEAD + "frame_decoder.linear_projections.{s}.{1}"),
    (r"decode_head\.linear_fuse\.conv\.weight", _HEAD + "frame_decoder.linear_fuse.weight"),
    (
        r"decode_head\.linear_fuse\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)",
        _HEAD + "frame_decoder.batch_norm.{0}",
    ),
    (r"decode_head\.linear_pred\.(weight|bias)", _HEAD + "frame_decoder.classifier.{0}"),
    (r"decode_head\.sr2\.(weight|bias)", _HEAD + "cross_frame_affinity.reduce_stage2.{0}"),
    (r"decode_head\.sr3\.(weight|bias)", _HEAD + "cross_frame_affinity.reduce_stage3.{0}"),
    (r"decode_head\.sr1_feat\.(weight|bias)", _HEAD + "temporal_aggregation.value_reduction.{0}"),
    # q3/k3 act on stage 4 (level 0), q2/k2 on stage 3 (level 1), q1/k1 on stage 2 (level 2)
    (
        r"decode_head\.hypercorre_module\.q(\d)\.(weight|bias)",
        _HEAD + "cross_frame_affinity.target_projections.{lvl}.{1}",
    ),
    (
        r"decode_head\.hypercorre_module\.k(\d)\.(weight|bias)",
        _HEAD + "cross_frame_affinity.reference_projections.{lvl}.{1}",
    ),
    (
        r"decode_head\.hypercorre_module\.hpn\.encoder_layer([234])\.(\d+)(?:\.conv2)?\.(weight|bias)",
        _HEAD + "affinity_refinement.level_units.{unit}.{1}.{2}",
    ),
    (
        r"decode_head\.hypercorre_module\.hpn\.encoder_layer(4to3|3to2)\.(\d+)(?:\.conv2)?\.(weight|bias)",
        _HEAD + "multi_scale_aggregation.mix_units.{mix}.{1}.{2}",
    ),
    (r"decode_head\.deco(\d)\.smalldecoder\.1\.(weight|bias)", _HEAD + "ensemble.{deco}.1.{1}"),
]


def map_official_key(key: str, num_clips: int = 4) -> str | None:
    """The `MrcfaForVideoSemanticSegmentation` parameter name of an official key, or None if it has none.

    The official attention's `kv` projection is split into two keys by [`convert_state_dict`]; here it maps to
    `...attention.kv` (a placeholder).
    """
    match = re.fullmatch(r"backbone\.block(\d)\.(\d+)\.attn\.kv\.(weight|bias)", key)
    if match:
        return f"segformer.stages.{int(match[1]) - 1}.blocks.{match[2]}.attention.kv.{match[3]}"
    for pattern, template in _ENCODER_RULES + _HEAD_RULES:
        match = re.fullmatch(pattern, key)
        if not match:
            continue
        groups = match.groups()
        if "{s}" in template:  # stage number (1-based in the official names) -> 0-based stage index
            return template.replace("{s}", str(int(groups[0]) - 1)).format(None, *groups[1:])
        if "{lvl}" in template:
            level = {3: 0, 2: 1, 1: 2}.get(int(groups[0]))
            if level is None:
                return None
            return template.replace("{lvl}", str(level)).format(*groups)
        if "{unit}" in template:
            unit = {"4": 0, "3": 1, "2": 2}[groups[0]]
            return template.replace("{unit}", str(unit)).format(*groups)
        if "{mix}" in template:
            mix = {"4to3": 0, "3to2": 1}[groups[0]]
            return template.replace("{mix}", str(mix)).format(*groups)
        if "{deco}" in template:
            index = int(groups[0])
            if not 1 <= index <= num_clips:
                return None
            name = "target_decoder" if index == num_clips else f"reference_decoders.{index - 1}"
            return template.replace("{deco}", name).format(*groups)
        return template.format(*groups)
    return None


def _parse_head_variant(config_text: str) -> str | None:
    """The official head variant string (`backbone='bX'` inside `decode_head=dict(...)`) of `meta['config']`."""
    head = re.search(r"decode_head\s*=\s*dict\((.*)", config_text, flags=re.S)
    if not head:
        return None
    match = re.search(r"\bbackbone\s*=\s*['\"](b\d)['\"]", head.group(1))
    return match.group(1) if match else None


def _parse_int(config_text: str, name: str) -> int | None:
    match = re.search(rf"\b{name}\s*=\s*(\d+)", config_text)
    return int(match.group(1)) if match else None


def infer_config(state_dict: Mapping[str, torch.Tensor], meta: Mapping | None = None, **overrides) -> MrcfaConfig:
    """Infer an `MrcfaConfig` from an official state dict (shapes) and `meta` (`CLASSES`, config text).

    `overrides` (any `MrcfaConfig` field, e.g. `stm_keep_ratio`, `num_attention_heads`) take precedence.
    """
    meta = dict(meta or {})
    config_text = meta.get("config") or ""
    if not isinstance(config_text, str):
        config_text = str(config_text)

    def shape(key):
        if key not in state_dict:
            raise ConversionError(f"the checkpoint has no {key!r}: is it an official MRCFA checkpoint?")
        return tuple(state_dict[key].shape)

    hidden_sizes = tuple(shape(f"backbone.patch_embed{i}.proj.weight")[0] for i in range(1, 5))
    patch_sizes = tuple(shape(f"backbone.patch_embed{i}.proj.weight")[-1] for i in range(1, 5))
    depths = []
    for i in range(1, 5):
        blocks = {int(m[1]) for k in state_dict if (m := re.match(rf"backbone\.block{i}\.(\d+)\.", k))}
        if not blocks or blocks != set(range(len(blocks))):
            raise ConversionError(f"stage {i} of the encoder has blocks {sorted(blocks)}: expected 0..n-1.")
        depths.append(len(blocks))
    sr_ratios = tuple(
        shape(f"backbone.block{i}.0.attn.sr.weight")[-1] if f"backbone.block{i}.0.attn.sr.weight" in state_dict else 1
        for i in range(1, 5)
    )
    mlp_ratios = tuple(shape(f"backbone.block{i}.0.mlp.fc1.weight")[0] // hidden_sizes[i - 1] for i in range(1, 5))
    decoder_hidden_size = shape("decode_head.linear_c1.proj.weight")[0]
    num_labels = shape("decode_head.linear_pred.weight")[0]
    decoders = sorted({int(m[1]) for k in state_dict if (m := re.match(r"decode_head\.deco(\d)\.", k))})
    num_clips = len(decoders)
    if decoders != list(range(1, num_clips + 1)) or num_clips < 2:
        raise ConversionError(f"ensemble decoders deco{decoders}: expected deco1..decoN with N >= 2.")
    meta_clips = _parse_int(config_text, "num_clips")
    if meta_clips is not None and meta_clips != num_clips:
        raise ConversionError(
            f"meta['config'] says num_clips={meta_clips} but the checkpoint has {num_clips} decoders."
        )
    layout = (
        "two_layer"
        if "decode_head.hypercorre_module.hpn.encoder_layer4.3.conv2.weight" in state_dict
        else "single_layer"
    )

    variant = _parse_head_variant(config_text)
    if variant is None:
        variant = (
            "b1" if layout == "two_layer" else ("b0" if hidden_sizes == MRCFA_PRESETS["b0"]["hidden_sizes"] else "b2")
        )
        if "stm_keep_ratio" not in overrides:
            logger.warning(
                "meta['config'] does not name the head variant (backbone='bX'); assuming %r from the shapes "
                "(STM keep ratio %s). Pass stm_keep_ratio to override.",
                variant,
                MRCFA_PRESETS[variant]["stm_keep_ratio"],
            )
    kwargs = {
        "hidden_sizes": hidden_sizes,
        "depths": tuple(depths),
        "sr_ratios": sr_ratios,
        "patch_sizes": patch_sizes,
        "strides": MIT_STRIDES,
        "num_attention_heads": MIT_NUM_ATTENTION_HEADS,
        "mlp_ratios": mlp_ratios,
        "decoder_hidden_size": decoder_hidden_size,
        "num_clips": num_clips,
        "reference_offsets": tuple(range(-3 * (num_clips - 1), 0, 3)),
        "stm_keep_ratio": 0.8 if variant == "b0" else 0.5,
        "refinement_layout": layout,
    }
    classes = meta.get("CLASSES")
    if classes is not None:
        if len(classes) != num_labels:
            raise ConversionError(
                f"meta['CLASSES'] has {len(classes)} names but the classifier has {num_labels} outputs."
            )
        kwargs["id2label"] = dict(enumerate(str(c) for c in classes))
    else:
        kwargs["num_labels"] = num_labels
    kwargs.update(overrides)
    try:
        return MrcfaConfig(**kwargs)
    except (StrictDataclassError, ValueError, TypeError) as err:
        cause = err.__cause__ if isinstance(err, StrictDataclassError) and err.__cause__ is not None else err
        reason = " ".join(str(cause).split())
        if not overrides:
            raise ConversionError(f"the configuration inferred from the checkpoint is invalid: {reason}") from err
        named = {
            name: value
            for name, value in overrides.items()
            if name in reason or name.removeprefix("num_").replace("_", " ") in reason
        }
        raise ConfigOverrideError(named or dict(overrides), reason) from err


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], config: MrcfaConfig) -> dict[str, torch.Tensor]:
    """Rename (and split the `kv` projections of) an official state dict; every tensor becomes float32.

    Raises `ConversionError` listing every key that cannot be mapped.
    """
    converted: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, value in state_dict.items():
        if key.startswith(DROPPABLE_PREFIXES):
            continue
        new_key = map_official_key(key, config.num_clips)
        if new_key is None:
            unmapped.append(key)
            continue
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        if new_key.endswith((".attention.kv.weight", ".attention.kv.bias")):
            prefix, suffix = new_key.rsplit(".kv.", 1)
            key_part, value_part = value.chunk(2, dim=0)
            converted[f"{prefix}.k_proj.{suffix}"] = key_part.clone()
            converted[f"{prefix}.v_proj.{suffix}"] = value_part.clone()
        else:
            converted[new_key] = value.clone()
    if unmapped:
        raise ConversionError(f"{len(unmapped)} keys of the checkpoint cannot be mapped: {sorted(unmapped)}")
    return converted


_EXPECTED_CHECKPOINT = "expected an official MRCFA checkpoint (.pth: a dict with 'meta' and 'state_dict')."


def _load_failure(err: Exception) -> str:
    """Why `torch.load(weights_only=True)` failed, in our words: never torch's advice to retry with
    `weights_only=False`, which would run whatever code the file holds."""
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) and "weights_only" in text:  # the safe unpickler refused something
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. |\n|$)", text)
        detail = found.group(1).strip() if found else ""
        detail = f" ({detail})" if detail and "weights_only" not in detail else ""
        return (
            f"a safe load refuses what it holds{detail}: only tensors, numbers, strings and containers are loaded, as "
            "anything else could run code"
        )
    lines = [line for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return f"{type(err).__name__}: {lines[0].strip()}" if lines else type(err).__name__


def load_official_checkpoint(checkpoint_path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read an official checkpoint safely (`torch.load(weights_only=True)`) -> (state_dict, meta).

    A file that is not a checkpoint, or one holding objects that a safe load refuses, raises `ConversionError` with
    a one-line reason."""
    path = Path(checkpoint_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as handle:
        pickled = handle.read(1) == b"\x80"  # the PROTO opcode that starts every pickle torch reads
    if not pickled and not zipfile.is_zipfile(path):
        raise ConversionError(
            f"cannot read {path} as a torch checkpoint: it is neither a complete zip archive (what torch.save "
            f"writes) nor a pickle; {_EXPECTED_CHECKPOINT}"
        )
    try:
        with warnings.catch_warnings():
            # torch's note that an old-style pickle uses a protocol its safe unpickler may not know: the error below
            # (if any) says what is wrong
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling error means the file is unusable
        raise ConversionError(
            f"cannot read {path} as a torch checkpoint: {_load_failure(err)}; {_EXPECTED_CHECKPOINT}"
        ) from err
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(f"{path} holds a {type(checkpoint).__name__}, expected a dict with 'state_dict'.")
    state_dict = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ConversionError(f"{path}: 'state_dict' is not a mapping of names to tensors.")
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    return state_dict, dict(checkpoint.get("meta") or {})


def convert_original_checkpoint(
    checkpoint_path: str | Path,
    output_dir: str | Path | None = None,
    *,
    overwrite: bool = False,
    write_processor: bool = True,
    write_model_card: bool = True,
    model_name: str | None = None,
    **config_overrides,
):
    """Convert an official MRCFA checkpoint; returns the `MrcfaForVideoSemanticSegmentation` (float32, eval mode).

    With `output_dir`, also writes `config.json` (with `auto_map`), `model.safetensors` (float32), the code files for
    `trust_remote_code`, `preprocessor_config.json` and a model card. `config_overrides` override inferred fields.
    """
    from .models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation

    if output_dir is not None:  # before the (slow) conversion: nothing is written when it would fail
        check_outputs_apart({"output_dir": output_dir}, {"checkpoint (checkpoint_path)": checkpoint_path})
        output_dir = Path(output_dir)
        if output_dir.exists() and not output_dir.is_dir():
            raise FileExistsError(f"output directory {output_dir} is a file: expected a new or empty folder.")
        if output_dir.exists() and any(output_dir.iterdir()) and not overwrite:
            raise FileExistsError(f"{output_dir} is not empty; pass overwrite=True (--overwrite) to replace it.")
    state_dict, meta = load_official_checkpoint(checkpoint_path)
    config = infer_config(state_dict, meta, **config_overrides)
    converted = convert_state_dict(state_dict, config)

    model = MrcfaForVideoSemanticSegmentation(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    if missing or unexpected:
        raise ConversionError(
            f"the checkpoint does not match the inferred architecture: missing {missing}, unexpected {unexpected}."
        )
    mismatched = [
        f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if converted[k].shape != expected[k].shape
    ]
    if mismatched:
        raise ConversionError("shape mismatch: " + "; ".join(mismatched))
    model.load_state_dict(converted, strict=True)
    model.eval()

    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(output_dir)
        if write_processor:
            from .models.mrcfa.image_processing_mrcfa import MrcfaImageProcessor

            # official VSPW setting reduce_zero_label=True: raw masks (0 = others) map to labels as in training
            MrcfaImageProcessor(do_reduce_labels=True).save_pretrained(output_dir)
        if write_model_card:
            from .model_cards import write_model_card

            write_model_card(output_dir, config, model_name=model_name, source=Path(checkpoint_path).name)
    return model
