"""Published numbers beside ours: the leaderboard's paper_value / delta columns, on a synthetic
results folder (no model runs)."""

import csv
import json

import pytest

from harness.errors import MireEvalError
from harness.paper import base_checkpoint, read_paper_values
from harness.results import leaderboard, write_leaderboard, write_marker


def write_run(root, name, *, task, retriever, setting, checkpoint, resolved, relevance, metrics, options=None,
              view="full", limit=None, k=100, task_meta=None):
    """A finished run folder as harness/evaluate.py writes it (the fields paper.py reads)."""
    folder = root / task / retriever / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "task": task, "retriever": retriever, "setting": setting, "view": view, "split": "test",
        "checkpoint": checkpoint, "limit": limit, "relevance": relevance, "n_queries": 10,
        "n_without_relevant": 0, "created": "2026-01-01T00:00:00+00:00", "metrics": metrics}))
    default_options = {"passage_punctuation": "skip" if setting == "zero-shot" and task != "evqa" else "keep"}
    (folder / "meta.json").write_text(json.dumps({
        "retriever": {"checkpoint": resolved, "options": default_options if options is None else options},
        "settings": {"k": k, "limit": limit, "view": view},
        "task": {"name": task, "skipped_images": 0, **(task_meta or {})}}))
    write_marker(folder)  # a finished run: the leaderboard reads sealed folders only
    return folder


def test_table_is_well_formed_and_cited():
    lines = read_paper_values()
    assert lines and all(0 <= line["value"] <= 1 and line["source"] for line in lines)
    for line in lines:  # value is the published x100 number on the 0-1 scale
        assert line["value"] == pytest.approx(float(line["published"]) / 100)
    keys = [(r["task"], r["retriever"], r["setting"], r["checkpoint"], r["relevance"], str(r["options"]), r["metric"])
            for r in lines]
    assert len(keys) == len(set(keys))


def test_rows_matching_a_published_setting_get_paper_value_and_delta(tmp_path):
    root = tmp_path / "results"
    # zero-shot with the default checkpoint (metrics.json says None, meta.json the resolved id)
    write_run(root, "zs", task="okvqa", retriever="mire", setting="zero-shot", checkpoint=None,
              resolved="Y-J-Ju/MIRe_base_pt@abc123", relevance="answer-word",
              metrics={"mrr@5": 0.61, "hit_rate@5": 0.8})
    # fine-tuned from the base checkpoint: the trained directory records where it started
    trained = tmp_path / "ckpt" / "final"
    trained.mkdir(parents=True)
    (trained / "training.json").write_text(json.dumps({"checkpoint": "Y-J-Ju/MIRe_base_pt", "steps": 3}))
    write_run(root, "ft", task="remuq", retriever="mire", setting="fine-tuned", checkpoint=str(trained),
              resolved=str(trained), relevance="qrels", metrics={"mrr@5": 0.5, "hit_rate@5": 0.95})
    # same task and retriever but another relevance: not the paper's setting
    write_run(root, "gold", task="okvqa", retriever="mire", setting="fine-tuned", checkpoint=None,
              resolved="Y-J-Ju/MIRe_base_pt", relevance="gold", metrics={"hit_rate@5": 0.4})
    # another base checkpoint
    write_run(root, "other", task="remuq", retriever="mire", setting="zero-shot", checkpoint="/x/mine",
              resolved="/x/mine", relevance="qrels", metrics={"mrr@5": 0.3})
    rows = {(r["task"], r["setting"]): r for r in leaderboard(root)}

    zs = rows[("okvqa", "zero-shot")]
    assert (zs["paper_metric"], zs["paper_value"]) == ("mrr@5", 0.6303)
    assert zs["delta"] == pytest.approx(0.61 - 0.6303) and "2411.08334" in zs["paper_source"]
    ft = rows[("remuq", "fine-tuned")]
    assert (ft["paper_metric"], ft["paper_value"]) == ("hit_rate@5", 0.944)
    assert ft["delta"] == pytest.approx(0.95 - 0.944)
    for key in (("okvqa", "fine-tuned"), ("remuq", "zero-shot")):
        assert rows[key]["paper_value"] is None and rows[key]["delta"] is None

    write_leaderboard(list(rows.values()), root / "leaderboard.csv")
    written = {(r["task"], r["setting"]): r for r in csv.DictReader(open(root / "leaderboard.csv"))}
    assert float(written[("okvqa", "zero-shot")]["delta"]) == pytest.approx(0.61 - 0.6303)
    assert written[("remuq", "zero-shot")]["paper_value"] == ""


def test_base_checkpoint_follows_chained_trainings(tmp_path):
    stage1, stage2 = tmp_path / "s1", tmp_path / "s2"
    stage1.mkdir(), stage2.mkdir()
    (stage1 / "training.json").write_text(json.dumps({"checkpoint": "owner/base@rev"}))
    (stage2 / "training.json").write_text(json.dumps({"checkpoint": str(stage1)}))
    assert base_checkpoint(str(stage2)) == "owner/base"
    assert base_checkpoint(str(tmp_path)) == str(tmp_path)  # a directory nobody trained


def test_a_bad_table_line_is_one_error(tmp_path):
    path = tmp_path / "values.csv"
    path.write_text("task,retriever,setting,checkpoint,relevance,options,metric,published,value,source\n"
                    "okvqa,mire,zero-shot,x,,,mrr@5,63,sixty,paper\n")
    with pytest.raises(MireEvalError, match=r"values.csv:2: value: not a number"):
        read_paper_values(path)

    path.write_text("task,retriever,setting,checkpoint,relevance,options,metric,published,value,source\n"
                    "okvqa,mire,zero-shot,x,,keep,mrr@5,63,0.63,paper\n")
    with pytest.raises(MireEvalError, match=r"values.csv:2: options: 'keep' is not name=value"):
        read_paper_values(path)


def test_a_paper_line_matches_only_a_run_with_the_reference_options(tmp_path):
    """E-VQA zero-shot was indexed by MIRe's own indexer (punctuation kept): a run that skipped
    punctuation is not compared, and says why."""
    root = tmp_path / "results"
    for name, punctuation in (("keep", "keep"), ("skip", "skip")):
        write_run(root, name, task="evqa", retriever="mire", setting="zero-shot", checkpoint=None,
                  resolved="Y-J-Ju/MIRe_base_pt", relevance="answer-substring", metrics={"mrr@5": 0.40},
                  options={"passage_punctuation": punctuation, "query_mask": "reference-eval"})
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in leaderboard(root)}
    assert rows["keep"]["paper_value"] == 0.4188 and rows["keep"]["delta"] == pytest.approx(0.40 - 0.4188)
    assert rows["keep"]["paper_note"] is None
    assert rows["skip"]["paper_value"] is None and rows["skip"]["delta"] is None
    assert rows["skip"]["paper_metric"] == "mrr@5" and "2411.08334" in rows["skip"]["paper_source"]
    assert rows["skip"]["paper_note"] == ("not compared: run with passage_punctuation=skip, "
                                          "the paper's with passage_punctuation=keep")


@pytest.mark.parametrize("change, note", [
    ({"limit": 50}, "--limit 50"),
    ({"view": "text"}, "view text, the paper's is full"),
    ({"k": 3}, "k 3 below the metric's cut-off 5"),
    ({"task_meta": {"skipped_images": 2000}}, "2000 queries dropped for missing images"),
    ({"task_meta": {"queries_with_empty_answer": 4, "empty_answers": "ignore"}},
     "4 queries with an empty answer judged by rule ignore, the reference's is all-relevant "
     "(--empty-answers all-relevant)"),
])
def test_partial_or_other_protocol_runs_get_a_note_not_a_delta(tmp_path, change, note):
    root = tmp_path / "results"
    write_run(root, "run", task="okvqa", retriever="mire", setting="zero-shot", checkpoint=None,
              resolved="Y-J-Ju/MIRe_base_pt", relevance="answer-word", metrics={"mrr@5": 0.61}, **change)
    [row] = leaderboard(root)
    assert (row["paper_value"], row["delta"]) == (None, None)
    assert row["paper_note"] == f"not compared: {note}"


def test_a_full_run_with_the_reference_empty_answer_rule_is_compared(tmp_path):
    root = tmp_path / "results"
    write_run(root, "run", task="okvqa", retriever="mire", setting="zero-shot", checkpoint=None,
              resolved="Y-J-Ju/MIRe_base_pt", relevance="answer-word", metrics={"mrr@5": 0.61}, k=5,
              task_meta={"queries_with_empty_answer": 4, "empty_answers": "all-relevant"})
    [row] = leaderboard(root)
    assert row["paper_value"] == 0.6303 and row["paper_note"] is None


def test_preflmr_hf_checkpoints_match_the_readme_numbers_not_the_papers(tmp_path):
    lines = read_paper_values()
    paper = [line for line in lines if line["checkpoint"] == "paper:PreFLMR_ViT-B"]
    assert {(line["task"], line["value"]) for line in paper} == {("infoseek", 0.488), ("evqa", 0.679)}
    assert all("2402.08327" in line["source"] for line in paper)
    root = tmp_path / "results"
    write_run(root, "run", task="infoseek", retriever="preflmr", setting="zero-shot", checkpoint=None,
              resolved="LinWeizheDragon/PreFLMR_ViT-B", relevance="answer-substring", metrics={"hit_rate@5": 0.5},
              options={})
    [row] = leaderboard(root)
    assert row["paper_value"] == 0.496 and "FLMR README.md" in row["paper_source"]
    assert row["delta"] == pytest.approx(0.5 - 0.496)


def test_the_protocol_is_read_from_real_run_folders(tmp_path, local_task):
    """The fields paper.py reads are those harness/evaluate.py writes: a full run is compared,
    a --limit or k=3 run is not, each saying why."""
    from harness.evaluate import RunSettings, run_evaluation
    from harness.paper import with_paper_values
    from harness.results import complete_runs

    out = tmp_path / "results"
    # k=3 with mrr@5 named (--metrics): computed depth-limited, and never compared with a paper
    for extra in ({}, {"limit": 2}, {"k": 3, "metrics": ("mrr@5",), "metrics_named": True}):
        run_evaluation(RunSettings(task=f"local:{local_task}", retriever="bm25", output=out, **extra))
    line = {"task": f"local:{local_task}", "retriever": "bm25", "setting": "zero-shot", "checkpoint": "",
            "relevance": "", "options": {}, "metric": "mrr@5", "published": "50", "value": 0.5, "source": "made up"}
    rows = [{"task": f"local:{local_task}", "retriever": "bm25", "setting": "zero-shot", "path": str(d),
             "mrr@5": json.loads((d / "metrics.json").read_text())["metrics"]["mrr@5"]} for d in complete_runs(out)]
    notes = sorted(str(r["paper_note"]) for r in with_paper_values(rows, [line]))
    assert notes == ["None", "not compared: --limit 2", "not compared: k 3 below the metric's cut-off 5"]
