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

from harness.core.errors import MireEvalError, where

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


def open_text(path: str | Path, what: str = "file"):
    """A text-mode file object past any UTF-8 BOM (wide encodings refused), split on ``\\n``.

    Invalid UTF-8 surfaces as ``UnicodeDecodeError`` from reading: :func:`iter_lines` turns
    it into a line number; a streaming caller reports its own position.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            skip = _check_head(path, f.read(4096))
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise MireEvalError(f"{path}: {what} is a directory, not a file") from None
    f = open(path, encoding="utf-8", newline="\n")
    if skip:
        f.read(1)  # the BOM, one character once decoded
    return f


def _first_bad_line(path: Path) -> int:
    """The number of the first line of ``path`` that is not valid UTF-8 (the slow path)."""
    n = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return n


def invalid_utf8(path: str | Path) -> MireEvalError:
    """The one-line error for a file that does not decode as UTF-8, naming its first bad line
    (for streaming readers that catch ``UnicodeDecodeError`` from :func:`open_text`)."""
    return MireEvalError(f"{where(path, _first_bad_line(Path(path)))}: encoding: invalid UTF-8")


def iter_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for every line of a UTF-8 text file, line ending removed.

    Lines are numbered from 1 and split on ``\\n`` only (a trailing ``\\r`` is dropped), as
    trec_eval and ``wc -l`` count them. ``what`` names the file in the not-found error.
    Text is decoded in blocks (fast); only a file with invalid UTF-8 is scanned again, line
    by line, to name the line.
    """
    with open_text(path, what) as f:
        try:
            for n, line in enumerate(f, 1):
                yield n, line.rstrip("\n").rstrip("\r")
        except UnicodeDecodeError:
            raise invalid_utf8(path) from None


def read_text(path: str | Path, what: str = "file") -> str:
    """A whole UTF-8 text file as one string, under the rules of :func:`iter_lines`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MireEvalError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise MireEvalError(f"{path}: {what} is a directory, not a file") from None
    skip = _check_head(path, data[:4096])
    try:
        return str(memoryview(data)[skip:], "utf-8")  # no copy of a file that may be hundreds of MiB
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, skip + exc.start) + 1
        raise MireEvalError(f"{where(path, line)}: encoding: invalid UTF-8") from None


def parse_json(text: str, path: str | Path, line: int | None = None, what: str = "malformed JSON"):
    """``json.loads(text)``; a syntax error or a too-deeply nested value is one line.

    ``line`` is the record's line in a JSON-lines file; for a whole file (``line=None``) the
    parser's own line number is reported.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MireEvalError(f"{where(path, line if line is not None else exc.lineno)}: {what} ({exc.msg})") from None
    except RecursionError:
        raise MireEvalError(f"{where(path, line)}: {what} (nested too deeply)") from None
    # JSON's \uXXXX escapes can spell half of a UTF-16 surrogate pair; Python keeps it as a lone
    # surrogate, which no UTF-8 writer (pyarrow, hashing, run files) can encode. Only an escape
    # can make one (the text itself was decoded from UTF-8), so the walk runs only when one appears.
    if _SURROGATE_ESCAPE.search(text):
        field = _lone_surrogate(value)
        if field is not None:
            raise MireEvalError(f"{where(path, line)}: {field}: not valid Unicode (lone surrogate)")
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(value, field: str = "") -> str | None:
    """The field (``text``, ``answers[2]``) holding a string with a lone surrogate, else None.

    >>> _lone_surrogate({"_id": "q", "answers": ["a", "\\ud800"]})
    'answers[1]'
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return field or "value"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _lone_surrogate(key, f"{field}.{key!r}" if field else "key") \
                or _lone_surrogate(item, f"{field}.{key}" if field else str(key))
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _lone_surrogate(item, f"{field}[{i}]")
            if found is not None:
                return found
    return None


def check_id(value: str, origin: str, field: str) -> str:
    """``value`` if it can be an id in a TREC run or qrels file, else a one-line error.

    >>> check_id("q1", "queries.jsonl:3", "_id")
    'q1'
    >>> check_id("q 1", "queries.jsonl:3", "_id")
    Traceback (most recent call last):
    ...
    harness.core.errors.MireEvalError: queries.jsonl:3: field '_id': 'q 1' contains whitespace (TREC run and qrels files cannot hold it)
    """
    if not value:
        raise MireEvalError(f"{origin}: field {field!r}: empty id")
    if _SPACE.search(value):
        raise MireEvalError(f"{origin}: field {field!r}: {value!r} contains whitespace "
                            "(TREC run and qrels files cannot hold it)")
    return value


def load_json(path: Path):
    """A whole JSON file (UTF-8, BOM allowed, see above)."""
    return parse_json(read_text(path), path)


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line_number, record)`` for each non-blank line of a JSON-lines file.

    Encoding, BOM and nesting rules are this module's, shared by every reader.
    """
    for n, line in iter_lines(path):
        if not line.strip():
            continue
        record = parse_json(line, path, n, what="malformed JSON line")
        if not isinstance(record, dict):
            raise MireEvalError(f"{where(path, n)}: expected a JSON object per line")
        yield n, record


def read_csv_rows(path: str | Path, what: str = "file") -> list[dict[str, str]]:
    """The rows of a CSV file with a header line, as ``csv.DictReader`` gives them.

    Encoding rules are this module's (a damaged file is one line naming it, never a
    ``UnicodeDecodeError``); a malformed row (a NUL byte, an unclosed quote) names its line.
    """
    import csv
    import io

    reader = csv.DictReader(io.StringIO(read_text(path, what), newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        raise MireEvalError(f"{where(path, reader.line_num)}: malformed CSV ({exc})") from None


def load_json_object(path: Path, what: str = "file") -> dict:
    """A whole JSON file that must hold an object (metrics.json, meta.json, probe.json ...):
    :func:`load_json`'s rules, and any other value is one line, not an ``AttributeError`` later."""
    value = parse_json(read_text(path, what), path)
    if not isinstance(value, dict):
        raise MireEvalError(f"{where(path, 1)}: expected a JSON object, found {type(value).__name__}")
    return value
