# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The built-in demo of `scripts/run_vss.py`: a tiny MRCFA trained from scratch on a synthetic VSPW, on CPU.

`DEMO_RECIPE` holds the training defaults used when no dataset is given (arguments given explicitly always win);
`ensure_synthetic_vspw` generates the synthetic set once per set of generator arguments and caches it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from ..data import synthetic

logger = logging.getLogger(__name__)

__all__ = [
    "DEMO_CONFIG_OVERRIDES",
    "DEMO_OUTPUT_DIR",
    "DEMO_RECIPE",
    "SyntheticVspwArguments",
    "demo_recipe",
    "parse_with_demo_recipe",
    "default_cache_dir",
    "ensure_synthetic_vspw",
]

#: The demo model: MRCFA-B0's head settings on a 4x narrower, 1-block-per-stage MiT.
DEMO_CONFIG_OVERRIDES = (
    "hidden_sizes=[16,32,64,128],depths=[1,1,1,1],num_attention_heads=[1,1,2,4],decoder_hidden_size=64"
)
#: Defaults of the built-in demo (no dataset given).
DEMO_RECIPE = {
    "config_name": "b0",
    "config_overrides": DEMO_CONFIG_OVERRIDES,
    "crop_size": [192, 192],
    "image_scale": [320, 192],
    "ratio_range": [0.75, 1.5],
    "photometric_distortion": False,
    "learning_rate": 1e-3,
    "warmup_steps": 60,
    "max_steps": 1600,
    "per_device_train_batch_size": 2,
    "per_device_eval_batch_size": 8,
    "logging_steps": 50,
    "save_steps": 400,
    "save_total_limit": 2,
    # Augmentation in one DataLoader worker beside one torch thread: the tiny model gains nothing from more threads,
    # and one thread everywhere (the default below unless OMP_NUM_THREADS is set) makes `python` and
    # `accelerate launch` (which sets OMP_NUM_THREADS=1) train identically on any machine.
    "dataloader_num_workers": 1,
    "threads": 1,
}
#: Where the demo writes its model when no output folder is given.
DEMO_OUTPUT_DIR = "runs/mrcfa-synthetic-demo"


def default_cache_dir() -> Path:
    """`$MRCFA_CACHE`, else `$XDG_CACHE_HOME/mrcfa` (default `~/.cache/mrcfa`)."""
    if os.environ.get("MRCFA_CACHE"):
        return Path(os.environ["MRCFA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mrcfa"


def ensure_synthetic_vspw(
    cache_dir: str | os.PathLike | None = None,
    *,
    seed: int,
    num_classes: int,
    num_videos: tuple[int, int],
    num_frames: tuple[int, int],
    frame_size: tuple[int, int],
    motion_scale: float,
    hidden_prob: float,
    degraded_prob: float,
    shared_object_class: bool,
    max_objects: int,
) -> Path:
    """The folder of a synthetic VSPW (`mrcfa.data.make_synthetic_vspw`) with train and val videos, generated once.

    The folder is `<cache_dir>/synthetic-vspw-<hash>`, the hash covering the arguments and the generator's code;
    generation writes to a temporary folder renamed at the end, so that concurrent runs (several processes) are safe.

    Args:
        cache_dir: where generated sets live (default: :func:`default_cache_dir`).
        num_videos: train and val videos. `num_frames`: min and max frames per video. `frame_size`: (height, width).
        Others: see `make_synthetic_vspw`.
    """
    if len(num_videos) != 2 or min(num_videos) < 1:
        raise ValueError(f"--synthetic_num_videos takes 2 counts >= 1 (train val), got {list(num_videos)}.")
    params = {
        "seed": seed,
        "num_classes": num_classes,
        "num_videos": [*num_videos, 0],
        "num_frames": list(num_frames),
        "height": frame_size[0],
        "width": frame_size[1],
        "motion_scale": motion_scale,
        "hidden_prob": hidden_prob,
        "degraded_prob": degraded_prob,
        "shared_object_class": shared_object_class,
        "max_objects": max_objects,
    }
    generator = Path(synthetic.__file__).read_bytes()
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode() + generator).hexdigest()[:12]
    base = Path(cache_dir) if cache_dir else default_cache_dir()
    root = base / f"synthetic-vspw-{digest}"
    if (root / ".complete").is_file():
        return root
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.time()
    synthetic.make_synthetic_vspw(
        tmp,
        seed=params["seed"],
        num_classes=params["num_classes"],
        num_videos=tuple(params["num_videos"]),
        num_frames=tuple(params["num_frames"]),
        height=params["height"],
        width=params["width"],
        motion_scale=params["motion_scale"],
        hidden_prob=params["hidden_prob"],
        degraded_prob=params["degraded_prob"],
        shared_object_class=params["shared_object_class"],
        max_objects=params["max_objects"],
    )
    (tmp / ".complete").write_text(json.dumps(params) + "\n")
    try:
        os.rename(tmp, root)
    except OSError:  # generated meanwhile by another run
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(f"generated the synthetic VSPW in {time.time() - start:.1f}s: {root}")
    return root


@dataclass
class SyntheticVspwArguments:
    """The synthetic VSPW of the demo (used when no dataset is given), as `HfArgumentParser` arguments."""

    synthetic_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where the synthetic VSPW is cached (default: $MRCFA_CACHE or ~/.cache/mrcfa, one folder per "
            "set of generator arguments)."
        },
    )
    synthetic_num_classes: int = field(default=5, metadata={"help": "Synthetic VSPW: number of classes."})
    synthetic_num_videos: list[int] = field(
        default_factory=lambda: [24, 12], metadata={"help": "Synthetic VSPW: train and val videos."}
    )
    synthetic_num_frames: list[int] = field(
        default_factory=lambda: [20, 30], metadata={"help": "Synthetic VSPW: frames per video (min max)."}
    )
    synthetic_frame_size: list[int] = field(
        default_factory=lambda: [96, 160], metadata={"help": "Synthetic VSPW: frame size (h w)."}
    )
    synthetic_seed: int = field(default=0, metadata={"help": "Synthetic VSPW: generator seed."})
    synthetic_motion_scale: float = field(
        default=0.3,
        metadata={"help": "Synthetic VSPW: speed multiplier of the camera and objects (1.0: ~5 px/frame)."},
    )
    synthetic_hidden_prob: float = field(
        default=0.35,
        metadata={
            "help": "Synthetic VSPW: chance per object and frame of a neutral, class-free look (the class is then "
            "only known from other frames)."
        },
    )
    synthetic_max_objects: int = field(
        default=3, metadata={"help": "Synthetic VSPW: moving objects per video are 1..N."}
    )
    synthetic_shared_object_class: bool = field(
        default=True,
        metadata={
            "help": "Synthetic VSPW: all moving objects of a video have the same class (a hidden object's class is "
            "then known from the objects visible in other frames)."
        },
    )
    synthetic_degraded_prob: float = field(
        default=0.1, metadata={"help": "Synthetic VSPW: share of frames with degraded appearance (grey, noisy)."}
    )

    def ensure_synthetic_vspw(self) -> Path:
        """The folder of this synthetic VSPW, generated on first use (see :func:`ensure_synthetic_vspw`)."""
        return ensure_synthetic_vspw(
            self.synthetic_dir,
            seed=self.synthetic_seed,
            num_classes=self.synthetic_num_classes,
            num_videos=tuple(self.synthetic_num_videos),
            num_frames=tuple(self.synthetic_num_frames),
            frame_size=tuple(self.synthetic_frame_size),
            motion_scale=self.synthetic_motion_scale,
            hidden_prob=self.synthetic_hidden_prob,
            degraded_prob=self.synthetic_degraded_prob,
            shared_object_class=self.synthetic_shared_object_class,
            max_objects=self.synthetic_max_objects,
        )


def demo_recipe(dataset_name: str | None, explicit: set[str]) -> dict:
    """The demo defaults to apply when no dataset is given, less the arguments given `explicit`ly."""
    if dataset_name:
        return {}
    recipe = {k: v for k, v in DEMO_RECIPE.items() if k not in explicit}
    if "model_name_or_path" in explicit:  # a checkpoint brings its own architecture
        recipe.pop("config_name", None)
        recipe.pop("config_overrides", None)
    if "output_dir" not in explicit:
        recipe["output_dir"] = DEMO_OUTPUT_DIR
    if os.environ.get("OMP_NUM_THREADS"):  # the user's (or accelerate's) thread count wins over the recipe's
        recipe.pop("threads", None)
    return recipe


def _cli_value(value) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def parse_with_demo_recipe(dataclass_types: Sequence[type], argv: list[str]) -> tuple[tuple, set[str]]:
    """Parse `argv` (command-line arguments, or the path of one JSON file of arguments) into `dataclass_types` with
    `HfArgumentParser`, the demo recipe (:func:`demo_recipe`) filling in what was not given when no `dataset_name` is.

    Returns the dataclass instances and the names of the arguments given explicitly.
    """
    parser = HfArgumentParser(dataclass_types)
    if len(argv) == 1 and argv[0].endswith(".json"):
        path = Path(argv[0])
        if not path.is_file():
            raise FileNotFoundError(f"argument file {path} not found.")
        user = json.loads(path.read_text())
        if not isinstance(user, dict):
            raise ValueError(f"{path} must hold a JSON object of arguments.")
        explicit = set(user)
        recipe = demo_recipe(user.get("dataset_name"), explicit)
        return tuple(parser.parse_dict({**recipe, **user})), explicit
    # What was given explicitly: argparse leaves the attributes already in the namespace alone unless given.
    unset = object()
    names = [f.name for t in dataclass_types for f in dataclasses.fields(t)]
    namespace, unknown = parser.parse_known_args(argv, namespace=argparse.Namespace(**dict.fromkeys(names, unset)))
    if unknown:
        # HfArgumentParser says so too, but only after building the dataclasses: TrainingArguments' __post_init__
        # imports transformers' modeling code (seconds) before that message could be printed
        raise ValueError(f"unrecognized arguments: {' '.join(unknown)} (see --help).")
    given = {name: value for name, value in vars(namespace).items() if value is not unset}
    explicit = set(given)
    recipe = demo_recipe(given.get("dataset_name"), explicit)
    prefix = [token for key, value in recipe.items() for token in (f"--{key}", *_cli_value(value))]
    return tuple(parser.parse_args_into_dataclasses(args=prefix + argv)), explicit
