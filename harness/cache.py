"""Where mire-eval keeps downloaded data, materialised qrels and indexes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_home() -> Path:
    """``$MIRE_EVAL_DATA``, else ``~/.cache/mire-eval``."""
    return Path(os.environ.get("MIRE_EVAL_DATA") or Path.home() / ".cache" / "mire-eval")


def stable_hash(obj, length: int = 16) -> str:
    """A short content hash of a JSON-serialisable object (key order does not matter).

    >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
    True
    """
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:length]
