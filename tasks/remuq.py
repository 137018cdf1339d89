"""ReMuQ (Luo et al., ACL 2023): WebQA questions rewritten to need both image and text.

Questions: ``test.json`` / ``train.json`` (RA-VQA schema; the gold passage is ``ctxs[0]``).
Corpus: ``open_corpus_195837.csv`` (``kid,text``, 195,837 passages). Images: base64 lines of
WebQA's ``imgs.tsv``, found through ``imgs.lineidx``. Relevance: the gold passage id; the
paper reports R@5 (a hit rate: one relevant passage per query).
"""

from __future__ import annotations

from pathlib import Path

from harness.types import Query, TaskData, TrainExample
from tasks.base import LoadOptions, TaskSpec, corpus_once
from tasks.images import WebQAImages
from tasks.releases import (
    ManualFile,
    assemble,
    data_root,
    file_digest,
    find_file,
    manual_fetch,
    parse_ctx_release,
    read_kid_text_csv,
)

NAME = "remuq"
CORPUS_FILE = "open_corpus_195837.csv"
# WebQA's own release unpacks to imgs/imgs.tsv; MIRe keeps data/remuq/ beside data/webqa/
IMAGE_SUBDIRS = ("", "webqa", "imgs", "../webqa")
RELEASE = "ReMuQ release (Google Drive folder linked from github.com/luomancs/ReMuQ)"


def image_root(options: LoadOptions) -> Path:
    return Path(options.image_dir) if options.image_dir else data_root(NAME, options)


def load(options: LoadOptions) -> TaskData:
    root = data_root(NAME, options)
    questions = find_file(NAME, root, f"{options.split}.json", what="questions")
    corpus_file = find_file(NAME, root, CORPUS_FILE, what="passages")
    tsv = find_file(NAME, image_root(options), "imgs.tsv", IMAGE_SUBDIRS, "WebQA images")
    lineidx = find_file(NAME, tsv.parent, "imgs.lineidx", what="WebQA image offsets")
    image_of = WebQAImages(tsv, lineidx)

    records, no_ctxs = parse_ctx_release(questions)
    queries = [Query(r.qid, r.question, image_of(r.image_id), r.answers) for r in records]
    qrels = {r.qid: {r.ctxs[0].id: 1} for r in records}
    train = None
    if options.split == "train":
        train = [TrainExample(q, r.ctxs[0]) for q, r in zip(queries, records)]
    return assemble(
        NAME, options, queries, corpus_once((NAME, str(corpus_file.resolve())), lambda: read_kid_text_csv(corpus_file)),
        relevance=TASK.resolve_relevance(options),
        qrels=qrels, train=train,
        meta={"source": RELEASE, "files": [file_digest(p) for p in (questions, corpus_file, lineidx, tsv)],
              "image_tsv": str(tsv), "skipped_without_ctxs": no_ctxs},
    )


def fetch(options: LoadOptions, images: bool = True) -> Path:
    files = [ManualFile(f"{options.split}.json", RELEASE), ManualFile(CORPUS_FILE, RELEASE),
             ManualFile("imgs.tsv", f"{RELEASE} (WebQA images)", IMAGE_SUBDIRS, "images"),
             ManualFile("imgs.lineidx", f"{RELEASE} (WebQA image offsets)", IMAGE_SUBDIRS, "images")]
    def coverage(found: dict, targets: dict) -> list | None:
        """Every question's image is a line of WebQA's imgs.tsv (found by imgs.lineidx)."""
        questions = found.get(f"{options.split}.json")
        if questions is None:
            return None
        records, _ = parse_ctx_release(questions)
        return [("WebQA image ids", len(records), targets["imgs.tsv"])]

    return manual_fetch(NAME, options, files, image_root(options), images, coverage)


TASK = TaskSpec(
    name=NAME,
    description="ReMuQ: WebQA image + rewritten question -> 195,837 passages, gold passage id",
    source=RELEASE,
    relevance="qrels",
    main_metric="hit_rate@5",
    paper_metric="R@5 (MRR@5 in MIRe's zero-shot table)",
    relevances=("qrels", "answer-word", "answer-substring"),
    splits=("test", "train"),
    load=load,
    fetch=fetch,
)
