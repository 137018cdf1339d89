"""Which commit of the M2KR repository a hub read or a fetch uses: pinned, recorded, or resolved.

No commit id is written into the code. The repository's early upload (February 2024) holds
E-VQA only; the InfoSeek configs came in March 2024 and both subsets were re-uploaded in June
2024 (E-VQA then gained its ``instruction`` column). A fixed id that nobody could check against
the hub would fail every user if wrong, so the commit is chosen from the hub itself, once per
machine, in this order:

1. ``$MIRE_EVAL_M2KR_REVISION``: the user's pin (to reproduce someone else's numbers);
2. the ``revision`` recorded in ``<cache>/m2kr/fetch.json`` by an earlier fetch or resolution;
3. otherwise, online: the repository's commits newest first (``HfApi().list_repo_commits``),
   taking the first whose file list (``list_repo_tree``) holds every split both subsets
   declare and their test passages (:func:`tasks.m2kr_hub.missing_files`). The commit is
   written to the record and printed, so every later load on this machine reads exactly it.

The record (JSON)::

    {"hub_id": str, "revision": "<commit>", "revision_source": "resolved" | "MIRE_EVAL_M2KR_REVISION",
     "resolved": {"at": iso UTC, "commit_date": iso, "commit_title": str, "rule": str},   # when resolved
     "fetches": {"<Subset>/<split>": {"revision", "files", "images_hub_id", "image_archives"}}}

``fetches`` says at which commit each cached split was downloaded. A record written by an
older mire-eval (``revision``, ``split``, ``files`` at the top) is read in this form.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.core.errors import MireEvalError
from harness.core.textfiles import parse_json, read_text
from tasks.m2kr_hub import HUB_ID, SUBSETS, hub_listing, missing_files

ENV = "MIRE_EVAL_M2KR_REVISION"
CACHE_NAME = "m2kr"
RULE = "the newest commit whose file list holds every split of " + " and ".join(s.name for s in SUBSETS)


@dataclass(frozen=True)
class Revision:
    """A commit and where it came from; ``listing`` is its file list when already read."""

    commit: str
    kind: str  # "pinned" ($MIRE_EVAL_M2KR_REVISION), "recorded" (the fetch record), "resolved" (just now)
    record: Path  # the fetch record of this cache
    listing: dict | None = None

    @property
    def source(self) -> str:
        """Where the commit came from, for messages."""
        return {"pinned": ENV, "recorded": f"recorded in {self.record}",
                "resolved": f"resolved online, recorded in {self.record}"}[self.kind]

    def remedy(self) -> str:
        """What else a user can do when this commit lacks a config (appended to the error)."""
        return f", or remove {self.record} to resolve the newest commit again" if self.kind == "recorded" else ""


def record_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / CACHE_NAME / "fetch.json"


def pinned() -> str | None:
    """The user's pin, ``$MIRE_EVAL_M2KR_REVISION`` (None when unset or blank)."""
    return os.environ.get(ENV, "").strip() or None


def read_record(cache_dir: str | Path) -> dict:
    """The fetch record (``{}`` when there is none); a damaged one is a one-line error."""
    path = record_path(cache_dir)
    if not path.exists():
        return {}
    record = parse_json(read_text(path, "fetch record"), path)
    if not isinstance(record, dict) or not isinstance(record.get("revision", ""), str):
        raise MireEvalError(f"{path}:1: revision: not a fetch record (remove it to resolve again)")
    if not isinstance(record.get("fetches", {}), dict):
        raise MireEvalError(f"{path}:1: fetches: not an object (remove the file to resolve again)")
    return _upgrade(record)


def _upgrade(record: dict) -> dict:
    """An older mire-eval's record (one fetch at the top: ``split``, ``files``, ...) in the
    current form (that fetch under ``fetches``); a current record unchanged."""
    if "split" not in record or "files" not in record:
        return record
    legacy = {k: record.pop(k) for k in ("split", "files", "images_hub_id", "image_archives") if k in record}
    names = {str(f).split("_data/")[0] for f in legacy["files"] if "_data/" in str(f)}
    if len(names) == 1 and record.get("revision"):
        key = f"{names.pop()}/{legacy.pop('split')}"
        record["fetches"] = {key: {"revision": record["revision"], **legacy}, **record.get("fetches", {})}
    return record


DEFAULT_FIELDS = ("revision", "revision_source", "resolved")  # the machine's commit: written once


def update_record(cache_dir: str | Path, **fields) -> dict:
    """Merge ``fields`` into the record (``fetches`` entries merged by key) and write it
    atomically, under a lock: a reader never sees half a file, and two fetches finishing at
    once (evqa and infoseek) both keep their entries. :data:`DEFAULT_FIELDS` are written only
    when the record has no ``revision`` yet: the first process to record a commit wins, and
    every later one (a concurrent resolution included) reads that commit."""
    from filelock import FileLock

    path = record_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        record = read_record(cache_dir)
        fetches = {**record.get("fetches", {}), **fields.pop("fetches", {})}
        if record.get("revision"):
            fields = {k: v for k, v in fields.items() if k not in DEFAULT_FIELDS}
        record = {**record, "hub_id": HUB_ID, **fields, **({"fetches": fetches} if fetches else {})}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, path)
    return record


def known(cache_dir: str | Path) -> Revision | None:
    """The pin or the recorded commit, without asking the hub; None when neither exists."""
    if pin := pinned():
        return Revision(pin, "pinned", record_path(cache_dir))
    if recorded := read_record(cache_dir).get("revision"):
        return Revision(recorded, "recorded", record_path(cache_dir))
    return None


def revision(cache_dir: str | Path) -> Revision:
    """The commit to read (see the module docstring); resolves and records it when nothing
    is pinned or recorded. Callers check first that the hub can be reached."""
    found = known(cache_dir)
    if found is not None:
        return found
    commit, listing = newest_complete_commit()
    record = update_record(
        cache_dir, revision=commit.commit_id, revision_source="resolved",
        resolved={"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "commit_date": _iso(getattr(commit, "created_at", None)),
                  "commit_title": getattr(commit, "title", "") or "", "rule": RULE})
    path = record_path(cache_dir)
    if record["revision"] != commit.commit_id:  # another process recorded one first: read that one
        return Revision(record["revision"], "recorded", path)
    print(f"m2kr: using {HUB_ID}@{commit.commit_id} ({record['resolved']['commit_date'] or 'date unknown'}), "
          f"{RULE}; recorded in {path} (set {ENV} to read another)", file=sys.stderr)
    return Revision(commit.commit_id, "resolved", path, listing)


def newest_complete_commit():
    """(commit info, its file list) of the newest commit holding everything; one-line error
    when none does. Lists the commits once and the files of each commit tried, newest first."""
    from huggingface_hub import HfApi

    commits = HfApi().list_repo_commits(HUB_ID, repo_type="dataset")  # newest first (documented)
    lacking = None
    for commit in commits:
        listing = hub_listing(HUB_ID, commit.commit_id)
        missing = missing_files(listing)
        if not missing:
            return commit, listing
        lacking = lacking or (commit.commit_id, missing)
    newest = f"; the newest ({lacking[0]}) lacks {', '.join(lacking[1])}" if lacking else ""
    raise MireEvalError(f"m2kr: no commit of {HUB_ID} holds every split of "
                        f"{' and '.join(s.name for s in SUBSETS)} ({len(commits)} commits listed{newest}); "
                        f"set {ENV} to a commit to read")


def _iso(when) -> str:
    return when.isoformat() if isinstance(when, datetime) else (str(when) if when else "")
