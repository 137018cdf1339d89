"""OK-VQA over 11M Wikipedia passages ("OKVQA-WK11M"), the okvqa-release of Qu et al. (2021).

Corpus: ``all_blocks.txt`` (JSON lines ``{"id", "text"}``, ~11M passages), streamed once into
a memory-mapped Arrow file in the cache. Questions: ``test2014_pairs_cap_combine_sum.txt``
(JSON lines; the train split reads ``train2014_pairs_cap_combine_sum.txt``). Answers come
from the VQA-format OK-VQA val files, as MIRe's ``DynamicEval`` takes them: the lower-cased,
non-empty human answers. Relevance: whole-word answer match; the paper reports MRR@5.

Layouts (both read from ``--data-dir``): the okvqa-release as downloaded, with the pair files
under ``data/`` and ``all_blocks.txt``, ``passage_id_to_line_id.json`` and the VQA files at the
top; or MIRe's flat ``data/okvqa/`` with every file side by side.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import MireEvalError
from harness.textfiles import iter_json_lines
from harness.types import FileImage, Passage, Query, TaskData, TrainExample
from tasks.base import LoadOptions, TaskSpec, corpus_once
from tasks.blocks import blocks_corpus
from tasks.images import coco_file_name, coco_image_path, coco_manual_files, coco_root
from tasks.releases import (
    ManualFile,
    assemble,
    data_root,
    file_digest,
    find_file,
    get_field,
    load_json,
    manual_fetch,
)

NAME = "okvqa-wiki11m"
PAIRS = {"test": "test2014_pairs_cap_combine_sum.txt", "train": "train2014_pairs_cap_combine_sum.txt"}
PAIRS_SUBDIRS = ("data", "")  # the okvqa-release's own layout first, then MIRe's flat copy
COCO_SPLIT = {"test": "val", "train": "train"}
BLOCKS = "all_blocks.txt"
ANNOTATIONS = "mscoco_val2014_annotations.json"
QUESTIONS = "OpenEnded_mscoco_val2014_questions.json"
RELEASE = "okvqa-release (github.com/prdwb/okvqa-release, Qu et al. SIGIR 2021)"
# the release's README links (github.com/prdwb/okvqa-release, README.md, "Data and checkpoints")
BLOCKS_URL = "https://ciir.cs.umass.edu/downloads/ORConvQA/all_blocks.txt.gz"
FILES_URL = "https://ciir.cs.umass.edu/downloads/okvqa/"
OKVQA_SITE = "https://okvqa.allenai.org/static/data/{}.zip (unzip)"


def vqa_answers(annotations: Path, questions: Path) -> dict[int, tuple[str, ...]]:
    """question_id -> its answers: lower-cased, empty ones dropped, duplicates merged.

    The question file is read (and checked) too, as the VQA API the reference uses does.
    """
    asked = {get_field(q, "question_id", f"{questions}: questions[{i}]")
             for i, q in enumerate(get_field(load_json(questions), "questions", str(questions), list))}
    out = {}
    for i, ann in enumerate(get_field(load_json(annotations), "annotations", str(annotations), list)):
        at = f"{annotations}: annotations[{i}]"
        qid = get_field(ann, "question_id", at, int)
        if qid not in asked:
            raise MireEvalError(f"{at}: question_id {qid} is not in {questions.name}")
        answers = [str(get_field(a, "answer", f"{at}.answers[{j}]")).lower()
                   for j, a in enumerate(get_field(ann, "answers", at, list))]
        out[qid] = tuple(sorted({a for a in answers if a}))
    return out


def load(options: LoadOptions) -> TaskData:
    root = data_root(NAME, options)
    pairs = find_file(NAME, root, PAIRS[options.split], PAIRS_SUBDIRS, "question/passage pairs")
    blocks = find_file(NAME, root, BLOCKS, what="Wikipedia passages")
    split_dir = "train" if "train" in pairs.name else "val"  # the reference reads it off the file name
    answers = {}
    files = [file_digest(pairs), file_digest(blocks)]
    if options.split == "test":
        annotations = find_file(NAME, root, ANNOTATIONS, what="OK-VQA val answers")
        question_file = find_file(NAME, root, QUESTIONS, what="OK-VQA val questions")
        answers = vqa_answers(annotations, question_file)
        files += [file_digest(annotations), file_digest(question_file)]

    images = coco_root(options)
    by_qid, positives = {}, {}
    for n, entry in iter_json_lines(pairs):
        at = f"{pairs}:{n}"
        qid = int(get_field(entry, "question_id", at, (int, str)))
        image = coco_image_path(images, coco_file_name(split_dir, get_field(entry, "image_id", at, (int, str))))
        if options.split == "test" and qid not in answers:
            raise MireEvalError(f"{at}: question_id {qid} has no answers in {ANNOTATIONS}")
        by_qid[qid] = Query(str(qid), get_field(entry, "question", at, str), FileImage(image), answers.get(qid, ()))
        if options.split == "train":
            pos = get_field(entry, "pos_passage", at, dict)
            text = get_field(pos, "passage", f"{at}: pos_passage", str)
            positives[qid] = Passage(str(pos.get("passage_id", f"{qid}-pos")), "", text.strip())
    order = sorted(by_qid)
    queries = [by_qid[q] for q in order]
    train = [TrainExample(by_qid[q], positives[q]) for q in order] if options.split == "train" else None
    return assemble(
        NAME, options, queries, corpus_once((NAME, str(Path(blocks).resolve()), str(Path(options.cache_dir).resolve())),
                                        lambda: blocks_corpus(blocks, Path(options.cache_dir) / NAME)),
        relevance=TASK.resolve_relevance(options),
        train=train,
        meta={"source": RELEASE, "files": files, "image_dir": str(images)},
    )


def fetch(options: LoadOptions, images: bool = True) -> Path:
    """Check what ``options.split`` needs, in either layout."""
    split = options.split
    files = [ManualFile(BLOCKS, f"{BLOCKS_URL} (gunzip it to {BLOCKS}; the collection {RELEASE} links)"),
             ManualFile(PAIRS[split], f"{FILES_URL} data/{PAIRS[split]} ({RELEASE})", PAIRS_SUBDIRS)]
    if split == "test":
        files += [ManualFile(ANNOTATIONS, OKVQA_SITE.format(ANNOTATIONS)),
                  ManualFile(QUESTIONS, OKVQA_SITE.format(QUESTIONS))]
    files += coco_manual_files(COCO_SPLIT[split])
    planned = f"{COCO_SPLIT[split]}2014"

    def coverage(found: dict, targets: dict) -> list | None:
        """Every question of a pair file shows a COCO image of the split its file name says
        (``test2014_*`` -> val2014: the release splits OK-VQA val in two); the count is the
        split's number of questions, read from the file."""
        pairs = found.get(PAIRS[split])
        if pairs is None:
            return None
        n = sum(1 for _ in iter_json_lines(pairs))
        print(f"{NAME}: {pairs.name} holds {n} {split} questions")
        return [(f"COCO_{planned}_*", n, targets[planned])]

    return manual_fetch(NAME, options, files, coco_root(options), images, coverage)


TASK = TaskSpec(
    name=NAME,
    description="OK-VQA questions over ~11M Wikipedia passages (okvqa-release), answer match",
    source=RELEASE,
    relevance="answer-word",
    main_metric="mrr@5",
    paper_metric="MRR@5",
    relevances=("answer-word", "answer-substring"),
    splits=("test", "train"),
    load=load,
    fetch=fetch,
)
