"""A fresh clone's own README commands work and leave `git status` clean.

The clone is a copy of the files git would hand out (tracked plus not-ignored new files), made a
repository of its own; the commands run inside it with its default output folder ``results/``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(*args, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def clone(tmp_path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a checkout")
    files = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    target = tmp_path / "clone"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not handed out
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git("init", "-q", cwd=target)
    _git("add", "-A", cwd=target)
    _git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "clone", cwd=target)
    return target


@pytest.mark.slow
def test_readme_commands_in_a_fresh_clone(clone):
    assert not (clone / "results").exists()  # no committed results to be mistaken for finished runs
    env = {**os.environ, "PYTHONPATH": str(clone)}

    def mire_eval(*args):
        done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=600)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        return done

    assert mire_eval("run", "--task", "diagnostic", "--retriever", "bm25").returncode == 0
    # `demo` itself trains four models for minutes; its pieces run small in test_demo.py
    assert mire_eval("run", "--task", "sample", "--retriever", "bm25").returncode == 0
    again = mire_eval("run", "--task", "diagnostic", "--retriever", "bm25")
    assert again.returncode == 0 and "(reused)" in again.stdout
    board = mire_eval("leaderboard")
    assert board.returncode == 0 and "2 rows" in board.stdout
    plot = mire_eval("plot")
    assert plot.returncode == 0 and "leaderboard.png" in plot.stdout
    # a folder left incomplete (files missing) is skipped by both with one warning line
    (clone / "results" / "diagnostic" / "bm25" / "zero-shot-full-test-0000000000").mkdir()
    (clone / "results" / "diagnostic" / "bm25" / "zero-shot-full-test-0000000000" / "metrics.json").write_text("{}")
    for command in ("leaderboard", "plot"):
        done = mire_eval(command)
        assert done.returncode == 0
        assert [line for line in done.stderr.splitlines() if "zero-shot-full-test-0000000000" in line] == [
            f"warning: {Path('results/diagnostic/bm25/zero-shot-full-test-0000000000')}: incomplete results "
            "folder (no valid complete.json); skipped"]
    assert _git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""
