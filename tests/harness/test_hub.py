import socket

import pytest

import harness.hub as hub
from harness.errors import MireEvalError

REAL_REACHABLE = hub.reachable  # bound at import, before the autouse stand-in replaces it


def test_unreachable_hub_is_one_line_with_hf_download_for_checkpoints(monkeypatch):
    from retrievers.checkpoint import resolve

    monkeypatch.setattr(hub, "reachable", lambda timeout=None: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("asked the hub"))
    with pytest.raises(MireEvalError) as err:
        resolve("Y-J-Ju/MIRe_base_pt@0123abc")
    text = str(err.value)
    assert "\n" not in text and "cannot be reached" in text and "huggingface-cli" not in text
    assert "`hf download Y-J-Ju/MIRe_base_pt --revision 0123abc --local-dir DIR` and pass --checkpoint DIR" in text
    assert "HF_HUB_OFFLINE=1" in text


def test_offline_mode_skips_the_probe(monkeypatch):
    monkeypatch.setattr(hub, "reachable", lambda timeout=None: pytest.fail("probed"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.require("org/x", "--checkpoint DIR")  # the hub library then serves its cache only


def test_the_real_probe_answers_false_for_a_dead_endpoint(monkeypatch):
    """The probe itself (the stand-in replaces it elsewhere): a refused port answers False, once."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()  # nothing listens there now
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(hub, "_probed", {})
    assert REAL_REACHABLE(timeout=1.0) is False
    assert hub._probed == {f"http://127.0.0.1:{port}": False}


@pytest.mark.parametrize("retriever, repo_id", [("mire", "Y-J-Ju/MIRe_base_pt"), ("colbertv2", "colbert-ir/colbertv2.0"),
                                                ("jfe", "Qwen/Qwen2-VL-2B-Instruct"), ("uniir-clip-sf", "TIGER-Lab/UniIR"),
                                                ("preflmr", "LinWeizheDragon/PreFLMR_ViT-L")])
def test_every_retrievers_default_checkpoint_fails_fast_when_the_hub_is_out_of_reach(monkeypatch, retriever, repo_id):
    import huggingface_hub

    from harness.registry import RETRIEVERS

    monkeypatch.setattr(hub, "reachable", lambda timeout=None: False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("asked the hub"))
    with pytest.raises(MireEvalError) as err:
        RETRIEVERS.get(retriever)(None)
    text = str(err.value)
    assert text.startswith(f"{repo_id}: the Hugging Face hub") and "\n" not in text
    assert f"`hf download {repo_id}" in text and "--local-dir DIR` and pass --checkpoint DIR" in text
