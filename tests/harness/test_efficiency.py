"""The efficiency card: meta.json's "efficiency" and the leaderboard's columns, and the
approximate search's audit against exact search."""

from __future__ import annotations

import csv
import json
import random

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.evaluate import RunSettings, run_evaluation
from harness.results import EFFICIENCY_COLUMNS
from harness.runs import read_trec_run
from retrievers.base import EncoderRetriever
from store_helpers import WordEncoder, make_task

runner = CliRunner()


def evaluate(tmp_path, checkpoint, task, search="exact", **options):
    retriever = EncoderRetriever(WordEncoder(str(checkpoint)), passage_batch=8, shard_passages=16)
    settings = RunSettings(task="words", retriever="words", checkpoint=str(checkpoint), k=10,
                           output=tmp_path / "results", search=search, search_options=options)
    return run_evaluation(settings, retriever=retriever, data=task).directory


def test_every_run_records_its_cost_and_an_approximate_one_its_recovered_top_k(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "data"))
    checkpoint = tmp_path / "words.ckpt"
    checkpoint.write_bytes(bytes(range(256)) * 4)
    task = make_task(200)
    exact = evaluate(tmp_path, checkpoint, task)
    ivf = evaluate(tmp_path, checkpoint, task, "ivf", nlist="16", nprobe="1", candidates="12", audit="8")
    card = json.loads((exact / "meta.json").read_text())["efficiency"]
    assert card["passages_indexed"] == 200 and card["index_reused"] is False and card["world_size"] == 1
    assert card["tokens"] > 200 and card["bytes_per_token_disk"] > 0  # token vectors on disk, fp16
    assert 0 < card["bytes_per_token_resident"] < card["bytes_per_token_disk"]  # memory-mapped: offsets only
    assert card["encode_ms_per_query"] > 0 and card["search_ms_per_query"] > 0
    assert card["device"] == "cpu" and card["threads"] >= 1 and card["peak_memory_mb"] > 0
    assert "audit" not in card and card["search"] == "exact"

    approx = json.loads((ivf / "meta.json").read_text())
    card = approx["efficiency"]
    assert card["index_reused"] is False  # the store was reused, its ivf index was built now
    assert card["search"]["mode"] == "ivf" and card["search"]["nprobe"] == 1
    assert "audit" not in json.dumps(approx["identity"])  # a record, not part of the identity
    # the audit, computed again from the two runs' files for the same 8 queries
    sample = random.Random(0).sample(task.queries, 8)
    want, got = read_trec_run(exact / "run.trec"), read_trec_run(ivf / "run.trec")
    recovered = sum(len(set(want[q.id]) & set(got[q.id])) / len(want[q.id]) for q in sample) / 8
    assert card["audit"] == {"queries": 8, "k": 10, "topk_recovered": pytest.approx(recovered, abs=1e-6)}
    assert recovered < 1.0  # nprobe 1 over 12 candidates loses some: the number means something

    board = runner.invoke(app, ["leaderboard", "--output", str(tmp_path / "results")])
    assert board.exit_code == 0, board.output
    rows = list(csv.DictReader(open(tmp_path / "results" / "leaderboard.csv")))
    assert set(EFFICIENCY_COLUMNS) <= set(rows[0])
    assert {r["audit_topk_recovered"] for r in rows} == {"", str(card["audit"]["topk_recovered"])}


def test_an_audit_of_an_exact_run_is_refused_in_one_line(tmp_path):
    result = runner.invoke(app, ["run", "-t", "sample", "-r", "bm25", "--search-option", "audit=4",
                                 "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "--search-option audit=4: only --search ivf or ivfpq is audited against exact search" in result.output
