"""Checkpoint reading: never run pickled code; OmegaConf entries become plain data."""

from __future__ import annotations

import os

from pathlib import Path

import pytest
import torch

from harness.core.errors import MireEvalError
from retrievers.checkpoint import load_into, plain, read_weights, resolve, summarise_extras
from tests.helpers.single_thread import one_thread  # noqa: F401


def test_authors_pth_with_omegaconf_entries(tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"model": {"num_tokens": 16, "name": "mire"}, "lrs": [1e-4, 5e-5]})
    state = {"a.weight": torch.randn(2, 3), "a.bias": torch.zeros(2)}
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.ones(2))]).state_dict()
    torch.save({"model": state, "config": cfg, "epoch": 4, "optimizer": opt}, tmp_path / "m.pth")
    with pytest.raises(Exception):  # what torch refuses on its own
        torch.load(tmp_path / "m.pth", weights_only=True)
    loaded = read_weights(tmp_path / "m.pth")
    assert loaded.reader.startswith("torch.load(weights_only=True), zip format, inert stand-ins for ")
    assert "omegaconf.dictconfig.DictConfig" in loaded.reader and "restricted" not in loaded.reader
    assert set(loaded.state_dict) == {"a.weight", "a.bias"}
    assert torch.equal(loaded.state_dict["a.weight"], state["a.weight"])
    extras = summarise_extras(loaded.extras)
    assert extras["config"] == {"model": {"num_tokens": 16, "name": "mire"}, "lrs": [1e-4, 5e-5]}
    assert extras["epoch"] == 4 and extras["optimizer"] == "present (not used)"


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


class _ExecPayload:
    def __reduce__(self):
        return (exec, ("open('/tmp/mire-eval-pwned-exec', 'w').write('x')",))


@pytest.mark.parametrize("payload", ["system", "exec"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = _Payload(marker) if payload == "system" else _ExecPayload()
    torch.save({"model": {"w": torch.ones(1)}, "config": evil}, tmp_path / "evil.pth")
    with pytest.raises(MireEvalError, match="refusing to unpickle .*convert it") as err:
        read_weights(tmp_path / "evil.pth")
    assert "evil.pth" in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists() and not os.path.exists("/tmp/mire-eval-pwned-exec")


def test_plain_state_dict_uses_weights_only(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "plain.bin")
    loaded = read_weights(tmp_path / "plain.bin")
    assert loaded.reader == "torch.load(weights_only=True), zip format" and loaded.extras == {}
    torch.save({"w": torch.ones(2)}, tmp_path / "old.bin", _use_new_zipfile_serialization=False)
    old = read_weights(tmp_path / "old.bin")
    assert old.reader == "torch.load(weights_only=True), legacy format" and torch.equal(old.state_dict["w"], torch.ones(2))


def test_authors_config_reads_the_same_from_the_legacy_format(tmp_path):
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"model": {"num_tokens": 16}, "seed": 2024})
    torch.save({"model": {"w": torch.ones(1)}, "config": cfg}, tmp_path / "m.pth", _use_new_zipfile_serialization=False)
    loaded = read_weights(tmp_path / "m.pth")
    assert loaded.reader.startswith("torch.load(weights_only=True), legacy format, inert stand-ins")
    assert summarise_extras(loaded.extras)["config"] == {"model": {"num_tokens": 16}, "seed": 2024}


def test_non_tensor_state_and_corrupt_files(tmp_path):
    torch.save({"model": {"w": torch.ones(1), "oops": 3}}, tmp_path / "x.pth")
    with pytest.raises(MireEvalError, match="'oops' is not a tensor"):
        read_weights(tmp_path / "x.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(MireEvalError, match="bad.safetensors"):
        read_weights(tmp_path / "bad.safetensors")
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(MireEvalError, match="bad.pth"):
        read_weights(tmp_path / "bad.pth")


def test_load_into_renames_drops_and_reports():
    module = torch.nn.Sequential(torch.nn.Linear(2, 2))
    state = {"model.0.weight": torch.ones(2, 2), "model.0.bias": torch.zeros(2),
             "model.embeddings.position_ids": torch.arange(4)}
    report = load_into(module, state, "f.pth", {"model.": ""}, ignore=(r"position_ids$",))
    assert report.dropped == ["model.embeddings.position_ids"] and report.renamed == {"model. -> ": 2}
    assert torch.equal(module[0].weight, torch.ones(2, 2))
    with pytest.raises(MireEvalError, match=r"f.pth: weights: 0.weight has shape \(3, 2\)"):
        load_into(module, {"0.weight": torch.ones(3, 2), "0.bias": torch.zeros(2)}, "f.pth", {})


def test_hub_id_offline_is_one_line(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MireEvalError, match="hf download Y-J-Ju/MIRe_base_pt --local-dir DIR` and pass --checkpoint DIR") as err:
        resolve("Y-J-Ju/MIRe_base_pt")
    assert "\n" not in str(err.value)


def test_plain_handles_nested_opaque():
    assert plain([{"a": (1, None)}]) == [{"a": [1, None]}]


@pytest.mark.slow
def test_default_checkpoints_come_from_the_hub(monkeypatch, mire_dir, colbert_dir):
    """Without --checkpoint: mire -> Y-J-Ju/MIRe_base_pt, colbertv2 -> colbert-ir/colbertv2.0
    (snapshot_download stands in for the hub, handing back local copies in the same layouts)."""
    import huggingface_hub

    from retrievers import colbert, mire

    asked = []

    def fake_snapshot(repo_id, revision=None, allow_patterns=None):
        asked.append((repo_id, revision))
        return str({"Y-J-Ju/MIRe_base_pt": mire_dir, "colbert-ir/colbertv2.0": colbert_dir}[repo_id])

    def fake_listing(self, repo_id, revision=None, **_):  # MIRe lists the repository first
        return sorted(p.name for p in Path({"Y-J-Ju/MIRe_base_pt": mire_dir}[repo_id]).iterdir() if p.is_file())

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", fake_listing)
    meta = mire.build(None).describe()
    assert asked[0] == ("Y-J-Ju/MIRe_base_pt", "main") and meta["checkpoint"] == "Y-J-Ju/MIRe_base_pt"
    assert meta["revision"] == mire_dir.name  # the snapshot folder: the resolved commit on the hub
    assert colbert.build(None).describe()["checkpoint"] == "colbert-ir/colbertv2.0"
    mire.build("Y-J-Ju/MIRe_base_pt@0123abc")
    assert asked[-1] == ("Y-J-Ju/MIRe_base_pt", "0123abc")


def test_torch_weights_only_reads_the_legacy_magic_pickle_restricted(tmp_path):
    """Defence in depth, and the fact the design rests on: torch 2.13's legacy loader reads the
    magic-number pickle with its weights-only unpickler too, so a payload there never runs even
    without our byte check of the magic number (which refuses such a file first)."""
    from tests.helpers import evil

    marker = tmp_path / "ran"
    path = evil.write("legacy-magic", tmp_path / "m.pth", {"w": torch.ones(1)}, marker)
    with pytest.raises(Exception, match="eval"):
        torch.load(path, weights_only=True)
    assert not marker.exists()
    with pytest.raises(MireEvalError, match="not a torch zip or legacy checkpoint"):
        read_weights(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"\xff{", b"\xff\xfe{\x00", b"[" * 100000, b"{bad"])
def test_a_checkpoint_json_file_that_is_not_utf8_json_is_one_line(tmp_path, content):
    # read_json (config.json of preflmr, uniir, ...) let UnicodeDecodeError and RecursionError out
    from harness.core.errors import MireEvalError
    from retrievers.checkpoint import read_json

    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(MireEvalError, match=rf"^{path}(:1)?: "):  # nesting: no line to name
        read_json(path, "FLMR config")


def test_a_jfe_saved_config_that_is_not_utf8_is_one_line(tmp_path):
    from harness.core.errors import MireEvalError
    from retrievers.jfe.configuration import CONFIG_NAME
    from retrievers.mllm.modeling import _read_saved

    (tmp_path / CONFIG_NAME).write_bytes(b"\xff{")
    with pytest.raises(MireEvalError, match=rf"^{tmp_path / CONFIG_NAME}:1: "):
        _read_saved(tmp_path, CONFIG_NAME)
