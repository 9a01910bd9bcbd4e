# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""MRCFA model configuration.

This file ships inside every saved checkpoint (``trust_remote_code``): it imports only numpy, transformers and
huggingface_hub, never the rest of the ``mrcfa`` package. It also holds the VSPW classes and colour palette
(`palette_for`), which the checkpoint's Inference Endpoints handler (``handler.py``) uses to colour label maps.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from huggingface_hub.dataclasses import strict
from transformers import SegformerConfig

# The 124 VSPW classes, in the order of the official label ids (raw mask value k -> class k - 1).
VSPW_CLASSES = (
    "wall", "ceiling", "door", "stair", "ladder", "escalator", "Playground_slide", "handrail_or_fence", "window",
    "rail", "goal", "pillar", "pole", "floor", "ground", "grass", "sand", "athletic_field", "road", "path",
    "crosswalk", "building", "house", "bridge", "tower", "windmill", "well_or_well_lid", "other_construction", "sky",
    "mountain", "stone", "wood", "ice", "snowfield", "grandstand", "sea", "river", "lake", "waterfall", "water",
    "billboard_or_Bulletin_Board", "sculpture", "pipeline", "flag", "parasol_or_umbrella", "cushion_or_carpet", "tent",
    "roadblock", "car", "bus", "truck", "bicycle", "motorcycle", "wheeled_machine", "ship_or_boat", "raft", "airplane",
    "tyre", "traffic_light", "lamp", "person", "cat", "dog", "horse", "cattle", "other_animal", "tree", "flower",
    "other_plant", "toy", "ball_net", "backboard", "skateboard", "bat", "ball", "cupboard_or_showcase_or_storage_rack",
    "box", "traveling_case_or_trolley_case", "basket", "bag_or_package", "trash_can", "cage", "plate",
    "tub_or_bowl_or_pot", "bottle_or_cup", "barrel", "fishbowl", "bed", "pillow", "table_or_desk", "chair_or_seat",
    "bench", "sofa", "shelf", "bathtub", "gun", "commode", "roaster", "other_machine", "refrigerator",
    "washing_machine", "Microwave_oven", "fan", "curtain", "textiles", "clothes", "painting_or_poster", "mirror",
    "flower_pot_or_vase", "clock", "book", "tool", "blackboard", "tissue", "screen_or_television", "computer",
    "printer", "Mobile_phone", "keyboard", "other_electronic_product", "fruit", "food", "instrument", "train",
)  # fmt: skip

#: The official VSPW colour palette (RGB per class id 0..123).
VSPW_PALETTE = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80),
    (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4),
    (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0),
    (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112), (0, 255, 133),
    (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255), (51, 255, 0),
    (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0), (0, 255, 153),
    (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255),
    (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255),
    (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255),
    (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255),
    (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0),
)  # fmt: skip


def palette_for(num_labels: int) -> np.ndarray:
    """`[num_labels, 3]` uint8 colours of class ids `0 .. num_labels - 1`: VSPW's palette, extended beyond its 124
    classes with colours drawn from a fixed seed (`np.random.default_rng(0)`), so that they never change."""
    colours = np.array(VSPW_PALETTE, dtype=np.uint8)
    if num_labels > len(colours):
        extra = np.random.default_rng(0).integers(0, 256, size=(num_labels - len(colours), 3), dtype=np.uint8)
        colours = np.concatenate([colours, extra])
    return colours[:num_labels]


_MIT_WIDE = (64, 128, 320, 512)
# Official MRCFA models: MiT encoder sizes plus the head variant chosen by the official `backbone='bX'` string
# (STM keep ratio 0.8 for b0, else 0.5; the two-layer refinement network for b1 only).
MRCFA_PRESETS = {
    "b0": {"hidden_sizes": (32, 64, 160, 256), "depths": (2, 2, 2, 2), "stm_keep_ratio": 0.8, "refinement_layout": "single_layer"},
    "b1": {"hidden_sizes": _MIT_WIDE, "depths": (2, 2, 2, 2), "stm_keep_ratio": 0.5, "refinement_layout": "two_layer"},
    "b2": {"hidden_sizes": _MIT_WIDE, "depths": (3, 4, 6, 3), "stm_keep_ratio": 0.5, "refinement_layout": "single_layer"},
    "b3": {"hidden_sizes": _MIT_WIDE, "depths": (3, 4, 18, 3), "stm_keep_ratio": 0.5, "refinement_layout": "single_layer"},
    "b4": {"hidden_sizes": _MIT_WIDE, "depths": (3, 8, 27, 3), "stm_keep_ratio": 0.5, "refinement_layout": "single_layer"},
    "b5": {"hidden_sizes": _MIT_WIDE, "depths": (3, 6, 40, 3), "stm_keep_ratio": 0.5, "refinement_layout": "single_layer"},
}  # fmt: skip


def _registered_locally(custom_pipelines: dict) -> bool:
    """Whether every task of a config's `custom_pipelines` is registered in this process by an installed package."""
    from transformers.pipelines import PIPELINE_REGISTRY

    tasks = PIPELINE_REGISTRY.get_supported_tasks()
    return bool(custom_pipelines) and all(
        task in tasks and "transformers_modules" not in PIPELINE_REGISTRY.check_task(task)[1]["impl"].__module__
        for task in custom_pipelines
    )


@strict
class MrcfaConfig(SegformerConfig):
    r"""Configuration of [`MrcfaForVideoSemanticSegmentation`]: a SegFormer (MiT) encoder and the MRCFA head.

    Every SegFormer field keeps its meaning (`hidden_sizes`, `depths`, `decoder_hidden_size`, ...). The defaults give
    MRCFA-B1, the paper's main model, with VSPW's 124 classes; use [`MrcfaConfig.from_preset`] for B0-B5.

    Args:
        num_clips (`int`, *optional*, defaults to 4):
            Frames per clip: `num_clips - 1` reference frames followed by the target frame.
        reference_offsets (`list[int]`, *optional*, defaults to `(-9, -6, -3)`):
            Test-time positions of the reference frames relative to the target (negative, increasing), one per
            reference frame. Used by streaming inference and the data pipeline; the official value for VSPW.
        stm_top_k (`int`, *optional*, defaults to 5):
            Selective Token Masking scores a reference token by the sum of its `stm_top_k` largest affinities to the
            target tokens.
        stm_keep_ratio (`float`, *optional*, defaults to 0.5):
            Fraction of the reference tokens kept by Selective Token Masking, `s = int(N * stm_keep_ratio)`.
            The official B0 model uses 0.8, every other size 0.5.
        refinement_layout (`str`, *optional*, defaults to `"two_layer"`):
            Layout of the affinity refinement network: `"two_layer"` (official B1: two conv-GN-ReLU layers per unit,
            2 channels between the units) or `"single_layer"` (official B0, B2-B5: one 1-channel layer per unit).
        ensemble_dropout_prob (`float`, *optional*, defaults to 0.1):
            Dropout2d probability in front of each of the ensemble decoders (the per-reference decoders and the
            target decoder).
        frame_loss_weight (`float`, *optional*, defaults to 0.5):
            Weight of the per-frame cross-entropy term of the training loss (the ensemble term has weight 1).
        kernel_implementation (`str`, *optional*, defaults to `"auto"`):
            How a few steps run (`kernels_mrcfa.py`), as `attn_implementation` chooses the attention: `"plain"` (the
            plain forms, which CUDA, `torch.compile` and `torch.export` run), `"cpu"` (CPU forms of the same function,
            faster on CPU; CPU tensors in eager mode only) or `"auto"` (the CPU forms for CPU tensors in eager mode,
            else the plain forms). A speed setting: every choice computes the same function (float rounding only).

    Note: `classifier_dropout_prob` is the Dropout2d probability of the per-frame SegFormer decoder, and
    `layer_norm_eps` the epsilon of the encoder's block and stage LayerNorms (1e-6 in the official MiT).
    """

    model_type = "mrcfa"

    hidden_sizes: list[int] | tuple[int, ...] = _MIT_WIDE
    num_clips: int = 4
    reference_offsets: list[int] | tuple[int, ...] = (-9, -6, -3)
    stm_top_k: int = 5
    stm_keep_ratio: float = 0.5
    refinement_layout: Literal["two_layer", "single_layer"] = "two_layer"
    ensemble_dropout_prob: float | int = 0.1
    frame_loss_weight: float | int = 0.5
    kernel_implementation: Literal["auto", "plain", "cpu"] = "auto"

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(VSPW_CLASSES))
        if self.id2label is not None and self.label2id is None:
            self.label2id = {name: int(idx) for idx, name in self.id2label.items()}
        super().__post_init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> MrcfaConfig:
        """The configuration of an official MRCFA model: `name` is one of "b0" ... "b5".

        Keyword arguments override preset fields, e.g. `MrcfaConfig.from_preset("b1", num_labels=10)`.
        """
        key = str(name).lower().removeprefix("mrcfa-").removeprefix("mit-")
        if key not in MRCFA_PRESETS:
            raise ValueError(f"Unknown MRCFA preset {name!r}: expected one of {', '.join(MRCFA_PRESETS)}.")
        kwargs = {**MRCFA_PRESETS[key], **overrides}
        return cls(**kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """Also accepts a SegFormer / MiT config (`model_type="segformer"`, e.g. `nvidia/mit-b1`): its encoder fields
        are kept, the head takes the official MRCFA settings of the matching preset, and its labels (ImageNet or
        ADE20k classes, which mean nothing to a fresh MRCFA head) are replaced by VSPW's unless given in `kwargs`."""
        if config_dict.get("model_type", cls.model_type) != cls.model_type:
            config_dict = cls._from_segformer_dict(config_dict)
        if "custom_pipelines" in config_dict and _registered_locally(config_dict["custom_pipelines"]):
            # `import mrcfa` registered these pipelines in this process: transformers' pipeline() would otherwise
            # insist on trust_remote_code=True for a task declared in the config (the declaration is for processes
            # without the package).
            config_dict = {k: v for k, v in config_dict.items() if k != "custom_pipelines"}
        return super().from_dict(config_dict, **kwargs)

    @classmethod
    def _from_segformer_dict(cls, config_dict: dict) -> dict:
        encoder_fields = (
            "num_channels", "num_encoder_blocks", "depths", "sr_ratios", "hidden_sizes", "patch_sizes", "strides",
            "num_attention_heads", "mlp_ratios", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
            "drop_path_rate", "layer_norm_eps", "initializer_range",
        )  # fmt: skip
        adapted = {k: config_dict[k] for k in encoder_fields if k in config_dict}
        for preset in MRCFA_PRESETS.values():
            if tuple(adapted.get("hidden_sizes", ())) == preset["hidden_sizes"] and tuple(
                adapted.get("depths", ())
            ) == tuple(preset["depths"]):
                adapted.update(stm_keep_ratio=preset["stm_keep_ratio"], refinement_layout=preset["refinement_layout"])
                break
        else:
            adapted["refinement_layout"] = "single_layer"
        return adapted

    def validate_mrcfa(self):
        """Part of the `@strict` validation: the MRCFA fields and the encoder lists they rely on."""
        if self.num_clips < 2:
            raise ValueError(f"num_clips must be >= 2 (references + target), got {self.num_clips}.")
        offsets = list(self.reference_offsets)
        if len(offsets) != self.num_clips - 1:
            raise ValueError(
                f"reference_offsets needs one offset per reference frame (num_clips - 1 = {self.num_clips - 1}), "
                f"got {len(offsets)}: {offsets}."
            )
        if any(o >= 0 for o in offsets) or offsets != sorted(set(offsets)):
            raise ValueError(f"reference_offsets must be negative and strictly increasing, got {offsets}.")
        if not 0.0 < self.stm_keep_ratio <= 1.0:
            raise ValueError(f"stm_keep_ratio must be in (0, 1], got {self.stm_keep_ratio}.")
        if self.stm_top_k < 1:
            raise ValueError(f"stm_top_k must be >= 1, got {self.stm_top_k}.")
        if self.refinement_layout not in ("two_layer", "single_layer"):
            raise ValueError(
                f"refinement_layout must be 'two_layer' or 'single_layer', got {self.refinement_layout!r}."
            )
        if self.kernel_implementation not in ("auto", "plain", "cpu"):
            raise ValueError(
                f"kernel_implementation must be 'auto', 'plain' or 'cpu', got {self.kernel_implementation!r}."
            )
        for name in (
            "ensemble_dropout_prob",
            "classifier_dropout_prob",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "drop_path_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}.")
        if self.num_encoder_blocks != 4:
            raise ValueError(
                f"MRCFA needs the 4-stage MiT encoder (num_encoder_blocks=4), got {self.num_encoder_blocks}."
            )
        for name in (
            "depths",
            "sr_ratios",
            "hidden_sizes",
            "patch_sizes",
            "strides",
            "num_attention_heads",
            "mlp_ratios",
        ):
            if len(getattr(self, name)) != self.num_encoder_blocks:
                raise ValueError(
                    f"{name} must have one entry per encoder stage ({self.num_encoder_blocks}), got {list(getattr(self, name))}."
                )
        for size, heads in zip(self.hidden_sizes, self.num_attention_heads):
            if size % heads:
                raise ValueError(f"hidden size {size} is not divisible by its number of attention heads {heads}.")
        if self.num_labels is not None and self.num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {self.num_labels}.")


__all__ = ["MrcfaConfig", "MRCFA_PRESETS", "VSPW_CLASSES", "VSPW_PALETTE", "palette_for"]
