"""InfoSeek from M2KR: entity-seeking questions about OVEN images, over 100K Wikipedia passages.

Splits: test (4,708 queries, sampled from InfoSeek val) and train; there is no valid split.
Corpus: ``Infoseek_passages/test_passages`` (~100K). Relevance: answer substring (PreFLMR's PseudoRecall, MIRe's ``compute_pseudo_recall``); ``--relevance gold``
uses ``pos_item_ids``. Papers report PR@5 (PreFLMR) or MRR@5.
"""

from tasks.m2kr import m2kr_task
from tasks.m2kr_hub import INFOSEEK

TASK = m2kr_task(
    INFOSEEK,  # the subset's splits and image archives (tasks/m2kr_hub.py)
    name="infoseek",
    description="InfoSeek (M2KR): OVEN image + question -> Wikipedia passages, answer substring",
    paper_metric="PR@5 (PreFLMR) / MRR@5",
)
