"""`import mrcfa`: public names load on first use and the library import registers with transformers; the `mrcfa`
command parses its arguments before torch and transformers are imported."""

import json
import subprocess
import sys

import mrcfa

PROBE = """
import json, sys
sys.argv = {argv!r}
import mrcfa
{code}
print(json.dumps({{"registered": mrcfa._registered, "torch": "torch" in sys.modules,
                  "transformers": "transformers" in sys.modules}}))
"""


def _probe(argv, code=""):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, code=code)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_public_names_are_lazy_and_listed():
    assert set(mrcfa.__all__) == set(mrcfa._LAZY_ATTRIBUTES) | {"register"}
    assert set(mrcfa.__all__) <= set(dir(mrcfa))
    for name in mrcfa._LAZY_ATTRIBUTES:
        assert getattr(mrcfa, name) is not None, name
    try:
        mrcfa.NoSuchName  # noqa: B018
    except AttributeError as err:
        assert "no attribute 'NoSuchName'" in str(err)
    else:
        raise AssertionError("unknown names must raise AttributeError")


def test_library_import_registers_but_the_command_defers():
    # a library import (any program but the mrcfa command): registered with the Auto classes at import
    assert _probe(["script.py"]) == {"registered": True, "torch": True, "transformers": True}
    # the console scripts: nothing heavy until a subcommand needs it ...
    for program in ("/usr/bin/mrcfa", "/venv/bin/mrcfa-segment"):
        assert _probe([program]) == {"registered": False, "torch": False, "transformers": False}
    # ... and the first public name used registers everything
    assert _probe(["/usr/bin/mrcfa"], "mrcfa.MrcfaConfig") == {
        "registered": True,
        "torch": True,
        "transformers": True,
    }


def test_help_and_argument_errors_come_before_torch():
    code = """
import runpy, sys
sys.argv = ["mrcfa", "segment", "--help"]
try:
    runpy.run_module("mrcfa", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert exit.code == 0, exit.code
assert "torch" not in sys.modules and "transformers" not in sys.modules, "heavy imports before --help"
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
    proc = subprocess.run(
        [sys.executable, "-m", "mrcfa", "segment", "clip.mp4", "--fps", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
