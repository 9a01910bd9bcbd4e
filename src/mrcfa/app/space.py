# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""A ready Hugging Face Space for the app: `app.py`, `requirements.txt` and `README.md` (the Space's YAML header).

    write_space("my-space", "org/mrcfa-b1-vspw")   # then: huggingface-cli upload --repo-type space ORG/NAME my-space

The Space installs `mrcfa[app]` (pinned to this version by default; `requirement` can point to a Git URL or a
wheel instead) and runs `mrcfa.app.build_demo` on the model; its `app.py` reads the Space variables `MRCFA_MODEL`,
`MRCFA_MAX_FRAMES` and `MRCFA_MAX_RESOLUTION` over the values written here. The README is rendered from the Jinja
template `mrcfa/templates/space_readme.md` with huggingface_hub's `SpaceCard`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import SpaceCard, SpaceCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .. import __version__
from ..errors import UsageError
from .service import Limits

__all__ = ["GRADIO_FLOOR", "SPACE_FILES", "SPACE_README_TEMPLATE", "render_space_readme", "write_space"]

SPACE_README_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "space_readme.md"
#: The files a Space consists of (written or replaced; nothing else in the folder is touched).
SPACE_FILES = ("app.py", "requirements.txt", "README.md")
#: The oldest Gradio the app runs on (the `app` extra's floor); the Space's `sdk_version` is the installed one.
GRADIO_FLOOR = "6.31.0"

APP_PY = '''\
"""MRCFA video semantic segmentation, a Gradio Space (written by `mrcfa app --write-space`, mrcfa {version}).

Space variables override the values below: MRCFA_MODEL (a Hub model id), MRCFA_MAX_FRAMES and MRCFA_MAX_RESOLUTION
(WIDTHxHEIGHT, long x short side) bound what one request may cost.
"""

import os

from mrcfa.app import Limits, build_demo, launch, parse_resolution

MODEL = os.environ.get("MRCFA_MODEL", {model})
MAX_FRAMES = int(os.environ.get("MRCFA_MAX_FRAMES", "{max_frames}"))
MAX_RESOLUTION = parse_resolution(os.environ.get("MRCFA_MAX_RESOLUTION", "{max_resolution}"))

demo = build_demo(MODEL, limits=Limits(max_frames=MAX_FRAMES, max_resolution=MAX_RESOLUTION))

if __name__ == "__main__":
    launch(demo, host=None)  # Gradio's own defaults on a Space: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
'''


def _gradio_version() -> str:
    try:
        from importlib.metadata import version

        return version("gradio")
    except Exception:  # noqa: BLE001 - gradio not installed: the floor the app needs
        return GRADIO_FLOOR


def render_space_readme(model_id: str, *, title: str | None = None, limits: Limits | None = None, requirement: str):
    """The text of the Space's README.md (YAML header + description)."""
    limits = limits or Limits()
    title = title or f"MRCFA: {model_id.split('/')[-1]}"
    data = SpaceCardData(
        title=title,
        sdk="gradio",
        sdk_version=_gradio_version(),
        python_version="3.11",
        app_file="app.py",
        license="apache-2.0",
        models=[model_id],
        tags=["video-semantic-segmentation", "semantic-segmentation", "mrcfa"],
        emoji="🎞️",
        colorFrom="indigo",
        colorTo="green",
        pinned=False,
        short_description="Segment every frame of a video with MRCFA",
    )
    card = SpaceCard.from_template(
        data,
        template_path=str(SPACE_README_TEMPLATE),
        title=title,
        model_id=model_id,
        version=__version__,
        max_frames=limits.max_frames,
        max_resolution=_resolution_text(limits),
        requirement=requirement,
    )
    return str(card).rstrip("\n") + "\n"


def _resolution_text(limits: Limits) -> str:
    return f"{max(limits.max_resolution)}x{min(limits.max_resolution)}"


def write_space(
    directory: str | os.PathLike,
    model_id: str,
    *,
    overwrite: bool = False,
    requirement: str | None = None,
    limits: Limits | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write `app.py`, `requirements.txt` and `README.md` of a Space serving `model_id` into `directory`.

    Args:
        model_id: the model's Hub id (`org/name`); a local folder is refused (the Space cannot see it).
        overwrite: replace the three files when `directory` is not empty (other files are left alone).
        requirement: how the Space installs mrcfa (default `mrcfa[app]==<this version>`), e.g.
            `mrcfa[app] @ git+https://github.com/ORG/mrcfa@v0.1.0`.
        limits, title: what one request may cost; the Space's title.

    Returns the written paths. Mistakes raise `UsageError` with a one-line message.
    """
    if Path(model_id).is_dir():
        raise UsageError(
            f"{model_id} is a local folder, which a Space cannot read: upload it first (`huggingface-cli upload "
            f"ORG/NAME {model_id}`) and pass --model ORG/NAME."
        )
    try:
        validate_repo_id(model_id)
    except HFValidationError as err:
        raise UsageError(f"--model must be a Hub model id (org/name) for a Space, got {model_id!r}: {err}") from err
    limits = limits or Limits()
    requirement = requirement or f"mrcfa[app]=={__version__}"
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a folder.")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise UsageError(
            f"{directory} is not empty: pass --overwrite to replace {', '.join(SPACE_FILES)} in it, or choose "
            "another folder."
        )
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "app.py": APP_PY.format(
            version=__version__,
            model=json.dumps(model_id),
            max_frames=limits.max_frames,
            max_resolution=_resolution_text(limits),
        ),
        "requirements.txt": (
            "# The Space runs mrcfa's app (Gradio is installed by the Space from README.md's sdk_version).\n"
            f"{requirement}\n"
        ),
        "README.md": render_space_readme(model_id, title=title, limits=limits, requirement=requirement),
    }
    paths = []
    for name in SPACE_FILES:
        path = directory / name
        path.write_text(texts[name], encoding="utf-8")
        paths.append(path)
    return paths
