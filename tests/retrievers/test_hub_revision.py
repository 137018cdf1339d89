"""A hub checkpoint whose ``main`` moved is another run, named by its commit (issue 20, kind 3)."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

import harness.hub_revision
import tiny
from harness.cli import app

A, B = "a" * 40, "b" * 40


def test_a_moved_main_is_a_new_run_named_by_its_commit(tmp_path, monkeypatch, colbert_dir, local_task):
    import huggingface_hub

    snapshots = {A: tmp_path / "hub" / A, B: tmp_path / "hub" / B}
    shutil.copytree(colbert_dir, snapshots[A])
    tiny.write_colbert(snapshots[B], seed=1)  # other weights under the same name
    head = {"main": A}
    asked = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None, local_files_only=False):
        assert repo_id == "someone/colbert"
        asked.append(revision)
        return str(snapshots[head.get(revision, revision)])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(harness.hub_revision, "_resolved", {})
    out = tmp_path / "results"
    args = ["run", "-t", f"local:{local_task}", "-r", "colbertv2", "--checkpoint", "someone/colbert", "--output", str(out)]

    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert f"checkpoint revision {A}" in first.output and "(reused)" not in first.output
    again = CliRunner().invoke(app, args)
    assert "(reused)" in again.output and f"checkpoint revision {A}" in again.output

    head["main"] = B  # the hub's main now points at other weights
    monkeypatch.setattr(harness.hub_revision, "_resolved", {})
    moved = CliRunner().invoke(app, args)
    assert moved.exit_code == 0, moved.output
    assert "(reused)" not in moved.output and f"checkpoint revision {B}" in moved.output
    folders = sorted(out.glob("local-*/colbertv2/*/meta.json"))
    assert len(folders) == 2
    metas = [json.loads(p.read_text()) for p in folders]
    assert sorted(m["identity"]["checkpoint_revision"] for m in metas) == [A, B]
    for m in metas:
        files = m["checkpoint_files"]
        assert files["commit"] == m["identity"]["checkpoint_revision"] and files["repo"] == "someone/colbert"
        assert files["fingerprint"]  # the weights as read, by content
        assert m["retriever"]["revision"] == files["commit"]  # the retriever loaded that commit
    assert metas[0]["checkpoint_files"]["fingerprint"] != metas[1]["checkpoint_files"]["fingerprint"]


def test_a_local_checkpoint_names_no_revision_and_keeps_its_identity(colbert_dir):
    from harness.evaluate import RunSettings
    from harness.hub_revision import hub_source

    assert hub_source("colbertv2", str(colbert_dir), {}) is None
    assert hub_source("colbertv2", None, {}) == ("colbert-ir/colbertv2.0", "main")
    assert hub_source("jfe", None, {})[1] == "895c3a49bc3fa70a340399125c650a463535e71c"  # pinned already
    settings = RunSettings(task="sample", retriever="colbertv2", checkpoint=str(colbert_dir))
    assert "checkpoint_revision" not in settings.identity()
