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

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.core.outputs import replaced
from harness.core.textfiles import load_json, read_csv_rows

from harness.evaluation.labels import task_label, task_labels
from harness.evaluation.results import complete_runs, leaderboard
from harness.metrics.table import chance_of
from harness.probe.views import main_metric_of

VIEW_COLOURS = {"full": "#1f4e79", "text": "#d95f02", "image": "#1b9e77", "swap": "#7570b3"}
TYPE_MARKERS = {"image-needed": "o", "text-sufficient": "s", "both-needed": "^", "": "o"}
DPI = 100
FONT = 9  # points: the smallest text on any figure (value labels, ticks, legends)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` (format from its suffix) through a scratch file renamed into
    place, so an interrupted write never leaves a torn image under the final name."""
    out = Path(out)
    try:
        with replaced(out) as tmp:  # no bbox_inches="tight": the pixel size stays figsize x DPI
            fig.savefig(tmp, dpi=DPI, format=out.suffix.lstrip(".") or "png")
    finally:
        _pyplot().close(fig)
    return out


# --------------------------------------------------------------------------------------------
# 1. Views
# --------------------------------------------------------------------------------------------
def plot_views(task: str, probes: Sequence[Mapping], out: str | Path, panel=(4.6, 4.6)) -> Path:
    """Grouped bars: one group per retriever (and setting), one bar per view; one panel for
    all queries and, when the task has query types, one panel per type.

    ``probes`` are probe.json dicts of one task. A dashed line marks the random-ranking
    chance level of the metric shown, when the probe records one or the corpus size it
    follows from (:func:`harness.metrics.table.chance_of`).
    """
    plt = _pyplot()
    views = ["full", "text", "image", "swap"]
    metric = probes[0]["main_metric"]
    types = sorted({t for p in probes for t in p.get("by_type", {})})
    panels = [("all queries", None)] + [(t, t) for t in types]
    fig, axes = plt.subplots(1, len(panels), figsize=(panel[0] * len(panels), panel[1]), sharey=True, squeeze=False)
    width = 0.8 / len(views)
    chance = chance_of(probes[0].get("chance"), metric)
    for ax, (title, qtype) in zip(axes[0], panels):
        for j, view in enumerate(views):
            xs = [i + (j - (len(views) - 1) / 2) * width for i in range(len(probes))]
            source = [p if qtype is None else p.get("by_type", {}).get(qtype, {}) for p in probes]
            ys = [s.get("views", {}).get(view, {}).get("metrics", {}).get(metric, float("nan")) for s in source]
            bars = ax.bar(xs, ys, width * 0.95, label=view, color=VIEW_COLOURS[view])
            ax.bar_label(bars, fmt="%.2f", fontsize=FONT, padding=1, rotation=90)
        if chance is not None:
            ax.axhline(chance, color="0.3", linestyle="--", linewidth=1, label="random ranking")
        ax.set_xticks(range(len(probes)), [_label(p) for p in probes], fontsize=FONT)
        ax.tick_params(axis="y", labelsize=FONT)
        ax.set_ylim(0, 1.2)  # room for the upright value labels above a bar of 1.0
        ax.set_title(title, fontsize=10)
    axes[0][0].set_ylabel(metric)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncols=len(labels), fontsize=FONT, frameon=False)
    fig.suptitle(f"{task_label(task)}: {metric} by query view (text = image removed, image = question removed, "
                 "swap = another query's image)", fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, out)


def _label(probe: Mapping, width: int = 12) -> str:
    r"""Retriever over setting; a setting's ``@label`` goes on lines of its own, broken after
    hyphens, so bar groups keep apart.

    >>> _label({"retriever": "jfe", "setting": "fine-tuned@tiny-random-Qwen2-VL"})
    'jfe\nfine-tuned\ntiny-random-\nQwen2-VL'
    """
    stage, _, label = str(probe.get("setting", "")).partition("@")
    lines = [stage]
    if label:
        lines.append("")
        for part in label.split("-"):
            piece = part if not lines[-1] else f"-{part}"
            if lines[-1] and len(lines[-1]) + len(piece) > width:
                lines[-1] += "-"
                lines.append(part)
            else:
                lines[-1] += piece
    return "\n".join([probe["retriever"], *lines])


# --------------------------------------------------------------------------------------------
# 2. Attribution scatter
# --------------------------------------------------------------------------------------------
def plot_attribution(rows: Sequence[Mapping], title: str, out: str | Path, view: str = "full",
                     figsize=(6.0, 5.6)) -> Path:
    """One point per query: where its gold-passage score comes from.

    With an exact split (MaxSim): x = part of the gold score from text query tokens, y = part
    from visual tokens, under ``view``. Without one: x = the gold score with the image removed
    (``text`` view), y = with the question removed (``image`` view), 0 where the view found
    nothing. Markers give the query type, filled when the gold passage is ranked first under
    ``view``. Points above the diagonal owe more to the image than to the text.

    Many queries share a score (a text-only retriever gives every image-needed query the same
    one), so points are half transparent, jittered by up to 2% of the axis range (seeded:
    the same rows draw the same picture), filled groups are drawn before hollow ones and
    smaller groups after bigger ones: no group, and so no legend entry, is hidden.
    """
    import numpy as np

    plt = _pyplot()
    exact = any(_present(r.get(f"{view}_image_part")) for r in rows)
    if exact:
        x_key, y_key = f"{view}_text_part", f"{view}_image_part"
        x_label, y_label = "gold score from text query tokens", "gold score from visual query tokens"
    else:
        x_key, y_key = "text_score", "image_score"
        x_label = "gold score, image removed (text view)"
        y_label = "gold score, question removed (image view; 0 = nothing found)"
    points = [(_number(r.get(x_key)), _number(r.get(y_key)), r.get("type") or "", _rank(r, view)) for r in rows]
    fig, ax = plt.subplots(figsize=figsize)
    kinds = sorted({p[2] for p in points})
    groups = [(qtype, hit, [p for p in points if p[2] == qtype and (p[3] == 1) == hit])
              for qtype in kinds for hit in (True, False)]
    groups = [g for g in groups if g[2]]
    span = (max(max(p[0], p[1]) for p in points) - min(min(p[0], p[1]) for p in points)) if points else 0.0
    jitter = 0.02 * (span or 1.0)
    rng = np.random.default_rng(0)
    shown = {}
    for qtype, hit, sel in sorted(groups, key=lambda g: (not g[1], -len(g[2]))):
        colour = f"C{kinds.index(qtype)}"
        xs = np.array([p[0] for p in sel]) + rng.uniform(-jitter, jitter, len(sel))
        ys = np.array([p[1] for p in sel]) + rng.uniform(-jitter, jitter, len(sel))
        shown[(qtype, hit)] = ax.scatter(xs, ys, marker=TYPE_MARKERS.get(qtype, "o"), s=30, alpha=0.5, linewidths=1.2,
                                         facecolors=colour if hit else "none", edgecolors=colour,
                                         label=f"{qtype or 'query'} ({'rank 1' if hit else 'missed'}, {len(sel)})")
    if points:
        lo = min(0.0, *(min(p[0], p[1]) for p in points))
        hi = max(max(p[0], p[1]) for p in points) * 1.05 or 1.0
        ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=1, linestyle=":")
        order = [shown[(q, h)] for q, h, _ in groups]  # the legend in type order, whatever the drawing order
        legend = ax.legend(order, [h.get_label() for h in order], fontsize=FONT, loc="upper left")
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    ax.set_xlabel(x_label, fontsize=FONT + 1)
    ax.set_ylabel(y_label, fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.set_title(f"{title}\n({'exact MaxSim split' if exact else 'no per-token split: scores by view'}, {view} view)",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def _number(value) -> float:
    return float(value) if _present(value) else 0.0


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
        ax.set_title(name, fontsize=FONT)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"where the question looked: {question}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    bar = fig.add_axes((0.93, 0.15, 0.012, 0.7))
    fig.colorbar(shown, cax=bar).set_label("attention / uniform", fontsize=FONT)
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# 4. Leaderboard heat map
# --------------------------------------------------------------------------------------------
def plot_leaderboard(entries: Sequence[Mapping], out: str | Path, figsize=(11.0, 4.8)) -> Path:
    """Tasks (rows) x retriever and setting (columns): main metric under the full view, and
    beside it the text-dominance index on a diverging scale (red: leans on the text).

    ``entries``: dicts with ``task``, ``retriever``, ``setting``, ``metric`` (name),
    ``value`` and optional ``text_dominance``. Tasks are labelled by name
    (:func:`harness.evaluation.labels.task_label`), never by a ``local:`` path.
    """
    import numpy as np

    plt = _pyplot()
    tasks = sorted({e["task"] for e in entries})
    labels = task_labels(tasks)
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
    ylabels = [f"{labels[t]}\n({metric_of[t]})" for t in tasks]
    for ax, grid, cmap, vmin, vmax, title in (
        (left, value, "viridis", 0.0, 1.0, "main metric, full view"),
        (right, dominance, "RdBu_r", -1.0, 1.0, "text-dominance index (> 0: leans on the text)"),
    ):
        shown = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(columns)), xlabels, fontsize=FONT)
        ax.set_yticks(range(len(tasks)), ylabels, fontsize=FONT)
        ax.set_title(title, fontsize=10)
        for i in range(len(tasks)):
            for j in range(len(columns)):
                text = "n/a" if np.isnan(grid[i, j]) else f"{grid[i, j]:.2f}"
                dark = not np.isnan(grid[i, j]) and (grid[i, j] < 0.6 if cmap == "viridis" else abs(grid[i, j]) > 0.6)
                ax.text(j, i, text, ha="center", va="center", fontsize=FONT, color="white" if dark else "black")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.tight_layout()
    return _save(fig, out)


# --------------------------------------------------------------------------------------------
# Everything a results directory has data for
# --------------------------------------------------------------------------------------------
def find_probes(results: str | Path) -> list[tuple[Path, dict]]:
    """Every probe.json of a complete run folder under ``results`` as ``(directory, record)``,
    in path order (incomplete folders are skipped with a one-line warning)."""
    return [(d, load_json(d / "probe.json")) for d in complete_runs(Path(results), "probe.json")]


def leaderboard_entries(results: str | Path) -> list[dict]:
    """Heat-map entries from the leaderboard's full-view rows, one per (task, retriever,
    setting) cell: the task's main metric and, where the run was probed, the text-dominance
    index, of the newest run that measured the metric (one without ``--limit`` first)."""
    chosen: dict[tuple, tuple] = {}  # one cell per (task, retriever, setting)
    for row in leaderboard(Path(results)):
        if row.get("view") != "full":
            continue
        probe = Path(row["path"]) / "probe.json"
        metric = load_json(probe)["main_metric"] if probe.exists() else main_metric_of(row["task"])
        if row.get(metric) is None:
            continue  # a run that measured other metrics never blanks the cell
        key = (row["task"], row["retriever"], row.get("setting") or "")
        rank = (row.get("limit") is None, row.get("created") or "")
        if key not in chosen or rank >= chosen[key][0]:
            chosen[key] = (rank, {"task": row["task"], "retriever": row["retriever"], "setting": key[2],
                                  "metric": metric, "value": row[metric],
                                  "text_dominance": row.get("probe_text_dominance")})
    return [entry for _, entry in chosen.values()]


def plot_results(results: str | Path, attention_queries: int = 4) -> list[Path]:
    """Draw every figure ``results`` has data for; returns the files written."""
    from PIL import Image

    results = Path(results)
    probes = find_probes(results)
    written: list[Path] = []
    by_task: dict[str, list] = {}
    for directory, p in probes:
        by_task.setdefault(p["task"], []).append((directory, p))
        rows = read_csv_rows(directory / "probe_per_query.csv")
        title = f"{task_label(p['task'])} / {p['retriever']} ({p.get('setting', '')}): where the gold score comes from"
        written.append(plot_attribution(rows, title, directory / "attribution.png"))
        attention_file = directory / "pooling_attention.json"
        if attention_file.exists():
            for i, item in enumerate(load_json(attention_file)[:attention_queries]):
                with Image.open(directory / item["image"]) as image:
                    out = directory / f"pooling_attention_{i}.png"
                    written.append(plot_pooling_attention(image, item["attention"], item["question"], out))
    for task, items in by_task.items():
        task_dir = items[0][0].parents[1]  # <results>/<task>/<retriever>/<tag>
        items.sort(key=lambda item: (item[1]["retriever"], item[1].get("setting") != "zero-shot", item[1].get("setting")))
        written.append(plot_views(task, [p for _, p in items], task_dir / "probe_views.png"))
    entries = leaderboard_entries(results)
    if entries:
        written.append(plot_leaderboard(entries, results / "leaderboard.png"))
    return written
