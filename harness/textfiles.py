"""Reading the text files users hand us: one opener, one JSON parser, one id rule.

Every reader of TREC runs, qrels, JSON and JSON-lines files goes through here, so they all
agree on what a text file is:

* UTF-8, with an optional byte-order mark (stripped; Windows editors write one);
* a UTF-16 or UTF-32 file (a BOM, or NUL bytes in the first line) is refused in one line;
* invalid UTF-8 is refused naming the file and the line;
* a JSON value nested deeper than the parser's recursion limit is refused in one line,
  never a ``RecursionError`` traceback;
* ids (query, passage) are non-empty and free of whitespace, because TREC run and qrels
  files are whitespace-separated (trec_eval's ``get_trec_results``/``get_qrels`` read
  fields with ``%s``): an id with a space could be written but never read back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from harness.errors import MireEvalError, where

UTF8_BOM = b"\xef\xbb\xbf"
_SPACE = re.compile(r"\s")
_WIDE_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
              (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _check_head(path: Path, head: bytes) -> int:
    """Bytes to skip at the start (the UTF-8 BOM), or a one-line error for a wide encoding."""
    if head.startswith(UTF8_BOM):
        return len(UTF8_BOM)
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            raise MireEvalError(f"{where(path, 1)}: encoding: {name} file; save it as UTF-8")
    first_line = head.split(b"\n", 1)[0]
    if b"\x00" in first_line:
        raise MireEvalError(f"{where(path, 1)}: encoding: NUL bytes (a UTF-16 file without BOM?); save it as UTF-8")
    return 0


def _decode_line(raw: bytes, path: Path, n: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MireEvalError(f"{where(path, n)}: encoding: invalid UTF-8 at byte {exc.start} of the line") from None


def iter_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for every line of a UTF-8 text file, line ending removed.

    Lines are numbered from 1 and split on ``\\n`` only (a trailing ``\\r`` is dropped), as
    trec_eval and ``wc -l`` count them. ``what`` names the file in the not-found error.
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise MireEvalError(f"{path}: {what} is a directory, not a file") from None
    with f:
        head = f.read(4096)
        f.seek(_check_head(path, head))
        for n, raw in enumerate(f, 1):
            yield n, _decode_line(raw, path, n).rstrip("\n").rstrip("\r")


def open_text(path: str | Path, what: str = "file"):
    """A text-mode file object for streaming readers, past any UTF-8 BOM (wide encodings refused).

    Invalid UTF-8 surfaces as ``UnicodeDecodeError`` from ``read``; the caller, which knows
    its position in the file, reports it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            skip = _check_head(path, f.read(4096))
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise MireEvalError(f"{path}: {what} is a directory, not a file") from None
    f = open(path, encoding="utf-8")
    if skip:
        f.read(1)  # the BOM, one character once decoded
    return f


def read_text(path: str | Path, what: str = "file") -> str:
    """A whole UTF-8 text file as one string, under the rules of :func:`iter_lines`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise MireEvalError(f"{path}: {what} is a directory, not a file") from None
    data = data[_check_head(path, data[:4096]):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MireEvalError(f"{where(path, line)}: encoding: invalid UTF-8") from None


def parse_json(text: str, path: str | Path, line: int | None = None, what: str = "malformed JSON"):
    """``json.loads(text)``; a syntax error or a too-deeply nested value is one line.

    ``line`` is the record's line in a JSON-lines file; for a whole file (``line=None``) the
    parser's own line number is reported.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MireEvalError(f"{where(path, line if line is not None else exc.lineno)}: {what} ({exc.msg})") from None
    except RecursionError:
        raise MireEvalError(f"{where(path, line)}: {what} (nested too deeply)") from None


def check_id(value: str, origin: str, field: str) -> str:
    """``value`` if it can be an id in a TREC run or qrels file, else a one-line error.

    >>> check_id("q1", "queries.jsonl:3", "_id")
    'q1'
    >>> check_id("q 1", "queries.jsonl:3", "_id")
    Traceback (most recent call last):
    ...
    harness.errors.MireEvalError: queries.jsonl:3: field '_id': 'q 1' contains whitespace (TREC run and qrels files cannot hold it)
    """
    if not value:
        raise MireEvalError(f"{origin}: field {field!r}: empty id")
    if _SPACE.search(value):
        raise MireEvalError(f"{origin}: field {field!r}: {value!r} contains whitespace "
                            "(TREC run and qrels files cannot hold it)")
    return value
