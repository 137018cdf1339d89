"""``mire-eval report``: the results directory as one self-contained page, ``<output>/report.html``.

The page holds the leaderboard (main metric with its difference, 95 % CI and Holm-corrected p
against a baseline per task, paper values and deltas, the efficiency card), per task the
probe's views tables and figures and the failure slices, and a per-query drill-down (data as
JSON inside the page, drawn by the inline script). CSS, script and figures are inline
(``data:`` URIs): the file opens in a browser offline, with nothing beside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from importlib import resources
from pathlib import Path

from harness.errors import MireEvalError
from harness.report import collect, render

EFFICIENCY = (("passages_indexed", "passages"), ("index_s", "index s"), ("index_reused", "index reused"),
              ("bytes_per_token_resident", "B/token RAM"), ("bytes_per_token_disk", "B/token disk"),
              ("encode_ms_per_query", "encode ms/q"), ("search_ms_per_query", "search ms/q"),
              ("audit_topk_recovered", "top-k vs exact"), ("peak_memory_mb", "peak MB"), ("device", "device"),
              ("threads", "threads"), ("world_size", "world"))


@dataclass
class ReportConfig:
    """``output``: the results directory (report.html is written into it); ``baseline``: run
    hash, folder or retriever (None: each task's first full-view row); ``queries``: queries
    per task in the drill-down (the failure slices' queries are added, up to twice that)."""

    output: Path = Path("results")
    baseline: str | None = None
    queries: int = 300
    seed: int = 0


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def compared_rows(rows: list[dict], baseline: str | None, seed: int) -> list[dict]:
    """Leaderboard rows with :mod:`harness.stats.baseline`'s columns, per task."""
    from harness.stats.baseline import with_baseline

    if baseline is not None:
        return with_baseline(rows, baseline, seed=seed)
    for task in dict.fromkeys(str(r["task"]) for r in rows):
        full = [r for r in rows if str(r["task"]) == task and r.get("view") in (None, "full")]
        first = next((r for r in full if r.get("limit") in (None, "")), full[0] if full else None)  # all queries first
        if first is not None:
            rows = with_baseline(rows, first["path"], seed=seed)
    return rows


def leaderboard_html(rows: list[dict]) -> str:
    from harness.stats.baseline import main_metric

    shown = []
    for r in rows:
        ci = (f"[{r['vs_baseline_ci_low']:+.4f}, {r['vs_baseline_ci_high']:+.4f}]"
              if r.get("vs_baseline_ci_low") is not None else None)
        metric = main_metric(str(r["task"]))
        shown.append({**r, "task": render.task_label(str(r["task"])), "main_metric": metric, "main": r.get(metric),
                      "ci": ci, "_class": "baseline" if r.get("vs_baseline_sig") == "baseline" else ""})
    columns = [("task", "task"), ("retriever", "retriever"), ("setting", "setting"), ("view", "view"),
               ("search", "search"), ("n_queries", "queries"), ("main_metric", "main metric"), ("main", "value"),
               ("vs_baseline_diff", "Δ vs baseline"), ("ci", "95% CI"), ("vs_baseline_ci_over", "CI over"),
               ("vs_baseline_p_holm", "p (Holm)"),
               ("vs_baseline_sig", "sig."), ("hit_rate@5", "hit_rate@5"), ("mrr@5", "mrr@5"),
               ("paper_metric", "paper metric"), ("paper_value", "paper"), ("delta", "Δ paper"), *EFFICIENCY]
    present = [c for c in columns if any(r.get(c[0]) not in (None, "") for r in shown) or c[0] in ("task", "main")]
    note = ("Δ vs baseline: main metric, row − baseline (the highlighted row of its task), paired by query; "
            "95% CI: paired bootstrap, 10,000 resamples, over images where queries share them, else queries (CI over); "
            "p (Holm): paired randomization test, 10,000 permutations (exact when few queries differ), Holm-corrected "
            "over the task's rows; * p (Holm) < 0.05. Click a header to sort.")
    return f"<div class=\"scroll\">{render.table(present, shown)}</div><p class=\"note\">{escape(note)}</p>"


def query_sets(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by the queries they evaluated: task, then split and ``--limit`` where they
    differ from ``test`` and none (``okvqa``, ``okvqa [dev, limit 100]``)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        extra = [x for x in (r.get("split") if r.get("split") not in (None, "test") else None,
                             f"limit {r['limit']}" if r.get("limit") not in (None, "") else None) if x]
        groups.setdefault(str(r["task"]) + (f" [{', '.join(extra)}]" if extra else ""), []).append(r)
    return groups


def task_section(name: str, rows: list[dict], config: ReportConfig, slug: str) -> tuple[str, dict]:
    """One query set's HTML section (``name``: the task, with split and limit where not the
    whole test split) and its drill-down data."""
    task = str(rows[0]["task"])
    from harness.runs import read_qrels
    from harness.stats.baseline import main_metric
    from tasks.diagnostic import query_types

    metric = main_metric(task)
    k = collect.cutoff(metric)
    systems = collect.systems_of(rows)
    title = render.task_heading(task) + escape(name[len(task):])
    parts = [f"<section class=\"task\" id=\"task-{slug}\"><h2>{title}</h2>"]
    if not systems:
        return "".join(parts) + "<p class=\"none\">no full-view runs</p></section>", {}
    queries = list(systems[0].first_rank)
    slices = collect.failure_slices(systems, queries, k)
    probed = [s for s in systems if s.probe]
    if probed:
        parts.append("<h3>Probe: the main metric under each view</h3>")
        parts.append(render.figure(systems[0].directory.parents[1] / "probe_views.png", "views per retriever"))
        parts += [render.probe_html(s.probe, s.label) for s in probed]
        for s in probed:
            parts.append(render.figure(s.directory / "attribution.png", f"{s.label}: where the gold score comes from"))
    parts.append(f"<h3>Failure slices</h3>{render.slices_html(name, slices, k, len(queries))}")
    data, why = collect.load_task_data(rows[0])
    relevance = (data.relevance if data is not None else None)
    qrels = read_qrels(systems[0].directory / "qrels.tsv")
    types = {}
    if data is not None:
        types = data.meta.get("query_types") or query_types(data.queries) or {}
    wanted = queries[: config.queries]
    extra = [q for q in slices["every_system_misses"] + [q for v in slices["only_one_finds"].values() for q in v]
             + [q for f in slices["flips"].values() for side in f.values() for q in side["lost"] + side["gained"]]]
    wanted += [q for q in dict.fromkeys(extra) if q not in set(wanted)][: config.queries]
    drill = collect.drilldown(systems, wanted, data, qrels, relevance, types)
    note = (f"{len(drill)} of {len(queries)} queries (the first {min(config.queries, len(queries))} and those of the "
            f"failure slices); top {collect.TOP} passages of each system, relevant ones marked"
            + ("; answer occurrences highlighted" if relevance not in (None, "qrels", "gold") else "")
            + (f". Task data not readable now ({why}): ids only." if data is None else "."))
    parts.append(f"<h3>Per-query drill-down</h3><p class=\"note\">{escape(note)}</p>"
                 f"<div class=\"drill\" id=\"drill-{slug}\"><div class=\"list\">"
                 f"<input type=\"search\" placeholder=\"search query id or text\" aria-label=\"search queries\">"
                 f"<ul></ul></div><div class=\"detail\"><p class=\"none\">choose a query</p></div></div></section>")
    return "".join(parts), {"slug": slug, "cutoff": k, "metric": metric, "queries": drill}


def draw_missing_figures(output: Path, rows: list[dict]) -> None:
    """Draw the figures (``mire-eval plot``) when the leaderboard's or a probed task's views
    figure is missing or older than a probe.json, so the page shows what the runs hold now."""
    probes = [Path(r["path"]) / "probe.json" for r in rows if (Path(r["path"]) / "probe.json").exists()]
    wanted = [output / "leaderboard.png", *(p.parents[2] / "probe_views.png" for p in probes)]
    newest = max((p.stat().st_mtime for p in probes), default=0.0)
    if any(not f.exists() or f.stat().st_mtime < newest for f in wanted):
        from harness.plots import plot_results

        plot_results(output)


def build_report(config: ReportConfig) -> str:
    """The page's HTML text (see the module docstring); MireEvalError when there is no run."""
    from harness.results import leaderboard

    output = Path(config.output)
    rows = leaderboard(output)
    if not rows:
        raise MireEvalError(f"{output}: no metrics.json found (run `mire-eval run` first)")
    rows = compared_rows(rows, config.baseline, config.seed)
    draw_missing_figures(output, rows)
    sections, data = [], {"tasks": {}}
    groups = query_sets(rows)
    for i, (name, group) in enumerate(groups.items()):
        html, entry = task_section(name, group, config, f"t{i}")
        sections.append(html)
        if entry:
            data["tasks"][name] = entry
    nav = " ".join(["<a href=\"#leaderboard\">leaderboard</a>"]
                   + [f"<a href=\"#task-t{i}\">{render.task_heading(t.split(' [')[0])}{escape(t[len(t.split(' [')[0]):])}</a>"
                      for i, t in enumerate(groups)])
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    leaderboard_part = leaderboard_html(rows) + render.figure(output / "leaderboard.png", "main metric per run")
    page = _asset("template.html")
    for key, text in (("style", _asset("report.css")), ("script", _asset("report.js")),
                      ("generated", escape(f"{len(rows)} runs under {output}, written {created}")),
                      ("nav", nav), ("leaderboard", leaderboard_part), ("tasks", "".join(sections)),
                      ("data", json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))):
        page = page.replace(f"/*@{key}@*/", text, 1)
    return page


def write_report(config: ReportConfig) -> Path:
    """Write ``<output>/report.html`` whole (through a temporary file); returns its path."""
    page = build_report(config)
    path = Path(config.output) / "report.html"
    tmp = path.with_name(f".report.html.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
