"""Pictures of the probe, written as PNG files beside the results (matplotlib, Agg).

1. :func:`plot_views`: per task, the main metric under each query view, grouped by retriever,
   with chance level drawn when the task knows it.
2. :func:`plot_attribution`: per retriever and task, each query's gold-passage score split
   into what text tokens and what visual tokens contributed.
3. :func:`plot_pooling_attention`: MIRe's query-guided pooling attention over the patch grid,
   overlaid on the query image, one panel per head and their mean.
4. :func:`plot_leaderboard`: tasks x retrievers (zero-shot and fine-tuned) heat map of the
   main metric, with the text-dominance index beside it.

:func:`plot_results` draws every picture a results directory has the data for. Each figure
is a fixed size (``FIGSIZE`` inches at ``DPI``), so its PNG size in pixels is known.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

VIEW_COLOURS = {"full": "#1f4e79", "text": "#d95f02", "image": "#1b9e77", "swap": "#7570b3"}
TYPE_MARKERS = {"image-needed": "o", "text-sufficient": "s", "both-needed": "^", "": "o"}
DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)  # no bbox_inches="tight": the pixel size stays figsize x DPI
    _pyplot().close(fig)
    return out


# --------------------------------------------------------------------------------------------
# 1. Views
# --------------------------------------------------------------------------------------------
def plot_views(task: str, probes: Sequence[Mapping], out: str | Path, figsize=(9.0, 4.8)) -> Path:
    """Grouped bars: one group per retriever (and setting), one bar per view.

    ``probes`` are probe.json dicts of one task. A dashed line marks the random-ranking
    chance level when the task records one (``chance.random``).
    """
    plt = _pyplot()
    views = ["full", "text", "image", "swap"]
    metric = probes[0]["main_metric"]
    labels = [_label(p) for p in probes]
    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / len(views)
    for j, view in enumerate(views):
        xs = [i + (j - (len(views) - 1) / 2) * width for i in range(len(probes))]
        ys = [p["views"].get(view, {}).get("metrics", {}).get(metric, float("nan")) for p in probes]
        bars = ax.bar(xs, ys, width * 0.95, label=view, color=VIEW_COLOURS[view])
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    chance = (probes[0].get("chance") or {}).get("random", {}).get(metric)
    if chance is not None:
        ax.axhline(chance, color="0.3", linestyle="--", linewidth=1)
        ax.text(len(probes) - 0.5, chance, f" random ranking ({chance:.3f})", va="bottom", ha="right", fontsize=8)
    ax.set_xticks(range(len(probes)), labels)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(metric)
    ax.set_title(f"{task}: {metric} by query view (text = image removed, image = question removed, swap = wrong image)")
    ax.title.set_fontsize(10)
    ax.legend(title="query view", ncols=4, loc="upper right", fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def _label(probe: Mapping) -> str:
    return f"{probe['retriever']}\n{probe.get('setting', '')}"


# --------------------------------------------------------------------------------------------
# 2. Attribution scatter
# --------------------------------------------------------------------------------------------
def plot_attribution(rows: Sequence[Mapping], title: str, out: str | Path, view: str = "full",
                     figsize=(6.0, 5.6)) -> Path:
    """Per query: x = part of the gold score from text tokens, y = part from visual tokens.

    Markers give the query type, filled when the gold passage is ranked first under the view.
    Points above the diagonal owe more to the image than to the text.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    points = [(float(r[f"{view}_text_part"]), float(r[f"{view}_image_part"]), r.get("type") or "", _rank(r, view))
              for r in rows if _present(r.get(f"{view}_text_part")) and _present(r.get(f"{view}_image_part"))]
    if points:
        for qtype in sorted({p[2] for p in points}):
            for hit in (True, False):
                sel = [p for p in points if p[2] == qtype and (p[3] == 1) == hit]
                if not sel:
                    continue
                colour = f"C{sorted({p[2] for p in points}).index(qtype)}"
                ax.scatter([p[0] for p in sel], [p[1] for p in sel], marker=TYPE_MARKERS.get(qtype, "o"),
                           s=26, alpha=0.75, label=f"{qtype or 'query'} ({'rank 1' if hit else 'missed'})",
                           facecolors=colour if hit else "none", edgecolors=colour)
        lo = min(0.0, *(min(p[0], p[1]) for p in points))
        hi = max(max(p[0], p[1]) for p in points) * 1.05 or 1.0
        ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=1, linestyle=":")
        ax.legend(fontsize=7, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no per-token split for this retriever", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("gold-passage score from text query tokens")
    ax.set_ylabel("gold-passage score from visual query tokens")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def _present(value) -> bool:
    return value not in (None, "") and not (isinstance(value, float) and math.isnan(value))


def _rank(row: Mapping, view: str) -> int | None:
    value = row.get(f"{view}_rank")
    return int(float(value)) if _present(value) else None


# --------------------------------------------------------------------------------------------
# 3. Pooling attention
# --------------------------------------------------------------------------------------------
def plot_pooling_attention(image, attention, question: str, out: str | Path, max_heads: int = 12,
                           panel: float = 2.0) -> Path:
    """Attention of each pooling head over the patch grid, overlaid on the query image.

    ``attention`` [heads, P] (P a square number of patches), rows summing to 1: each head's
    softmax weights averaged over the question's tokens. The first panel is the mean of the
    heads; the image is shown as the vision tower saw it (resized to a square).
    """
    import numpy as np

    plt = _pyplot()
    attention = np.asarray(attention, dtype=np.float64)
    heads, patches = attention.shape
    side = int(round(math.sqrt(patches)))
    if side * side != patches:
        raise ValueError(f"pooling attention over {patches} patches is not a square grid")
    maps = [attention.mean(0)] + [attention[h] for h in range(min(heads, max_heads))]
    names = ["mean of heads"] + [f"head {h}" for h in range(min(heads, max_heads))]
    cols = min(len(maps), 7)
    rows = math.ceil(len(maps) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols, panel * rows + 0.5), squeeze=False)
    pixels = np.asarray(image.convert("RGB").resize((224, 224)))
    # One scale for all panels, relative to uniform attention (1 = every patch weighed alike),
    # so a head that looks everywhere stays mid-tone and a focused one stands out.
    ratio = [grid * patches for grid in maps]
    vmax = max(2.0, max(float(r.max()) for r in ratio))
    for ax, grid, name in zip(axes.flat, ratio, names):
        ax.imshow(pixels)
        shown = ax.imshow(grid.reshape(side, side), cmap="inferno", alpha=0.55, extent=(0, 224, 224, 0),
                          interpolation="nearest", vmin=0, vmax=vmax)
        ax.set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"where the question looked: {question}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.94, 1))
    bar = fig.add_axes((0.95, 0.15, 0.012, 0.7))
    fig.colorbar(shown, cax=bar).set_label("attention / uniform", fontsize=8)
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# 4. Leaderboard heat map
# --------------------------------------------------------------------------------------------
def plot_leaderboard(entries: Sequence[Mapping], out: str | Path, figsize=(11.0, 4.8)) -> Path:
    """Tasks (rows) x retriever and setting (columns): main metric under the full view, and
    beside it the text-dominance index on a diverging scale (red: leans on the text).

    ``entries``: dicts with ``task``, ``retriever``, ``setting``, ``metric`` (name),
    ``value`` and optional ``text_dominance``.
    """
    import numpy as np

    plt = _pyplot()
    tasks = sorted({e["task"] for e in entries})
    columns = sorted({(e["retriever"], e["setting"]) for e in entries}, key=lambda c: (c[1] != "zero-shot", c))
    value = np.full((len(tasks), len(columns)), np.nan)
    dominance = np.full((len(tasks), len(columns)), np.nan)
    metric_of = {}
    for e in entries:
        i, j = tasks.index(e["task"]), columns.index((e["retriever"], e["setting"]))
        value[i, j] = e["value"]
        metric_of[e["task"]] = e["metric"]
        if e.get("text_dominance") is not None:
            dominance[i, j] = e["text_dominance"]
    fig, (left, right) = plt.subplots(1, 2, figsize=figsize)
    xlabels = [f"{r}\n{s}" for r, s in columns]
    ylabels = [f"{t}\n({metric_of[t]})" for t in tasks]
    for ax, grid, cmap, vmin, vmax, title in (
        (left, value, "viridis", 0.0, 1.0, "main metric, full view"),
        (right, dominance, "RdBu_r", -1.0, 1.0, "text-dominance index (> 0: leans on the text)"),
    ):
        shown = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(columns)), xlabels, fontsize=8)
        ax.set_yticks(range(len(tasks)), ylabels, fontsize=8)
        ax.set_title(title, fontsize=10)
        for i in range(len(tasks)):
            for j in range(len(columns)):
                text = "n/a" if np.isnan(grid[i, j]) else f"{grid[i, j]:.2f}"
                dark = not np.isnan(grid[i, j]) and (grid[i, j] < 0.6 if cmap == "viridis" else abs(grid[i, j]) > 0.6)
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# Everything a results directory has data for
# --------------------------------------------------------------------------------------------
def find_probes(results: str | Path) -> list[tuple[Path, dict]]:
    """Every probe.json under ``results`` as ``(directory, record)``, in path order."""
    return [(p.parent, json.loads(p.read_text())) for p in sorted(Path(results).rglob("probe.json"))]


def leaderboard_entries(probes: Sequence[tuple[Path, Mapping]]) -> list[dict]:
    """One heat-map entry per probe: the full view's main metric and the text-dominance index."""
    entries = []
    for _, p in probes:
        metric = p["main_metric"]
        entries.append({
            "task": p["task"], "retriever": p["retriever"], "setting": p.get("setting", ""), "metric": metric,
            "value": p["views"]["full"]["metrics"][metric],
            "text_dominance": p["indices"][metric]["text_dominance"],
        })
    return entries


def plot_results(results: str | Path, attention_queries: int = 4) -> list[Path]:
    """Draw every figure ``results`` has data for; returns the files written."""
    from PIL import Image

    results = Path(results)
    probes = find_probes(results)
    written: list[Path] = []
    by_task: dict[str, list] = {}
    for directory, p in probes:
        by_task.setdefault(p["task"], []).append((directory, p))
        rows = list(csv.DictReader(open(directory / "probe_per_query.csv")))
        title = f"{p['task']} / {p['retriever']} ({p.get('setting', '')}): where the gold score comes from"
        written.append(plot_attribution(rows, title, directory / "attribution.png"))
        attention_file = directory / "pooling_attention.json"
        if attention_file.exists():
            for i, item in enumerate(json.loads(attention_file.read_text())[:attention_queries]):
                with Image.open(directory / item["image"]) as image:
                    out = directory / f"pooling_attention_{i}.png"
                    written.append(plot_pooling_attention(image, item["attention"], item["question"], out))
    for task, items in by_task.items():
        task_dir = items[0][0].parents[2]  # <results>/<task>/<retriever>/<tag>/probe
        written.append(plot_views(task, [p for _, p in items], task_dir / "probe_views.png"))
    if probes:
        written.append(plot_leaderboard(leaderboard_entries(probes), results / "leaderboard.png"))
    return written
