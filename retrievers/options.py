"""Retriever and trainer options given on the command line (``--option key=value``): checked
against what a family knows, and booleans read from text. Shared by every family."""

from __future__ import annotations

from harness.core.errors import MireEvalError


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



def option_float(value, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False) -> float:
    """A finite real retriever option given as a number or as text, inside ``[low, high]``
    (``(low, high]`` when ``low_open``).

    >>> option_float("1.2", "k1", low=0, low_open=True)
    1.2
    """
    import math

    try:
        if isinstance(value, bool):
            raise TypeError("a boolean is not a number")
        number = float(value)
    except (TypeError, ValueError):
        raise MireEvalError(f"option {name}={value!r}: expected a number") from None
    if not math.isfinite(number):
        raise MireEvalError(f"option {name}={value!r}: expected a finite number")
    if low is not None and (number <= low if low_open else number < low):
        raise MireEvalError(f"option {name}={value!r}: must be {'>' if low_open else '>='} {low:g}")
    if high is not None and number > high:
        raise MireEvalError(f"option {name}={value!r}: must be <= {high:g}")
    return number


def option_int(value, name: str, *, low: int | None = 1) -> int:
    """A whole-number retriever option given as an int or as decimal text, at least ``low``.

    >>> option_int("64", "batch_size")
    64
    """
    if isinstance(value, bool):
        raise MireEvalError(f"option {name}={value!r}: expected a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not (text.lstrip("+-").isascii() and text.lstrip("+-").isdigit()):
            raise MireEvalError(f"option {name}={value!r}: expected a whole number")
        number = int(text)
    if low is not None and number < low:
        raise MireEvalError(f"option {name}={value!r}: must be >= {low}")
    return number


def option_choice(value, name: str, choices) -> str:
    """A retriever option that names one of a fixed set of choices.

    >>> option_choice("lucene", "method", ("lucene", "atire"))
    'lucene'
    """
    if value not in choices:
        raise MireEvalError(f"option {name}={value!r}: expected one of {', '.join(map(str, choices))}")
    return value
