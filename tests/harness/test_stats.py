"""harness/stats against independent computations: brute-force sign enumeration, scipy's
t-test and binomial test, hand-worked Holm; and ``mire-eval compare`` / ``leaderboard
--baseline`` on the sample task (self-comparison, refusals, trec_eval -c pairing)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.stats.holm import holm
from harness.stats.intervals import bootstrap_interval
from harness.stats.paired import bootstrap_test, mcnemar_test, randomization_test, student_test
from harness.stats.table import compare_scores

runner = CliRunner()


def brute_force_p(a, b) -> float:
    """Every one of the 2^n swaps of the n pairs, one at a time (no shortcut over zero differences)."""
    a, b = list(a), list(b)
    n = len(a)
    observed = abs(sum(b) - sum(a)) / n
    hits = 0
    for swap in itertools.product((False, True), repeat=n):
        x = [bi if s else ai for ai, bi, s in zip(a, b, swap)]
        y = [ai if s else bi for ai, bi, s in zip(a, b, swap)]
        hits += abs(sum(y) - sum(x)) / n >= observed - 1e-12
    return hits / 2**n


@pytest.mark.parametrize("n", [1, 5, 11, 16])
def test_exact_randomization_equals_brute_force_enumeration(n):
    rng = np.random.default_rng(n)
    a = rng.integers(0, 4, n) / 4  # ties and zero differences are common, as with mrr@5
    b = rng.integers(0, 4, n) / 4
    result = randomization_test(a, b)
    assert result.method == "exact"
    assert result.p_value == pytest.approx(brute_force_p(a, b), abs=1e-12)


def test_monte_carlo_randomization_is_seeded_recorded_and_close_to_exact():
    rng = np.random.default_rng(7)
    a, b = rng.random(19), rng.random(19) + 0.15  # 2^19 patterns: more than exact enumerates
    exact = float((np.abs((1.0 - 2.0 * ((np.arange(2**19)[:, None] >> np.arange(19)) & 1)) @ (b - a))
                   >= abs((b - a).sum()) * (1 - 1e-9)).mean())
    mc = randomization_test(a, b, permutations=20_000, seed=3)
    assert (mc.method, mc.draws, mc.seed) == ("monte-carlo", 20_000, 3)
    assert mc == randomization_test(a, b, permutations=20_000, seed=3)
    assert mc.p_value == pytest.approx(exact, abs=0.006)  # 4 standard errors at p ~ 0.02
    assert randomization_test(a, b, permutations=20_000, seed=4).p_value != mc.p_value


def test_student_equals_scipy_and_ranx():
    from ranx.statistical_tests import paired_student_t_test
    from scipy.stats import ttest_rel

    rng = np.random.default_rng(0)
    a, b = rng.random(40), rng.random(40)
    p = student_test(a, b).p_value
    assert p == pytest.approx(ttest_rel(b, a).pvalue, rel=1e-12)
    assert p == pytest.approx(paired_student_t_test(a, b)[0], rel=1e-12)


@pytest.mark.parametrize("only_a,only_b,both", [(0, 0, 5), (3, 4, 1), (0, 9, 2), (12, 3, 0), (25, 40, 7)])
def test_mcnemar_equals_scipy_binomtest(only_a, only_b, both):
    from scipy.stats import binomtest

    a = [1] * only_a + [0] * only_b + [1] * both + [0] * 3
    b = [0] * only_a + [1] * only_b + [1] * both + [0] * 3
    p = mcnemar_test(a, b).p_value
    n = only_a + only_b
    assert p == (1.0 if n == 0 else pytest.approx(binomtest(only_a, n, 0.5).pvalue, rel=1e-12))
    with pytest.raises(ValueError, match="binary"):
        mcnemar_test([0.5, 1.0], [0.0, 1.0])


def test_holm_by_hand_and_its_properties():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    rng = np.random.default_rng(1)
    p = rng.random(30) ** 3
    adjusted = np.array(holm(p.tolist()))
    assert (adjusted >= p).all() and (adjusted <= 1).all()
    order = np.argsort(p)
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted <= np.minimum(1, 30 * p) + 1e-15).all()  # never more than Bonferroni


def test_a_system_against_itself_gives_p_one_and_a_zero_interval():
    a = np.random.default_rng(2).random(30)
    for test in ("fisher", "student", "bootstrap"):
        row = compare_scores({"x": {"m": a}, "y": {"m": a.copy()}}, ["m"], "x", test)["rows"][0]
        assert (row["p_value"], row["p_holm"], row["ci_low"], row["ci_high"], row["diff"]) == (1.0, 1.0, 0, 0, 0)


def test_cluster_bootstrap_resamples_images_and_is_wider_when_queries_share_them():
    rng = np.random.default_rng(3)
    per_image = rng.normal(0.05, 0.3, 20)
    d = np.repeat(per_image, 5) + rng.normal(0, 0.01, 100)  # 5 queries per image move together
    a, b = np.zeros(100), d
    clusters = np.repeat(np.arange(20), 5).astype(str).tolist()
    by_query = bootstrap_interval(a, b, seed=0)
    by_image = bootstrap_interval(a, b, clusters, seed=0)
    assert by_image.clusters == 20 and by_query.clusters == 100
    assert by_image.high - by_image.low > 1.8 * (by_query.high - by_query.low)
    singletons = bootstrap_interval(a, b, [str(i) for i in range(100)], seed=0)
    assert (singletons.low, singletons.high) == (by_query.low, by_query.high)
    assert bootstrap_test(a, b, clusters=clusters).p_value > bootstrap_test(a, b).p_value


def test_holm_runs_over_metrics_times_systems():
    rng = np.random.default_rng(4)
    base = {"m1": rng.random(12), "m2": rng.random(12)}
    scores = {"base": base, "s1": {m: v + 0.3 for m, v in base.items()}, "s2": {m: v[::-1] for m, v in base.items()}}
    rows = compare_scores(scores, ["m1", "m2"], "base")["rows"]
    assert len(rows) == 4
    assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["p_value"] for r in rows]))
    assert rows[0]["p_value"] == pytest.approx(1 / 2**11)  # every one of 12 queries better: 2 of 4096 patterns


# --------------------------------------------------------------------------------------------
# The commands, on the sample task
# --------------------------------------------------------------------------------------------
def run(out: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["run", "--task", "sample", "--retriever", "bm25", "--output", str(out), *extra])
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().split(" -> ", 1)[1].split("; ", 1)[0])


@pytest.fixture
def sample_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "data"))
    out = tmp_path / "results"
    return out, run(out), run(out, "--view", "image"), run(out, "--limit", "5")


def test_compare_folders_self_and_image_only_view(sample_runs):
    out, full, image, _ = sample_runs
    result = runner.invoke(app, ["compare", str(full), str(image), str(full), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["test"], report["permutations"], report["seed"], report["n_queries"]) == ("fisher", 10000, 0, 10)
    rows = {(r["system"], r["metric"]): r for r in report["rows"]}
    same = [r for r in report["rows"] if r["system"] == report["systems"][2]]
    assert all(r["p_value"] == 1.0 and r["ci_low"] == r["ci_high"] == 0.0 for r in same)
    worse = rows[(report["systems"][1], "hit_rate@5")]  # bm25 has no text under the image view: 10 of 10 lost
    assert (worse["mean_baseline"], worse["mean"], worse["diff"]) == (1.0, 0.0, -1.0)
    assert worse["p_value"] == pytest.approx(2 / 2**10) and worse["method"] == "exact"
    assert worse["p_holm"] == pytest.approx(6 * 2 / 2**10)  # the smallest of 6 p-values (3 are 1) times 6
    mcnemar = json.loads(runner.invoke(app, ["compare", str(full), str(image), "--test", "mcnemar", "--json"]).output)
    tests = {r["metric"]: r["test"] for r in mcnemar["rows"]}
    assert tests == {"hit_rate@5": "mcnemar", "mrr@5": "fisher", "recall@100": "fisher"}
    text = runner.invoke(app, ["compare", str(full), str(image)]).output
    assert "p (Holm)" in text and "fisher (exact)" in text and "over queries" in text


def test_compare_refuses_other_query_sets_and_relevance_in_one_line(sample_runs, tmp_path):
    out, full, _, limited = sample_runs
    result = runner.invoke(app, ["compare", str(full), str(limited)])
    assert result.exit_code == 2 and "different query sets are not compared" in result.output
    assert len(result.output.strip().splitlines()) == 1
    other = tmp_path / "other"
    import shutil

    shutil.copytree(full, other)
    qrels = (other / "qrels.tsv").read_text().splitlines()
    (other / "qrels.tsv").write_text("\n".join(qrels[:-1]) + "\n")
    from harness.results import write_marker

    write_marker(other)
    result = runner.invoke(app, ["compare", str(full), str(other)])
    assert result.exit_code == 2 and "relevance differs" in result.output, result.output


def test_compare_run_files_pairs_over_the_qrels_queries_missing_scores_zero(tmp_path):
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("".join(f"q{i} 0 p{i} 1\n" for i in range(6)))
    full = tmp_path / "a.trec"
    full.write_text("".join(f"q{i} Q0 p{i} 1 2.0 a\nq{i} Q0 x 2 1.0 a\n" for i in range(6)))
    part = tmp_path / "b.trec"  # q4 and q5 absent: trec_eval -c scores them 0
    part.write_text("".join(f"q{i} Q0 p{i} 1 2.0 b\n" for i in range(4)))
    result = runner.invoke(app, ["compare", "--qrels", str(qrels), str(full), str(part), "--metrics", "mrr@5",
                                 "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)["rows"][0]
    assert (row["mean_baseline"], row["mean"]) == (1.0, pytest.approx(4 / 6))
    assert row["p_value"] == pytest.approx(0.5)  # 2 differing queries: 2 of 4 sign patterns as extreme
    bad = runner.invoke(app, ["compare", "--qrels", str(qrels), str(full)])
    assert bad.exit_code == 2 and "at least two" in bad.output


def test_leaderboard_baseline_adds_difference_ci_and_holm_p(sample_runs):
    out, full, image, limited = sample_runs
    result = runner.invoke(app, ["leaderboard", "--output", str(out), "--baseline", full.name.rsplit("-", 1)[-1]])
    assert result.exit_code == 0, result.output
    import csv

    rows = {r["path"]: r for r in csv.DictReader(open(out / "leaderboard.csv"))}
    assert rows[str(full)]["vs_baseline_sig"] == "baseline"
    assert float(rows[str(image)]["vs_baseline_diff"]) == -0.5  # mrr@5, sample's main metric
    assert rows[str(image)]["vs_baseline_sig"] == "*" and float(rows[str(image)]["vs_baseline_p_holm"]) < 0.01
    assert rows[str(limited)]["vs_baseline_diff"] == ""  # 5 queries, not the baseline's 10: not compared
    assert "p(Holm)" in result.output


def test_compare_resamples_shared_images_together_and_takes_a_clusters_file(tmp_path, monkeypatch):
    from tests.conftest import make_local_task, write_jsonl

    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "data"))
    task = make_local_task(tmp_path / "animals", qrels={"test": [("q-fox", "p-fox"), ("q-owl", "p-owl"),
                                                                  ("q-seal", "p-seal"), ("q-fox2", "p-fox")]})
    queries = [json.loads(line) for line in (task / "queries.jsonl").read_text().splitlines()]
    queries.append({"_id": "q-fox2", "text": "What does this fox eat at dusk?", "image": "images/fox.png",
                    "answers": ["voles"]})  # the fox picture, twice
    write_jsonl(task / "queries.jsonl", queries)
    out = tmp_path / "results"
    folders = []
    for view in ("full", "image"):
        result = runner.invoke(app, ["run", "-t", f"local:{task}", "-r", "bm25", "--view", view,
                                     "--output", str(out)])
        assert result.exit_code == 0, result.output
        folders.append(result.output.strip().split(" -> ", 1)[1].split("; ", 1)[0])
    report = json.loads(runner.invoke(app, ["compare", *folders, "--json"]).output)
    assert (report["clustering"], report["n_queries"], report["n_clusters"]) == ("image", 4, 3)  # q-crab is a train query
    clusters = tmp_path / "entities.tsv"
    clusters.write_text("q-fox\tcanid\nq-fox2\tcanid\nq-owl\tsea\nq-seal\tsea\nq-crab\tsea\n")
    report = json.loads(runner.invoke(app, ["compare", *folders, "--json", "--clusters", str(clusters)]).output)
    assert report["clustering"] == f"clusters of {clusters}" and report["n_clusters"] == 2
    clusters.write_text("q-fox\tcanid\n")
    bad = runner.invoke(app, ["compare", *folders, "--clusters", str(clusters)])
    assert bad.exit_code == 2 and "no cluster for" in bad.output
