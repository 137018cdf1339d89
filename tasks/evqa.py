"""Encyclopedic-VQA from M2KR: fine-grained species and landmark questions over 51,472 passages.

Test: 3,750 queries; corpus: ``EVQA_passages/test_passages`` (51,472). Relevance: answer
substring (MIRe's ``compute_pseudo_recall``); ``--relevance gold`` uses ``pos_item_ids``.
MIRe reports MRR@5; PreFLMR reports PR@5.
"""

from tasks.m2kr import m2kr_task
from tasks.m2kr_hub import EVQA

TASK = m2kr_task(
    EVQA,  # the subset's splits and image archives (tasks/m2kr_hub.py)
    name="evqa",
    description="E-VQA (M2KR): iNaturalist/landmark image + question -> 51,472 passages, answer substring",
    paper_metric="MRR@5 (MIRe) / PR@5 (PreFLMR)",
)
