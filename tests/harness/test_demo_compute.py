"""The demo's compute settings: fixed within the block, recorded, restored after."""

from __future__ import annotations

import torch

from harness.core.compute import DEMO_THREADS, compute_record, fixed_compute


def test_fixed_compute_sets_records_and_restores():
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    with fixed_compute(1) as record:
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        assert record["torch_threads"] == 1 and record["deterministic_algorithms"] is True
        assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
        assert record == compute_record()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
    assert DEMO_THREADS == 2


def test_a_run_records_its_compute_in_meta_json(tmp_path, monkeypatch):
    import json

    from harness.evaluation.pipeline import RunSettings, run_evaluation

    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    result = run_evaluation(RunSettings(task="sample", retriever="bm25", output=tmp_path / "out"))
    meta = json.loads((result.directory / "meta.json").read_text())
    # bm25 seeds torch (seed_everything), so torch is loaded and its settings are recorded
    assert meta["compute"]["torch_threads"] == torch.get_num_threads()
    assert meta["settings"]["setting_source"] == "given"
