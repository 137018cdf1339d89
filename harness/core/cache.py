"""Where mire-eval keeps downloaded data, materialised qrels and indexes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.core.errors import MireEvalError


def cache_home() -> Path:
    """``$MIRE_EVAL_DATA``, else ``~/.cache/mire-eval``; a one-line error if it (or the nearest
    existing folder above it) is a file, since every cache entry is made beneath it."""
    named = os.environ.get("MIRE_EVAL_DATA")
    home = Path(named or Path.home() / ".cache" / "mire-eval")
    for path in (home, *home.parents):
        if path.exists():
            if not path.is_dir():
                what = f"MIRE_EVAL_DATA={named}" if named else f"cache directory {home}"
                clash = "" if path == home else f" ({path} is a file)"
                raise MireEvalError(f"{what}: not a directory{clash}")
            break
    return home


def stable_hash(obj, length: int = 16) -> str:
    """A short content hash of a JSON-serialisable object (key order does not matter).

    >>> stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})
    True
    """
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:length]
