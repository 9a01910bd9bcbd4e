"""Access to transformers' own common test suites (`ModelTesterMixin`, `ConfigTester`, `ImageProcessingTestMixin`) for
the installed version.

The suites are not part of the transformers wheel. `load_transformers_test_suite()` downloads the source distribution
of the *installed* transformers version with `pip download` (once, into a cache), extracts only its `tests/` folder
and makes it importable as the package `transformers_tests`, so that `transformers_tests.test_modeling_common` and its
relative imports work. Nothing of it is copied into this repository.

Cache: `$MRCFA_CACHE` (default `~/.cache/mrcfa`) / `transformers-tests-<version>/transformers_tests/`. The sdist is
extracted into a temporary folder next to it and renamed into place, so a half-written cache is never used.

The sdist ships only the top-level `tests/test_*_common.py` files, not the helper packages they import
(`tests/generation`, `tests/exporters`, `tests/utils`). Those imports are satisfied at run time by the tiny stubs in
`_STUBS` (registered in `sys.modules` only when the extracted tree lacks the module):

* `GenerationTesterMixin`: an empty mixin. Our model cannot generate, so no generation tests apply.
* `ExportTesterMixin`: an empty mixin. Its `torch.export` tests are therefore absent from the run.
* `fetch_hub_objects_for_ci.url_to_local_path` (the repository's `utils/`, which `test_image_processing_common`
  puts on `sys.path`): the identity, so that test images are read from their URL (only the mixin's tests of several
  backends and of ADE20k fixtures load one).
* `config_common_kwargs`: a few non-default values of `PreTrainedConfig`'s common fields, used by
  `ConfigTester.check_config_arguments_init` (our own values, not the upstream list).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import transformers

PACKAGE = "transformers_tests"
DOWNLOAD_TIMEOUT_S = 180


class SuiteUnavailable(RuntimeError):
    """The transformers test suite of the installed version could not be fetched or imported."""


def cache_root() -> Path:
    return Path(os.environ.get("MRCFA_CACHE") or Path.home() / ".cache" / "mrcfa").expanduser()


def suite_dir(version: str | None = None) -> Path:
    """The folder that holds the `transformers_tests` package for `version` (default: the installed one)."""
    return cache_root() / f"transformers-tests-{version or transformers.__version__}"


def _download_sdist(version: str, dest: Path) -> Path:
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--disable-pip-version-check",
        "--quiet", f"transformers=={version}", "-d", str(dest),
    ]  # fmt: skip
    if importlib.util.find_spec("setuptools") is not None:
        # pip reads the sdist's metadata with its build backend: use the installed setuptools rather than
        # downloading one into an isolated build environment
        cmd.append("--no-build-isolation")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise SuiteUnavailable(f"`pip download transformers=={version}` failed: {err}") from err
    archives = sorted(dest.glob("transformers-*.tar.gz"))
    if proc.returncode != 0 or not archives:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SuiteUnavailable(
            f"`pip download transformers=={version}` (sdist) failed with exit code {proc.returncode}: {' | '.join(tail)}"
        )
    return archives[0]


def _extract_tests(archive: Path, dest: Path) -> None:
    """Extract the `<top>/tests/` members of the sdist `archive` into `dest` (flattened: `dest/test_*.py`)."""
    with tarfile.open(archive, "r:gz") as tar:
        count = 0
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if len(parts) < 3 or parts[1] != "tests" or not (member.isfile() or member.isdir()):
                continue
            relative = Path(*parts[2:])
            if relative.is_absolute() or ".." in relative.parts:
                continue
            target = dest / relative
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            count += 1
    if not (dest / "test_modeling_common.py").is_file():
        raise SuiteUnavailable(f"{archive.name} has no tests/test_modeling_common.py ({count} test files).")


def ensure_suite(version: str | None = None) -> Path:
    """The cached suite folder for `version`, downloading and extracting it first if needed."""
    version = version or transformers.__version__
    root = suite_dir(version)
    if (root / PACKAGE / "test_modeling_common.py").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        archive = _download_sdist(version, staging / "download")
        package = staging / "tree" / PACKAGE
        package.mkdir(parents=True)
        _extract_tests(archive, package)
        (package / "__init__.py").touch()  # the sdist's tests/ has none; also read by `direct_transformers_import`
        try:
            os.rename(staging / "tree", root)
        except OSError:
            # another process won the race (the folder exists): use its copy
            if not (root / PACKAGE / "test_modeling_common.py").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


# --------------------------------------------------------------------------------------------------------- stubs
class _EmptyGenerationTesterMixin:
    """Stub of `tests/generation/test_utils.GenerationTesterMixin` (absent from the sdist): no generation tests."""


class _EmptyExportTesterMixin:
    """Stub of `tests/exporters/test_export.ExportTesterMixin` (absent from the sdist): no export tests."""


# Non-default values for `PreTrainedConfig`'s common fields: `ConfigTester.check_config_arguments_init` checks that a
# config class stores them as given.
_CONFIG_COMMON_KWARGS = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "chunk_size_feed_forward": 5,
    "problem_type": "single_label_classification",
    "id2label": {0: "background", 1: "foreground"},
}

_STUBS = {
    "generation": {},
    "generation.test_utils": {"GenerationTesterMixin": _EmptyGenerationTesterMixin},
    "exporters": {},
    "exporters.test_export": {"ExportTesterMixin": _EmptyExportTesterMixin},
    "utils": {},
    "utils.test_configuration_utils": {"config_common_kwargs": _CONFIG_COMMON_KWARGS},
}


def _install_stubs(package_dir: Path) -> list[str]:
    installed = []
    for name, attributes in _STUBS.items():
        full = f"{PACKAGE}.{name}"
        relative = package_dir.joinpath(*name.split("."))
        if full in sys.modules or relative.with_suffix(".py").is_file() or (relative / "__init__.py").is_file():
            continue
        module = types.ModuleType(full, f"Run-time stub for transformers' tests/{name.replace('.', '/')}.")
        if "." not in name:
            module.__path__ = []  # a package, so that its stubbed submodules can be imported
        module.__dict__.update({k: copy.deepcopy(v) for k, v in attributes.items()})
        sys.modules[full] = module
        parent, _, child = full.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)
        installed.append(full)
    return installed


def _install_top_level_stubs() -> None:
    """`fetch_hub_objects_for_ci` (top-level module of transformers' `utils/`, absent from the sdist's `tests/`)."""
    if "fetch_hub_objects_for_ci" in sys.modules or importlib.util.find_spec("fetch_hub_objects_for_ci") is not None:
        return
    module = types.ModuleType(
        "fetch_hub_objects_for_ci", "Run-time stub for transformers' utils/fetch_hub_objects_for_ci."
    )
    module.url_to_local_path = lambda url, *args, **kwargs: url
    sys.modules["fetch_hub_objects_for_ci"] = module


def load_image_processing_test_suite(version: str | None = None) -> types.ModuleType:
    """Import transformers' `test_image_processing_common` (`ImageProcessingTestMixin`) for the installed version.

    Raises `SuiteUnavailable` if the suite cannot be fetched or imported (e.g. without `parameterized`)."""
    suite = load_transformers_test_suite(version)
    _install_top_level_stubs()
    try:
        return importlib.import_module(f"{PACKAGE}.test_image_processing_common")
    except ImportError as err:
        raise SuiteUnavailable(
            f"transformers {suite.version}'s test_image_processing_common cannot be imported: {err}"
        ) from err


def load_transformers_test_suite(version: str | None = None) -> types.SimpleNamespace:
    """Import transformers' `test_modeling_common` and `test_configuration_common` for the installed version.

    Returns a namespace with the two modules (`modeling_common`, `configuration_common`), the suite folder and the
    list of stubbed modules. Raises `SuiteUnavailable` if the suite cannot be fetched or imported.
    """
    version = version or transformers.__version__
    if version != transformers.__version__:
        raise SuiteUnavailable(
            f"asked for the suite of {version}, transformers {transformers.__version__} is installed"
        )
    root = ensure_suite(version)
    package_dir = root / PACKAGE
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    existing = sys.modules.get(PACKAGE)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").parent != package_dir:
        raise SuiteUnavailable(f"another `{PACKAGE}` package is already imported ({existing.__file__})")
    importlib.import_module(PACKAGE)
    stubs = _install_stubs(package_dir)
    try:
        modeling_common = importlib.import_module(f"{PACKAGE}.test_modeling_common")
        configuration_common = importlib.import_module(f"{PACKAGE}.test_configuration_common")
    except ImportError as err:
        raise SuiteUnavailable(f"transformers {version}'s test suite cannot be imported here: {err}") from err
    return types.SimpleNamespace(
        modeling_common=modeling_common,
        configuration_common=configuration_common,
        path=package_dir,
        stubs=stubs,
        version=version,
    )
