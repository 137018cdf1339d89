"""Plots are real pictures: expected pixel size, not blank, and they change with the data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from harness import plots
from harness.results import write_marker

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
    pixels = _pixels(out, (4 * 460, 460))  # all queries + three query types
    _not_blank(pixels)
    # the bar colour of each view is painted somewhere
    for colour in plots.VIEW_COLOURS.values():
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).sum(axis=2) < 6).sum() > 50


def test_attribution_scatter(tmp_path):
    out = plots.plot_attribution(_rows(), "diagnostic / mire", tmp_path / "scatter.png")
    _not_blank(_pixels(out, (600, 560)))
    moved = plots.plot_attribution(_rows(seed=1), "diagnostic / mire", tmp_path / "scatter2.png")
    assert not np.array_equal(_pixels(out, (600, 560)), _pixels(moved, (600, 560)))


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
