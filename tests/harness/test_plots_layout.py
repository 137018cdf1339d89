"""Figures say what they show and nothing covers anything: leaderboard columns never merge runs of
different protocols and name the run of each cell, labels never overlap (measured on the
rendered text's bounding boxes), titles stay inside the figure, legends stay off the points and
the title, and `plot` redraws only what is missing or stale."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from harness.probe import plots
from harness.demo.run import JFE_SETTING
from harness.evaluation.results import write_marker

ROOT = Path(__file__).resolve().parents[2]


def _boxes(texts, renderer):
    return [t.get_window_extent(renderer) for t in texts if t.get_text()]


def _overlaps(boxes) -> list:
    return [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def _inside(box, fig) -> bool:
    whole = fig.bbox
    return box.x0 >= whole.x0 - 1 and box.x1 <= whole.x1 + 1 and box.y0 >= whole.y0 - 1 and box.y1 <= whole.y1 + 1


def demo_entries():
    """The demo's leaderboard cells, as its leaderboard.csv lists them (docs/demo)."""
    rows = list(csv.DictReader(open(ROOT / "docs" / "demo" / "leaderboard.csv")))
    assert {r["setting"] for r in rows} >= {"zero-shot", "aligned", "fine-tuned", JFE_SETTING}
    return [{"task": r["task"], "retriever": r["retriever"], "setting": r["setting"], "metric": "hit_rate@1",
             "value": float(r["hit_rate@1"]), "text_dominance": float(r["probe_text_dominance"]),
             "run": Path(r["path"]).name.rsplit("-", 1)[-1]} for r in rows if r["view"] == "full"]


@pytest.mark.parametrize("extra", [0, 6])
def test_leaderboard_labels_never_overlap_on_the_demos_figure(tmp_path, figures, extra):
    entries = demo_entries()
    # and with more columns: the same retriever under other protocols
    entries += [{**entries[-1], "protocol": f"ivfpq nprobe={i} -o query_maxlen=32", "run": f"{i:06d}"}
                for i in range(extra)]
    plots.plot_leaderboard(entries, tmp_path / "l.png")
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    labels = []
    for ax in fig.axes[:2]:
        ticks = _boxes(ax.get_xticklabels(), renderer)
        assert len(ticks) == len({(e["retriever"], e["setting"], e.get("protocol", "")) for e in entries})
        labels += ticks
        assert not _overlaps(ticks)
        assert all(_inside(b, fig) for b in ticks)
    assert not _overlaps(labels)  # nor across the two panels
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert all("\n#" in c for c in cells)  # every cell names its run


def _run(results: Path, retriever: str, setting: str, tag: str, value: float, created: str, *, probed: bool,
         search="exact", limit=None, options=None):
    directory = results / "diagnostic" / retriever / f"{setting}-full-test-{tag}"
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps({
        "task": "diagnostic", "retriever": retriever, "setting": setting, "view": "full", "split": "test",
        "checkpoint": None, "limit": limit, "search": search if isinstance(search, str) else search["mode"],
        "created": created, "metrics": {"hit_rate@1": value}}))
    identity = {"search": None if search == "exact" else search, "limit": limit, "k": 100,
                "retriever_options": options or {}, "load": {"relevance": "None"}}
    (directory / "meta.json").write_text(json.dumps({"identity": identity}))
    if probed:
        (directory / "probe.json").write_text(json.dumps({"main_metric": "hit_rate@1"}))
    write_marker(directory)
    return directory


def test_leaderboard_never_merges_protocols_and_prefers_the_probed_run(tmp_path):
    results = tmp_path / "results"
    _run(results, "mire", "zero-shot", "aaaaaaaaaa", 0.5, "2026-01-01", probed=True)
    _run(results, "mire", "zero-shot", "bbbbbbbbbb", 0.4, "2026-01-03", probed=False, limit=50)
    _run(results, "mire", "zero-shot", "cccccccccc", 0.3, "2026-01-02", probed=False,
         search={"mode": "ivf", "nprobe": 4, "candidates": 8192})
    _run(results, "bm25", "zero-shot", "dddddddddd", 0.2, "2026-01-01", probed=True)
    _run(results, "bm25", "zero-shot", "eeeeeeeeee", 0.2, "2026-01-05", probed=False)  # same protocol, newer
    entries = {(e["retriever"], e["protocol"]): (e["value"], e["run"]) for e in plots.leaderboard_entries(results)}
    assert set(entries) == {("mire", "all queries, exact"), ("mire", "limit 50, exact"),
                            ("mire", "all queries, ivf candidates=8192 nprobe=4"), ("bm25", "")}
    assert entries[("mire", "all queries, exact")] == (0.5, "aaaaaaaaaa")
    assert entries[("mire", "limit 50, exact")] == (0.4, "bbbbbbbbbb")
    assert entries[("bm25", "")] == (0.2, "dddddddddd")  # the probed run, not the newer unprobed one


def _rows(scores):
    return [{"query_id": f"q{i}", "type": t, "full_rank": 1 if i % 2 else 3, "full_score": f, "text_score": x,
             "image_score": y} for i, (t, f, x, y) in enumerate(scores)]


def test_cosine_attribution_plots_what_each_input_adds(tmp_path, figures):
    # cosine scores crowd near 1: raw scores would put every point near (0.95, 0.95)
    rows = _rows([("image-needed", 0.99, 0.90, 0.98), ("text-sufficient", 0.97, 0.96, 0.90),
                  ("both-needed", 0.95, None, 0.93)])
    title = "diagnostic / jfe (fine-tuned@tiny-random-Qwen2-VL): where the gold score comes from"
    plots.plot_attribution(rows, title, tmp_path / "a.png")
    fig = figures[0]
    ax = fig.axes[0]
    points = sorted(tuple(round(v, 2) for v in o) for c in ax.collections for o in c.get_offsets())
    # x = full - image (what the question adds), y = full - text (what the image adds), +-2% jitter
    assert [p[0] for p in points] == pytest.approx([0.01, 0.07], abs=0.01)
    assert [p[1] for p in points] == pytest.approx([0.09, 0.01], abs=0.01)
    assert "full − image" in ax.get_xlabel() and "full − text" in ax.get_ylabel()
    assert "1 queries without a gold score in a view left out" in ax.get_title().replace("\n", " ")
    renderer = fig.canvas.get_renderer()
    assert _inside(ax.title.get_window_extent(renderer), fig)  # the long title is wrapped, not cut
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))  # the legend is off the points
    assert _inside(legend, fig)


def test_views_legend_is_not_over_the_title_with_one_probed_run(tmp_path, figures):
    probe = {"task": "diagnostic", "retriever": "jfe", "setting": JFE_SETTING, "main_metric": "hit_rate@1",
             "views": {v: {"metrics": {"hit_rate@1": 0.2}} for v in ("full", "text", "image", "swap")},
             "chance": {"random": {"hit_rate@1": 1 / 48}}}
    plots.plot_views("diagnostic", [probe], tmp_path / "v.png")
    fig = figures[0]
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    assert not title.overlaps(legend) and _inside(title, fig) and _inside(legend, fig)
    assert not legend.overlaps(fig.axes[0].get_window_extent(renderer))


def test_plot_draws_only_missing_or_stale_figures(tmp_path):
    import os

    results = tmp_path / "results"
    directory = _run(results, "bm25", "zero-shot", "aaaaaaaaaa", 0.5, "2026-01-01", probed=False)
    probe = {"task": "diagnostic", "retriever": "bm25", "setting": "zero-shot", "main_metric": "hit_rate@1",
             "views": {v: {"metrics": {"hit_rate@1": 0.5}} for v in ("full", "text", "image", "swap")}}
    (directory / "probe.json").write_text(json.dumps(probe))
    (directory / "probe_per_query.csv").write_text(
        "query_id,type,full_rank,full_text_part,full_image_part\nq0,image-needed,1,1.0,0.5\n")
    write_marker(directory)
    first: list = []
    figures = plots.plot_results(results, drawn=first)
    assert sorted(p.name for p in figures) == ["attribution.png", "leaderboard.png", "probe_views.png"]
    assert sorted(first) == sorted(figures)
    again: list = []
    assert plots.plot_results(results, drawn=again) == figures and again == []
    # the probe is redone: its figures are stale, the others are not
    stat = (directory / "probe_per_query.csv").stat()
    os.utime(directory / "probe_per_query.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    third: list = []
    plots.plot_results(results, drawn=third)
    assert [p.name for p in third] == ["attribution.png"]
    (directory / "attribution.png").unlink()  # a missing figure is drawn
    fourth: list = []
    plots.plot_results(results, drawn=fourth)
    assert [p.name for p in fourth] == ["attribution.png"]
    forced: list = []
    plots.plot_results(results, force=True, drawn=forced)
    assert len(forced) == 3
