"""Published numbers beside ours: the leaderboard's ``paper_metric``, ``paper_value``,
``paper_source`` and ``delta`` columns.

harness/evaluation/paper_values.csv holds one published number per line, keyed by the setting it was
measured in (task, retriever, setting, base checkpoint, relevance, metric), with the number as
printed (``published``, the papers' x100 scale), the same on mire-eval's 0-1 scale (``value``)
and its citation (``source``). An empty key field matches anything.

A leaderboard row matches a line when task, retriever and setting are equal, the metric is one
of the row's columns, the relevance the run used (its metrics.json) is the line's, every
``name=value`` of the line's ``options`` is the run's (meta.json ``retriever.options``: a paper
line matches only a run made the reference's way, e.g. ``passage_punctuation=keep``), and the
row's *base checkpoint* is the line's checkpoint. The base checkpoint is, in order: the
checkpoint the retriever resolved (meta.json ``retriever.checkpoint``, so a run with the
default checkpoint matches), without an ``@revision``; for a local directory a trainer wrote,
the starting checkpoint recorded in its ``training.json`` (followed back through chained
trainings, so a model fine-tuned from ``Y-J-Ju/MIRe_base_pt`` matches the paper's fine-tuned
MIRe). When several lines match, the first in file order wins (each setting's headline metric
comes first). ``delta`` = ours - paper, on the 0-1 scale.

A published number is compared only with a run of the same protocol on the full query set
(:func:`protocol_notes`): no query dropped (``--skip-missing-images``), no ``--limit``, the
``full`` view, ``k`` at least the metric's cut-off, the reference's rule for empty answers where
the split has any, and the line's options. Otherwise the row keeps ``paper_metric`` and
``paper_source`` (which line it would be) and says why not in ``paper_note``; ``paper_value``
and ``delta`` stay empty.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources
from pathlib import Path

from harness.core.errors import MireEvalError
from harness.core.textfiles import load_json_object

COLUMNS = ("task", "retriever", "setting", "checkpoint", "relevance", "options", "metric", "published", "value",
           "source")
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
        lines.append({**line, "value": value, "options": parse_options(line["options"], f"{name}:{number}")})
    return lines


@lru_cache(maxsize=1)
def _packaged() -> tuple[dict, ...]:
    return tuple(read_paper_values())


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    return load_json_object(path)  # a damaged file of a sealed run: one line, not a silently unmatched row


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


def parse_options(text: str | None, origin: str) -> dict[str, str]:
    """``"a=1;b=x"`` -> ``{"a": "1", "b": "x"}`` (empty: no option required).

    >>> parse_options("passage_punctuation=keep", "t")
    {'passage_punctuation': 'keep'}
    """
    out = {}
    for part in filter(None, (p.strip() for p in (text or "").split(";"))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise MireEvalError(f"{origin}: options: {part!r} is not name=value")
        out[name.strip()] = value.strip()
    return out


def cutoff(metric: str) -> int | None:
    """The cut-off of a ranx metric name (``mrr@5`` -> 5; ``map`` -> None)."""
    _, _, k = metric.partition("@")
    return int(k) if k.isdigit() else None


def row_setting(row: dict) -> dict:
    """The match key of a leaderboard row: its own fields, relevance and base checkpoint read
    from the run folder ``row["path"]``, and what :func:`protocol_notes` needs."""
    folder = Path(row.get("path") or "")
    meta, metrics = _read_json(folder / "meta.json"), _read_json(folder / "metrics.json")
    retriever = meta.get("retriever", {})
    resolved = retriever.get("checkpoint")
    task = meta.get("task", {})
    settings = meta.get("settings", {})
    return {"task": row.get("task"), "retriever": row.get("retriever"), "setting": row.get("setting"),
            "relevance": metrics.get("relevance"),
            "checkpoint": base_checkpoint(resolved or row.get("checkpoint")),
            "options": {k: str(v) for k, v in (retriever.get("options") or {}).items()},
            "view": metrics.get("view", row.get("view")), "limit": metrics.get("limit", row.get("limit")),
            "k": settings.get("k", (meta.get("identity") or {}).get("k")),
            "skipped_images": task.get("skipped_images", 0),
            "empty_answers": task.get("queries_with_empty_answer", 0),
            "empty_rule": task.get("empty_answers", "ignore")}


def _key_matches(line: dict, key: dict) -> bool:
    return all(not line[k] or line[k] == key[k] for k in KEY)


def match(row: dict, lines=None) -> dict | None:
    """The first table line matching ``row`` (see the module docstring), options included, or None."""
    key = row_setting(row)
    found = _match(row, key, lines)
    return found if found is not None and not _option_notes(found, key) else None


def _match(row: dict, key: dict, lines=None) -> dict | None:
    """The first line matching ``row`` by its key and metric; a line whose options match comes
    before one whose do not (so a run made the reference's way finds its number)."""
    candidates = [line for line in (_packaged() if lines is None else lines)
                  if _key_matches(line, key) and row.get(line["metric"]) is not None]
    return next((c for c in candidates if not _option_notes(c, key)), candidates[0] if candidates else None)


def _option_notes(line: dict, key: dict) -> list[str]:
    ours = key.get("options") or {}
    return [f"run with {name}={ours.get(name, '(unset)')}, the paper's with {name}={value}"
            for name, value in (line.get("options") or {}).items() if ours.get(name) != value]


def protocol_notes(line: dict, key: dict) -> list[str]:
    """Why a run is not the protocol of ``line``'s published number (empty: it is)."""
    notes = _option_notes(line, key)
    if key.get("skipped_images"):
        notes.append(f"{key['skipped_images']} queries dropped for missing images")
    if key.get("limit") is not None:
        notes.append(f"--limit {key['limit']}")
    if key.get("view") not in (None, "full"):
        notes.append(f"view {key['view']}, the paper's is full")
    depth = cutoff(line["metric"])
    if depth is not None and key.get("k") is not None and int(key["k"]) < depth:
        notes.append(f"k {key['k']} below the metric's cut-off {depth}")
    if key.get("empty_answers") and key.get("empty_rule") != "all-relevant":
        notes.append(f"{key['empty_answers']} queries with an empty answer judged by rule {key['empty_rule']}, "
                     "the reference's is all-relevant (--empty-answers all-relevant)")
    return notes


def with_paper_values(rows: list[dict], lines=None) -> list[dict]:
    """``rows`` with ``paper_metric``, ``paper_value``, ``paper_source``, ``delta`` and
    ``paper_note``: value and delta only for a run of the line's protocol on the full query set,
    else the note says why not; all empty where no published setting matches."""
    out = []
    for row in rows:
        key = row_setting(row)
        line = _match(row, key, lines)
        notes = protocol_notes(line, key) if line else []
        compared = line is not None and not notes
        ours = row.get(line["metric"]) if compared else None
        out.append({**row, "paper_metric": line["metric"] if line else None,
                    "paper_value": line["value"] if compared else None,
                    "delta": round(ours - line["value"], 6) if compared and ours is not None else None,
                    "paper_source": line["source"] if line else None,
                    "paper_note": ("not compared: " + "; ".join(notes)) if notes else None})
    return out
