"""The hub commit a run's weights come from, resolved before the run so it is part of its identity.

``--checkpoint owner/name`` (no ``@revision``), or no ``--checkpoint`` for a retriever whose
default lives on the hub, loads whatever the hub's ``main`` points at when the run starts. Were
the run's identity only the string the user typed, a later run after ``main`` moved to other
weights would find the old folder and print its numbers as ``(reused)`` (AutoIntent PR #337).
So the run resolves the revision to its commit first (:func:`resolved_commit`; one request, or
the hub cache's ``refs/`` under ``HF_HUB_OFFLINE=1``), puts ``checkpoint_revision`` in the
identity (and so in meta.json and the results folder's tag), names it in the summary line, and
checks after loading that the retriever read that very commit (its ``describe()["revision"]``).

A commit fixes every file's bytes (git objects are content-addressed; LFS pointers carry each
weights file's sha256), so it is the hub checkpoint's content identity, as the content
fingerprint is a local checkpoint's; meta.json adds the fingerprint of the files as read
(``checkpoint_files``) for whoever wants to check.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.errors import MireEvalError

COMMIT = re.compile(r"^[0-9a-f]{40}$")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_resolved: dict[tuple[str, str], str] = {}  # (repo, revision) -> commit, once per process
WITHOUT_WEIGHTS = frozenset({"bm25"})  # retrievers that load no weights (a reused bm25 run imports no torch)


def _package(retriever: str):
    from retrievers.registry import package_of

    return package_of(retriever)


def hub_source(retriever: str, checkpoint: str | None, options: dict) -> tuple[str, str] | None:
    """``(repo id, revision asked for)`` of the weights a run of ``retriever`` loads from the
    hub, or None (a local checkpoint, or a retriever with no hub default).

    >>> hub_source("bm25", None, {}), hub_source("mire", "Y-J-Ju/MIRe_base_pt@abc", {})
    (None, ('Y-J-Ju/MIRe_base_pt', 'abc'))
    """
    from retrievers.checkpoint import HUB_REVISIONS

    checkpoint = checkpoint or options.get("model")  # -o model=owner/name (mteb, jfe) names the weights too
    if checkpoint:
        if Path(checkpoint).expanduser().exists() or checkpoint.startswith((".", "/")):
            return None
        repo, _, pinned = checkpoint.partition("@")
        if not HUB_ID.match(repo):
            return None
        return repo, pinned or options.get("revision") or HUB_REVISIONS.get(repo, "main")
    if retriever in WITHOUT_WEIGHTS:  # nothing to resolve, and importing its module would load torch
        return None
    package = _package(retriever)
    repo = getattr(package, "DEFAULT_CHECKPOINT", None) if package is not None else None
    if not repo:
        return None
    revision = options.get("revision") or getattr(package, "DEFAULT_REVISION", None)
    return repo, revision or HUB_REVISIONS.get(repo, "main")


def resolved_commit(repo: str, revision: str) -> str:
    """The commit ``revision`` of ``repo`` names now (a 40-hex commit is itself): the folder
    name huggingface_hub's ``snapshot_download`` gives for the repo's JSON files (small; the
    retriever reads them anyway). One line when the hub cannot answer."""
    if COMMIT.match(revision):
        return revision
    key = (repo, revision)
    if key not in _resolved:
        import huggingface_hub

        from harness.core import hub

        hub.require(repo, "--checkpoint DIR", revision=None if revision == "main" else revision)
        try:
            path = huggingface_hub.snapshot_download(repo, revision=revision, allow_patterns=["*.json"])
        except Exception as exc:  # offline without a cached ref, unknown repo, gated
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise MireEvalError(f"{repo}: checkpoint: cannot resolve revision {revision!r} on the Hugging Face "
                                f"hub ({reason}); {hub.download_advice(repo, '--checkpoint DIR')}") from None
        _resolved[key] = Path(path).name
    return _resolved[key]


def run_revision(retriever_name: str, checkpoint: str | None, options: dict, retriever=None) -> str | None:
    """The commit a run's hub weights come from, or None. With a ``retriever`` already built,
    the commit it loaded (its ``describe()["revision"]``); else resolved on the hub."""
    source = hub_source(retriever_name, checkpoint, options)
    if source is None:
        return None
    if retriever is not None:
        loaded = (retriever.describe() or {}).get("revision")
        return loaded if loaded and COMMIT.match(str(loaded)) else resolved_commit(*source)
    return resolved_commit(*source)


def check_loaded(retriever, commit: str | None) -> None:
    """Refuse a run whose retriever loaded another commit than its identity names (the hub's
    ``main`` moved between resolving and loading): one line, nothing written."""
    if commit is None:
        return
    loaded = (retriever.describe() or {}).get("revision")
    if loaded and COMMIT.match(str(loaded)) and loaded != commit:
        raise MireEvalError(f"checkpoint: the hub revision moved during the run (resolved {commit}, loaded "
                            f"{loaded}); run again, or pin it with --checkpoint owner/name@<commit>")
