"""The Hugging Face hub, reached quickly or not at all: one place for offline behaviour.

Without network, ``huggingface_hub`` retries each request for tens of seconds before failing
(12-24 "Retrying" lines for one model). Every task and retriever that resolves a hub id asks
:func:`require` first: with ``HF_HUB_OFFLINE=1`` the hub library reads only its local cache
(and fails at once when something is absent); otherwise one TCP connection to the endpoint,
with a short timeout, decides, and an unreachable hub is a one-line error that says how to
download elsewhere (``hf download``, the current huggingface_hub command) and what to pass.

Tests replace :func:`reachable` (``monkeypatch.setattr(harness.core.hub, "reachable", ...)``);
nothing here opens a connection at import.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

from harness.core.errors import MireEvalError

PROBE_TIMEOUT_S = 3.0  # one TCP handshake; DNS failure is usually immediate


def endpoint() -> str:
    """The hub's base URL (``$HF_ENDPOINT`` or https://huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline() -> bool:
    """True when the user asked for cache-only hub access (``HF_HUB_OFFLINE=1``)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:  # huggingface_hub reads the variable once, at import; honour that reading too
        import huggingface_hub.constants as constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


_probed: dict[str, bool] = {}


def reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub endpoint opens within ``timeout`` seconds.

    Probed once per process and endpoint. The connection runs in a daemon thread so a
    resolver that hangs cannot hold the caller beyond ``timeout``.
    """
    url = endpoint()
    if url not in _probed:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        result = [False]

        def probe():
            try:
                socket.create_connection((parts.hostname, port), timeout=timeout).close()
                result[0] = True
            except OSError:
                pass

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(timeout + 0.5)
        _probed[url] = result[0]
    return _probed[url]


def download_advice(repo_id: str, pass_as: str, repo_type: str = "model", revision: str | None = None,
                    include: str | tuple[str, ...] | list[str] | None = None) -> str:
    """How to get ``repo_id`` by hand and hand it to mire-eval, as one clause.

    >>> download_advice("Y-J-Ju/MIRe_base_pt", "--checkpoint DIR")
    'download it with `hf download Y-J-Ju/MIRe_base_pt --local-dir DIR` and pass --checkpoint DIR'
    >>> download_advice("org/data", "--data-dir DIR", "dataset", "abc123", "EVQA_*")
    "download it with `hf download org/data --repo-type dataset --revision abc123 --include 'EVQA_*' --local-dir DIR` and pass --data-dir DIR"
    >>> download_advice("org/data", "--data-dir DIR", "dataset", None, ["A/test-*", "B/test_passages-*"]).split("`")[1]
    "hf download org/data --repo-type dataset --include 'A/test-*' 'B/test_passages-*' --local-dir DIR"
    """
    flags = f" --repo-type {repo_type}" if repo_type != "model" else ""
    flags += f" --revision {revision}" if revision else ""
    patterns = (include,) if isinstance(include, str) else tuple(include or ())
    flags += " --include " + " ".join(f"'{p}'" for p in patterns) if patterns else ""
    return f"download it with `hf download {repo_id}{flags} --local-dir DIR` and pass {pass_as}"


def require(repo_id: str, pass_as: str, repo_type: str = "model", revision: str | None = None,
            include: str | tuple[str, ...] | list[str] | None = None) -> None:
    """Return when the hub may be asked for ``repo_id``; else one line, at once.

    Under ``HF_HUB_OFFLINE=1`` this returns: the hub library then serves its cache and fails
    fast by itself (callers word that failure with :func:`download_advice`).
    """
    if offline() or reachable():
        return
    raise MireEvalError(
        f"{repo_id}: the Hugging Face hub ({endpoint()}) cannot be reached; "
        f"{download_advice(repo_id, pass_as, repo_type, revision, include)} "
        "(or set HF_HUB_OFFLINE=1 to use copies already in the hub cache)"
    )


_REVISION_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/")


def check_checkpoint_spelling(checkpoint: str | None) -> None:
    """A ``--checkpoint`` that names a hub revision (``owner/name@rev``, not an existing path) has
    exactly one ``@`` and a non-empty revision of branch/tag/commit characters; anything else is one
    line now, rather than a download failure later.

    >>> check_checkpoint_spelling("Y-J-Ju/MIRe_base_pt@0123abc")
    >>> check_checkpoint_spelling("Y-J-Ju/MIRe_base_pt@")
    Traceback (most recent call last):
    ...
    harness.core.errors.MireEvalError: --checkpoint Y-J-Ju/MIRe_base_pt@: the revision after '@' is empty; write owner/name@REVISION (a branch, tag or commit)
    """
    from pathlib import Path

    if not checkpoint or "@" not in checkpoint or Path(checkpoint).expanduser().exists():
        return
    repo, _, revision = checkpoint.partition("@")
    if not repo:
        raise MireEvalError(f"--checkpoint {checkpoint}: nothing before '@'; write owner/name@REVISION")
    if not revision:
        raise MireEvalError(f"--checkpoint {checkpoint}: the revision after '@' is empty; "
                            "write owner/name@REVISION (a branch, tag or commit)")
    if "@" in revision or not set(revision) <= _REVISION_CHARS:
        raise MireEvalError(f"--checkpoint {checkpoint}: revision {revision!r} is not a branch, tag or commit name")
