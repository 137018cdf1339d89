"""One progress-bar style for every long phase (tqdm, on stderr).

A bar shows count, rate and ETA, redraws at least every 5 seconds, appears only once its
phase has run 2 seconds (short phases print nothing), and stays on screen when done. A bar
opened inside another one (query encoding inside a probe view) is erased when done, so a
long run leaves one line per phase. Bars are off when stderr is not a terminal (logs, CI),
on torchrun ranks other than 0, or when ``MIRE_EVAL_PROGRESS=0``; ``MIRE_EVAL_PROGRESS=1``
forces them on (rank 0 only).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from tqdm.auto import tqdm

DELAY_S = 2.0  # a phase shorter than this shows no bar
MAX_INTERVAL_S = 5.0  # the bar redraws at least this often, even between slow steps


def enabled() -> bool:
    """Whether bars are drawn: never on torchrun ranks other than 0 (``RANK``); else
    ``MIRE_EVAL_PROGRESS`` (0/1) when set; else whether stderr is a terminal."""
    if os.environ.get("RANK", "0").strip() not in ("", "0"):
        return False
    setting = os.environ.get("MIRE_EVAL_PROGRESS", "").strip()
    if setting:
        return setting not in ("0", "false", "no", "off")
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(iterable: Iterable | None = None, desc: str = "", total: int | None = None, unit: str = "it",
             disable: bool = False, **options) -> tqdm:
    """A tqdm bar over ``iterable`` (or a manual one: ``.update(n)``, best used with ``with``).

    ``total`` defaults to ``len(iterable)`` when it has one; ``disable`` turns this bar off
    (e.g. on ranks other than 0); other ``options`` go to tqdm (``initial``, ``unit_scale``)
    and may override the style (tests pass ``delay=0``).
    """
    nested = any(not getattr(bar, "disable", True) for bar in list(getattr(tqdm, "_instances", ())))
    style = {"leave": not nested, "delay": DELAY_S, "mininterval": 0.5, "maxinterval": MAX_INTERVAL_S,
             "dynamic_ncols": True, "file": sys.stderr}
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable or not enabled(), **{**style, **options})
