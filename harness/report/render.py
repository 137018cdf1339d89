"""HTML fragments of the report; every value passes through :func:`html.escape`."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from harness.labels import task_label


def value(v) -> str:
    """A cell: 4 decimals for floats, ``-`` for None/NaN/empty, escaped text otherwise.

    >>> value(0.123456), value(None), value("<b>")
    ('0.1235', '-', '&lt;b&gt;')
    """
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}"
    return escape(str(v))


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping], css: str = "sortable") -> str:
    """A sortable table: ``columns`` are ``(key, header)``; a row's ``_class`` styles its line."""
    head = "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    body = "".join(f"<tr class=\"{escape(r.get('_class', ''))}\">"
                   + "".join(f"<td>{value(r.get(k))}</td>" for k, _ in columns) + "</tr>" for r in rows)
    return f"<table class=\"{css}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(path: Path, caption: str) -> str:
    """A PNG as an ``<img>`` with a ``data:`` URI (nothing beside the page); empty if absent."""
    path = Path(path)
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt=\"{escape(caption)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def query_link(task: str, qid: str) -> str:
    return f"<a class=\"q\" href=\"#q={escape(task)}/{escape(qid)}\" data-task=\"{escape(task)}\" " \
           f"data-qid=\"{escape(qid)}\">{escape(qid)}</a>"


def id_list(task: str, qids: Sequence[str], limit: int = 200) -> str:
    """Links to the drill-down of ``qids`` (the first ``limit``, then a count)."""
    if not qids:
        return "<span class=\"none\">none</span>"
    shown = " ".join(query_link(task, q) for q in qids[:limit])
    more = f" <span class=\"none\">and {len(qids) - limit} more</span>" if len(qids) > limit else ""
    return f"<span class=\"count\">{len(qids)}</span> {shown}{more}"


def slices_html(task: str, slices: Mapping, k: int, n_queries: int) -> str:
    """The failure slices of one task as definition lists of query links."""
    parts = [f"<p class=\"note\">Found: first relevant passage within rank {k}. {n_queries} queries.</p>",
             f"<h4>Every system misses</h4><p>{id_list(task, slices['every_system_misses'])}</p>"]
    if slices["only_one_finds"]:
        items = "".join(f"<dt>{escape(name)}</dt><dd>{id_list(task, q)}</dd>"
                        for name, q in slices["only_one_finds"].items())
        parts.append(f"<h4>Only one system finds</h4><dl>{items}</dl>")
    if slices["flips"]:
        items = ""
        for name, kinds in slices["flips"].items():
            for kind, sides in kinds.items():
                items += (f"<dt>{escape(name)}: {escape(kind)}</dt><dd>lost {id_list(task, sides['lost'])}<br>"
                          f"gained {id_list(task, sides['gained'])}</dd>")
        parts.append(f"<h4>Flips when the image is removed or swapped (probe)</h4><dl>{items}</dl>")
    return "".join(parts)


def probe_html(probe: Mapping, label: str) -> str:
    """One probed run: the main metric per view with Δ, CI and Holm p against full, the
    indices, and per query type (where the task has types)."""
    m = probe["main_metric"]
    compare = probe.get("compare", {})
    vs = compare.get("vs_full", {})
    rows = []
    for view, entry in probe["views"].items():
        c = (vs.get(view) or {}).get(m) or {}
        ci = f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]" if "ci_low" in c else None
        rows.append({"view": view, "value": entry["metrics"].get(m), "delta": c.get("delta"), "ci": ci,
                     "p": c.get("p_value"), "p_holm": c.get("p_holm"),
                     "sig": "*" if c.get("p_holm") is not None and c["p_holm"] < 0.05 else ""})
    views = table([("view", "view"), ("value", m), ("delta", "Δ vs full"), ("ci", "95% CI"), ("p", "p"),
                   ("p_holm", "p (Holm)"), ("sig", "")], rows)
    indices = table([(k, k.replace("_", " ")) for k in probe["indices"]], [probe["indices"]], css="plain")
    test = (f"{compare.get('stat_test', '?')} test, {compare.get('permutations', '?')} permutations, "
            f"seed {compare.get('seed', '?')}, Holm over {compare.get('over', 'views x metrics')}")
    out = f"<h4>{escape(label)}</h4>{views}<p class=\"note\">{escape(test)}</p>{indices}"
    by_type = probe.get("by_type") or {}
    if by_type:
        type_rows = [{"type": t, "n": e["n_queries"], **{v: e["views"][v]["metrics"].get(m) for v in e["views"]},
                      "text_dominance": e["indices"].get("text_dominance")} for t, e in by_type.items()]
        cols = [("type", "query type"), ("n", "queries"), *((v, v) for v in probe["views"]),
                ("text_dominance", "text-dominance")]
        out += f"<p class=\"note\">{escape(m)} per query type</p>" + table(cols, type_rows)
    return out


def task_heading(task: str) -> str:
    return escape(task_label(task))
