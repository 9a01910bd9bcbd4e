# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Is this a model folder or a Hub id? One check for every place that loads a model by name.

`check_model_name_or_path(name)` tells a missing local folder from a Hub id before transformers is asked: given a
path that does not exist, transformers answers with the Hub's naming rules ("Repo id must be in the form
'repo_name' or 'namespace/repo_name'"), which reads as if the user had meant a Hub id. Used by `mrcfa segment`,
`mrcfa app` and `scripts/run_vss.py`; call it before `pipeline(...)` / `from_pretrained(...)` for the same message.
Imports nothing heavy (huggingface_hub's validator, lazily).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ModelPathError", "check_model_name_or_path", "looks_like_hub_id"]


class ModelPathError(FileNotFoundError, ValueError):
    """A model name that is neither an existing model folder nor a possible Hub id (both a FileNotFoundError and a
    ValueError, so that callers catching either report it)."""


def looks_like_hub_id(name: str) -> bool:
    """Whether `name` is a well-formed Hub repository id (`name` or `namespace/name`, huggingface_hub's rules), and
    not written as a path (`./x`, `../x`, `~/x`, absolute, a trailing or doubled separator)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not name or name.startswith(("~", ".", "/", "\\")) or name.endswith("/") or Path(name).is_absolute():
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def check_model_name_or_path(name: str | os.PathLike, *, argument: str = "model") -> str:
    """`name` as a string when it is an existing model folder (with a `config.json`) or a well-formed Hub id.

    Otherwise raises `ModelPathError` with one line naming `argument` (e.g. `"--model"`) and what was expected:
    a path that does not exist and is not a Hub id ("no such folder, and not a Hub model id"), a file, or a folder
    without `config.json`. A well-formed Hub id is not looked up here (that needs the network): loading it may still
    fail, with transformers' "is not a local folder and is not a valid model identifier" message.
    """
    text = os.fspath(name)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelPathError(
                f"{argument} {text!r} is a folder without config.json, not a model folder (expected the output of "
                "save_pretrained, e.g. from `mrcfa convert` or run_vss.py, or a Hub model id such as 'org/name')."
            )
        return text
    if path.exists():
        raise ModelPathError(
            f"{argument} {text!r} is a file, not a model folder: expected a folder with config.json and the weights "
            "(the output of save_pretrained), or a Hub model id such as 'org/name'."
        )
    if looks_like_hub_id(text):
        return text
    raise ModelPathError(
        f"{argument} {text!r}: no such folder, and not a Hub model id (expected an existing model folder, or a Hub "
        "id such as 'org/name')."
    )
