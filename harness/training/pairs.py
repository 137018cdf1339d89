"""Generic training pairs in JSON lines, for post-training adaptation (``mire-eval pretrain``).

One object per line; every field but ``passage`` is optional, but a line needs a
``question`` or an ``image`` (or both)::

    {"question": "what is shown?", "image": "coco/1.jpg", "passage": "A dog on a sofa."}   # VQA-style
    {"image": "coco/2.jpg", "passage": "Two cats asleep."}                                # image-caption
    {"question": "who wrote Hamlet?", "passage": "Hamlet is a tragedy by Shakespeare."}   # text-text
    {"id": "x1", "instruction": "Find the article.", "question": "...", "title": "Hamlet",
     "passage": "...", "passage_id": "wiki:123", "negatives": ["a passage", {"title": "t", "text": "b"}]}

``image`` is a path relative to ``--image-dir`` when given, else to the file's directory.
``passage_id`` defaults to a hash of title and text, so identical passages share an id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.core.errors import MireEvalError, where
from harness.core.textfiles import iter_lines, parse_json
from harness.core.types import FileImage, Passage, Query, TrainExample


def _passage(value, origin: str, field: str, pid: str | None = None) -> Passage:
    if isinstance(value, str):
        title, text = "", value
    elif isinstance(value, dict) and isinstance(value.get("text"), str):
        title, text = str(value.get("title") or ""), value["text"]
    else:
        raise MireEvalError(f"{origin}: field {field!r}: expected a string or {{'title', 'text'}}")
    if not text.strip():
        raise MireEvalError(f"{origin}: field {field!r}: empty passage")
    pid = pid or "h" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]
    return Passage(pid, title, text)


def read_pairs(path: str | Path, image_dir: str | Path | None = None) -> list[TrainExample]:
    """Read a pairs file into training examples (errors name the file, line and field)."""
    path = Path(path)
    if not path.is_file():
        raise MireEvalError(f"{path}: training data file not found")
    base = Path(image_dir) if image_dir is not None else path.parent
    out: list[TrainExample] = []
    for n, line in iter_lines(path, "training data file"):
        if not line.strip():
            continue
        origin = where(path, n)
        row = parse_json(line, path, n, what="not valid JSON")
        if not isinstance(row, dict) or "passage" not in row:
            raise MireEvalError(f"{origin}: field 'passage': missing")
        question = row.get("question") or ""
        image = None
        if row.get("image"):
            image_path = base / row["image"]
            if not image_path.is_file():
                raise MireEvalError(f"{image_path}: field 'image' of {origin}: file not found")
            image = FileImage(image_path)
        if not question and image is None:
            raise MireEvalError(f"{origin}: needs a 'question' or an 'image'")
        title = str(row.get("title") or "")
        positive = _passage({"title": title, "text": row["passage"]}, origin, "passage", row.get("passage_id"))
        negatives = row.get("negatives") or []
        if not isinstance(negatives, list):
            raise MireEvalError(f"{origin}: field 'negatives': expected a list")
        query = Query(str(row.get("id") or f"{path.stem}:{n}"), question, image, (), row.get("instruction"))
        out.append(TrainExample(query, positive, tuple(_passage(x, origin, "negatives") for x in negatives)))
    if not out:
        raise MireEvalError(f"{path}: no training pairs")
    return out
