"""Training through the Trainable contract: a few steps lower the loss, and fine-tuning raises
hit_rate on a small task where only the image (mire) or only the question (colbertv2) tells
which passage answers.

Training runs through harness/training/trainer.py (gradient-cached in-batch InfoNCE, AdamW, warm-up)
from the modules' reference defaults, with a smaller batch, more epochs and a larger learning
rate so a tiny random model moves within seconds.
"""

from __future__ import annotations

import io

import pytest

from harness.index.retriever import EncoderRetriever
from harness.core.types import BytesImage, Corpus, Passage, Query, TrainExample
from harness.training.launch import training_defaults
from harness.training.trainer import TrainConfig, train
from retrievers import colbert, mire
from tests.helpers.colour_task import COLOURS, WORDS
from tests.helpers.single_thread import one_thread  # noqa: F401



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


def train_with(module, checkpoint, stage: str, examples, out, **overrides):
    """harness/training/trainer.py's trainer, from the registry's reference defaults plus overrides."""
    defaults = training_defaults({mire: "mire", colbert: "colbertv2"}[module], stage)
    trainer, model_options = TrainConfig.split_options({**defaults, **overrides})
    build = lambda ckpt: module.build_trainable(ckpt, "cpu", stage=stage, **model_options)  # noqa: E731
    return train(build, examples, TrainConfig(**trainer), out, checkpoint, progress=False)


def hit_rate_at_1(encoder, examples) -> float:
    retriever = EncoderRetriever(encoder)
    corpus = Corpus.from_records([{"_id": e.positive.id, "title": "", "text": e.positive.text} for e in examples])
    retriever.index(corpus)
    run = retriever.search([e.query for e in examples], 1)
    return sum(next(iter(run[e.query.id])) == e.positive.id for e in examples) / len(examples)


@pytest.mark.slow
def test_few_pretraining_steps_lower_the_loss(mire_dir, tmp_path):
    # 4 micro-batches of 2: in-batch negatives span the 8 examples through gradient caching
    result = train_with(mire, str(mire_dir), "pretrain", visual_task(), tmp_path, epochs=6, batch_size=8,
                        micro_batch=2, warmup=0)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert mire.build_trainable(str(result.model_dir), stage="pretrain").stage == "pretrain"


@pytest.mark.slow
@pytest.mark.parametrize("name, lr, epochs", [("mire", 2e-3, 20), ("colbertv2", 3e-3, 40)])
def test_finetuning_raises_hit_rate(name, lr, epochs, mire_dir, colbert_dir, tmp_path):
    module, ckpt, task = (mire, mire_dir, visual_task()) if name == "mire" else (colbert, colbert_dir, text_task())
    before = hit_rate_at_1(module.build(str(ckpt)), task)
    result = train_with(module, str(ckpt), "finetune", task, tmp_path, epochs=epochs, batch_size=8, lr=lr, warmup=0)
    losses = [h["loss"] for h in result.history]
    after = hit_rate_at_1(module.build(str(result.model_dir)), task)
    assert losses[-1] < losses[0]
    assert after >= 0.75 and after > before, (before, after)
