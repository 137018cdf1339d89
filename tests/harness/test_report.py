"""``mire-eval report`` on the sample task, the diagnostic task (probed) and a local task judged
by answer matching: one self-contained file, no external URL, the expected content, and in
headless Chromium (installed by .ci/run) non-blank screenshots of the leaderboard and of one
drill-down page showing the expected text."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import make_local_task

runner = CliRunner()
pytestmark = pytest.mark.slow  # two probes and a browser: ~40 s on 2 CPU cores


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    patch = pytest.MonkeyPatch()
    patch.setenv("MIRE_EVAL_DATA", str(root / "cache"))
    out = root / "results"
    local = make_local_task(root / "animals")  # no qrels: judged by answer words
    invoke("run", "--task", "sample", "--retriever", "bm25", "--output", str(out))
    invoke("run", "--task", "sample", "--retriever", "bm25", "--option", "k1=0.3", "--option", "b=0.1",
           "--setting", "zero-shot@low-k1", "--output", str(out))
    invoke("probe", "--task", "diagnostic", "--retriever", "bm25", "--output", str(out))
    invoke("probe", "--task", f"local:{local}", "--retriever", "bm25", "--output", str(out))
    printed = invoke("report", "--output", str(out))
    yield out / "report.html", printed, local
    patch.undo()


def page_data(html: str) -> dict:
    raw = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(raw.replace("<\\/", "</"))


def test_one_self_contained_file_without_external_urls(report):
    path, printed, _ = report
    assert printed.strip() == f"report: {path}"
    html = path.read_text()
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:|#)", html)  # every resource inline or a data: URI
    assert not re.search(r"https?://|//cdn|@import|url\(", html, re.I)
    assert "<script src" not in html and "<link" not in html


def test_leaderboard_compares_with_a_baseline_and_shows_the_efficiency_card(report):
    html = report[0].read_text()
    board = html[html.index('id="leaderboard"'): html.index('class="task"')]
    for header in ("Δ vs baseline", "95% CI", "p (Holm)", "passages", "search ms/q", "peak MB", "device", "threads"):
        assert f"<th>{header}</th>" in board, header
    assert board.count('class="baseline"') == 3  # one baseline row per task
    assert "<td>local:animals</td>" in board and "<td>diagnostic</td>" in board and "<td>sample</td>" in board


def test_probe_tables_figures_slices_and_drilldown_data(report):
    html = report[0].read_text()
    data = page_data(html)
    local_task = f"local:{report[2]}"
    assert set(data["tasks"]) == {"sample", "diagnostic", local_task}
    assert "Probe: the main metric under each view" in html and "data:image/png;base64," in html  # probe_views.png
    assert "Every system misses" in html and "Flips when the image is removed or swapped" in html
    sample = {q["id"]: q for q in data["tasks"]["sample"]["queries"]}
    assert len(sample) == 10 and sample["q03"]["thumb"].startswith("data:image/jpeg;base64,")
    assert [s["name"] for s in sample["q03"]["systems"]] == ["bm25 (zero-shot)", "bm25 (zero-shot@low-k1)"]
    top = sample["q03"]["systems"][0]["top"]
    assert len(top) == 5 and [p["relevant"] for p in top].count(True) == 1
    assert sample["q03"]["systems"][0]["first_rank"] == 1 + [p["relevant"] for p in top].index(True)
    seal = {q["id"]: q for q in data["tasks"][local_task]["queries"]}["q-seal"]
    best = seal["systems"][0]["top"][0]
    assert best["id"] == "p-seal" and best["text"] == "The grey seal eats herring and cod."
    assert best["spans"] == [[19, 26], [31, 34]]  # herring, cod: the answer words, highlighted
    assert set(seal["systems"][0]["views"]) == {"full", "text", "image", "swap"}
    diagnostic = data["tasks"]["diagnostic"]
    assert diagnostic["cutoff"] == 1 and diagnostic["queries"][0]["type"] == "image-needed"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path: Path, url: str, *args: str) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}", *args, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def non_blank(png: Path) -> None:
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        grey = image.convert("L")
        assert image.size[0] >= 1000 and ImageStat.Stat(grey).stddev[0] > 20  # text and tables, not one colour
        assert len(grey.getcolors(256 * 256) or range(257)) > 16


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (`apt-get install -y chromium`; .ci/run installs it)")
def test_headless_chromium_draws_the_leaderboard_and_a_drilldown_page(report, tmp_path):
    path, _, local = report
    url = path.resolve().as_uri()
    dom = chromium(tmp_path, url, "--dump-dom")
    assert "Leaderboard" in dom and 'data-qid="q03">q03  What year does this vase date from?' in dom  # listed by the script
    chromium(tmp_path, url, "--window-size=1280,900", f"--screenshot={tmp_path / 'leaderboard.png'}")
    non_blank(tmp_path / "leaderboard.png")

    drill = f"{url}#q={quote(f'local:{local}/q-seal')}"
    dom = chromium(tmp_path, drill, "--dump-dom")
    assert "query q-seal" in dom and "Which fish does the seal eat?" in dom
    assert "<mark>herring</mark>" in dom and "<mark>cod</mark>" in dom
    assert "first relevant rank: 1" in dom and "gold passage's rank per probe view: full 1" in dom
    assert '<body class="focus">' in dom
    chromium(tmp_path, drill, "--window-size=1280,900", f"--screenshot={tmp_path / 'drilldown.png'}")
    non_blank(tmp_path / "drilldown.png")
