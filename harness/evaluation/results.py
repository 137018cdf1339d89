"""The results directory: one folder per run, written whole or not at all, and the leaderboard.

    <output>/<task>/<retriever>/<tag>/  metrics.json  run.trec  per_query.csv  qrels.tsv  meta.json
                                        complete.json (written last: every file and its size)
    <output>/leaderboard.csv

A run folder is finished only when its marker lists every file with its size
(:func:`is_complete`); readers (reuse, leaderboard, plots) ignore anything else.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from harness.core.textfiles import load_json_object
from harness.metrics.scoring import Scores
from harness.metrics.table import LEADERBOARD
from harness.evaluation.paper import with_paper_values

LEADERBOARD_METRICS = LEADERBOARD  # the metric columns, from harness/metrics/table.py
# meta.json's "efficiency" (harness/evaluation/efficiency.py) as leaderboard columns; audit's fraction flattened
EFFICIENCY_COLUMNS = ("passages_indexed", "index_s", "index_reused", "bytes_per_token_resident", "bytes_per_token_disk",
                      "encode_ms_per_query", "search_ms_per_query", "audit_topk_recovered", "peak_memory_mb", "device",
                      "threads", "world_size")
PACKAGES = ("torch", "transformers", "ranx", "faiss-cpu", "datasets", "bm25s", "numpy", "peft")


def code_version() -> dict:
    """Git commit and dirty flag of the mire-eval code itself (None outside a checkout)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"git_commit": commit, "git_dirty": dirty}


def package_versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# --------------------------------------------------------------------------------------------
# Writing a run folder: whole or not at all, one writer per identity
# --------------------------------------------------------------------------------------------
MARKER = "complete.json"  # written last: {"files": {name: bytes}}; a folder without it is unfinished


def _after_step(step: str) -> None:
    """Called after each step of :func:`publish`; tests replace it to kill the process there."""


def run_lock(final: Path, timeout: float = -1):
    """The lock of one run identity: one writer, the others wait (``timeout`` -1: for ever).

    ``final`` is ``<results>/<task>/<retriever>/<tag>``; the lock file is
    ``<results>/.locks/<task>--<retriever>--<tag>.lock``, out of the way of folder listings.
    """
    from filelock import FileLock

    locks = final.parents[2] / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(str(locks / ("--".join(final.parts[-3:]) + ".lock")), timeout=timeout)


def is_complete(directory: Path) -> bool:
    """True when ``directory``'s marker exists and every file it lists has the listed size."""
    try:
        listed = json.loads((Path(directory) / MARKER).read_text())["files"]
        return bool(listed) and all((Path(directory) / name).stat().st_size == size for name, size in listed.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def write_marker(directory: Path) -> None:
    """List every file of ``directory`` with its size; written last, as the folder's seal."""
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file() and p.name != MARKER}
    write_json(directory / MARKER, {"files": files})


def recover(final: Path) -> None:
    """Tidy what a killed writer of ``final`` left; call while holding :func:`run_lock`.

    Scratch folders (``.<tag>.*.partial``) are removed. A complete previous result set aside
    by an interrupted ``--overwrite`` (``.<tag>.*.old``) is moved back when ``final`` is gone.
    """
    for leftover in sorted(final.parent.glob(f".{final.name}.*.partial")):
        shutil.rmtree(leftover, ignore_errors=True)
    for old in sorted(final.parent.glob(f".{final.name}.*.old")):
        if not final.exists() and is_complete(old):
            old.rename(final)
        else:
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def publish(final: Path):
    """Yield a private scratch folder that becomes ``final`` only if the block finishes.

    The folder is sealed with :data:`MARKER`, then moved into place; a previous ``final`` is
    set aside first and removed only once the new one is in place. Hold :func:`run_lock`.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = final.parent / f".{final.name}.{token}.partial"
    tmp.mkdir()
    try:
        yield tmp
        write_marker(tmp)
        _after_step("sealed")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    aside = final.parent / f".{final.name}.{token}.old"
    if final.exists():
        final.rename(aside)
        _after_step("set-aside")
    tmp.rename(final)
    _after_step("in-place")
    shutil.rmtree(aside, ignore_errors=True)


def restore_set_aside(results_dir: Path) -> list[Path]:
    """Move back every complete result that a killed ``--overwrite`` left set aside.

    For each ``<results>/<task>/<retriever>/.<tag>.<token>.old`` whose ``<tag>`` folder is
    missing, :func:`recover` runs under that run's lock. A run whose lock is held is being
    written right now (its set-aside folder is a step of a live write), so it is left alone.
    Returns the folders restored.
    """
    from filelock import Timeout

    restored = []
    for old in sorted(Path(results_dir).glob("*/*/.*.old")):
        final = old.parent / old.name[1:].rsplit(".", 2)[0]
        if final.exists() or not old.is_dir():
            continue
        try:
            with run_lock(final, timeout=0):
                recover(final)
        except Timeout:
            continue
        if is_complete(final):
            restored.append(final)
    return restored


_warned: set[Path] = set()  # folders already warned about in this process


def complete_runs(results_dir: Path, name: str = "metrics.json") -> list[Path]:
    """Run folders ``<results>/<task>/<retriever>/<tag>/`` holding ``name``, complete ones only.

    Scratch and set-aside folders (hidden) are passed over; a visible folder without a valid
    marker is skipped with a one-line warning on stderr. A previous result that a killed
    ``--overwrite`` left set aside is first moved back (:func:`restore_set_aside`), so it stays
    listed instead of waiting for the same run to be repeated.
    """
    restore_set_aside(Path(results_dir))
    out = []
    for path in sorted(Path(results_dir).glob(f"*/*/*/{name}")):
        directory = path.parent
        if any(part.startswith(".") for part in directory.relative_to(results_dir).parts):
            continue
        if is_complete(directory):
            out.append(directory)
        elif directory not in _warned:  # plot looks for two files per folder: warn once
            _warned.add(directory)
            print(f"warning: {directory}: incomplete results folder (no valid {MARKER}); skipped", file=sys.stderr)
    return out



def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON through a temporary file, so readers never see half of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    tmp.replace(path)


def write_per_query(path: Path, scores: Scores, n_relevant: dict[str, int], first_rank: dict,
                    images: dict[str, str] | None = None) -> None:
    """per_query.csv: ``query_id, n_relevant, first_relevant_rank[, image], <metrics>``; ``image``
    (a hash of the query's image, from ``images``) lets comparisons resample shared images together."""
    metrics = list(next(iter(scores.per_query.values()), {}).keys())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["query_id", "n_relevant", "first_relevant_rank", *(["image"] if images is not None else []),
                    *metrics])
        for qid, values in scores.per_query.items():
            rank = first_rank.get(qid)
            w.writerow([qid, n_relevant.get(qid, 0), "" if rank is None else rank,
                        *([images.get(qid, "")] if images is not None else []),
                        *(f"{values[m]:.6f}" for m in metrics)])


def leaderboard(results_dir: Path) -> list[dict]:
    """One row per complete run folder (:func:`complete_runs`): every run so far, each identity
    its own row, never merged with a run that differs in relevance, checkpoint, options,
    metrics or data. Rows are sorted by task, retriever, setting, view, then creation time.

    ``run`` is the folder's identity hash (the end of its tag), which tells apart rows whose
    other columns agree.
    """
    out = []
    for directory in complete_runs(Path(results_dir)):
        m = load_json_object(directory / "metrics.json")
        row = {key: m.get(key) for key in ("task", "retriever", "setting", "view", "split", "checkpoint", "limit")}
        # an approximate run (--search ivf|ivfpq) says so; an exact one leaves the column empty
        row["search"] = None if m.get("search", "exact") == "exact" else m["search"]
        row.update({name: (m.get("metrics") or {}).get(name) for name in LEADERBOARD_METRICS})
        # the run's depth, and the metrics computed deeper than it (named with --metrics): a
        # depth-limited value is not the metric its name promises, and never matches a paper's
        row["k"] = m.get("k")
        row["depth_limited"] = ";".join(m.get("depth_limited") or []) or None
        row.update(n_queries=m.get("n_queries"), n_without_relevant=m.get("n_without_relevant"),
                   created=m.get("created"), run=directory.name.rsplit("-", 1)[-1], path=str(directory))
        row.update(efficiency_columns(directory))
        row.update(model_columns(m.get("model")))
        probe = directory / "probe.json"
        if probe.exists():
            row.update({f"probe_{k}": v for k, v in load_json_object(probe).get("indices", {}).items()})
        out.append(row)
    out = with_paper_values(out)  # harness/evaluation/paper.py: published numbers of matching settings
    return sorted(out, key=lambda r: (str(r["task"]), str(r["retriever"]), r["setting"] or "", r["view"] or "",
                                      r["created"] or "", r["path"]))


def efficiency_columns(directory: Path) -> dict:
    """The run's efficiency card (meta.json) as :data:`EFFICIENCY_COLUMNS`; empty for runs
    written before the card existed."""
    meta = Path(directory) / "meta.json"
    card = (load_json_object(meta).get("efficiency") or {}) if meta.exists() else {}  # damaged: one line, not a blank card
    if not card:
        return {}
    card = {**card, "audit_topk_recovered": (card.get("audit") or {}).get("topk_recovered")}
    return {name: card.get(name) for name in EFFICIENCY_COLUMNS}


MODEL_COLUMNS = ("library", "class", "vectors", "similarity", "checkpoint", "revision", "fingerprint", "prompts")


def model_columns(model: dict | None) -> dict:
    """A run's model record (metrics.json's ``"model"``: st, mteb, plug-ins) as ``model_*``
    columns; none for a run without one.

    >>> model_columns({"library": "sentence-transformers", "prompts": {"query": "q: "}})["model_prompts"]
    '{"query": "q: "}'
    """
    if not isinstance(model, dict):
        return {}
    return {f"model_{k}": json.dumps(model.get(k), sort_keys=True) if isinstance(model.get(k), (dict, list))
            else model.get(k) for k in MODEL_COLUMNS}


def write_leaderboard(rows: list[dict], path: Path) -> None:
    """Write ``rows`` as CSV through a uniquely named temporary file in the same folder, so
    concurrent writers never share (and truncate) one scratch file and readers never see half."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
