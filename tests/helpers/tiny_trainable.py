"""A tiny Trainable for trainer tests: hashed word ids -> embedding -> dropout -> linear.

Cosine (mean-pooled, normalised) or MaxSim (normalised token vectors). Saved as
safetensors + JSON, loadable by ``build_trainable(checkpoint=dir)`` like a real retriever.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from harness.core.types import Corpus, Passage, Query, TaskData, TrainExample

FINETUNE_DEFAULTS = {"*": {"temperature": 0.1, "lr": 0.05, "batch_size": 4, "width": 16}}
PRETRAIN_DEFAULTS = {"temperature": 0.1, "lr": 0.05}


class TinyTrainable(torch.nn.Module):
    def __init__(self, similarity: str = "cosine", vocab: int = 512, width: int = 16, dropout: float = 0.0):
        super().__init__()
        self.config = {"similarity": similarity, "vocab": vocab, "width": width, "dropout": dropout}
        self.similarity = similarity
        self.embed = torch.nn.Embedding(vocab, width)
        self.drop = torch.nn.Dropout(dropout)
        self.proj = torch.nn.Linear(width, width)
        self.calls: list[torch.Tensor] = []  # every embedding produced, for replay checks

    def _ids(self, texts: list[str]) -> dict[str, torch.Tensor]:
        rows = [[zlib.crc32(w.encode()) % self.config["vocab"] for w in t.lower().split()] or [0] for t in texts]
        longest = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), longest, dtype=torch.long)
        mask = torch.zeros(len(rows), longest, dtype=torch.bool)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        return {"ids": ids, "mask": mask}

    def collate_queries(self, queries):
        return self._ids([q.text for q in queries])

    def collate_passages(self, passages):
        return self._ids([p.contents for p in passages])

    def _embed(self, batch):
        h = self.proj(self.drop(self.embed(batch["ids"])))  # (B, L, d)
        mask = batch["mask"]
        if self.similarity == "maxsim":
            out = F.normalize(h, dim=-1) * mask[..., None]
            self.calls.append(out.detach().clone())
            return out, mask
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        out = F.normalize(pooled, dim=-1)
        self.calls.append(out.detach().clone())
        return out, None

    embed_queries = _embed
    embed_passages = _embed

    def save_checkpoint(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(directory / "model.safetensors"))
        (directory / "config.json").write_text(json.dumps(self.config))


def build_trainable(checkpoint=None, device="cpu", stage="finetune", **options) -> TinyTrainable:
    if checkpoint is not None:
        config = json.loads((Path(checkpoint) / "config.json").read_text())
        model = TinyTrainable(**config)
        model.load_state_dict(load_file(str(Path(checkpoint) / "model.safetensors")))
        return model.to(device)
    return TinyTrainable(**options).to(device)


def build(checkpoint=None, device="cpu", **options):
    model = build_trainable(checkpoint, device, **options).eval()

    class _Encoder:
        name = "tiny"
        similarity = model.similarity
        modalities = frozenset({"text"})

        def encode_queries(self, queries, view):
            return model.embed_queries(model.collate_queries(queries))[0]

        def encode_passages(self, passages):
            return model.embed_passages(model.collate_passages(passages))[0]

        def describe(self):
            return {"name": "tiny", **model.config}

    return _Encoder()


# ------------------------------------------------------------------------------------------
# A small task: query "q <topic>" must find passage "<topic> facts"; passages share filler
# words so that an untrained model confuses them.
# ------------------------------------------------------------------------------------------
TOPICS = [f"topic{i}" for i in range(24)]


def tiny_examples(n_topics: int = 24, with_negatives: bool = False) -> list[TrainExample]:
    out = []
    for i, t in enumerate(TOPICS[:n_topics]):
        pos = Passage(f"p{i}", "", f"{t} facts about things and stuff")
        negs = tuple(
            Passage(f"p{(i + k) % n_topics}", "", f"{TOPICS[(i + k) % n_topics]} facts about things and stuff")
            for k in (1, 2)
        ) if with_negatives else ()
        out.append(TrainExample(Query(f"q{i}", f"which {t} question"), pos, negs))
    return out


def tiny_task(n_topics: int = 24) -> TaskData:
    examples = tiny_examples(n_topics)
    corpus = Corpus.from_records([{"_id": e.positive.id, "title": "", "text": e.positive.text} for e in examples])
    queries = [e.query for e in examples]
    qrels = {e.query.id: {e.positive.id: 1} for e in examples}
    return TaskData("tiny", "test", queries, corpus, "qrels", qrels, train=examples)
