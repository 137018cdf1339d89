"""The committed reference of the demo: the README's quick-start block and docs/probe.md's tables,
written from one demo run's probe.json files, and read back by the tests.

``make reference`` (``python docs/diagnostic/run_diagnostic.py --clean --reference docs/demo
--readme README.md --probe-doc docs/probe.md``) runs the demo from an empty cache, copies the
small reference into ``docs/demo/`` and rewrites, between ``<!-- NAME -->`` and ``<!-- /NAME -->``
markers, the README's printed summary (``demo-summary``) and probe.md's tables (``demo-views``,
``demo-indices``, ``demo-claim-mire``, ``demo-claim-jfe``). Nothing between the markers is
written by hand, so the documents cannot drift from the reference run; ``tests/harness/
test_demo_reference.py`` parses both and checks they agree with ``docs/demo/``.

Strength of a claim: the demo trains for a few dozen steps, so a machine with another CPU
capability or library version may move a hit or two among 96 queries (the newcomer of issue 26
got 5/96 where the reference had 6/96). A measure therefore counts as *holding* only when it
still holds with one hit fewer (:func:`robust_tail`); one that a single hit flips is *fragile*.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from harness.demo.summary import METRIC, TYPES, read_row

ROBUST_P = 0.01  # the level a measure must reach, also with one hit fewer, to count as holding


# --------------------------------------------------------------------------------------------
# Markers
# --------------------------------------------------------------------------------------------
def replace_block(text: str, name: str, block: str) -> str:
    """``text`` with what lies between ``<!-- name -->`` and ``<!-- /name -->`` replaced by
    ``block``; ValueError when the markers are missing (a document was edited by hand)."""
    pattern = re.compile(rf"(<!-- {re.escape(name)} -->\n).*?(<!-- /{re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"markers <!-- {name} --> ... <!-- /{name} --> not found")
    return pattern.sub(lambda m: m.group(1) + block.rstrip("\n") + "\n" + m.group(2), text, count=1)


def read_block(text: str, name: str) -> str:
    """What lies between the markers ``name`` (ValueError when absent)."""
    match = re.search(rf"<!-- {re.escape(name)} -->\n(.*?)<!-- /{re.escape(name)} -->", text, re.S)
    if match is None:
        raise ValueError(f"markers <!-- {name} --> ... <!-- /{name} --> not found")
    return match.group(1)


# --------------------------------------------------------------------------------------------
# The summary table, printed and parsed
# --------------------------------------------------------------------------------------------
ROW = re.compile(r"^(?P<label>\S.*?)\s{2,}(?P<cells>(?:-?\d\.\d{3}|-|\d+(?:/\d+)?)(?:\s+(?:-?\d\.\d{3}|-|\d+(?:/\d+)?))*)$")


def parse_summary(text: str) -> dict[str, list[str]]:
    """``{row label: [cell, ...]}`` of the printed summary's table (chance rows included), cells
    as printed (``0.431``, ``1/48``, ``-``)."""
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line.rstrip())
        if match and not line.startswith(("diagnostic task", "figures", "leaderboard", "total time")):
            rows[match["label"].strip()] = match["cells"].split()
    return rows


def summary_from_reference(reference: Path) -> dict[str, list[str]]:
    """The table the committed reference's probe.json files give, row by row as printed (the
    labels from demo_summary.txt's order; the values recomputed from each probe.json)."""
    from harness.demo.summary import summary_text

    rows = [{"label": label, "directory": directory} for label, directory in reference_rows(reference)]
    return parse_summary(summary_text(rows, Path("results"), []))


def reference_rows(reference: Path) -> list[tuple[str, Path]]:
    """``(label, folder)`` of every row of the committed reference, in the demo's order
    (``docs/demo/rows.json``, written by the reference command)."""
    listed = json.loads((Path(reference) / "rows.json").read_text())
    return [(row["label"], Path(reference) / row["folder"]) for row in listed]


# --------------------------------------------------------------------------------------------
# Claims' strength
# --------------------------------------------------------------------------------------------
def binomial_tail(hits: int, n: int, p: float) -> float:
    """P(X >= hits) for X ~ Binomial(n, p): the chance of at least ``hits`` under random ranking.

    >>> round(binomial_tail(6, 96, 1 / 48), 3), round(binomial_tail(5, 96, 1 / 48), 3)
    (0.015, 0.051)
    """
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(max(hits, 0), n + 1))


def robust_tail(hits: int, n: int, p: float) -> tuple[float, float, str]:
    """``(P, P with one hit fewer, verdict)``: ``holds`` when both are below :data:`ROBUST_P`,
    ``fragile`` when only the first is, ``not shown`` otherwise."""
    now, fewer = binomial_tail(hits, n, p), binomial_tail(hits - 1, n, p)
    verdict = "holds" if fewer < ROBUST_P else "fragile" if now < ROBUST_P else "not shown"
    return now, fewer, verdict


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _hits(probe: dict, kind: str, metric: str) -> tuple[int, int]:
    typed = probe["by_type"][kind]
    n = typed["n_queries"]
    return round(typed["views"]["full"]["metrics"][metric] * n), n


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------
def readme_block(summary: str, record: dict) -> str:
    """The README's quick-start block: the printed summary and the run's when/where."""
    compute = record.get("compute", {})
    return (f"```\n$ mire-eval demo\n...\n{summary.rstrip()}\n```\n\n"
            f"Reference run: {record['date']}, {record['machine']}, torch {compute.get('torch')} with "
            f"{compute.get('torch_threads')} threads (fixed by the demo) on {compute.get('cpu_capability')}, "
            f"transformers {record.get('transformers')}; {record['wall_s']:.0f} s wall from an empty cache"
            + (f" on a shared machine (load average {record['load_average'][2]:.0f} over 15 minutes, so not a "
               f"quiet-machine time)" if record.get("load_average") and record["load_average"][2] > 1.5 else "")
            + f", {record['peak_gb']:.1f} GB peak memory (`make reference`).\n")


def views_block(rows: list[tuple[str, dict]]) -> str:
    """probe.md's table of hit_rate@1 under full / text / image / swap, per query type."""
    lines = ["| retriever | all queries | " + " | ".join(TYPES) + " |", "|---|---|" + "---|" * len(TYPES)]
    for label, probe in rows:
        cells = [" / ".join(f"{probe['views'][v]['metrics'][METRIC]:.3f}" for v in ("full", "text", "image", "swap"))]
        for kind in TYPES:
            views = probe["by_type"][kind]["views"]
            cells.append(" / ".join(f"{views[v]['metrics'][METRIC]:.3f}" for v in ("full", "text", "image", "swap")))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def indices_block(rows: list[tuple[str, dict]]) -> str:
    """probe.md's table of indices, paired-test p-values against full, hit_rate@5 and the
    visual share of the gold score."""
    lines = ["| retriever | image dep. | text dep. | text-dominance | swap sens. | p (text / image / swap) "
             "| image-needed @5 (full / image) | both-needed @5 | visual share |", "|---|" + "---|" * 8]
    for label, probe in rows:
        ind = probe["indices"]
        vs = (probe.get("compare") or {}).get("vs_full", {})
        pvals = " / ".join(_p(vs[v][METRIC]["p_value"]) if METRIC in vs.get(v, {}) and
                           vs[v][METRIC].get("p_value") is not None else "n/a" for v in ("text", "image", "swap"))
        image_needed = probe["by_type"]["image-needed"]["views"]
        both = probe["by_type"]["both-needed"]["views"]["full"]["metrics"]["hit_rate@5"]
        share = (probe.get("attribution") or {}).get("full", {}).get("image_share")
        lines.append(f"| {label} | {ind['image_dependence']:.3f} | {ind['text_dependence']:.3f} | "
                     f"{ind['text_dominance']:.3f} | {ind['swap_sensitivity']:.3f} | {pvals} | "
                     f"{image_needed['full']['metrics']['hit_rate@5']:.3f} / "
                     f"{image_needed['image']['metrics']['hit_rate@5']:.3f} | {both:.3f} | "
                     f"{'n/a' if share is None else f'{share:.3f}'} |")
    return "\n".join(lines) + "\n"


def mire_claim_block(rows: list[tuple[str, dict]]) -> str:
    """MIRe's claim: image-needed hits above chance after alignment, text-dominance falling."""
    chance, pool = rows[0][1]["chance"]["random"], rows[0][1]["chance"]["n_objects"]
    lines = ["| mire | image-needed hit_rate@1 | image-needed hit_rate@5 | text-dominance |", "|---|---|---|---|",
             f"| chance | {round(chance['hit_rate@1'] * pool)}/{pool} = {chance['hit_rate@1']:.3f} | "
             f"{round(chance['hit_rate@5'] * pool)}/{pool} = {chance['hit_rate@5']:.3f} | |"]
    verdicts, dominance = {}, {}
    for label, probe in rows:
        if probe["retriever"] != "mire":
            continue
        cells = []
        dominance[probe["setting"]] = probe["indices"]["text_dominance"]
        for metric in ("hit_rate@1", "hit_rate@5"):
            hits, n = _hits(probe, "image-needed", metric)
            now, fewer, verdict = robust_tail(hits, n, chance[metric])
            verdicts[probe["setting"], metric] = verdict
            cells.append(f"{hits / n:.3f} ({hits}/{n}, P = {_p(now)}; one hit fewer: {_p(fewer)}): {verdict}")
        lines.append(f"| {probe['setting']} | " + " | ".join(cells) + f" | {probe['indices']['text_dominance']:.3f} |")
    falls = all(dominance.get(s, 1.0) < dominance.get("zero-shot", -1.0) for s in ("aligned", "fine-tuned"))
    outcome = []
    for metric in ("hit_rate@1", "hit_rate@5"):
        trained = [verdicts.get((s, metric)) for s in ("aligned", "fine-tuned")]
        word = "supported" if all(v == "holds" for v in trained) and falls else "not established"
        outcome.append(f"at {metric} **{word}** (aligned: {trained[0]}, fine-tuned: {trained[1]})")
    lines += ["", f"By the rule: {'; '.join(outcome)}; the text-dominance index "
              f"{'falls' if falls else 'does not fall'} from zero-shot to both trained models."]
    return "\n".join(lines) + "\n"


def jfe_claim_block(rows: list[tuple[str, dict]]) -> str:
    """JFE's claim: the fused model gains most on both-needed queries (gain over random chance)."""
    jfe = [probe for _, probe in rows if probe["retriever"] == "jfe"]
    if not jfe:
        return "(no jfe row in this reference)\n"
    probe, chance = jfe[0], jfe[0]["chance"]["random"]
    lines = ["| jfe (tiny random Qwen2-VL) | " + " | ".join(TYPES) + " |", "|---|" + "---|" * len(TYPES)]
    for metric in ("hit_rate@1", "hit_rate@5"):
        cells = []
        for kind in TYPES:
            hits, n = _hits(probe, kind, metric)
            _, _, verdict = robust_tail(hits, n, chance[metric])
            cells.append(f"{hits / n:.3f} (+{hits / n - chance[metric]:.3f}; {verdict})")
        lines.append(f"| {metric} (gain over chance; above chance?) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def probe_doc_blocks(reference: Path) -> dict[str, str]:
    """Every generated block of docs/probe.md, from the committed reference's probe.json files."""
    rows = [(label, json.loads((folder / "probe.json").read_text())) for label, folder in reference_rows(reference)]
    return {"demo-views": views_block(rows), "demo-indices": indices_block(rows),
            "demo-claim-mire": mire_claim_block(rows), "demo-claim-jfe": jfe_claim_block(rows)}


def reference_values(reference: Path) -> dict[str, dict]:
    """``{label: read_row(...)}`` of the committed reference (for tests)."""
    return {label: read_row(folder) for label, folder in reference_rows(reference)}
