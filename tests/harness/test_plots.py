"""Plots are real pictures: expected pixel size, not blank, and they change with the data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

import harness.probe.plots as plots
from harness.evaluation.results import write_marker

VIEWS = ("full", "text", "image", "swap")


def _probe(retriever, setting, full, text, image, swap, task="diagnostic"):
    means = {"full": full, "text": text, "image": image, "swap": swap}
    return {
        "task": task, "retriever": retriever, "setting": setting, "main_metric": "hit_rate@1",
        "views": {v: {"metrics": {"hit_rate@1": m}} for v, m in means.items()},
        "indices": {"hit_rate@1": {"text_dominance": ((full - image) - (full - text)) / full}},
        "chance": {"random": {"hit_rate@1": 1 / 48}},
        "by_type": {t: {"views": {v: {"metrics": {"hit_rate@1": m * f}} for v, m in means.items()}}
                    for t, f in (("image-needed", 0.5), ("text-sufficient", 1.0), ("both-needed", 0.25))},
    }


def _rows(n=30, seed=0):
    rng = np.random.default_rng(seed)
    types = ["image-needed", "text-sufficient", "both-needed"]
    rows = []
    for i in range(n):
        row = {"query_id": f"q{i}", "type": types[i % 3], "gold_id": f"p{i}"}
        for v in VIEWS:
            row.update({f"{v}_rank": int(rng.integers(1, 4)), f"{v}_score": 0.0,
                        f"{v}_text_part": float(rng.uniform(5, 20)), f"{v}_image_part": float(rng.uniform(0, 10))})
        rows.append(row)
    return rows


def _pixels(path, size):
    with Image.open(path) as img:
        assert img.size == size
        return np.asarray(img.convert("RGB")).astype(np.int16)


def _not_blank(pixels):
    non_white = (pixels < 240).any(axis=2).mean()
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert non_white > 0.03, f"only {non_white:.1%} of the picture is drawn"
    assert colours > 20
    assert pixels.std() > 10


def test_views_bars(tmp_path):
    probes = [_probe("bm25", "zero-shot", 0.66, 0.66, 0.0, 0.66), _probe("mire", "fine-tuned", 0.8, 0.5, 0.4, 0.3)]
    out = plots.plot_views("diagnostic", probes, tmp_path / "views.png")
    pixels = _pixels(out, (4 * 460, 527))  # all queries + three query types; title and legend rows above
    _not_blank(pixels)
    # the bar colour of each view is painted somewhere
    for colour in plots.VIEW_COLOURS.values():
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=2) < 6).sum() > 50


def test_attribution_scatter(tmp_path):
    out = plots.plot_attribution(_rows(), "diagnostic / mire", tmp_path / "scatter.png")
    _not_blank(_pixels(out, (640, 660)))
    moved = plots.plot_attribution(_rows(seed=1), "diagnostic / mire", tmp_path / "scatter2.png")
    assert not np.array_equal(_pixels(out, (640, 660)), _pixels(moved, (640, 660)))


@pytest.mark.slow
def test_pooling_attention_overlay_follows_the_attention(tmp_path):
    image = Image.new("RGB", (64, 64), (200, 200, 200))
    heads, side = 12, 7
    attention = np.full((heads, side * side), 1e-3)
    attention[:, 0] = 1.0  # every head looks at the top-left patch
    attention /= attention.sum(1, keepdims=True)
    a = plots.plot_pooling_attention(image, attention, "What is this?", tmp_path / "a.png")
    pixels = _pixels(a, (1400, 450))
    _not_blank(pixels)
    moved = attention[:, ::-1].copy()  # now the bottom-right patch
    b = plots.plot_pooling_attention(image, moved, "What is this?", tmp_path / "b.png")
    assert not np.array_equal(pixels, _pixels(b, (1400, 450)))
    with pytest.raises(ValueError, match="square"):
        plots.plot_pooling_attention(image, np.ones((2, 10)) / 10, "q", tmp_path / "c.png")


def test_leaderboard_heat_map(tmp_path):
    entries = [
        {"task": t, "retriever": r, "setting": s, "metric": "hit_rate@1", "value": v, "text_dominance": d}
        for t, r, s, v, d in [("diagnostic", "bm25", "zero-shot", 0.66, 1.0), ("diagnostic", "mire", "fine-tuned", 0.8, 0.2),
                              ("okvqa", "mire", "zero-shot", 0.5, None)]
    ]
    out = plots.plot_leaderboard(entries, tmp_path / "leaderboard.png")
    _not_blank(_pixels(out, (1100, 480)))


@pytest.mark.slow
def test_plot_results_draws_everything_a_results_directory_has(tmp_path):
    for retriever, setting, means in [("bm25", "zero-shot", (0.66, 0.66, 0.0, 0.66)), ("mire", "fine-tuned", (0.8, 0.5, 0.4, 0.3))]:
        directory = tmp_path / "diagnostic" / retriever / f"{setting}-full-test-0123456789"
        directory.mkdir(parents=True)
        probe = _probe(retriever, setting, *means)
        (directory / "probe.json").write_text(json.dumps(probe))
        (directory / "metrics.json").write_text(json.dumps({
            "task": "diagnostic", "retriever": retriever, "setting": setting, "view": "full", "split": "test",
            "checkpoint": None, "limit": None, "created": "2026-01-01T00:00:00", "metrics": {"hit_rate@1": means[0]}}))
        rows = _rows()
        with open(directory / "probe_per_query.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        write_marker(directory)  # a finished run folder
    mire_dir = tmp_path / "diagnostic" / "mire" / "fine-tuned-full-test-0123456789"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(mire_dir / "attention_query_0.png")
    attention = (np.ones((12, 49)) / 49).tolist()
    (mire_dir / "pooling_attention.json").write_text(json.dumps(
        [{"query_id": "q0", "question": "What?", "type": "image-needed", "image": "attention_query_0.png", "attention": attention}]))

    written = plots.plot_results(tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert names == [
        "diagnostic/bm25/zero-shot-full-test-0123456789/attribution.png",
        "diagnostic/mire/fine-tuned-full-test-0123456789/attribution.png",
        "diagnostic/mire/fine-tuned-full-test-0123456789/pooling_attention_0.png",
        "diagnostic/probe_views.png",
        "leaderboard.png",
    ]
    for path in written:
        with Image.open(path) as img:
            _not_blank(np.asarray(img.convert("RGB")).astype(np.int16))


def test_every_text_is_at_least_9_points(tmp_path, figures):
    from matplotlib.text import Text

    probes = [_probe("bm25", "zero-shot", 0.66, 0.66, 0.0, 0.66), _probe("mire", "fine-tuned", 0.8, 0.5, 0.4, 0.3)]
    plots.plot_views("diagnostic", probes, tmp_path / "v.png")
    plots.plot_attribution(_rows(), "diagnostic / mire", tmp_path / "a.png")
    plots.plot_leaderboard([{"task": "okvqa", "retriever": "mire", "setting": "zero-shot", "metric": "mrr@5",
                             "value": 0.4, "text_dominance": 0.2}], tmp_path / "l.png")
    plots.plot_pooling_attention(Image.new("RGB", (32, 32)), np.ones((2, 49)) / 49, "What?", tmp_path / "p.png")
    small = [(t.get_text(), t.get_fontsize()) for fig in figures for t in fig.findobj(Text)
             if t.get_text().strip() and t.get_visible() and t.get_fontsize() < 9]
    assert not small, small
    value_labels = [t for t in figures[0].axes[0].texts if t.get_text() in ("0.66", "0.80")]
    assert value_labels, "bars carry their values"


def test_chance_line_follows_the_metric_shown_also_for_a_local_diagnostic_copy(tmp_path, figures):
    from harness.metrics.table import random_ranking

    path = "local:/tmp/pytest-of-someone/deep/folder/diag-copy"
    probe = _probe("bm25", "zero-shot", 0.66, 0.66, 0.0, 0.66, task=path)
    # a local copy is scored by mrr@5 and its diagnostic.json records hit_rate@k chance only
    probe = json.loads(json.dumps(probe).replace("hit_rate@1", "mrr@5"))
    probe["chance"] = {"n_objects": 48, "random": {"hit_rate@1": 1 / 48, "hit_rate@5": 5 / 48}}
    with_line = plots.plot_views(path, [probe], tmp_path / "with.png")
    lines = [ln for ln in figures[0].axes[0].get_lines() if ln.get_label() == "random ranking"]
    assert len(lines) == 1 and lines[0].get_ydata()[0] == pytest.approx(sum(1 / r for r in range(1, 6)) / 48)
    assert lines[0].get_ydata()[0] == pytest.approx(random_ranking("mrr@5", 48))
    assert "local:diag-copy" in figures[0]._suptitle.get_text() and "/tmp" not in figures[0]._suptitle.get_text()
    probe["chance"] = None
    without = plots.plot_views(path, [probe], tmp_path / "without.png")
    assert not np.array_equal(_pixels(with_line, (4 * 460, 527)), _pixels(without, (4 * 460, 527)))


@pytest.mark.parametrize("n,relevant", [(5, 1), (5, 2), (6, 3)])
def test_random_ranking_chance_is_the_mean_over_every_permutation(n, relevant):
    from itertools import permutations

    from harness.metrics.table import per_query, random_ranking

    docs = [f"d{i}" for i in range(n)]
    judged = {d: 1 for d in docs[:relevant]}
    orders = [list(p) for p in permutations(docs)]
    names = [f"{m}@{k}" for m in ("hit_rate", "precision", "recall", "mrr", "ndcg") for k in (1, 2, 3, n, n + 2)]
    values = per_query(orders, [judged] * len(orders), names)
    for name in names:
        assert random_ranking(name, n, relevant) == pytest.approx(values[name].mean(), abs=1e-12), name


def test_attribution_shows_every_group_even_when_points_coincide(tmp_path, figures):
    """27 text-sufficient queries and 3 image-needed ones at the very same point: both colours
    show outside the legend, and each group's count is in its legend entry."""
    rows = [{"query_id": f"q{i}", "type": "text-sufficient" if i < 27 else "image-needed", "full_rank": 1,
             "full_text_part": 10.0, "full_image_part": 4.0} for i in range(30)]
    out = plots.plot_attribution(rows, "bm25", tmp_path / "same.png")
    fig = figures[0]
    ax = fig.axes[0]
    assert {round(c.get_alpha(), 2) for c in ax.collections} == {0.5}
    assert all(len({tuple(o) for o in c.get_offsets()}) == len(c.get_offsets()) for c in ax.collections)  # jittered
    assert len(ax.collections[-1].get_offsets()) == 3  # the small group is drawn on top
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["image-needed (rank 1, 3)", "text-sufficient (rank 1, 27)"]
    pixels = _pixels(out, (640, 660))
    box = ax.get_legend().get_window_extent()
    height = pixels.shape[0]
    mask = np.ones(pixels.shape[:2], bool)
    mask[int(height - box.y1) - 2: int(height - box.y0) + 2, int(box.x0) - 2: int(box.x1) + 2] = False
    r, g, b = (pixels[..., i][mask] for i in range(3))
    assert ((b - r > 40) & (b > 150)).sum() > 5, "the image-needed (blue) points are hidden"
    assert ((r - b > 60) & (r > 200)).sum() > 5, "the text-sufficient (orange) points are hidden"


def test_leaderboard_figure_labels_tasks_by_name(tmp_path, figures):
    entries = [{"task": f"local:{tmp_path}/a/diag-copy", "retriever": "bm25", "setting": "zero-shot",
                "metric": "mrr@5", "value": 0.3, "text_dominance": None}]
    plots.plot_leaderboard(entries, tmp_path / "l.png")
    labels = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert labels == ["local:diag-copy\n(mrr@5)"]


def test_plot_results_names_a_local_task_by_its_folder_not_its_path(tmp_path, figures):
    from matplotlib.text import Text

    task = f"local:{tmp_path}/somewhere/diag-copy"
    directory = tmp_path / "results" / "local-diag-copy" / "bm25" / "zero-shot-full-test-0123456789"
    directory.mkdir(parents=True)
    probe = _probe("bm25", "zero-shot", 0.66, 0.66, 0.0, 0.66, task=task)
    (directory / "probe.json").write_text(json.dumps(probe))
    (directory / "metrics.json").write_text(json.dumps({
        "task": task, "retriever": "bm25", "setting": "zero-shot", "view": "full", "split": "test",
        "checkpoint": None, "limit": None, "created": "2026-01-01T00:00:00", "metrics": {"hit_rate@1": 0.66}}))
    rows = _rows()
    with open(directory / "probe_per_query.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_marker(directory)
    assert len(plots.plot_results(tmp_path / "results")) == 3
    texts = [t.get_text() for fig in figures for t in fig.findobj(Text)]
    assert any("local:diag-copy" in t for t in texts)
    assert not [t for t in texts if str(tmp_path) in t]


def test_a_figure_interrupted_while_written_leaves_no_torn_png(tmp_path, monkeypatch):
    # savefig wrote straight to the final name: a Ctrl-C / kill mid-write left a torn PNG
    # (leaderboard.png beside report.html, attribution.png in a sealed run folder)
    import matplotlib.figure

    real = matplotlib.figure.Figure.savefig

    def interrupted(self, fname, *args, **kwargs):
        real(self, fname, *args, **kwargs)
        with open(fname, "r+b") as f:
            f.truncate(100)  # what a kill mid-write leaves
        raise KeyboardInterrupt

    out = tmp_path / "attribution.png"
    plots.plot_attribution(_rows(), "t", out)
    before = out.read_bytes()
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        plots.plot_attribution(_rows(seed=1), "t", out)
    assert out.read_bytes() == before  # the old figure, whole
    assert [p.name for p in tmp_path.iterdir()] == ["attribution.png"]  # no scratch left
