"""The hub's answer before torch is imported: a run whose checkpoint cannot be had fails in a
second, not after the 20 s it takes to import torch and transformers.

:func:`precheck` is called by :func:`harness.evaluation.pipeline.build_retriever` (so a reused run never
asks): a local checkpoint passes; a hub id (the one given, or the retriever's default, from
:data:`DEFAULT_CHECKPOINTS`) passes when the hub is reachable, or, under ``HF_HUB_OFFLINE=1``,
when huggingface_hub's cache holds a snapshot of the repository. Anything else is the same
one-line error the retriever would give later, now. Nothing here imports torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.core.errors import MireEvalError

# The checkpoint each neural retriever loads without --checkpoint (the modules' own constants;
# tests/harness/test_hub_precheck.py checks they agree). bm25 loads none.
DEFAULT_CHECKPOINTS = {"colbertv2": "colbert-ir/colbertv2.0", "mire": "Y-J-Ju/MIRe_base_pt",
                       "jfe": "Qwen/Qwen2-VL-2B-Instruct"}
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def precheck(retriever: str, checkpoint: str | None) -> None:
    """Raise MireEvalError at once when ``checkpoint`` (or the retriever's default) is a hub id
    that can be neither downloaded nor read from the hub cache."""
    if retriever not in DEFAULT_CHECKPOINTS:  # plug-ins (st, mteb, ...) say first what they lack
        return
    name = checkpoint or DEFAULT_CHECKPOINTS[retriever]
    if not name or Path(name).expanduser().exists():
        return
    repo_id, _, revision = name.partition("@")
    if not HUB_ID.match(repo_id):
        return  # the retriever says what is wrong with it
    from harness.core import hub

    advice = hub.download_advice(repo_id, "--checkpoint DIR", revision=revision or None)
    if not hub.offline():
        hub.require(repo_id, "--checkpoint DIR", revision=revision or None)
        return
    from huggingface_hub import constants

    # Any snapshot of the repository (a pinned commit's included): the retriever then reads the
    # one it needs, or says which file is missing.
    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    if not (snapshots.is_dir() and any(snapshots.iterdir())):
        raise MireEvalError(f"{name}: checkpoint: not in the Hugging Face hub cache and HF_HUB_OFFLINE=1; {advice}")
