"""Checking where a command will write, before it does any work.

A command that computes for minutes and then fails to open its output wastes the run; one
that fails half-way must not leave a partial file. So an output path is checked up front
(:func:`check_output_file`, :func:`check_output_dir`) and files are written through a unique
temporary file in the same directory, renamed into place only when complete
(:class:`AtomicTextFile`; ``os.replace`` is atomic within one file system, POSIX rename(2)).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.core.errors import MireEvalError


def _blocking_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` when it is not a directory (else None)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_file(path: str | Path, option: str = "--output") -> Path:
    """``path`` if a file can be written there: not a directory, no ancestor that is a file."""
    path = Path(path)
    if path.is_dir():
        raise MireEvalError(f"{path}: {option}: is a directory; name a file to write")
    blocker = _blocking_ancestor(path)
    if blocker is not None:
        raise MireEvalError(f"{path}: {option}: {blocker} is a file, not a directory")
    return path


def check_output_dir(path: str | Path, option: str = "--output") -> Path:
    """``path`` if a directory can be written there: not a file, no ancestor that is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MireEvalError(f"{path}: {option}: is a file, not a directory; name a directory to write into")
    blocker = _blocking_ancestor(path)
    if blocker is not None:
        raise MireEvalError(f"{path}: {option}: {blocker} is a file, not a directory")
    return path


class AtomicTextFile:
    """A UTF-8 text file written to a unique temporary beside ``path`` and renamed onto it on
    :meth:`commit`; :meth:`abort` (or leaving a ``with`` block by an exception) removes it.

    Unique (``mkstemp``), so two writers of one path never share a temporary file."""

    def __init__(self, path: str | Path):
        self.path = check_output_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self.tmp = Path(tmp)
        self.f = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        self.f.write(text)

    def commit(self) -> None:
        self.f.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.f.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@contextmanager
def replaced(path: str | Path) -> Iterator[Path]:
    """Yield a unique scratch path beside ``path`` for any writer (savefig, PIL, a CSV writer);
    when the block finishes it is renamed onto ``path``, when it raises (Ctrl-C included) it is
    removed: ``path`` is always either its old content or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would outlive the rename
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
