"""Building and reloading a LoRA jfe raises no FutureWarning (transformers 5 deprecations that
peft trips over are silenced where we call peft, and only those)."""

import warnings

import pytest

from retrievers.jfe import build_trainable
from retrievers.offline import save_tiny_qwen2vl


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def test_lora_build_and_reload_raise_no_future_warning(tiny, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model = build_trainable(str(tiny), lora_rank=4, gradient_checkpointing=True)
        model.save_checkpoint(tmp_path / "ckpt")
        build_trainable(str(tmp_path / "ckpt"), gradient_checkpointing=False)
