"""Retriever and trainer options given on the command line (``--option key=value``): checked
against what a family knows, and booleans read from text. Shared by every family."""

from __future__ import annotations

from harness.errors import MireEvalError


def check_options(retriever: str, given, known: set[str]) -> None:
    """Unknown retriever/training options are errors, not silently ignored."""
    unknown = set(given) - known
    if unknown:
        raise MireEvalError(f"{retriever}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")


def option_bool(value, name: str) -> bool:
    """A boolean retriever option given as a bool or as text (``--option amp=False``).

    >>> option_bool("False", "amp"), option_bool(True, "amp")
    (False, True)
    """
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes"):
        return True
    if str(value).lower() in ("false", "0", "no"):
        return False
    raise MireEvalError(f"option {name}={value!r}: expected true or false")

