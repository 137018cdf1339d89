"""Every registered task declares itself once, in its TaskSpec: what ``ls`` shows, the
relevance its loader uses by default, the metrics the probe and plots read."""

import pytest

from harness.core.errors import MireEvalError
from tasks.base import LoadOptions, TaskSpec
from tasks.loading import load_task
from tasks.registry import TASKS


@pytest.mark.parametrize("name", TASKS.names())
def test_the_spec_is_what_the_registry_and_the_loader_read(name):
    spec = TASKS.get(name)
    assert isinstance(spec, TaskSpec) and spec.name == name
    (entry,) = [e for e in TASKS.entries() if e.name == name]
    assert entry.summary == spec.description != ""  # ls shows the spec's own description
    assert spec.resolve_relevance(LoadOptions()) == spec.relevance
    for other in spec.relevances:
        assert spec.resolve_relevance(LoadOptions(relevance=other)) == other
    with pytest.raises(MireEvalError, match=f"{name}: unknown relevance 'nonsense'"):
        spec.resolve_relevance(LoadOptions(relevance="nonsense"))


@pytest.mark.parametrize("name", ["sample", "diagnostic"])
def test_a_loaded_task_uses_its_specs_default_relevance(name):
    data = load_task(name)
    assert data.relevance == TASKS.get(name).relevance


def test_the_probe_reads_metrics_from_the_spec():
    from harness.probe.views import main_metric_of, paper_metric_of

    assert main_metric_of("diagnostic") == TASKS.get("diagnostic").main_metric == "hit_rate@1"
    assert paper_metric_of("okvqa") == TASKS.get("okvqa").paper_metric
    assert main_metric_of("local:/x") == "mrr@5" and paper_metric_of("local:/x") is None
