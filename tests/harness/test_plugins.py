"""Plug-ins by entry point: the example package of docs/own-model.md, installed from a copy,
appears in ``ls`` and runs under run, probe and leaderboard; name clashes are one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import MireEvalError
from harness.core.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "own_retriever"


def fake_distribution(site: Path, name: str, group: str, entries: dict[str, str]) -> None:
    """A distribution's metadata as pip writes it (no code): enough for importlib.metadata."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


def test_entry_points_register_lazily_and_a_taken_name_is_one_line(tmp_path, monkeypatch):
    fake_distribution(tmp_path, "someones-retrievers", "test_mire_eval.retrievers",
                      {"theirs": "json:dumps", "bm25": "json:loads"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("retriever", group="test_mire_eval.retrievers")
    registry.register("bm25", "json:loads", "built in")
    with pytest.raises(MireEvalError, match=r"plug-in retriever 'bm25' \(someones-retrievers 1.0.*taken by mire-eval"):
        registry.names()
    lazy = Registry("retriever", group="test_mire_eval.retrievers")
    assert not lazy._discovered  # nothing read before first use


def test_a_plugin_that_cannot_be_imported_is_one_line(tmp_path, monkeypatch):
    fake_distribution(tmp_path, "broken-plugin", "test_mire_eval.tasks", {"broken": "no_such_module_here:TASK"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("task", group="test_mire_eval.tasks")
    assert registry.names() == ["broken"] and registry.entry("broken").plugin == "broken-plugin 1.0"
    with pytest.raises(MireEvalError, match=r"plug-in task 'broken' \(broken-plugin 1.0\): cannot load"):
        registry.get("broken")


def test_a_plugin_whose_import_raises_anything_is_one_line(tmp_path, monkeypatch):
    # only ImportError/AttributeError were caught: a plug-in raising anything else at import was a traceback
    (tmp_path / "exploding_plugin_module.py").write_text("raise RuntimeError('exploded at import')\n")
    fake_distribution(tmp_path, "exploding-plugin", "test_mire_eval.retrievers", {"boom": "exploding_plugin_module:build"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("retriever", group="test_mire_eval.retrievers")
    with pytest.raises(MireEvalError, match=r"plug-in retriever 'boom' \(exploding-plugin 1.0\): cannot load "
                                            r"exploding_plugin_module:build \(RuntimeError: exploded at import\)"):
        registry.get("boom")


@pytest.mark.parametrize("target, what", [("json:__doc__", "is not callable"),
                                          ("platform:system", "cannot be called as build")])
def test_a_plugin_retriever_that_is_not_a_build_function_is_one_line(tmp_path, monkeypatch, target, what):
    # the harness called it as build(checkpoint, device, **options): TypeError traceback
    from harness.evaluation import pipeline
    from harness.evaluation.pipeline import RunSettings, build_retriever

    fake_distribution(tmp_path, "odd-plugin", "test_mire_eval.retrievers", {"odd": target})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pipeline, "RETRIEVERS", Registry("retriever", group="test_mire_eval.retrievers"))
    with pytest.raises(MireEvalError, match=rf"--retriever odd: {target} {what}"):
        build_retriever(RunSettings(task="sample", retriever="odd", output=tmp_path / "out"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package installed from a temporary copy into its own target folder."""
    root = tmp_path_factory.mktemp("plugin")
    shutil.copytree(EXAMPLE, root / "src", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(root / "site"), str(root / "src")], capture_output=True, text=True,
                          timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def cli(installed: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(installed / "site")]),
           "MIRE_EVAL_DATA": str(installed / "data"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "harness", *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=installed)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


@pytest.mark.slow
def test_the_documented_example_installs_lists_and_runs_under_every_command(installed):
    listed = cli(installed, "ls")
    assert "colour-words    plug-in (mire-eval-own-retriever 0.1.0)" in listed
    assert "colours         plug-in (mire-eval-own-retriever 0.1.0)" in listed
    out = installed / "results"
    for task in ("sample", "diagnostic", "colours"):
        cli(installed, "run", "--task", task, "--retriever", "colour-words", "--output", str(out))
        cli(installed, "probe", "--task", task, "--retriever", "colour-words", "--output", str(out))
    probes = sorted(out.rglob("probe.json"))
    assert [p.parts[-4] for p in probes] == ["colours", "diagnostic", "sample"]
    colours = json.loads(probes[0].read_text())
    assert colours["views"]["full"]["metrics"]["mrr@5"] == 1.0  # the image names the colour, not the question
    board = cli(installed, "leaderboard", "--output", str(out))
    assert "3 rows" in board
    rows = (out / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 4 and all(",own_retriever,ColourWords," in r for r in rows[1:])
