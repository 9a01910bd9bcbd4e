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


def _import_graph():
    """`{module: imported mrcfa modules}` for every module of src/mrcfa and every script (each import, wherever it is
    in the file), as an AST walk sees it."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    files = {}
    for path in (repo / "src" / "mrcfa").rglob("*.py"):
        parts = path.relative_to(repo / "src").with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (repo / "scripts").glob("*.py"):
        files[f"scripts/{path.name}"] = path
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                imported |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {m for m in imported if m in files and m != name}
    return graph


def test_front_ends_are_peers_over_the_library():
    """cli/, app/ and scripts/ import the library; the library imports none of them, and nothing but `python -m mrcfa`
    imports cli/ (cli/ imports app/: `mrcfa app` serves it)."""
    graph = _import_graph()
    assert "mrcfa.cli.segment" in graph and "scripts/run_vss.py" in graph  # the walk sees the modules and scripts

    def within(name, package):
        return name == package or name.startswith(f"{package}.")

    for module, imported in graph.items():
        if within(module, "mrcfa.cli"):
            continue
        cli = sorted(m for m in imported if within(m, "mrcfa.cli"))
        assert not cli or module == "mrcfa.__main__", f"{module} imports {cli}"
        if not within(module, "mrcfa.app"):
            app = sorted(m for m in imported if within(m, "mrcfa.app"))
            assert not app, f"{module} imports {app}"


def test_no_import_circle():
    """No circle, function-level imports included. The model's `save_pretrained` imports the pipeline module so that
    transformers copies its file into checkpoints, but the streaming code the pipeline imports depends on the session
    module and the head, not on the model: that copy no longer closes a circle."""
    graph = _import_graph()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while not component or node not in component:
                component.add(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert circles == []
