"""A tiny task shipped inside the package: ten museum objects, pictured and described.

Twenty passages (a dated description of each object and a care note that names it too),
ten queries asking when the pictured object was made. Small enough to run in seconds;
a smoke test of the whole pipeline, not a benchmark.
"""

from pathlib import Path

from tasks.base import LoadOptions, TaskSpec
from tasks.local import load_local

ROOT = Path(__file__).parent / "data" / "sample"


def _load(options: LoadOptions):
    data = load_local(ROOT, options)
    data.name = "sample"
    return data


TASK = TaskSpec(
    name="sample",
    description="Ten pictured museum objects; which passage says when each was made?",
    source="shipped with mire-eval (tasks/data/sample, local format)",
    relevance="qrels",
    main_metric="mrr@5",
    paper_metric="MRR@5",
    splits=("test",),
    load=_load,
)
