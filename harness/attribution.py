"""Per-query attribution: the gold passage's rank and score under each view, and for
late-interaction retrievers the exact split of that score into text and visual parts.

A single-vector score splits only where the query vector is itself a sum of a text and an image
part (:class:`~retrievers.hooks.SumsModalities`, UniIR CLIP_SF): ``cos(q, p) = t'.p + v'.p``
with ``t' + v' = q``.

A MaxSim score is a sum over query tokens of each token's best match in the passage,
``s(q, d) = sum_i max_j q_i . d_j``; every term belongs to one query token and every query
token to one modality, so ``s = s_text + s_visual`` exactly. The passage vectors are the
ones the search used (read back from the retriever's fp16 index), so the attributed score
is the score the run holds.

Which query rows are visual is the encoder's to say, through the protocols
:class:`~retrievers.hooks.TypesQueryTokens` or :class:`~retrievers.hooks.DeclaresVisualRows`
(:func:`query_token_types`); passage vectors are read through
:class:`~retrievers.hooks.IndexedPassages`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.runs import canonical_ranking
from harness.types import Qrels, Query, Run
from retrievers.hooks import DeclaresVisualRows, IndexedPassages, SumsModalities, TypesQueryTokens


def gold_passages(qrels: Qrels, full_run: Run) -> dict[str, str]:
    """Per query, the relevant passage ranked best under ``full`` (else the smallest id).

    >>> gold_passages({"q": {"a": 1, "b": 1}, "r": {"c": 1}}, {"q": {"x": 3.0, "b": 2.0, "a": 1.0}})
    {'q': 'b', 'r': 'c'}
    """
    gold = {}
    for q, rels in qrels.items():
        relevant = {p for p, r in rels.items() if r > 0}
        if not relevant:
            continue
        ranked = [p for p, _ in canonical_ranking(full_run.get(q, {}))]
        gold[q] = next((p for p in ranked if p in relevant), min(relevant))
    return gold


@dataclass(frozen=True)
class GoldScore:
    """The gold passage under one view: rank (None: not in the top k), score, and its split."""

    rank: int | None
    score: float | None
    text_part: float | None = None
    image_part: float | None = None


def query_token_types(encoder, queries: Sequence[Query], view: str, matrices) -> list | None:
    """Per query, a bool vector over the rows of its query matrix: True where the row is a
    visual token. ``None`` when the encoder does not say.

    An encoder states it by one of (first wins): :class:`~retrievers.hooks.TypesQueryTokens`
    (``query_token_types(queries, view)``), :class:`~retrievers.hooks.DeclaresVisualRows`
    (``visual_query_tokens``: the first that many rows are visual whenever the view keeps the
    image; MIRe: 16 global + 12 query-guided tokens, then the text). A text-only encoder
    (``modalities == {"text"}``) has no visual rows.
    """
    import torch

    encoder = unwrapped(encoder)
    if isinstance(encoder, TypesQueryTokens):
        return [torch.as_tensor(t, dtype=torch.bool) for t in encoder.query_token_types(queries, view)]
    if "image" not in getattr(encoder, "modalities", frozenset()):
        return [torch.zeros(m.shape[0], dtype=torch.bool) for m in matrices]
    if not isinstance(encoder, DeclaresVisualRows):
        return None
    out = []
    for q, m in zip(queries, matrices):
        n = encoder.visual_query_tokens if view != "text" and q.image is not None else 0
        out.append(torch.arange(m.shape[0]) < n)
    return out


def unwrapped(encoder):
    """The encoder a :class:`RememberingEncoder` wraps (the protocols are checked on it, as
    ``isinstance`` with a runtime protocol may not see attributes forwarded by ``__getattr__``)."""
    return encoder.inner if isinstance(encoder, RememberingEncoder) else encoder


def maxsim_contributions(q, d):
    """Each query row's term of the MaxSim score: ``max_j q_i . d_j`` (a pure function).

    q [Lq, dim], d [Ld, dim] -> [Lq]; the terms sum to the score.

    >>> import torch
    >>> maxsim_contributions(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.5, 0.2], [0.1, 0.9]])).tolist()
    [0.5, 0.8999999761581421]
    """
    return (q.float() @ d.float().T).amax(dim=1)  # (Lq, Ld) -> (Lq,)


class IndexScorer:
    """Exact gold-passage scores from an :class:`~retrievers.hooks.IndexedPassages` retriever's
    own index (the fp16 passage vectors the search used), split by query token type."""

    def __init__(self, retriever: IndexedPassages):
        self.retriever = retriever
        self.encoder = retriever.encoder
        self.row_of = {pid: i for i, pid in enumerate(retriever.corpus.ids)}

    def passage(self, pid: str):
        return self.retriever.passage_vectors(self.row_of[pid])

    def scores(self, queries: Sequence[Query], gold: Mapping[str, str], view: str) -> dict[str, tuple]:
        """``{qid: (score, text_part, image_part)}``; parts are None where no split exists."""
        encoded = self.retriever.encode_queries(queries, view)
        out = {}
        if self.encoder.similarity != "maxsim":
            summed = unwrapped(self.encoder)
            text, image = (summed.query_parts(queries, view) if isinstance(summed, SumsModalities)
                           else (None, None))
            for i, (q, vec) in enumerate(zip(queries, encoded)):
                if q.id in gold:
                    p = self.passage(gold[q.id]).float()
                    split = (None, None) if text is None else (float(text[i] @ p), float(image[i] @ p))
                    out[q.id] = (float(vec.float() @ p), *split)
            return out
        types = query_token_types(self.encoder, queries, view, encoded)
        for i, (q, matrix) in enumerate(zip(queries, encoded)):
            if q.id not in gold:
                continue
            terms = maxsim_contributions(matrix, self.passage(gold[q.id]))  # (Lq,)
            if types is None:
                out[q.id] = (float(terms.sum()), None, None)
            else:
                visual = types[i]
                out[q.id] = (float(terms.sum()), float(terms[~visual].sum()), float(terms[visual].sum()))
        return out


class RememberingEncoder:
    """Wraps an encoder so that query matrices encoded for a search are reused by the
    attribution of the same queries (no second forward pass); :meth:`clear` between chunks
    keeps memory bounded. Everything else is the wrapped encoder's."""

    def __init__(self, inner):
        self.inner = inner
        self.memo: dict[tuple, object] = {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_queries(self, queries: Sequence[Query], view: str):
        import torch

        keys = [(view, q.id, q.text, None if q.image is None else q.image.key) for q in queries]
        if all(k in self.memo for k in keys):
            rows = [self.memo[k] for k in keys]
            return rows if self.inner.similarity == "maxsim" else torch.stack(rows)
        encoded = self.inner.encode_queries(queries, view)
        self.memo.update(zip(keys, encoded))
        return encoded

    def clear(self) -> None:
        self.memo.clear()


def split_kind(retriever) -> str:
    """How scores were split into text and image parts (recorded in probe.json)."""
    encoder = getattr(retriever, "encoder", None)
    if encoder is None:
        return "none (not an encoder retriever; gold scores from the run)"
    if encoder.similarity != "maxsim":
        if isinstance(unwrapped(encoder), SumsModalities):
            return "cosine of a summed query vector: its text and image parts, as declared by the encoder"
        return "none (a single-vector similarity has no per-token split)"
    if "image" not in encoder.modalities:
        return "maxsim per query token; text-only encoder: every token is text"
    if isinstance(unwrapped(encoder), (TypesQueryTokens, DeclaresVisualRows)):
        return "maxsim per query token, visual rows as declared by the encoder"
    return "none (the encoder does not declare which query tokens are visual)"


def attribute(retriever, queries_by_view: Mapping[str, Sequence[Query]], runs: Mapping[str, Run],
              gold: Mapping[str, str], search_view: Mapping[str, str]) -> dict[str, dict[str, GoldScore]]:
    """``{view: {qid: GoldScore}}``; ``search_view[view]`` is the view the retriever was asked for.

    Ranks come from the runs. Scores come from the retriever's index when it is an encoder
    retriever (also for a gold passage outside the top k), else from an optional
    ``retriever.score_pairs(queries, passage_ids, view) -> list[float]``, else from the run
    (None when the gold passage was not retrieved).
    """
    exact = IndexScorer(retriever) if isinstance(retriever, IndexedPassages) else None
    out: dict[str, dict[str, GoldScore]] = {}
    for view, queries in queries_by_view.items():
        asked = search_view[view]
        run = runs[view]
        if exact is not None and not (asked == "image" and "image" not in exact.encoder.modalities):
            parts = exact.scores(queries, gold, asked)
        elif hasattr(retriever, "score_pairs"):
            judged = [q for q in queries if q.id in gold]
            values = retriever.score_pairs(judged, [gold[q.id] for q in judged], asked)
            parts = {q.id: (float(v), None, None) for q, v in zip(judged, values)}
        else:
            parts = {}
        per_query = {}
        for q in queries:
            if q.id not in gold:
                continue
            order = [p for p, _ in canonical_ranking(run.get(q.id, {}))]
            rank = order.index(gold[q.id]) + 1 if gold[q.id] in order else None
            score, text_part, image_part = parts.get(q.id, (run.get(q.id, {}).get(gold[q.id]), None, None))
            per_query[q.id] = GoldScore(rank, score, text_part, image_part)
        out[view] = per_query
    return out


def attribution_rows(attribution: Mapping[str, Mapping[str, GoldScore]], gold: Mapping[str, str],
                     per_query: Mapping, main_metric: str, query_types: Mapping[str, str] | None) -> list[dict]:
    """One row per query for probe_per_query.csv; ``per_query[view][qid][metric]``."""
    rows = []
    for qid in gold:
        row = {"query_id": qid, "type": (query_types or {}).get(qid, ""), "gold_id": gold[qid]}
        for view, scores in attribution.items():
            g = scores.get(qid)
            row.update({
                f"{view}_rank": g.rank if g else None, f"{view}_score": g.score if g else None,
                f"{view}_text_part": g.text_part if g else None, f"{view}_image_part": g.image_part if g else None,
                f"{view}_{main_metric}": per_query[view].get(qid, {}).get(main_metric),
            })
        rows.append(row)
    return rows


def attribution_summary(rows: Sequence[Mapping], views: Sequence[str]) -> dict:
    """Mean text and visual parts of the gold score per view (where the split exists).

    >>> attribution_summary([{"full_text_part": 3.0, "full_image_part": 1.0}], ["full"])
    {'full': {'n_split': 1, 'mean_text_part': 3.0, 'mean_image_part': 1.0, 'image_share': 0.25}}
    """
    out = {}
    for v in views:
        pairs = [(r[f"{v}_text_part"], r[f"{v}_image_part"]) for r in rows
                 if r.get(f"{v}_text_part") is not None and r.get(f"{v}_image_part") is not None]
        if not pairs:
            out[v] = {"n_split": 0}
            continue
        text = sum(t for t, _ in pairs) / len(pairs)
        image = sum(i for _, i in pairs) / len(pairs)
        total = abs(text) + abs(image)
        out[v] = {"n_split": len(pairs), "mean_text_part": text, "mean_image_part": image,
                  "image_share": abs(image) / total if total else None}
    return out
