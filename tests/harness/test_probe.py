"""The probe on controlled inputs: indices, the swap view, exact attribution."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from harness.attribution import maxsim_contributions
from harness.evaluate import RunSettings
from harness.probe import derangement, run_probe, swap_images
from harness.runs import read_trec_run
from harness.types import BytesImage, Corpus, Query, TaskData
from retrievers.base import EncoderRetriever

VIEWS = ("full", "text", "image", "swap")
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _png(rgb) -> BytesImage:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), rgb).save(buf, format="PNG")
    return BytesImage(buf.getvalue(), origin=str(rgb))


class ColourWordEncoder:
    """A tiny late-interaction encoder whose tokens mean something.

    Dimension i stands for word i of a fixed vocabulary. A passage is its known words; a
    query is two visual tokens (the word for the image's dominant colour, then a generic
    "picture" token) followed by its known words. So a query scores a passage by the words
    they share, the image contributing the colour word.
    """

    name = "colour-words"
    similarity = "maxsim"
    modalities = frozenset({"text", "image"})
    visual_query_tokens = 2
    vocab = ["red", "green", "blue", "picture", "alpha", "beta", "gamma", "thing"]

    def _words(self, text):
        vecs = [torch.nn.functional.one_hot(torch.tensor(self.vocab.index(w)), len(self.vocab)).float()
                for w in text.lower().replace("?", "").split() if w in self.vocab]
        return vecs

    calls = 0

    def encode_queries(self, queries, view):
        self.calls += 1
        out = []
        for q in queries:
            rows = []
            if view != "text" and q.image is not None:
                pixel = q.image.load().getpixel((0, 0))
                colour = max(COLOURS, key=lambda c: -sum(abs(a - b) for a, b in zip(COLOURS[c], pixel)))
                rows += self._words(colour) + [0.5 * self._words("picture")[0]]
            if view != "image":
                rows += self._words(q.text)
            out.append(torch.stack(rows) if rows else torch.zeros(1, len(self.vocab)))
        return out

    def encode_passages(self, passages):
        return [torch.stack(self._words(p.contents) or [torch.zeros(len(self.vocab))]) for p in passages]

    def describe(self):
        return {"name": self.name}


def _task() -> TaskData:
    corpus = Corpus.from_records([
        {"_id": f"{c}-{w}", "title": "", "text": f"{c} {w} thing"}
        for c in COLOURS for w in ("alpha", "beta")
    ])
    queries, qrels = [], {}
    for i, (c, w) in enumerate((c, w) for c in COLOURS for w in ("alpha", "beta")):
        queries.append(Query(f"q{i}", f"{w} thing?", _png(COLOURS[c])))
        qrels[f"q{i}"] = {f"{c}-{w}": 1}
    types = {q.id: "both-needed" for q in queries}
    return TaskData("toy", "test", queries, corpus, qrels=qrels, meta={"query_types": types})


def test_derangement_is_fixed_by_seed_and_moves_everything():
    assert derangement(50, 3) == derangement(50, 3) != derangement(50, 4)
    assert all(i != j for i, j in enumerate(derangement(50, 3)))


def test_swap_moves_every_image_and_keeps_imageless_queries():
    qs = [Query("a", "x", _png((1, 1, 1))), Query("b", "y"), Query("c", "z", _png((2, 2, 2)))]
    swapped = swap_images(qs, 0)
    assert swapped[1].image is None
    assert swapped[0].image == qs[2].image and swapped[2].image == qs[0].image
    assert [q.text for q in swapped] == ["x", "y", "z"]


def test_maxsim_parts_sum_to_the_searched_score(tmp_path):
    data = _task()
    encoder = ColourWordEncoder()
    retriever = EncoderRetriever(encoder)
    out = run_probe(RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path), data=data,
                    retriever=retriever)
    directory = Path(out["directory"])
    assert directory.parent == tmp_path / "toy" / "colour-words" and (directory / "metrics.json").exists()
    record = json.loads((directory / "probe.json").read_text())
    # one pass for the evaluation's full view, one per probe view: attribution reuses them
    assert encoder.calls == 5
    assert record["attribution"]["split"].startswith("maxsim per query token, visual rows")

    rows = list(csv.DictReader(open(directory / "probe_per_query.csv")))
    assert len(rows) == 6
    runs = {v: read_trec_run(directory / ("run.trec" if v == "full" else f"run_{v}.trec")) for v in VIEWS}
    for row in rows:
        for view in ("full", "text", "image", "swap"):
            score = float(row[f"{view}_score"])
            text, image = float(row[f"{view}_text_part"]), float(row[f"{view}_image_part"])
            assert text + image == pytest.approx(score, abs=1e-5)
            # the gold passage's attributed score is the score the search gave it
            assert runs[view][row["query_id"]][row["gold_id"]] == pytest.approx(score, abs=1e-5)
        # text view: no visual token, image view: no text token
        assert float(row["text_image_part"]) == 0.0 and float(row["image_text_part"]) == 0.0
        assert float(row["full_image_part"]) == pytest.approx(1.0)  # the matching colour word
        assert float(row["full_text_part"]) == pytest.approx(2.0)  # "alpha"/"beta" and "thing"

    # Both modalities are needed. Ties go to the larger passage id (trec_eval), so the text
    # view ("alpha thing") always ranks red-* first: 2 of 6; the image view ranks *-beta first: 3 of 6.
    views = record["views"]
    assert views["full"]["metrics"]["hit_rate@1"] == 1.0
    assert views["text"]["metrics"]["hit_rate@1"] == pytest.approx(1 / 3)
    assert views["image"]["metrics"]["hit_rate@1"] == pytest.approx(1 / 2)
    assert views["swap"]["metrics"]["hit_rate@1"] < 1.0
    idx = record["indices_by_metric"]["hit_rate@1"]
    assert idx["image_dependence"] == pytest.approx(2 / 3)
    assert idx["text_dependence"] == pytest.approx(1 / 2)
    assert idx["text_dominance"] == pytest.approx(idx["text_dependence"] - idx["image_dependence"])
    assert record["by_type"]["both-needed"]["n_queries"] == 6
    assert record["compare"]["stat_test"] == "fisher"
    assert 0.0 <= record["compare"]["vs_full"]["text"]["hit_rate@1"]["p_value"] <= 1.0
    assert record["indices"] == record["indices_by_metric"]["mrr@5"]  # main metric of an unregistered task


def test_maxsim_contributions_match_the_shared_search_kernel():
    from harness.search import maxsim_scores

    g = torch.Generator().manual_seed(0)
    q, d = torch.randn(7, 4, generator=g), torch.randn(5, 4, generator=g)
    kernel = maxsim_scores(q[None], torch.ones(1, 7, dtype=torch.bool), d[None], torch.ones(1, 5, dtype=torch.bool))
    assert maxsim_contributions(q, d).sum() == pytest.approx(float(kernel[0, 0]), abs=1e-5)


class TextOnlyWords(ColourWordEncoder):
    """The same words, but the image never read: a text-only late-interaction encoder."""

    name = "text-words"
    modalities = frozenset({"text"})

    def encode_queries(self, queries, view):
        return super().encode_queries([q.with_image(None) for q in queries], view)


def test_text_only_encoder_image_view_scores_nothing_and_all_credit_goes_to_text(tmp_path):
    data = _task()
    out = run_probe(RunSettings(task="toy", retriever="text-words", k=6, output=tmp_path), data=data,
                    retriever=EncoderRetriever(TextOnlyWords()))
    image = out["views"]["image"]
    assert image["n_empty_rankings"] == 6 and not any(image["metrics"].values())
    assert out["indices_by_metric"]["hit_rate@1"]["image_dependence"] == 0.0
    assert out["views"]["swap"]["metrics"] == out["views"]["full"]["metrics"]
    rows = list(csv.DictReader(open(Path(out["directory"]) / "probe_per_query.csv")))
    assert all(float(r["full_image_part"]) == 0.0 and float(r["full_text_part"]) == float(r["full_score"]) for r in rows)
    assert all(r["image_score"] == "" and r["image_rank"] == "" for r in rows)


def test_swap_changes_a_multimodal_retrievers_scores(tmp_path):
    data = _task()
    out = run_probe(RunSettings(task="toy", retriever="colour-words", k=6, output=tmp_path), data=data,
                    retriever=EncoderRetriever(ColourWordEncoder()))
    directory = Path(out["directory"])
    assert read_trec_run(directory / "run_swap.trec") != read_trec_run(directory / "run.trec")
    assert out["indices"]["swap_sensitivity"] > 0


def test_bm25_on_diagnostic_ignores_the_image_and_is_at_chance_on_image_needed(tmp_path, monkeypatch):
    monkeypatch.setenv("MIRE_EVAL_DATA", str(tmp_path / "cache"))
    out = run_probe(RunSettings(task="diagnostic", retriever="bm25", output=tmp_path / "results"))
    directory = Path(out["directory"])
    assert out["n_queries"] == 288 and out["main_metric"] == "hit_rate@1"
    for metric, indices in out["indices_by_metric"].items():
        if out["views"]["full"]["metrics"][metric]:
            assert indices["image_dependence"] == 0.0, metric  # exactly: full and text are the same ranking
            assert indices["swap_sensitivity"] == 0.0, metric
    assert read_trec_run(directory / "run_swap.trec") == read_trec_run(directory / "run.trec")
    assert not any(out["views"]["image"]["metrics"].values())  # no question, no hits
    assert out["compare"]["vs_full"]["text"]["hit_rate@1"]["p_value"] == 1.0

    by_type, chance = out["by_type"], out["chance"]
    image_needed = by_type["image-needed"]["views"]["full"]["metrics"]
    assert image_needed["hit_rate@1"] == chance["text-only"]["image-needed"]["hit_rate@1"] == 1 / 48
    assert image_needed["hit_rate@5"] == 5 / 48 and image_needed["hit_rate@10"] == 10 / 48
    assert by_type["text-sufficient"]["views"]["full"]["metrics"]["hit_rate@1"] == 1.0
    assert by_type["both-needed"]["views"]["full"]["metrics"]["hit_rate@1"] == chance["text-only-best"]["both-needed"]["hit_rate@1"]

    from harness.results import leaderboard

    (row,) = leaderboard(tmp_path / "results")
    assert row["probe_text_dominance"] == 1.0 and row["probe_image_dependence"] == 0.0


class MeanColourWords(ColourWordEncoder):
    """The same tokens averaged into one normalised vector: a single-vector (cosine) encoder."""

    name = "mean-words"
    similarity = "cosine"

    def encode_queries(self, queries, view):
        return torch.stack([torch.nn.functional.normalize(m.mean(0), dim=0) for m in super().encode_queries(queries, view)])

    def encode_passages(self, passages):
        return torch.stack([torch.nn.functional.normalize(m.mean(0), dim=0) for m in super().encode_passages(passages)])


def test_single_vector_encoder_gets_exact_gold_scores_without_a_split(tmp_path):
    # mrr@5 on a depth-2 run: named, so computed (depth-limited) rather than refused
    out = run_probe(RunSettings(task="toy", retriever="mean-words", k=2, output=tmp_path, metrics=("mrr@5",),
                                metrics_named=True), data=_task(),
                    retriever=EncoderRetriever(MeanColourWords()))
    assert out["attribution"]["split"].startswith("none (a single-vector")
    directory = Path(out["directory"])
    rows = list(csv.DictReader(open(directory / "probe_per_query.csv")))
    run = read_trec_run(directory / "run.trec")
    for row in rows:
        assert row["full_text_part"] == "" and row["full_score"] != ""  # scored even beyond k = 2
        if row["gold_id"] in run[row["query_id"]]:
            assert run[row["query_id"]][row["gold_id"]] == pytest.approx(float(row["full_score"]), abs=1e-3)
