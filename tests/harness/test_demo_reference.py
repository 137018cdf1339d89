"""The README's printed demo table and docs/probe.md's tables are the committed reference run's
(docs/demo/), parsed and compared cell by cell; `make reference` is what writes all three."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.demo.reference import (binomial_tail, parse_summary, probe_doc_blocks, read_block, readme_block,
                                    replace_block, robust_tail, summary_from_reference)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "demo"


def test_readme_table_is_the_reference_runs():
    readme = parse_summary(read_block((ROOT / "README.md").read_text(), "demo-summary"))
    committed = parse_summary((REFERENCE / "demo_summary.txt").read_text())
    assert readme == committed
    assert len(readme) >= 8 and "mire (fine-tuned)" in readme and "chance: random ranking" in readme


def test_reference_summary_is_its_probe_files():
    """Every cell of demo_summary.txt recomputed from the reference's probe.json files."""
    assert parse_summary((REFERENCE / "demo_summary.txt").read_text()) == summary_from_reference(REFERENCE)


def test_readme_says_when_and_where_the_reference_ran():
    record = json.loads((REFERENCE / "reference.json").read_text())
    block = read_block((ROOT / "README.md").read_text(), "demo-summary")
    assert block.rstrip() == readme_block((REFERENCE / "demo_summary.txt").read_text(), record).rstrip()
    assert record["compute"]["torch_threads"] == 2 and record["compute"]["deterministic_algorithms"] is True
    assert record["clean"] is True and record["limit"] is None


def test_probe_doc_tables_are_the_reference_runs():
    text = (ROOT / "docs" / "probe.md").read_text()
    for name, block in probe_doc_blocks(REFERENCE).items():
        assert read_block(text, name).rstrip() == block.rstrip(), name


def test_parse_summary_reads_every_cell():
    text = ("diagnostic task: 288 test queries (96 image-needed), 48 passages\n\n"
            "                        all   image-needed\n"
            "chance: random ranking 1/48 1/48\n"
            "chance: best text-only ranking      -     1/16\n"
            "mire (fine-tuned)     0.431    -0.062\n"
            "total time: 273 s\n")
    # a single space does not separate a label from its cells (the printed table pads with two
    # or more), so "chance: random ranking 1/48 1/48" is not read as a row
    assert parse_summary(text) == {"chance: best text-only ranking": ["-", "1/16"],
                                   "mire (fine-tuned)": ["0.431", "-0.062"]}


def test_replace_block_keeps_the_markers_and_refuses_their_absence():
    text = "a\n<!-- t -->\nold\n<!-- /t -->\nb\n"
    assert replace_block(text, "t", "new") == "a\n<!-- t -->\nnew\n<!-- /t -->\nb\n"
    with pytest.raises(ValueError, match="not found"):
        replace_block("no markers", "t", "x")


def test_binomial_tail_and_the_one_hit_rule():
    # exact sums: P(X >= 0) = 1; P(X >= 1) = 1 - (1 - p)^n
    assert binomial_tail(0, 96, 1 / 48) == pytest.approx(1.0)
    assert binomial_tail(1, 96, 1 / 48) == pytest.approx(1 - (47 / 48) ** 96)
    assert robust_tail(6, 96, 1 / 48)[2] == "not shown"  # P = 0.015: above 0.01
    assert robust_tail(7, 96, 1 / 48)[2] == "fragile"  # P = 0.0040, with 6 hits 0.015
    assert robust_tail(8, 96, 1 / 48)[2] == "holds"  # P = 0.00093, with 7 hits 0.0040
    now, fewer, verdict = robust_tail(32, 96, 5 / 48)
    assert now < fewer < 1e-6 and verdict == "holds"
