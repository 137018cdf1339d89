"""``local:PATH`` tasks: BEIR's layout extended with images and answers (docs/tasks.md).

    corpus.jsonl       {"_id": str, "title": str, "text": str}
    queries.jsonl      {"_id": str, "text": str, "image": "images/x.png" | null, "answers": [str],
                        any other field (e.g. "type"): kept in Query.extra}
    images/            query images, paths relative to the task directory (or to --image-dir),
                       never leaving it
    qrels/<split>.tsv  header "query-id<TAB>corpus-id<TAB>score"

The queries named in a split's qrels form that split. Without any qrels file the task has
one split, ``test``, holding every query, judged by answer match (word boundaries).
Every problem is reported as one line naming the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path

from harness.core.errors import MireEvalError, where
from harness.core.fingerprint import fingerprint_file
from harness.core.runs import iter_qrels
from harness.core.textfiles import check_id, iter_json_lines
from harness.core.types import ANSWER_MATCH, Corpus, FileImage, Qrels, Query, TaskData, TrainExample
from tasks.base import LoadOptions, check_images, corpus_once, resolve_relevance


def _field(obj: dict, name: str, kind, path: Path, n: int, required: bool = True):
    if name not in obj or obj[name] is None:
        if required:
            raise MireEvalError(f"{where(path, n)}: missing field {name!r}")
        return None
    value = obj[name]
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool) and name == "_id":
        value = str(value)  # BEIR files often carry numeric ids
    if not isinstance(value, kind):
        raise MireEvalError(f"{where(path, n)}: field {name!r} must be {kind.__name__}")
    if name == "_id":
        check_id(value, where(path, n), name)
    return value


def image_path(image: str, base: Path, path: Path, n: int) -> Path:
    """``base / image``, refused when it leaves ``base`` (``../``, absolute, a symlink out).

    Local tasks are self-contained folders; images elsewhere are read with ``--image-dir``.
    """
    candidate = base / image
    if Path(image).is_absolute() or not candidate.resolve().is_relative_to(base.resolve()):
        raise MireEvalError(f"{where(path, n)}: field 'image': {image!r} leaves {base} "
                            "(paths are relative to the task folder; use --image-dir for images elsewhere)")
    return candidate


def read_corpus(path: Path) -> Corpus:
    records, seen = [], set()
    for n, obj in iter_json_lines(path):
        pid = _field(obj, "_id", str, path, n)
        if pid in seen:
            raise MireEvalError(f"{where(path, n)}: duplicate _id {pid!r}")
        seen.add(pid)
        records.append({"_id": pid, "title": _field(obj, "title", str, path, n, required=False) or "",
                        "text": _field(obj, "text", str, path, n)})
    if not records:
        raise MireEvalError(f"{path}: corpus is empty")
    return Corpus.from_records(records)


QUERY_FIELDS = ("_id", "text", "image", "answers", "instruction")


def read_queries(path: Path, root: Path) -> list[Query]:
    """Queries of ``path``; image paths are relative to ``root`` and must stay inside it.

    Fields beyond :data:`QUERY_FIELDS` (the diagnostic task's ``type``) are kept, as read,
    in ``Query.extra``, so no reader needs the file a second time.
    """
    queries, seen = [], set()
    for n, obj in iter_json_lines(path):
        qid = _field(obj, "_id", str, path, n)
        if qid in seen:
            raise MireEvalError(f"{where(path, n)}: duplicate _id {qid!r}")
        seen.add(qid)
        image = _field(obj, "image", str, path, n, required=False)
        if image is not None and not image.strip():  # null means "no image"; an empty path is a mistake
            raise MireEvalError(f"{where(path, n)}: field 'image': empty path (use null for a query without image)")
        answers = _field(obj, "answers", list, path, n, required=False) or []
        if not all(isinstance(a, str) for a in answers):
            raise MireEvalError(f"{where(path, n)}: field 'answers' must be a list of strings")
        queries.append(Query(
            id=qid,
            text=_field(obj, "text", str, path, n),
            image=FileImage(image_path(image, root, path, n)) if image else None,
            answers=tuple(answers),
            instruction=_field(obj, "instruction", str, path, n, required=False),
            extra={k: v for k, v in obj.items() if k not in QUERY_FIELDS},
        ))
    if not queries:
        raise MireEvalError(f"{path}: no queries")
    return queries


def read_split_qrels(path: Path, known_queries: set[str], known_passages: set[str]) -> Qrels:
    """A split's qrels; every id must name a query / passage of the task (errors carry the line)."""
    qrels: Qrels = {}
    for n, qid, pid, grade in iter_qrels(path):
        if qid not in known_queries:
            raise MireEvalError(f"{where(path, n)}: query-id: {qid!r} is not in queries.jsonl")
        if pid not in known_passages:
            raise MireEvalError(f"{where(path, n)}: corpus-id: {pid!r} is not in corpus.jsonl")
        qrels.setdefault(qid, {})[pid] = grade
    return qrels


def load_local(root: Path, options: LoadOptions) -> TaskData:
    root = Path(root)
    if not root.is_dir():
        raise MireEvalError(f"{root}: task directory not found (expected corpus.jsonl, queries.jsonl, qrels/)")
    corpus = corpus_once(("local", str((root / "corpus.jsonl").resolve())), lambda: read_corpus(root / "corpus.jsonl"))
    queries = read_queries(root / "queries.jsonl", Path(options.image_dir) if options.image_dir else root)
    splits = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []

    if splits:
        if options.split not in splits:
            raise MireEvalError(f"{root / 'qrels'}: no {options.split}.tsv; splits here: {', '.join(splits)}")
        qrels_path = root / "qrels" / f"{options.split}.tsv"
        qrels = read_split_qrels(qrels_path, {q.id for q in queries}, set(corpus.ids))
        queries = [q for q in queries if q.id in qrels]
        relevance = resolve_relevance(f"local:{root}", options, "qrels", ("qrels", *ANSWER_MATCH))
    else:
        if options.split != "test":
            raise MireEvalError(f"{root}: no qrels/ directory, so the only split is 'test'")
        qrels, relevance = None, resolve_relevance(f"local:{root}", options, "answer-word", ANSWER_MATCH)
        missing = [q.id for q in queries if not q.answers]
        if missing:
            raise MireEvalError(
                f"{root / 'queries.jsonl'}: query {missing[0]!r} has no answers and there are no qrels to judge it")

    queries, skipped = check_images(queries, options.skip_missing_images, options.images)
    if qrels is not None:
        qrels = {q.id: qrels.get(q.id, {}) for q in queries}
    train = None
    if options.split == "train" and qrels is not None:
        row_of = {pid: i for i, pid in enumerate(corpus.ids)}
        train = [TrainExample(q, corpus[row_of[pid]]) for q in queries for pid, g in sorted(qrels[q.id].items()) if g > 0]

    files = [root / "corpus.jsonl", root / "queries.jsonl"] + ([qrels_path] if splits else [])
    return TaskData(
        name=f"local:{root}",
        split=options.split,
        queries=queries,
        corpus=corpus,
        relevance=relevance,
        qrels=qrels if relevance == "qrels" else None,
        train=train,
        meta={
            "source": str(root.resolve()),
            "files": {p.name if p.parent == root else f"qrels/{p.name}": fingerprint_file(p) for p in files},
            "queries": len(queries),
            "passages": len(corpus),
            "skipped_images": len(skipped),
            "skipped_image_query_ids": skipped,
        },
    )
