"""The one error type users see.

A :class:`MireEvalError` carries a single line that names the file and the field at fault;
the CLI prints it as ``error: ...`` and exits with status 2. Anything else escaping the
CLI is a bug in mire-eval, not bad input.
"""

from __future__ import annotations

from contextlib import contextmanager


class MireEvalError(Exception):
    """Bad input, missing data or an unknown name, explained in one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def where(path, line: int | None = None) -> str:
    """Format a location for an error message.

    >>> where("corpus.jsonl", 3)
    'corpus.jsonl:3'
    >>> where("images/a.png")
    'images/a.png'
    """
    return f"{path}:{line}" if line is not None else str(path)


@contextmanager
def user_errors():
    """Inside a CLI command: turn a MireEvalError into ``error: ...`` on stderr and exit 2."""
    import typer

    try:
        yield
    except MireEvalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
