"""Published numbers beside ours: the leaderboard's ``paper_metric``, ``paper_value``,
``paper_source`` and ``delta`` columns.

harness/evaluation/paper_values.csv holds one published number per line, keyed by the setting it was
measured in (task, retriever, setting, base checkpoint, relevance, metric), with the number as
printed (``published``, the papers' x100 scale), the same on mire-eval's 0-1 scale (``value``)
and its citation (``source``). An empty key field matches anything.

A leaderboard row matches a line when task, retriever and setting are equal, the metric is one
of the row's columns, the relevance the run used (its metrics.json) is the line's, and the
row's *base checkpoint* is the line's checkpoint. The base checkpoint is, in order: the
checkpoint the retriever resolved (meta.json ``retriever.checkpoint``, so a run with the
default checkpoint matches), without an ``@revision``; for a local directory a trainer wrote,
the starting checkpoint recorded in its ``training.json`` (followed back through chained
trainings, so a model fine-tuned from ``Y-J-Ju/MIRe_base_pt`` matches the paper's fine-tuned
MIRe). When several lines match, the first in file order wins (each setting's headline metric
comes first). ``delta`` = ours - paper, on the 0-1 scale.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from harness.core.errors import MireEvalError

COLUMNS = ("task", "retriever", "setting", "checkpoint", "relevance", "metric", "published", "value", "source")
KEY = ("task", "retriever", "setting", "checkpoint", "relevance")


def read_paper_values(path: str | Path | None = None) -> list[dict]:
    """The table's lines as dicts (``value`` a float in [0, 1]); the packaged table by default."""
    if path is None:
        text = resources.files(__package__).joinpath("paper_values.csv").read_text()
        name = "harness/evaluation/paper_values.csv"
    else:
        text, name = Path(path).read_text(), str(path)
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise MireEvalError(f"{name}:1: {missing[0]}: column missing")
    lines = []
    for number, line in enumerate(reader, start=2):
        try:
            value = float(line["value"])
        except (TypeError, ValueError):
            raise MireEvalError(f"{name}:{number}: value: not a number ({line['value']!r})") from None
        if not 0.0 <= value <= 1.0 or not line["source"]:
            field = "value" if not 0.0 <= value <= 1.0 else "source"
            raise MireEvalError(f"{name}:{number}: {field}: must be in [0, 1] with a citation")
        lines.append({**line, "value": value})
    return lines


@lru_cache(maxsize=1)
def _packaged() -> tuple[dict, ...]:
    return tuple(read_paper_values())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def base_checkpoint(checkpoint: str | None, max_hops: int = 8) -> str | None:
    """Follow a trained directory's ``training.json`` back to what training started from.

    >>> base_checkpoint("Y-J-Ju/MIRe_base_pt@0123abc")
    'Y-J-Ju/MIRe_base_pt'
    """
    for _ in range(max_hops):
        if not checkpoint:
            return checkpoint
        path = Path(checkpoint)
        started = _read_json(path / "training.json").get("checkpoint") if path.is_dir() else None
        if not started:
            break
        checkpoint = started
    return checkpoint.split("@", 1)[0] if checkpoint and not Path(checkpoint).exists() else checkpoint


def row_setting(row: dict) -> dict:
    """The match key of a leaderboard row: its own fields, relevance and base checkpoint read
    from the run folder ``row["path"]``."""
    folder = Path(row.get("path") or "")
    resolved = _read_json(folder / "meta.json").get("retriever", {}).get("checkpoint")
    return {"task": row.get("task"), "retriever": row.get("retriever"), "setting": row.get("setting"),
            "relevance": _read_json(folder / "metrics.json").get("relevance"),
            "checkpoint": base_checkpoint(resolved or row.get("checkpoint"))}


def match(row: dict, lines=None) -> dict | None:
    """The first table line matching ``row`` (see the module docstring), or None."""
    key = row_setting(row)
    for line in _packaged() if lines is None else lines:
        if all(not line[k] or line[k] == key[k] for k in KEY) and row.get(line["metric"]) is not None:
            return line
    return None


def with_paper_values(rows: list[dict], lines=None) -> list[dict]:
    """``rows`` with ``paper_metric``, ``paper_value``, ``paper_source`` and ``delta`` (None
    where no published setting matches)."""
    out = []
    for row in rows:
        line = match(row, lines)
        ours = row.get(line["metric"]) if line else None
        out.append({**row, "paper_metric": line["metric"] if line else None,
                    "paper_value": line["value"] if line else None,
                    "delta": round(ours - line["value"], 6) if line and ours is not None else None,
                    "paper_source": line["source"] if line else None})
    return out
