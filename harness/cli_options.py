"""Option parsing shared by the CLI's command modules (``cli``, ``cli_train``, ``cli_probe``).

Its own module so those modules import it rather than one another (no import cycle);
like :mod:`harness.cli`, it imports nothing heavy.
"""

from __future__ import annotations

import json

from harness.errors import MireEvalError


def parse_options(pairs: list[str]) -> dict:
    """``["k1=1.2", "stemmer=null"]`` -> ``{"k1": 1.2, "stemmer": None}`` (JSON values, else strings)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MireEvalError(f"--option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def load_options(split, data_dir, image_dir, skip_missing_images, relevance):
    """The :class:`tasks.base.LoadOptions` the data flags of ``run``, ``probe`` and ``finetune`` name."""
    from tasks.base import LoadOptions

    return LoadOptions(split=split, data_dir=data_dir, image_dir=image_dir,
                       skip_missing_images=skip_missing_images, relevance=relevance)
