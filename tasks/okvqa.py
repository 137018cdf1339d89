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
from collections import Counter
from pathlib import Path

from harness.types import FileImage, Query, TaskData, TrainExample
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
RAVQA_ARCHIVE = "RAVQA_v2_data.tar.gz"
RAVQA_SIZE = "31.1 GB"  # the file's size on the hub dataset's file list (BByrneLab/RAVQAV2Data), as published
RAVQA_SOURCE = (f"RA-VQA v2 data: hub dataset BByrneLab/RAVQAV2Data (`hf download BByrneLab/RAVQAV2Data "
                f"--repo-type dataset --local-dir DIR`: one {RAVQA_ARCHIVE}, {RAVQA_SIZE}; untar it, then unzip "
                "the zips inside it, the passages' among them), as linked from "
                "github.com/LinWeizheDragon/Retrieval-Augmented-Visual-Question-Answering")
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
    inside = f"inside {RAVQA_ARCHIVE} ({RAVQA_SIZE})"
    files = [ManualFile(SPLIT_FILES[options.split], RAVQA_SOURCE, RAVQA_SUBDIRS, size=inside),
             ManualFile(CORPUS_FILE, CORPUS_SOURCE, RAVQA_SUBDIRS, size=inside),
             *coco_manual_files(COCO_SPLIT[options.split])]
    planned = f"{COCO_SPLIT[options.split]}2014"

    def coverage(found: dict, targets: dict) -> list | None:
        """COCO images by the split folder their ids name (``COCO_val2014_...``) against the
        one COCO folder the plan holds."""
        if SPLIT_FILES[options.split] not in found:
            return None
        records, _ = parse_ctx_release(found[SPLIT_FILES[options.split]])
        counts = Counter(r.image_id.split("_")[1] if r.image_id.count("_") >= 2 else r.image_id for r in records)
        return [(f"COCO_{folder}_*", n, targets[planned] if folder == planned else None)
                for folder, n in sorted(counts.items())]

    return manual_fetch(NAME, options, files, coco_root(options), images, coverage)


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
