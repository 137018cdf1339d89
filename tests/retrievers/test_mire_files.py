"""Which weights file of a MIRe checkpoint is read, and what is downloaded for it."""

import shutil
import sys
from pathlib import Path

import pytest

from harness.errors import MireEvalError
from retrievers import mire
from retrievers.mire.files import choose_weights, small_files

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))
from release_fixtures import HubStandIn  # noqa: E402

# Y-J-Ju/MIRe_base_pt in the authors' layout: one .pth per epoch beside the small files
LISTING = ["config.json", "artifact.metadata", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
           "special_tokens_map.json", "mire_epoch_0.pth", "mire_epoch_1.pth", "mire_epoch_2.pth",
           "mire_epoch_10.pth", "README.md", "logs/train.log"]


def test_the_rule():
    assert choose_weights(LISTING, "r", "mire_epoch_1.pth") == ("mire_epoch_1.pth", None)
    chosen, notice = choose_weights(LISTING, "Y-J-Ju/MIRe_base_pt")
    assert chosen == "mire_epoch_10.pth"  # numerically highest, not the last in text order
    assert notice == ("mire: Y-J-Ju/MIRe_base_pt holds 4 weights files (mire_epoch_0.pth, mire_epoch_1.pth, "
                      "mire_epoch_10.pth, mire_epoch_2.pth); reading the highest epoch, mire_epoch_10.pth "
                      "(-o weights_file=NAME reads another)")
    assert choose_weights(["config.json", "model.safetensors"], "r") == ("model.safetensors", None)
    with pytest.raises(MireEvalError, match=r"r: weights_file='mire_epoch_7.pth' is not there; weights files: "):
        choose_weights(LISTING, "r", "mire_epoch_7.pth")
    with pytest.raises(MireEvalError, match=r"r: checkpoint: no weights file"):
        choose_weights(["config.json"], "r")
    assert small_files(LISTING) == ["artifact.metadata", "config.json", "special_tokens_map.json", "tokenizer.json",
                                    "tokenizer_config.json", "vocab.txt"]


def test_a_hub_repository_is_listed_and_only_the_chosen_weights_and_small_files_downloaded(
        mire_dir, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "hub" / "MIRe_base_pt"
    shutil.copytree(mire_dir, repo)
    for epoch in (0, 1, 2):  # earlier epochs: different files, never downloaded
        (repo / f"mire_epoch_{epoch}.pth").write_bytes(b"not read")
    hub = HubStandIn({("Y-J-Ju/MIRe_base_pt", None): repo}).install(monkeypatch)
    monkeypatch.setattr("harness.hub.offline", lambda: False)
    retriever = mire.build("Y-J-Ju/MIRe_base_pt")
    described = retriever.describe()
    assert described["weights_file"] == "mire_epoch_4.pth"
    assert hub.listed == [("Y-J-Ju/MIRe_base_pt", "main")]
    [(repo_id, _, files)] = hub.downloaded
    assert "mire_epoch_4.pth" in files and not any(f.startswith(("mire_epoch_0", "mire_epoch_1", "mire_epoch_2"))
                                                   for f in files)
    assert {"config.json", "artifact.metadata"} <= set(files)
    notice = "reading the highest epoch, mire_epoch_4.pth (-o weights_file=NAME reads another)"
    assert notice in capsys.readouterr().err and notice in described["load_notes"][0]
    hub.downloaded.clear()
    assert mire.build("Y-J-Ju/MIRe_base_pt", weights_file="mire_epoch_4.pth").describe()["load_notes"] == []
    with pytest.raises(MireEvalError, match="weights_file='nope.pth' is not there"):
        mire.build("Y-J-Ju/MIRe_base_pt", weights_file="nope.pth")
    assert len(hub.downloaded) == 1  # the build naming a file that is not there downloaded nothing
