"""The `mrcfa` command: subcommands, their help (with defaults), one-line errors, and real runs through
`python -m mrcfa`. The segment and convert runs themselves are tested in test_pipelines_cli.py / test_conversion.py.
"""

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from mrcfa.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ("segment", "convert", "synthetic", "export-parquet", "export-onnx", "cards", "app")

# subcommand -> (an option, the default its help shows)
DEFAULTS_SHOWN = {
    "segment": ("--batch-size", "(default: 1)"),
    "convert": ("--num-attention-heads", "(default: 1 2 5 8"),
    "synthetic": ("--num-classes", "(default: 5)"),
    "export-parquet": ("--max-shard-mb", "(default: 500.0)"),
    "export-onnx": ("--example-size", "(default: 128 160)"),
    "cards": ("--output-dir", "(default: model_cards)"),
    "app": ("--max-resolution", "(default: 1920x1080)"),
}


def run_mrcfa(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mrcfa", *args], capture_output=True, text=True, cwd=cwd)


def test_mrcfa_help_lists_every_subcommand():
    result = run_mrcfa("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: mrcfa ")
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in result.stdout, name
    assert tuple(command.NAME for command in COMMANDS) == SUBCOMMANDS


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help_shows_defaults(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "119")
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: mrcfa {name} ")
    option, default = DEFAULTS_SHOWN[name]
    entry = text[text.index(f"  {option} ") :].split("\n  -")[0]  # the option's help, maybe on several lines
    assert default in " ".join(entry.split()), entry
    assert "(default: None)" not in text and "(default: False)" not in text


def test_mistakes_are_one_line_with_exit_status_2(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "nope"), "--model", "m", "--output", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"mrcfa segment: error: input not found: {tmp_path / 'nope'}\n"
    assert main(["synthetic", str(tmp_path / "s"), "--num-classes", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrcfa synthetic: error: num_classes must be in 1..254") and err.count("\n") == 1
    assert main(["export-parquet", str(tmp_path / "missing"), str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith("mrcfa export-parquet: error: ")
    (tmp_path / "file").write_text("x")
    assert main(["convert", "--checkpoint-path", str(tmp_path / "file"), "--output-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mrcfa convert: error: cannot read") and err.count("\n") == 1
    # argparse's own errors: usage, then one error line, exit status 2
    for argv in ([], ["nope"], ["segment"], ["synthetic", "out", "--seed", "x"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 2
        assert "error: " in capsys.readouterr().err.splitlines()[-1]


def test_synthetic_run(tmp_path):
    out = tmp_path / "synthetic"
    result = run_mrcfa(
        "synthetic", str(out), "--train", "1", "--val", "1", "--test", "1", "--min-frames", "3", "--max-frames", "3",
        "--height", "24", "--width", "32", "--num-classes", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote a synthetic VSPW dataset (1/1/1 videos, 9 frames)" in result.stdout
    assert len(list(out.glob("data/*/origin/*.jpg"))) == 9
    assert len(list(out.glob("data/*/mask/*.png"))) == 6  # no test masks
    assert sorted(p.name for p in out.glob("*.txt")) == ["test.txt", "train.txt", "val.txt"]


def test_synthetic_never_writes_over_other_files(tmp_path, capsys):
    """A synthetic dataset is replaced only with --overwrite (no earlier video left behind); a folder holding anything
    else, or a file, is refused with or without it, its files unchanged."""
    small = ["--train", "1", "--val", "1", "--test", "0", "--min-frames", "2", "--max-frames", "2", "--height", "16",
             "--width", "16", "--num-classes", "2"]  # fmt: skip
    out = tmp_path / "synthetic"
    assert main(["synthetic", str(out), *small]) == 0
    first = sorted(p.name for p in (out / "data").iterdir())
    assert main(["synthetic", str(out), *small, "--seed", "1"]) == 2
    assert capsys.readouterr().err == (
        f"mrcfa synthetic: error: {out} already holds a synthetic dataset: pass --overwrite to replace it, or choose "
        "another folder.\n"
    )
    assert main(["synthetic", str(out), *small, "--seed", "1", "--overwrite"]) == 0
    second = sorted(p.name for p in (out / "data").iterdir())
    assert len(second) == 2 and not set(first) & set(second)  # other names: the first videos are gone
    assert sorted((out / "train.txt").read_text().split() + (out / "val.txt").read_text().split()) == second

    (out / "notes.md").write_text("mine")
    real = tmp_path / "VSPW_480p"
    (real / "data").mkdir(parents=True)
    (real / "train.txt").write_text("127_-hIVCYO4C90\n")
    cases = [
        (out, f"{out} holds a synthetic dataset and other files (notes.md): choose a new or empty folder (they are "
              "never replaced)."),
        (real, f"{real} already holds files that are not a synthetic dataset (data, train.txt): choose a new or "
               "empty folder (they are never replaced, even with --overwrite)."),
        (real / "train.txt", f"{real / 'train.txt'} is a file: the synthetic dataset is written into a folder; choose "
                             "a new folder."),
    ]  # fmt: skip
    for target, message in cases:
        assert main(["synthetic", str(target), *small, "--overwrite"]) == 2
        assert capsys.readouterr().err == f"mrcfa synthetic: error: {message}\n"
    assert (out / "notes.md").read_text() == "mine" and sorted(p.name for p in (out / "data").iterdir()) == second
    assert (real / "train.txt").read_text() == "127_-hIVCYO4C90\n" and not any((real / "data").iterdir())


def test_synthetic_alias_command_line(tmp_path, capsys):
    """`mrcfa-synthetic-vspw` (the same as `mrcfa synthetic`), with the generator's options."""
    from mrcfa.cli.synthetic import main as synthetic_main

    out = tmp_path / "cli"
    assert synthetic_main([str(out), "--seed", "3", "--train", "1", "--val", "1", "--test", "0", "--min-frames", "4",
                           "--max-frames", "4", "--height", "24", "--width", "32", "--num-classes", "3"]) == 0  # fmt: skip
    assert "wrote a synthetic VSPW dataset" in capsys.readouterr().out
    assert len(list(out.glob("data/*/origin/*.jpg"))) == 8
    assert len(list(out.glob("data/*/mask/*.png"))) == 8
    out = tmp_path / "knobs"
    assert synthetic_main([str(out), "--train", "1", "--val", "0", "--test", "0", "--min-frames", "3",
                           "--max-frames", "3", "--height", "24", "--width", "32", "--hidden-prob", "0.5",
                           "--motion-scale", "0.3", "--degraded-prob", "0.2", "--shared-object-class"]) == 0  # fmt: skip
    assert len(list(out.glob("data/*/origin/*.jpg"))) == 3


def test_cards_run(tmp_path, monkeypatch, capsys):
    result = run_mrcfa("cards", "--output-dir", str(tmp_path / "cards"))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "cards").iterdir())
    assert written == sorted(p.name for p in (REPO / "model_cards").glob("*.md"))
    for name in written:  # the committed cards are the generator's output
        assert (tmp_path / "cards" / name).read_bytes() == (REPO / "model_cards" / name).read_bytes()
    # run from the repository root, the default folder is model_cards/: up to date (in this process: quicker)
    monkeypatch.chdir(REPO)
    assert main(["cards", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_console_scripts_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    scripts = dict(
        line.replace(" ", "").split("=", 1)
        for line in config["options.entry_points"]["console_scripts"].strip().splitlines()
    )
    assert scripts == {
        "mrcfa": "mrcfa.cli:main",
        "mrcfa-segment": "mrcfa.cli.segment:main",
        "mrcfa-synthetic-vspw": "mrcfa.cli.synthetic:main",
    }
