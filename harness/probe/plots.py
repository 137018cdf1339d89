"""Pictures of the probe, written as PNG files beside the results (matplotlib, Agg).

1. :func:`plot_views`: per task, the main metric under each query view, grouped by retriever,
   with chance level drawn when the task knows it.
2. :func:`plot_attribution`: per retriever and task, each query's gold-passage score split
   into what text tokens and what visual tokens contributed.
3. :func:`plot_pooling_attention`: MIRe's query-guided pooling attention over the patch grid,
   overlaid on the query image, one panel per head and their mean.
4. :func:`plot_leaderboard`: tasks x retrievers (zero-shot and fine-tuned) heat map of the
   main metric, with the text-dominance index beside it; each cell names its run, and runs
   that differ in protocol are separate columns.

:func:`plot_results` draws every picture a results directory has the data for. Each figure
is a fixed size (``FIGSIZE`` inches at ``DPI``), so its PNG size in pixels is known.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.core.outputs import replaced
from harness.core.textfiles import load_json, load_json_object, read_csv_rows

from harness.evaluation.labels import task_label, task_labels
from harness.evaluation.results import complete_runs, leaderboard, write_json
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
    # The title (wrapped to the figure's width) and the legend get rows of their own above the
    # panels, so neither is drawn over the other whatever the number of panels.
    import textwrap

    fig_width = panel[0] * len(panels)
    heading = textwrap.fill(f"{task_label(task)}: {metric} by query view (text = image removed, image = question "
                            "removed, swap = another query's image)", int(fig_width * 72 / (0.55 * 10)) - 2)
    chance = chance_of(probes[0].get("chance"), metric)
    entries = views + (["random ranking"] if chance is not None else [])
    entry_in = max(map(len, entries)) * 0.6 * FONT / 72 + 0.6  # marker, gap and text of one legend entry
    ncols = max(1, min(len(entries), int((fig_width - 0.2) / entry_in)))
    title_in = 0.22 * (heading.count("\n") + 1) + 0.1
    legend_in = 0.22 * math.ceil(len(entries) / ncols) + 0.13
    height = panel[1] + title_in + legend_in
    fig, axes = plt.subplots(1, len(panels), figsize=(fig_width, height), sharey=True, squeeze=False)
    width = 0.8 / len(views)
    for ax, (title, qtype) in zip(axes[0], panels):
        for j, view in enumerate(views):
            xs = [i + (j - (len(views) - 1) / 2) * width for i in range(len(probes))]
            source = [p if qtype is None else p.get("by_type", {}).get(qtype, {}) for p in probes]
            ys = [s.get("views", {}).get(view, {}).get("metrics", {}).get(metric) for s in source]
            ys = [float("nan") if y is None else y for y in ys]  # null: undefined (e.g. no query had a swap)
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
    fig.suptitle(heading, fontsize=10, x=0.01, y=1 - 0.05 / height, ha="left", va="top")
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 1 - title_in / height), ncols=ncols,
               fontsize=FONT, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - (title_in + legend_in) / height))
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
                     figsize=(6.4, 6.6)) -> Path:
    """One point per query: where its gold-passage score comes from.

    With an exact split (MaxSim): x = part of the gold score from text query tokens, y = part
    from visual tokens, under ``view``; above the diagonal the visual tokens supply more.
    Without one (a single-vector, cosine retriever, whose scores crowd near 1 whatever the
    input): what removing each input costs the gold passage, x = full − image-view score (what
    the question adds), y = full − text-view score (what the image adds), so above the diagonal
    the image matters more than the question, as the axes say. A query whose gold passage has
    no score in a view (not retrieved) is left out and counted in the title. Markers give the
    query type, filled when the gold passage is ranked first under ``view``.

    Many queries share a score (a text-only retriever gives every image-needed query the same
    one), so points are half transparent, jittered by up to 2% of the axis range (seeded:
    the same rows draw the same picture), filled groups are drawn before hollow ones and
    smaller groups after bigger ones: no group, and so no legend entry, is hidden. The legend
    sits below the axes, never over the points; the title is wrapped to the figure's width.
    """
    import textwrap

    import numpy as np

    plt = _pyplot()
    exact = any(_present(r.get(f"{view}_image_part")) for r in rows)
    left_out = 0
    if exact:
        x_label, y_label = "gold score from text query tokens", "gold score from visual query tokens"
        points = [(_number(r.get(f"{view}_text_part")), _number(r.get(f"{view}_image_part")), r.get("type") or "",
                   _rank(r, view)) for r in rows]
        how = "exact MaxSim split"
    else:
        x_label = "what the question adds: full − image-view gold score"
        y_label = "what the image adds: full − text-view gold score"
        points = []
        for r in rows:
            full, text, image = (r.get(f"{v}_score") for v in (view, "text", "image"))
            if not all(_present(v) for v in (full, text, image)):
                left_out += 1
                continue
            points.append((float(full) - float(image), float(full) - float(text), r.get("type") or "", _rank(r, view)))
        how = "no per-token split: score lost when an input is removed"
        if left_out:
            how += f"; {left_out} queries without a gold score in a view left out"
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
        legend = ax.legend(order, [h.get_label() for h in order], fontsize=FONT, loc="upper center",
                           bbox_to_anchor=(0.5, -0.13), ncols=2, frameon=False)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    ax.set_xlabel(x_label, fontsize=FONT + 1)
    ax.set_ylabel(y_label, fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    # about 0.55 em per character at 9 pt: wrap the title to the figure's width
    chars = int(figsize[0] * 72 / (0.55 * 9)) - 4
    heading = textwrap.fill(title, chars) + "\n" + textwrap.fill(f"({how}, {view} view)", chars)
    ax.set_title(heading, fontsize=9)
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
def plot_leaderboard(entries: Sequence[Mapping], out: str | Path, height: float = 4.8) -> Path:
    """Tasks (rows) x columns (retriever, setting and, where runs differ in it, protocol): main
    metric under the full view, and beside it the text-dominance index on a diverging scale
    (red: leans on the text). Each cell names the run it shows (its folder's hash, ``#abc123``).

    ``entries``: dicts with ``task``, ``retriever``, ``setting``, ``metric`` (name), ``value``
    and optional ``text_dominance``, ``protocol`` (a column label part such as ``ivf`` or
    ``limit 100``: :func:`leaderboard_entries` sets it only where runs of one retriever and
    setting differ) and ``run`` (the run's hash). Tasks are labelled by name
    (:func:`harness.evaluation.labels.task_label`), never by a ``local:`` path. The figure is as wide as
    its wrapped column labels need, so they never overlap.
    """
    return _save(leaderboard_figure(entries, height), out)


def _column(entry: Mapping) -> tuple:
    return entry["retriever"], entry["setting"], entry.get("protocol") or ""


def _column_label(column: tuple) -> str:
    import textwrap

    retriever, setting, protocol = column
    label = _label({"retriever": retriever, "setting": setting})
    return label + ("\n" + textwrap.fill(f"[{protocol}]", 16, break_on_hyphens=False) if protocol else "")


def leaderboard_figure(entries: Sequence[Mapping], height: float = 4.8):
    """The leaderboard heat map as a matplotlib figure (:func:`plot_leaderboard` saves it)."""
    import numpy as np

    plt = _pyplot()
    tasks = sorted({e["task"] for e in entries})
    labels = task_labels(tasks)
    columns = sorted({_column(e) for e in entries}, key=lambda c: (c[1] != "zero-shot", c))
    value = np.full((len(tasks), len(columns)), np.nan)
    dominance = np.full((len(tasks), len(columns)), np.nan)
    runs = [["" for _ in columns] for _ in tasks]
    metric_of = {}
    for e in entries:
        i, j = tasks.index(e["task"]), columns.index(_column(e))
        value[i, j] = e["value"]
        runs[i][j] = e.get("run") or ""
        metric_of[e["task"]] = e["metric"]
        if e.get("text_dominance") is not None:
            dominance[i, j] = e["text_dominance"]
    xlabels = [_column_label(c) for c in columns]
    # Width: each column as wide as its longest label line (about 0.62 of the font size per
    # character, generously) plus a margin; two panels, their colour bars and the task labels beside.
    chars = max(len(line) for label in xlabels for line in label.split("\n"))
    column_in = max(0.75, 0.62 * FONT / 72 * chars + 0.3)
    width = max(11.0, 2 * (len(columns) * column_in + 1.0) + 2.4)
    fig, (left, right) = plt.subplots(1, 2, figsize=(width, height))
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
                if runs[i][j]:
                    text += f"\n#{runs[i][j][:6]}"
                dark = not np.isnan(grid[i, j]) and (grid[i, j] < 0.6 if cmap == "viridis" else abs(grid[i, j]) > 0.6)
                ax.text(j, i, text, ha="center", va="center", fontsize=FONT, color="white" if dark else "black")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.text(0.01, 0.01, "#: the run shown (end of its folder name); [ ]: how runs of one retriever and setting differ",
             fontsize=FONT, color="0.35")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# --------------------------------------------------------------------------------------------
# Everything a results directory has data for
# --------------------------------------------------------------------------------------------
def find_probes(results: str | Path) -> list[tuple[Path, dict]]:
    """Every probe.json of a complete run folder under ``results`` as ``(directory, record)``,
    in path order (incomplete folders are skipped with a one-line warning)."""
    return [(d, load_json_object(d / "probe.json")) for d in complete_runs(Path(results), "probe.json")]


def leaderboard_entries(results: str | Path) -> list[dict]:
    """Heat-map entries from the leaderboard's full-view rows: the task's main metric and, where
    the run was probed, the text-dominance index, with the run's hash (``run``).

    Runs of one retriever and setting that differ in protocol (``--search`` and its options,
    ``--limit``, ``-o`` options, checkpoint, relevance, split, k) are separate columns, labelled
    by what differs (``protocol``), never merged into one cell. Among runs of the same protocol
    (reruns with other seeds or metric lists) the cell shows a probed one before an unprobed
    one, then the newest.
    """
    candidates = []
    for row in leaderboard(Path(results)):
        if row.get("view") != "full":
            continue
        path = Path(row["path"])
        probe = path / "probe.json"
        metric = load_json_object(probe)["main_metric"] if probe.exists() else main_metric_of(row["task"])
        if row.get(metric) is None:
            continue  # a run that measured other metrics never blanks the cell
        candidates.append((row, metric, probe.exists(), _protocol(row, path)))
    # Which protocol parts vary among runs of one (retriever, setting): only those label columns.
    varying: dict[tuple, set] = {}
    for row, _, _, protocol in candidates:
        base = (row["retriever"], row.get("setting") or "")
        for other_row, _, _, other in candidates:
            if (other_row["retriever"], other_row.get("setting") or "") == base:
                varying.setdefault(base, set()).update(k for k in protocol if protocol[k] != other.get(k))
    chosen: dict[tuple, tuple] = {}
    for row, metric, probed, protocol in candidates:
        base = (row["retriever"], row.get("setting") or "")
        shown = ", ".join(_protocol_text(k, protocol[k]) for k in sorted(varying.get(base, ())))
        key = (row["task"], *base, shown)
        rank = (probed, row.get("created") or "")
        if key not in chosen or rank >= chosen[key][0]:
            chosen[key] = (rank, {"task": row["task"], "retriever": row["retriever"], "setting": base[1],
                                  "protocol": shown, "metric": metric, "value": row[metric],
                                  "text_dominance": row.get("probe_text_dominance"),
                                  "run": Path(row["path"]).name.rsplit("-", 1)[-1]})
    return [entry for _, entry in chosen.values()]


def _protocol(row: Mapping, path: Path) -> dict:
    """What of a run's identity makes it another protocol than a run of the same retriever and
    setting: from meta.json's identity where present, else the leaderboard row."""
    identity = {}
    meta = path / "meta.json"
    if meta.exists():
        try:
            identity = json.loads(meta.read_text()).get("identity") or {}
        except ValueError:
            identity = {}
    search = identity.get("search") or row.get("search") or "exact"
    return {"search": json.dumps(search, sort_keys=True) if isinstance(search, dict) else str(search),
            "limit": row.get("limit") if row.get("limit") not in ("", None) else identity.get("limit"),
            "options": json.dumps(identity.get("retriever_options") or {}, sort_keys=True),
            "checkpoint": row.get("checkpoint") or identity.get("checkpoint"),
            "relevance": (identity.get("load") or {}).get("relevance"), "split": row.get("split"),
            "k": identity.get("k")}


def _protocol_text(part: str, value) -> str:
    """A column label part: ``ivf nprobe=4``, ``limit 100``, ``-o query_maxlen=32``, ``ckpt final``."""
    if part == "search":
        try:
            parsed = json.loads(value)
        except ValueError:
            return str(value)
        if isinstance(parsed, dict):
            return parsed.get("mode", "approx") + "".join(
                f" {k}={v}" for k, v in sorted(parsed.items()) if k in ("nprobe", "candidates", "refine"))
        return str(parsed)
    if part == "limit":
        return f"limit {value}" if value not in (None, "") else "all queries"
    if part == "options":
        options = json.loads(value)
        return " ".join(f"-o {k}={v}" for k, v in options.items()) or "no -o"
    if part == "checkpoint":
        return f"ckpt {Path(str(value)).name}" if value else "default ckpt"
    return f"{part} {value}"


# Bumped when a figure's drawing changes, so figures drawn by older code count as stale.
PLOT_VERSION = 3
STAMPS = ".figures.json"  # under the results folder: each figure's input signature when drawn


def _signature(inputs: Sequence[Path]) -> str:
    """The drawing code's version and each input file's path, size and modification time."""
    from harness.core.cache import stable_hash

    return stable_hash([PLOT_VERSION, *([str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in inputs
                                        if p.exists())])


def plot_results(results: str | Path, attention_queries: int = 4, force: bool = False,
                 drawn: list | None = None) -> list[Path]:
    """Every figure ``results`` has data for; returns their files. A figure is drawn only when
    missing or stale (its input files, or the drawing code, changed since it was drawn, as
    ``results/.figures.json`` records), or with ``force``; ``drawn`` (a list) receives the
    files actually drawn."""
    from PIL import Image

    results = Path(results)
    try:
        stamps = json.loads((results / STAMPS).read_text())
    except (OSError, ValueError):
        stamps = {}
    drawn = [] if drawn is None else drawn
    figures: list[Path] = []

    def figure(out: Path, inputs: Sequence[Path], draw) -> None:
        key, signature = str(out.relative_to(results)), _signature(inputs)
        if force or not out.exists() or stamps.get(key) != signature:
            draw()
            stamps[key] = signature
            drawn.append(out)
        figures.append(out)

    probes = find_probes(results)
    by_task: dict[str, list] = {}
    for directory, p in probes:
        by_task.setdefault(p["task"], []).append((directory, p))
        title = f"{task_label(p['task'])} / {p['retriever']} ({p.get('setting', '')}): where the gold score comes from"

        def attribution(directory=directory, title=title):
            rows = read_csv_rows(directory / "probe_per_query.csv")
            plot_attribution(rows, title, directory / "attribution.png")

        figure(directory / "attribution.png", [directory / "probe.json", directory / "probe_per_query.csv"],
               attribution)
        attention_file = directory / "pooling_attention.json"
        if attention_file.exists():
            for i, item in enumerate(load_json(attention_file)[:attention_queries]):
                out = directory / f"pooling_attention_{i}.png"

                def attention(item=item, out=out, directory=directory):
                    with Image.open(directory / item["image"]) as image:
                        plot_pooling_attention(image, item["attention"], item["question"], out)

                figure(out, [attention_file, directory / item["image"]], attention)
    for task, items in by_task.items():
        task_dir = items[0][0].parents[1]  # <results>/<task>/<retriever>/<tag>
        items.sort(key=lambda item: (item[1]["retriever"], item[1].get("setting") != "zero-shot", item[1].get("setting")))
        figure(task_dir / "probe_views.png", [d / "probe.json" for d, _ in items],
               lambda task=task, items=items, task_dir=task_dir: plot_views(
                   task, [p for _, p in items], task_dir / "probe_views.png"))
    entries = leaderboard_entries(results)
    if entries:
        from harness.evaluation.results import leaderboard

        inputs = [Path(row["path"]) / name for row in leaderboard(results)
                  for name in ("metrics.json", "meta.json", "probe.json")]
        figure(results / "leaderboard.png", inputs, lambda: plot_leaderboard(entries, results / "leaderboard.png"))
    if drawn:
        write_json(results / STAMPS, stamps)
    return figures
