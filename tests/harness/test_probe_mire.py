"""MIRe on the diagnostic task: built from offline weights, trained on the train split, it
finds image-needed passages above chance; on a real MaxSim model the swap view moves the
scores and the text/visual attribution is exact.

Training follows MIRe's two stages on the diagnostic train split: alignment
(``build_trainable(stage="pretrain")``: text tower and CLIP frozen, the pooling module trains,
query = visual tokens) for 54 steps, then fine-tuning (``stage="finetune"``: text tower and
pooling train, query = visual + text tokens) for 10 steps; a 2-layer MiniLM text tower keeps
it within the time budget. The probe uses the full query.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from scipy.stats import binom

from harness.evaluation.pipeline import RunSettings
from harness.probe.views import run_probe
from harness.core.runs import read_trec_run

from retrievers.offline import write_offline_parts

pytestmark = pytest.mark.slow  # every test here shares a MIRe trained to convergence (a module fixture)

IMAGE_NEEDED = 96  # the first 96 test queries of the diagnostic task are its image-needed ones


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    from harness.training.trainer import TrainConfig, train
    from retrievers import mire
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    root = tmp_path_factory.mktemp("mire-diagnostic")
    patch = pytest.MonkeyPatch()
    patch.setenv("MIRE_EVAL_DATA", str(root / "cache"))
    colbert_dir, clip_dir = write_offline_parts(root / "parts", text_layers=2)
    options = {"stage": "pretrain", "query_maxlen": 16, "doc_maxlen": 48,
               "colbert_checkpoint": str(colbert_dir), "vision_model": str(clip_dir)}
    data = load_task("diagnostic", LoadOptions(split="train"))
    torch.manual_seed(0)
    align = TrainConfig(epochs=2, max_steps=54, lr=3e-3, batch_size=32, temperature=0.3,
                        mask_duplicate_positives=True)
    aligned = train(lambda ckpt: mire.build_trainable(ckpt, **options), data.train, align, root / "align",
                    progress=False)
    finetune = TrainConfig(epochs=1, max_steps=10, lr=5e-5, batch_size=32, temperature=0.3,
                           mask_duplicate_positives=True)
    result = train(lambda ckpt: mire.build_trainable(ckpt, stage="finetune", query_maxlen=16, doc_maxlen=48),
                   data.train, finetune, root / "finetune", checkpoint=str(aligned.model_dir), progress=False)
    out = run_probe(RunSettings(task="diagnostic", retriever="mire", checkpoint=str(result.model_dir),
                                setting="fine-tuned", limit=IMAGE_NEEDED, output=root / "results",
                                retriever_options={"query_maxlen": 32}))
    yield out
    patch.undo()


def test_trained_mire_beats_chance_on_image_needed_queries(probed):
    assert set(probed["by_type"]) == {"image-needed"}
    chance = probed["chance"]["text-only"]["image-needed"]["hit_rate@5"]  # 5/48, exact for text alone
    hits = round(probed["by_type"]["image-needed"]["views"]["full"]["metrics"]["hit_rate@5"] * IMAGE_NEEDED)
    # more hits than chance gives with probability 0.999
    assert hits > binom.ppf(0.999, IMAGE_NEEDED, chance), (hits, chance * IMAGE_NEEDED)
    # without the image MIRe is a text-only retriever, exactly at chance
    assert probed["views"]["text"]["metrics"]["hit_rate@5"] == pytest.approx(chance)


def test_swap_moves_mires_scores_and_attribution_is_exact(probed):
    directory = Path(probed["directory"])
    full, swap = read_trec_run(directory / "run.trec"), read_trec_run(directory / "run_swap.trec")
    assert full.keys() == swap.keys() and all(full[q] != swap[q] for q in full)
    assert probed["attribution"]["split"] == "maxsim per query token, visual rows as declared by the encoder"
    rows = list(csv.DictReader(open(directory / "probe_per_query.csv")))
    assert len(rows) == IMAGE_NEEDED
    for row in rows:
        for view in ("full", "swap", "image", "text"):
            score, text, image = (float(row[f"{view}_{part}"]) for part in ("score", "text_part", "image_part"))
            assert text + image == pytest.approx(score, abs=1e-4)
        assert float(row["text_image_part"]) == 0.0 and float(row["image_text_part"]) == 0.0
        assert float(row["full_image_part"]) != 0.0 and float(row["full_text_part"]) != 0.0
        rank = row["full_rank"]
        if rank and int(rank) <= 100:  # the run holds the gold score the attribution computed
            assert full[row["query_id"]][row["gold_id"]] == pytest.approx(float(row["full_score"]), abs=1e-4)


def test_pooling_attention_is_kept_and_drawn(probed):
    from harness.probe.plots import plot_results

    directory = Path(probed["directory"])
    items = json.loads((directory / "pooling_attention.json").read_text())
    assert len(items) == 4 and items[0]["type"] == "image-needed"
    attention = torch.tensor([item["attention"] for item in items])
    assert attention.shape == (4, 12, 16)  # queries, heads, 4 x 4 patches
    assert torch.allclose(attention.sum(2), torch.ones(4, 12), atol=1e-5)
    written = plot_results(directory.parents[2])
    assert directory / "pooling_attention_0.png" in written
