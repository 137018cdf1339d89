"""Encyclopedic-VQA from M2KR: fine-grained species and landmark questions over 51,472 passages.

Test: 3,750 queries; corpus: ``EVQA_passages/test_passages`` (51,472). Relevance: answer
substring (MIRe's ``compute_pseudo_recall``); ``--relevance gold`` uses ``pos_item_ids``.
MIRe reports MRR@5; PreFLMR reports PR@5.
"""

from tasks.m2kr import Subset, m2kr_task

TASK = m2kr_task(
    Subset(name="EVQA", image_folder="EVQA", image_basename=False, jpg_fallback=False,
           splits=("test", "valid", "train"), passage_splits=("train_passages", "valid_passages", "test_passages"),
           # flat archives: inat.zip holds train/ and val/, google-landmark.tar holds train/
           archives=tuple((s, ("inat.zip", "google-landmark.tar")) for s in ("test", "valid", "train"))),
    name="evqa",
    description="E-VQA (M2KR): iNaturalist/landmark image + question -> 51,472 passages, answer substring",
    paper_metric="MRR@5 (MIRe) / PR@5 (PreFLMR)",
)
