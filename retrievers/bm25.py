"""BM25 over the question text: the lexical, text-only baseline (scoring by bm25s).

Queries and passages are tokenised the same way (bm25s' tokenizer, English stop words,
Snowball stemmer). A query's ranking holds the passages that share at least one term with it,
at most ``k``, each with its true score, in trec_eval's order (score descending, ties by id
descending, also at the k-th place; identical passages score identically, bit for bit). A
ranking is shorter than ``k`` only when fewer passages share a term; the run's summary line and
meta.json count such queries. What a passage sharing no term would score depends on the variant
(bm25s, after Kamphuis et al., ECIR 2020):

* ``lucene``, ``atire``: 0 (their IDF is positive; a shared term adds > 0).
* ``robertson``: 0; bm25s floors its IDF at 0 (``log(max(1, (N - df + .5) / (df + .5)))``), so
  a passage sharing only terms found in over half the corpus also scores 0, and is returned.
* ``bm25l``, ``bm25+``: the same positive constant for every such passage, the sum over the
  query's terms of IDF x the term-frequency component at tf = 0 (BM25L's ``delta`` inside it,
  BM25+'s ``delta`` added): ranked below every passage sharing a term, and not returned (an
  id-ordered filler of passages with no shared term is no evidence).

The image never reaches BM25: the ``text`` view equals ``full``, and the ``image`` view
(question removed) has nothing to search with and returns empty rankings.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
import Stemmer
import torch

from harness.core.errors import MireEvalError
from harness.core.progress import progress
from harness.core.ranking import id_ranks, topk_trec
from harness.core.types import Corpus, Query, Run
from retrievers.base import check_view, describe_record
from retrievers.options import check_options, option_choice, option_float


# The scoring variants bm25s knows (bm25s.scoring._select_tfc_scorer) and the stop-word lists
# bm25s.tokenization._infer_stopwords names; anything else raises inside bm25s.
METHODS = ("robertson", "lucene", "atire", "bm25l", "bm25+")
STOPWORDS = ("english", "en", "english_plus", "en_plus", "german", "de", "dutch", "nl", "french", "fr", "spanish",
             "es", "portuguese", "pt", "italian", "it", "russian", "ru", "swedish", "sv", "norwegian", "no",
             "chinese", "zh", "turkish", "tr", "korean", "ko", "danish", "da")


def check_settings(k1, b, method, stemmer, stopwords) -> dict:
    """bm25 options checked before bm25s or PyStemmer sees them: k1 > 0 finite, 0 <= b <= 1 (Robertson &
    Zaragoza 2009, the BM25 ranges), a method and stop-word list bm25s knows, a PyStemmer algorithm.
    ``stemmer`` / ``stopwords`` null (``-o stemmer=null``) switch them off."""
    return {
        "k1": option_float(k1, "k1", low=0, low_open=True),
        "b": option_float(b, "b", low=0, high=1),
        "method": option_choice(method, "method", METHODS),
        "stemmer": None if stemmer is None else option_choice(stemmer, "stemmer", tuple(Stemmer.algorithms())),
        "stopwords": None if stopwords is None else option_choice(stopwords, "stopwords", STOPWORDS),
    }


class BM25Retriever:
    name = "bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene", stemmer: str | None = "english",
                 stopwords: str | None = "en"):
        self.settings = check_settings(k1, b, method, stemmer, stopwords)
        self._stemmer = Stemmer.Stemmer(self.settings["stemmer"]) if self.settings["stemmer"] else None
        self._bm25 = bm25s.BM25(k1=self.settings["k1"], b=self.settings["b"], method=self.settings["method"])
        self._ids: list[str] = []

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords=self.settings["stopwords"], stemmer=self._stemmer,
                              return_ids=False, show_progress=False)

    def index(self, corpus: Corpus, chunk: int = 20000) -> None:
        """Tokenise (the slow part, under a progress bar) ``chunk`` passages at a time, then index.

        bm25s builds its vocabulary from the token strings, as it does from one whole-corpus
        ``tokenize``; ids are internal, so scores are the same.
        """
        n = len(corpus)
        tokens: list[list[str]] = []
        with progress(desc="bm25 index", total=n, unit="passage", unit_scale=True) as bar:
            for start in range(0, n, chunk):
                tokens.extend(self._tokenize(corpus.texts(start, min(start + chunk, n))))
                bar.update(min(chunk, n - start))
        self._bm25.index(tokens, show_progress=False)
        self._ids = corpus.ids

    def search(self, queries: Sequence[Query], k: int, view: str = "full") -> Run:
        check_view(view)
        if not self._ids:
            raise RuntimeError("index() the corpus before search()")
        if view == "image" or not queries:
            return {q.id: {} for q in queries}
        tokens = self._tokenize([q.text for q in queries])
        self._ranks = id_ranks(self._ids)
        return {q.id: self._ranking(words, k) for q, words in zip(queries, tokens)}

    def _ranking(self, words: list[str], k: int) -> dict[str, float]:
        """The best ``k`` passages sharing a term with the query's ``words``: bm25s' scores of
        the whole corpus (``get_scores_from_ids``, what its ``retrieve`` ranks), the passages in
        the query terms' posting lists, then trec_eval's order (bm25s' own top-k breaks ties
        by position)."""
        term_ids = self._bm25.get_tokens_ids(words)
        if not term_ids:
            return {}
        scores = self._bm25.get_scores_from_ids(term_ids)
        indices, indptr = self._bm25.scores["indices"], self._bm25.scores["indptr"]
        sharing = np.unique(np.concatenate([indices[indptr[t] : indptr[t + 1]] for t in set(term_ids)]))
        sharing = torch.from_numpy(sharing.astype(np.int64))
        vals, idx = topk_trec(torch.from_numpy(np.asarray(scores))[sharing].view(1, -1),
                              self._ranks[sharing].view(1, -1), k)
        return {self._ids[d]: float(s) for d, s in zip(sharing[idx[0]].tolist(), vals[0].tolist())}

    def describe(self) -> dict:
        return describe_record(
            name=self.name, checkpoint=None, similarity="bm25", search="exact (bm25s top-k over every passage)",
            views={"full": "question text", "text": "question text (same as full)",
                   "image": "nothing to search with: empty rankings"},
            options=self.settings, library=f"bm25s {bm25s.__version__}",
            returns="the passages sharing at least one term with the question, at most k",
        )


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> BM25Retriever:
    if checkpoint:
        raise MireEvalError("bm25 takes no --checkpoint")
    check_options("bm25", options, {"k1", "b", "method", "stemmer", "stopwords"})
    return BM25Retriever(**options)


