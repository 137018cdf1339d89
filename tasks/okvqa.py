"""OK-VQA over the Google-Search corpus (GS112K / "OKVQA-GS"), the RA-VQA / FLMR release.

Questions: ``retriever_{test,testdev,train}.json`` of the RA-VQA v2 release (RA-VQA schema,
captions removed from the questions as MIRe does; negatives, which only MIRe's own
``retriever_train_w_negs.json`` carries, are optional). Corpus: ``okvqa_full_clean_corpus.csv``
(``kid,text``). Layouts: the files directly in ``--data-dir``, the release as unpacked
(``[RAVQA_v2_data/]okvqa/pre-extracted_features/passages/``), or MIRe's ``data/okvqa``.
Images: COCO 2014. Relevance: a passage is relevant when it contains an answer as a whole
word (``answer-word``), the pseudo-relevance of RA-VQA/FLMR/MIRe; the paper reports PR@5.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness.core.types import FileImage, Query, TaskData, TrainExample
from tasks.base import LoadOptions, TaskSpec, corpus_once
from tasks.images import coco_image_path, coco_manual_files, coco_root
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

NAME = "okvqa"
RAVQA_SUBDIRS = ("", "RAVQA_v2_data/okvqa/pre-extracted_features/passages",
                 "okvqa/pre-extracted_features/passages", "pre-extracted_features/passages")
SPLIT_FILES = {"test": "retriever_test.json", "testdev": "retriever_testdev.json",
               "train": "retriever_train.json"}
COCO_SPLIT = {"test": "val", "testdev": "val", "train": "train"}
CORPUS_FILE = "okvqa_full_clean_corpus.csv"
TRAIN_SEED = 2024  # MIRe's config seed; the positive is drawn once, when the split is built
RAVQA_SOURCE = ("RA-VQA v2 data: hub dataset BByrneLab/RAVQAV2Data (`hf download BByrneLab/RAVQAV2Data "
                "--repo-type dataset --local-dir DIR`; one large .tar.gz: untar it, then unzip the zips "
                "inside), as linked from github.com/LinWeizheDragon/Retrieval-Augmented-Visual-Question-Answering")
CORPUS_SOURCE = ("the Vis-DPR release (Luo et al. 2021, github.com/luomancs/retriever_reader_for_okvqa), "
                 "also inside the RA-VQA v2 data")


def load(options: LoadOptions) -> TaskData:
    root = data_root(NAME, options)
    questions = find_file(NAME, root, SPLIT_FILES[options.split], RAVQA_SUBDIRS, "questions")
    corpus_file = find_file(NAME, root, CORPUS_FILE, RAVQA_SUBDIRS, "Google-Search corpus")
    records, no_ctxs = parse_ctx_release(questions)
    images = coco_root(options)
    queries = [Query(r.qid, r.question, FileImage(coco_image_path(images, f"{r.image_id}.jpg")), r.answers)
               for r in records]
    train = None
    if options.split == "train":
        rng = random.Random(TRAIN_SEED)
        train = [TrainExample(q, rng.choice(r.ctxs), r.negs) for q, r in zip(queries, records)]
    return assemble(
        NAME, options, queries, corpus_once((NAME, str(corpus_file.resolve())), lambda: read_kid_text_csv(corpus_file)),
        relevance=TASK.resolve_relevance(options),
        train=train,
        meta={"source": "RA-VQA v2 data (BByrneLab/RAVQAV2Data); corpus of Vis-DPR", "files": [file_digest(questions), file_digest(corpus_file)],
              "image_dir": str(images), "skipped_without_ctxs": no_ctxs},
    )


def fetch(options: LoadOptions, images: bool = True) -> Path:
    """Check what ``options.split`` needs: its question file, the corpus, its COCO folder."""
    files = [ManualFile(SPLIT_FILES[options.split], RAVQA_SOURCE, RAVQA_SUBDIRS),
             ManualFile(CORPUS_FILE, CORPUS_SOURCE, RAVQA_SUBDIRS),
             *coco_manual_files(COCO_SPLIT[options.split])]
    return manual_fetch(NAME, options, files, coco_root(options), images)


TASK = TaskSpec(
    name=NAME,
    description="OK-VQA questions over the 166K-passage Google-Search corpus (RA-VQA/FLMR), answer match",
    source=RAVQA_SOURCE,
    relevance="answer-word",
    main_metric="hit_rate@5",
    paper_metric="PR@5 (MRR@5 in MIRe's zero-shot table)",
    relevances=("answer-word", "answer-substring"),
    splits=("test", "testdev", "train"),
    load=load,
    fetch=fetch,
)
