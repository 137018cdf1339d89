"""Training through the Trainable contract: a few steps lower the loss, and fine-tuning raises
hit_rate on a small task where only the image (mire) or only the question (colbertv2) tells
which passage answers.

The loop here is the contract's minimum (in-batch InfoNCE on MaxSim / temperature, AdamW);
harness/training.py's trainer drives the same Trainable methods.
"""

from __future__ import annotations

import io

import pytest
import torch

from harness.types import BytesImage, Corpus, Passage, Query, TrainExample
from retrievers import colbert, mire

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "purple": (140, 30, 160), "cyan": (30, 210, 220)}
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def _image(rgb) -> BytesImage:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(buf, format="PNG")
    return BytesImage(buf.getvalue(), f"{rgb}.png")


def visual_task():
    """Same question for every query; the colour of the image picks the passage."""
    examples = []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        q = Query(f"q{i}", "which code word belongs to this picture?", _image(rgb))
        examples.append(TrainExample(q, Passage(f"p{i}", "", f"code word {WORDS[i]}")))
    return examples


def text_task():
    """Questions and passages share no content word: only training links them."""
    pairs = [("capital of france?", "paris lies on the seine"), ("largest ocean?", "pacific waters are vast"),
             ("fastest land animal?", "cheetahs sprint quickly"), ("red planet?", "mars has iron dust"),
             ("king of the jungle?", "lions roar loudly"), ("frozen water?", "ice melts when warm"),
             ("tallest mountain?", "everest peak in nepal"), ("author of hamlet?", "shakespeare wrote plays")]
    return [TrainExample(Query(f"q{i}", q), Passage(f"p{i}", "", p)) for i, (q, p) in enumerate(pairs)]


def maxsim(Q, QM, D, DM):
    """[B_q, B_d] late-interaction scores, differentiable."""
    sim = torch.einsum("qid,pjd->qpij", Q, D).masked_fill(~DM[None, :, None, :], float("-inf"))
    return (sim.max(-1).values * QM[:, None, :]).sum(-1)


def train(trainable, examples, steps: int, lr: float, temperature: float) -> list[float]:
    params = [p for p in trainable.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    q_batch = trainable.collate_queries([e.query for e in examples])
    p_batch = trainable.collate_passages([e.positive for e in examples])
    losses = []
    trainable.train()
    for _ in range(steps):
        Q, QM = trainable.embed_queries(q_batch)
        D, DM = trainable.embed_passages(p_batch)
        scores = maxsim(Q, QM, D, DM) / temperature           # [B, B] in-batch
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(examples)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def hit_rate_at_1(retriever, examples) -> float:
    corpus = Corpus.from_records([{"_id": e.positive.id, "title": "", "text": e.positive.text} for e in examples])
    retriever.index(corpus)
    run = retriever.search([e.query for e in examples], 1)
    return sum(next(iter(run[e.query.id])) == e.positive.id for e in examples) / len(examples)


def test_few_pretraining_steps_lower_the_loss(mire_dir):
    torch.manual_seed(0)
    t = mire.build_trainable(str(mire_dir), stage="pretrain")
    losses = train(t, visual_task(), steps=6, lr=1e-4, temperature=0.3)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name, lr, steps", [("mire", 2e-3, 20), ("colbertv2", 3e-3, 40)])
def test_finetuning_raises_hit_rate(name, lr, steps, mire_dir, colbert_dir, tmp_path):
    torch.manual_seed(0)
    module, ckpt, task = (mire, mire_dir, visual_task()) if name == "mire" else (colbert, colbert_dir, text_task())
    before = hit_rate_at_1(module.build(str(ckpt)), task)
    t = module.build_trainable(str(ckpt), stage="finetune")
    losses = train(t, task, steps=steps, lr=lr, temperature=0.8)
    t.save_checkpoint(tmp_path / "ft")
    after = hit_rate_at_1(module.build(str(tmp_path / "ft")), task)
    assert losses[-1] < losses[0]
    assert after >= 0.75 and after > before, (before, after)
