"""InfoSeek from M2KR: entity-seeking questions about OVEN images, over 100K Wikipedia passages.

Splits: test (4,708 queries, sampled from InfoSeek val) and train; there is no valid split.
Corpus: ``Infoseek_passages/test_passages`` (~100K). Relevance: answer substring (PreFLMR's PseudoRecall, MIRe's ``compute_pseudo_recall``); ``--relevance gold``
uses ``pos_item_ids``. Papers report PR@5 (PreFLMR) or MRR@5.
"""

from tasks.m2kr import Subset, m2kr_task

TASK = m2kr_task(
    Subset(name="Infoseek", image_folder="Infoseek", image_basename=True, jpg_fallback=True,
           splits=("test", "train"), passage_splits=("train_passages", "test_passages"),
           # M2KR's test split is sampled from InfoSeek val (tasks/m2kr_hub.py)
           archives=(("test", ("infoseek_val_images.tar",)), ("train", ("infoseek_train_images.tar",)))),
    name="infoseek",
    description="InfoSeek (M2KR): OVEN image + question -> Wikipedia passages, answer substring",
    paper_metric="PR@5 (PreFLMR) / MRR@5",
)
