"""Reading the benchmarks' public releases: files, fields, fingerprints, one-line errors.

Every task adapter reads a release in its authors' own layout. What they share lives here:
finding a file (or saying exactly where to put it), reading JSON / JSON lines / ``kid,text``
CSV corpora with errors that name the file and the field, fingerprinting files for meta.json,
the RA-VQA ``ctxs`` schema shared by OK-VQA-GS and ReMuQ, and the final assembly of a
:class:`~harness.core.types.TaskData` (image checks, counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from harness.core.fingerprint import SAMPLED_METHOD, fingerprint_file
from harness.core.errors import MireEvalError, where
from harness.core.textfiles import check_id, iter_json_lines, iter_lines, load_json, parse_json, read_text  # noqa: F401 (re-exported)
from harness.core.types import Corpus, Passage, Query, TaskData, TrainExample
from tasks.base import LoadOptions, check_images


# --------------------------------------------------------------------------------------------
# Where a release lives
# --------------------------------------------------------------------------------------------
def data_root(task: str, options: LoadOptions) -> Path:
    """``--data-dir`` when given, else ``<cache>/<task>`` (where ``mire-eval fetch`` puts it)."""
    return Path(options.data_dir) if options.data_dir else Path(options.cache_dir) / task


def find_file(task: str, root: Path, name: str, subdirs: Sequence[str] = ("",), what: str = "") -> Path:
    """``root/<subdir>/name`` for the first subdir holding it, else a one-line error.

    The error names the file, the directory searched and how to get it.
    """
    for sub in subdirs:
        candidate = root / sub / name if sub else root / name
        if candidate.is_file():
            return candidate
    label = f" ({what})" if what else ""
    raise MireEvalError(
        f"{task}: missing {name}{label} in {root}; put the release's files there or pass "
        f"--data-dir DIR (`mire-eval fetch {task}` says where to get them)"
    )


# --------------------------------------------------------------------------------------------
# Reading files with errors that name file and field
# --------------------------------------------------------------------------------------------
def get_field(record: dict, name: str, origin: str, kind: type | tuple[type, ...] | None = None):
    """``record[name]``, or a one-line error naming the file location and the field.

    >>> get_field({"a": 1}, "a", "x.json:3")
    1
    >>> get_field({"a": 1}, "b", "x.json:3")
    Traceback (most recent call last):
    ...
    harness.core.errors.MireEvalError: x.json:3: missing field 'b'
    """
    if not isinstance(record, dict) or name not in record:
        raise MireEvalError(f"{origin}: missing field {name!r}")
    value = record[name]
    if kind is not None and not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise MireEvalError(f"{origin}: field {name!r} should be {expected}, got {type(value).__name__}")
    return value


def read_kid_text_csv(path: Path, block_size: int = 64 << 20) -> Corpus:
    """A ``kid,text`` CSV corpus (OK-VQA-GS, ReMuQ) read column-wise by Arrow.

    Ids are typed as pandas would read them, then turned into strings, so an integer
    ``kid`` 0042 becomes ``"42"`` exactly as the reference's ``str(kid)``. Quoted passages
    may span lines (as pandas reads them): without ``newlines_in_values`` Arrow splits its
    parallel blocks at a newline inside quotes and fails when one falls on a block boundary.
    """
    from pyarrow import csv

    try:
        table = csv.read_csv(path, read_options=csv.ReadOptions(block_size=block_size),
                             parse_options=csv.ParseOptions(newlines_in_values=True))
    except pa.ArrowInvalid as exc:
        raise MireEvalError(f"{path}: malformed CSV ({str(exc).splitlines()[0]})") from None
    for column in ("kid", "text"):
        if column not in table.column_names:
            raise MireEvalError(f"{path}: missing column {column!r} (found {', '.join(table.column_names)})")
    ids = table.column("kid")
    if pa.types.is_floating(ids.type):  # pandas would have read float ids; keep its spelling
        ids = pa.array([None if v is None else str(v) for v in ids.to_pylist()], pa.string())
    ids = ids.cast(pa.string())
    if ids.null_count:
        raise MireEvalError(f"{path}: field 'kid' is empty in {ids.null_count} row(s)")
    texts = table.column("text").cast(pa.string()).fill_null("")
    titles = pa.nulls(len(table), pa.string()).fill_null("")
    return Corpus(pa.table({"_id": ids, "title": titles, "text": texts}, schema=Corpus.SCHEMA))


# --------------------------------------------------------------------------------------------
# Fingerprints recorded in meta.json
# --------------------------------------------------------------------------------------------
def file_digest(path: Path) -> dict:
    """A file's name, size and fingerprint (:func:`harness.core.fingerprint.fingerprint_file`).

    ``sha256`` for files read whole; above the size threshold ``fingerprint`` with its
    ``method``, so nobody mistakes a sampled fingerprint for a content hash. Recorded as a file
    the task read.
    """
    path = Path(path)
    value = fingerprint_file(path)
    size = path.stat().st_size
    if value.startswith("sampled-"):
        return {"file": path.name, "bytes": size, "fingerprint": value, "method": SAMPLED_METHOD}
    return {"file": path.name, "bytes": size, "sha256": value}


# --------------------------------------------------------------------------------------------
# The RA-VQA "ctxs" schema (OK-VQA Google-Search, ReMuQ): MIRe's dataset/vqa_ret.py rules
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CtxRecord:
    """One question of a ``retriever_*.json`` / ReMuQ ``*.json`` file, as the reference reads it."""

    qid: str
    image_id: str
    question: str  # the caption already removed
    answers: tuple[str, ...]
    ctxs: tuple[Passage, ...]  # pseudo-positive (OK-VQA-GS) or gold-first (ReMuQ) passages
    negs: tuple[Passage, ...]


def remove_caption(question: str, caption: str | None) -> str:
    """The question with the image caption cut out, as the reference does it.

    Every occurrence of the caption string is deleted, then the ends are stripped
    (``question.replace(caption, "").strip()``); a record without a caption keeps its
    question exactly as written.

    >>> remove_caption("a man riding a horse What is he holding?", "a man riding a horse")
    'What is he holding?'
    >>> remove_caption(" Why? ", None)
    ' Why? '
    """
    if caption is None:
        return question
    return question.replace(caption, "").strip()


def _passages(items, origin: str, field: str, qid: str) -> tuple[Passage, ...]:
    if not isinstance(items, list):
        raise MireEvalError(f"{origin}: field {field!r} should be a list")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):  # some releases store negatives as bare strings
            out.append(Passage(f"{qid}-{field}{i}", "", item.strip()))
            continue
        at = f"{origin}: {field}[{i}]"
        out.append(Passage(str(get_field(item, "id", at)), "", str(get_field(item, "text", at)).strip()))
    return tuple(out)


def parse_ctx_release(path: Path) -> tuple[list[CtxRecord], int]:
    """Questions of an RA-VQA-schema JSON file, in the reference's order and with its skips.

    * a record with an empty ``ctxs`` list is skipped (counted in the second return value);
    * ``answers`` is a dict answer -> count whose keys are the answers;
    * the caption is removed from the question when the record has one;
    * the reference keys its queries by ``question_id`` (a later duplicate replaces an
      earlier one) and searches them sorted by that key; so do we.
    """
    data = load_json(path)
    if not isinstance(data, list):
        raise MireEvalError(f"{path}: expected a JSON list of questions")
    by_qid: dict = {}
    skipped = 0
    for i, sample in enumerate(data):
        origin = f"{path}: item {i}"
        raw_qid = get_field(sample, "question_id", origin, (str, int))
        qid = str(raw_qid)
        img_id = str(get_field(sample, "img_id", origin, (str, int)))
        question = remove_caption(get_field(sample, "question", origin, str), sample.get("caption"))
        ctxs = _passages(get_field(sample, "ctxs", origin), origin, "ctxs", qid)
        if not ctxs:
            skipped += 1
            continue
        answers = get_field(sample, "answers", origin, (dict, list))
        answers = tuple(str(a) for a in (answers.keys() if isinstance(answers, dict) else answers))
        negs = _passages(sample.get("negs", []), origin, "negs", qid)
        by_qid[raw_qid] = CtxRecord(qid, img_id, question, answers, ctxs, negs)
    return [by_qid[k] for k in sorted(by_qid, key=_qid_key)], skipped


def _qid_key(raw):
    """Sort key: integers numerically, strings as strings (never mixed in one release)."""
    return (0, raw, "") if isinstance(raw, int) else (1, 0, str(raw))


# --------------------------------------------------------------------------------------------
# Images beyond plain files, and the final TaskData
# --------------------------------------------------------------------------------------------
def check_all_images(queries: Sequence[Query], skip: bool, images: bool = True) -> tuple[list[Query], list[str]]:
    """:func:`tasks.base.check_images`, which decodes every kind of image reference."""
    return check_images(queries, skip, images)


def assemble(
    name: str,
    options: LoadOptions,
    queries: list[Query],
    corpus: Corpus,
    relevance: str,
    qrels: dict | None = None,
    train: Iterable[TrainExample] | None = None,
    meta: dict | None = None,
) -> TaskData:
    """Check ids and images (error or skip-and-count), drop skipped queries everywhere, record counts."""
    check_release_ids(name, queries, corpus)
    kept, skipped = check_all_images(queries, options.skip_missing_images, options.images)
    dropped = set(skipped)
    if relevance != "qrels":  # answer-match qrels are materialised by harness.evaluation.relevance
        qrels = None
    if qrels is not None:
        qrels = {q.id: qrels.get(q.id, {}) for q in kept}
    if train is not None:
        train = [ex for ex in train if ex.query.id not in dropped]
    meta = {
        **(meta or {}),
        "task": name,
        "split": options.split,
        "relevance": relevance,
        "queries": len(kept),
        "passages": len(corpus),
        "skipped_images": len(skipped),
        "skipped_image_query_ids": skipped[:50],
        "skipped_image_examples": _image_keys(queries, skipped[:3]),
    }
    if qrels is not None:
        meta["queries_without_relevant"] = sum(1 for q in kept if not qrels.get(q.id))
    return TaskData(name=name, split=options.split, queries=kept, corpus=corpus,
                    relevance=relevance, qrels=qrels, train=train, meta=meta)


def _image_keys(queries: Sequence[Query], ids: Sequence[str]) -> list[str]:
    """The image references (paths, tsv#id) of the queries ``ids``, in that order."""
    wanted = set(ids)
    keys = {q.id: q.image.key for q in queries if q.id in wanted and q.image is not None}
    return [keys[i] for i in ids if i in keys]


def check_release_ids(name: str, queries: Sequence[Query], corpus: Corpus) -> None:
    """Every query and passage id can stand in a TREC run or qrels file (non-empty, no
    whitespace: trec_eval splits those lines on whitespace), else a one-line error.

    The local loader checks each id with its file and line (:func:`harness.core.textfiles.check_id`);
    a release's ids come from many files and formats, so they are checked once here, the corpus
    column by one Arrow pass (no Python object per passage, also for Wiki-11M).
    """
    import pyarrow.compute as pc

    for q in queries:
        check_id(q.id, f"{name}: query", "question_id")
    ids = corpus.table.column("_id")
    bad = pc.or_(pc.equal(pc.utf8_length(ids), 0), pc.match_substring_regex(ids, r"\s"))
    if pc.any(bad).as_py():
        first = pc.filter(ids, bad)[0].as_py()
        check_id(first, f"{name}: corpus", "passage id")


# --------------------------------------------------------------------------------------------
# `mire-eval fetch` for releases that are not on a hub
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ManualFile:
    """A file the user must download by hand: its name, where it may sit, where to get it."""

    name: str
    source: str
    subdirs: tuple[str, ...] = ("",)
    folder: str = "data"  # "data" (under --data-dir) or "images" (under --image-dir)
    is_dir: bool = False
    size: str = ""  # the download's size as its source states it, when it does


def manual_fetch(task: str, options: LoadOptions, files: Sequence[ManualFile], image_root: Path,
                 images: bool = True, coverage=None) -> Path:
    """Check a hand-downloaded release: print the plan, what is there (with hashes) and what
    is missing.

    First the plan: every file the split needs, its target path, source and (where the
    source states it) size. Then one line per file, ``ok`` or ``missing``; then, with
    ``images``, the image coverage (``coverage(found, targets)``: lines ``(prefix, count,
    folder)`` computed from the files found, ``folder`` the planned target holding those
    images or None; None when the question file is not there yet) where an uncovered line is
    an error; then a one-line error says how many files are missing. Only
    the files of ``files`` are checked: tasks pass what one split needs.
    """
    root = data_root(task, options)
    wanted = [spec for spec in files if images or spec.folder != "images"]
    print(f"{task}: the {options.split} split needs {len(wanted)} file(s), downloaded by hand (not from a hub):")
    for spec in wanted:
        base = image_root if spec.folder == "images" else root
        size = f"  [{spec.size}]" if spec.size else ""
        print(f"  {base / spec.subdirs[0] / spec.name}{'/' if spec.is_dir else ''}  <- {spec.source}{size}")
    missing, found_files = [], {}
    targets = {spec.name: (image_root if spec.folder == "images" else root) / spec.subdirs[0] / spec.name
               for spec in wanted}
    for spec in files:
        if spec.folder == "images" and not images:
            continue
        base = image_root if spec.folder == "images" else root
        found = next((base / s / spec.name for s in spec.subdirs
                      if (base / s / spec.name).is_dir() or (base / s / spec.name).is_file()), None)
        if found is not None:
            found_files[spec.name] = targets[spec.name] = found
        if found is None:
            missing.append((spec, base / spec.subdirs[0] / spec.name))
        elif spec.is_dir:
            print(f"ok      {found}/ ({sum(1 for _ in found.iterdir())} entries)")
        else:
            digest = file_digest(found)
            print(f"ok      {found} ({digest.get('sha256') or digest['fingerprint']})")
    for spec, target in missing:
        size = f" [{spec.size}]" if spec.size else ""
        print(f"missing {target}{'/' if spec.is_dir else ''}  <- {spec.source}{size}")
    cover = coverage(found_files, targets) if images and coverage is not None else None
    if cover is not None:
        print(f"{task}: image coverage of the {options.split} split (image reference, images, where):")
        for prefix, count, folder in cover:
            print(f"  {prefix:<24} {count:>8} image(s)  {'<- ' + str(folder) if folder else 'NOT COVERED by the plan'}")
        uncovered = [(p, n) for p, n, folder in cover if not folder]
        if uncovered:
            raise MireEvalError(f"{task}: the {options.split} split references {sum(n for _, n in uncovered)} image(s) "
                                f"that no folder of the plan holds ({', '.join(p for p, _ in uncovered)})")
    if missing:
        raise MireEvalError(
            f"{task}: {len(missing)} file(s) missing (listed above with where to get them); "
            f"put them at the paths shown under {root} (or pass --data-dir / --image-dir)"
        )
    print(f"{task}: release complete in {root}")
    return root
