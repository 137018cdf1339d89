"""The demo's printed summary, read only from the probe.json files a run wrote.

Per row (retriever and setting): hit_rate@1 under the full query, over all queries and per
query type, and the text-dominance index (on the task's main metric, hit_rate@1); above them
the exact chance levels the task wrote in its diagnostic.json (carried in probe.json
``chance``): a random ranking, and the best any text-only ranking can do.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.textfiles import load_json_object

TYPES = ("image-needed", "text-sufficient", "both-needed")  # the diagnostic task's, in this order
METRIC = "hit_rate@1"


def read_row(directory: str | Path) -> dict:
    """One row's numbers from ``directory/probe.json``: ``all``, one per query type,
    ``text_dominance``, ``chance`` and counts."""
    probe = load_json_object(Path(directory) / "probe.json")
    by_type = probe.get("by_type") or {}
    return {
        "all": probe["views"]["full"]["metrics"][METRIC],
        **{t: v["views"]["full"]["metrics"][METRIC] for t, v in by_type.items()},
        "text_dominance": probe["indices"]["text_dominance"] if probe.get("main_metric") == METRIC
        else probe["indices_by_metric"][METRIC]["text_dominance"],
        "chance": probe.get("chance") or {},
        "n_queries": probe["n_queries"],
        "n_by_type": {t: v["n_queries"] for t, v in by_type.items()},
    }


def _cell(value, width: int) -> str:
    return f"{'-' if value is None else f'{value:.3f}':>{width}}"


def _fraction(value: float | None, pool: int | None) -> str:
    """An exact chance level as the smallest fraction: 0.0625 -> '1/16', 1.0 -> '1'."""
    if value is None:
        return "-"
    for d in range(1, (pool or 1) + 1):
        if abs(value * d - round(value * d)) < 1e-9:
            n = round(value * d)
            return str(n) if d == 1 else f"{n}/{d}"
    return f"{value:.3f}"


def chance_rows(chance: dict) -> list[tuple[str, dict]]:
    """``(label, {column: value})`` for the random ranking and the best text-only ranking."""
    if not chance:
        return []
    random = chance.get("random", {}).get(METRIC)
    text_only = {**chance.get("text-only-best", {}), **chance.get("text-only", {})}
    return [("chance: random ranking", {"all": random, **{t: random for t in TYPES}}),
            ("chance: best text-only ranking", {t: text_only.get(t, {}).get(METRIC) for t in TYPES})]


def summary_text(rows: list[dict], output: str | Path, figures: list, seconds: float | None = None) -> str:
    """The printed summary; ``rows`` are run_demo's (``label``, ``directory``)."""
    numbers = [(row["label"], read_row(row["directory"])) for row in rows]
    if not numbers:
        return "no rows"
    first = numbers[0][1]
    pool = first["chance"].get("n_objects")
    types = [t for t in TYPES if any(t in n for _, n in numbers)]
    width = max(len(label) for label, _ in numbers + [("chance: best text-only ranking", None)]) + 2
    columns = ["all", *types]
    per_type = ", ".join(f"{first['n_by_type'].get(t, 0)} {t}" for t in types)
    lines = [f"diagnostic task: {first['n_queries']} test queries ({per_type}), {pool} passages",
             f"{METRIC} with image + question (full view); text-dominance index on {METRIC} "
             f"(> 0 leans on the text)", ""]
    lines.append(f"{'':{width}}" + "".join(f"{c:>17}" for c in columns) + f"{'text-dominance':>17}")
    for label, values in chance_rows(first["chance"]):
        lines.append(f"{label:{width}}" + "".join(f"{_fraction(values.get(c), pool):>17}" for c in columns))
    for label, n in numbers:
        lines.append(f"{label:{width}}" + "".join(_cell(n.get(c), 17) for c in columns)
                     + _cell(n["text_dominance"], 17))
    output = Path(output)
    views = sorted(str(p) for p in figures if Path(p).name == "probe_views.png")
    lines += ["", f"figures: {', '.join(views + [str(output / 'leaderboard.png')])}",
              f"         and per run attribution.png (and MIRe's pooling_attention_*.png), {len(figures)} in all",
              f"leaderboard: {output / 'leaderboard.csv'}"]
    if seconds is not None:
        lines.append(f"total time: {seconds:.0f} s")
    return "\n".join(lines)
