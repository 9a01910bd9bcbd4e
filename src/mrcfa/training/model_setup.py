# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The model a training run starts from: a checkpoint, an ImageNet encoder or a preset, with the dataset's labels."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError
from transformers import PretrainedConfig

from ..hub_paths import check_model_name_or_path
from ..models.mrcfa.configuration_mrcfa import VSPW_CLASSES, MrcfaConfig
from ..models.mrcfa.modeling_mrcfa import MrcfaForVideoSemanticSegmentation

__all__ = ["build_model", "dataset_labels", "is_mrcfa_checkpoint", "parse_config_overrides"]


def dataset_labels(listing) -> dict[int, str]:
    """id2label of a dataset: VSPW's names for 124 classes, else the names of label_num_dic_final.json if any."""
    count = listing.num_classes
    if count == len(VSPW_CLASSES):
        return dict(enumerate(VSPW_CLASSES))
    names: dict[int, str] = {}
    if listing.source.kind == "folder":
        path = Path(listing.source.root) / "label_num_dic_final.json"
        if path.is_file():
            for name, value in json.loads(path.read_text()).items():
                if 1 <= int(value) <= count:
                    names[int(value) - 1] = str(name)
    return {i: names.get(i, f"class_{i}") for i in range(count)}


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_config_overrides(text: str | None) -> dict:
    """'key=value,key=[1,2]' (JSON values; bare words are strings) or a JSON object -> dict, unknown keys rejected."""
    if not text or not text.strip():
        return {}
    text = text.strip()
    if text.startswith("{"):
        overrides = json.loads(text)
    else:
        overrides = {}
        for part in _split_top_level(text):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"--config_overrides: expected key=value, got {part!r} (in {text!r}).")
            value = value.strip()
            python_words = {"None": None, "True": True, "False": False}
            if value in python_words:
                overrides[key.strip()] = python_words[value]
                continue
            try:
                overrides[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                overrides[key.strip()] = value
    known = set(MrcfaConfig().to_dict())
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"--config_overrides: unknown MrcfaConfig field(s) {unknown}.")
    return overrides


def is_mrcfa_checkpoint(
    model_name_or_path: str, *, revision: str = "main", token: str | bool | None = None, cache_dir: str | None = None
) -> bool:
    """Whether `model_name_or_path` (folder or Hub id) holds an MRCFA checkpoint (rather than a SegFormer / MiT
    encoder)."""
    config_dict, _ = PretrainedConfig.get_config_dict(
        model_name_or_path, revision=revision, token=token, cache_dir=cache_dir
    )
    return config_dict.get("model_type") == MrcfaConfig.model_type


def build_model(
    id2label: dict[int, str],
    *,
    model_name_or_path: str | None = None,
    config_name: str | None = None,
    config_overrides: str | None = None,
    ignore_mismatched_sizes: bool = False,
    revision: str = "main",
    token: str | bool | None = None,
    cache_dir: str | None = None,
) -> MrcfaForVideoSemanticSegmentation:
    """The model to train for a dataset with classes `id2label`.

    From a checkpoint (`model_name_or_path`: an MRCFA checkpoint, or a SegFormer / MiT encoder whose MRCFA head starts
    from scratch) or from scratch (`config_name`: a preset `b0`..`b5`, default `b1`, or a config file / folder), with
    `config_overrides` (see :func:`parse_config_overrides`) applied to the config.

    Mistakes raise `ValueError` with one line naming the argument: a `model_name_or_path` that is neither a folder
    nor a Hub id, a config that fails `MrcfaConfig`'s validation (e.g. `stm_keep_ratio=5`).
    """
    if model_name_or_path:
        check_model_name_or_path(model_name_or_path, argument="--model_name_or_path")
    try:
        return _build_model(
            id2label,
            model_name_or_path=model_name_or_path,
            config_name=config_name,
            config_overrides=config_overrides,
            ignore_mismatched_sizes=ignore_mismatched_sizes,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
        )
    except StrictDataclassError as err:  # MrcfaConfig's validation, raised as a chained exception
        where = f"--config_overrides {config_overrides!r}" if config_overrides else "the model's config"
        raise ValueError(f"{where} gives an invalid MRCFA config: {err.__cause__ or err}") from err


def _build_model(
    id2label, *, model_name_or_path, config_name, config_overrides, ignore_mismatched_sizes, revision, token, cache_dir
) -> MrcfaForVideoSemanticSegmentation:
    num_labels = len(id2label)
    labels = {"id2label": dict(id2label), "label2id": {v: k for k, v in id2label.items()}}
    overrides = parse_config_overrides(config_overrides)
    hub = {"revision": revision, "token": token, "cache_dir": cache_dir}
    if model_name_or_path:
        path = model_name_or_path
        config_dict, _ = PretrainedConfig.get_config_dict(path, **hub)
        model_type = config_dict.get("model_type")
        if model_type == MrcfaConfig.model_type:
            config = MrcfaConfig.from_pretrained(path, **hub, **overrides)
            if config.num_labels != num_labels:
                if not ignore_mismatched_sizes:
                    raise ValueError(
                        f"the checkpoint {path!r} predicts {config.num_labels} classes but the dataset has "
                        f"{num_labels}: pass --ignore_mismatched_sizes to re-initialise its classifiers for "
                        f"{num_labels} classes (fine-tuning on new classes), or use data with {config.num_labels} "
                        "classes."
                    )
                config = MrcfaConfig.from_pretrained(path, **hub, **overrides, **labels)
        elif model_type == "segformer":
            # MiT / SegFormer encoder weights; the MRCFA head (of the matching preset) starts from scratch
            config = MrcfaConfig.from_pretrained(path, **hub, **overrides, **labels)
        else:
            raise ValueError(
                f"{path!r} is a {model_type!r} checkpoint: expected an MRCFA checkpoint or a SegFormer / MiT encoder "
                "(e.g. nvidia/mit-b1)."
            )
        return MrcfaForVideoSemanticSegmentation.from_pretrained(
            path, config=config, ignore_mismatched_sizes=ignore_mismatched_sizes, **hub
        )
    name = config_name or "b1"
    if Path(name).exists():
        config = MrcfaConfig.from_pretrained(name, **overrides, **labels)
    else:
        try:
            config = MrcfaConfig.from_preset(name, **{**overrides, **labels})
        except ValueError as err:
            if "preset" in str(err):
                raise ValueError(
                    f"--config_name {name!r} is neither a config file / folder nor a preset: {err} "
                    "(use --model_name_or_path for a checkpoint)."
                ) from err
            raise
    return MrcfaForVideoSemanticSegmentation(config)
