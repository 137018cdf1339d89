"""A checkpoint the hub cannot give fails before torch is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import harness.core.hub
from harness.core.errors import MireEvalError
from harness.evaluation.hub_precheck import DEFAULT_CHECKPOINTS, precheck

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_retrievers_own():
    from retrievers.colbert.configuration import DEFAULT_CHECKPOINT as colbert
    from retrievers.jfe.configuration import DEFAULT_MODEL as jfe
    from retrievers.mire.configuration import DEFAULT_CHECKPOINT as mire

    assert DEFAULT_CHECKPOINTS == {"colbertv2": colbert, "mire": mire, "jfe": jfe}


def test_offline_and_not_cached_is_one_line_at_once(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(harness.core.hub, "offline", lambda: True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(MireEvalError, match=r"^colbert-ir/colbertv2.0: checkpoint: not in the Hugging Face hub "
                                            r"cache and HF_HUB_OFFLINE=1; download it with `hf download"):
        precheck("colbertv2", None)
    snapshot = tmp_path / "hub" / "models--colbert-ir--colbertv2.0" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    precheck("colbertv2", None)  # cached: the retriever reads it
    precheck("bm25", None)  # no checkpoint at all
    precheck("mire", str(tmp_path))  # a local folder


def test_unreachable_hub_is_one_line(monkeypatch):
    monkeypatch.setattr(harness.core.hub, "offline", lambda: False)
    monkeypatch.setattr(harness.core.hub, "reachable", lambda timeout=0: False)
    with pytest.raises(MireEvalError, match="Y-J-Ju/MIRe_base_pt: the Hugging Face hub .* cannot be reached"):
        precheck("mire", None)


def test_the_run_fails_before_importing_torch(tmp_path):
    script = ("import sys\nfrom harness.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
              "    print(e.code, 'torch' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "MIRE_EVAL_DATA": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", script, "run", "--task", "sample", "--retriever", "colbertv2",
                           "--output", str(tmp_path / "out")], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "not in the Hugging Face hub cache" in done.stderr
