"""BM25 over the question text: the lexical, text-only baseline (scoring by bm25s).

Queries and passages are tokenised the same way (bm25s' tokenizer, English stop words,
Snowball stemmer). Passages that share no term with the query score 0 and are not returned.
The image never reaches BM25: the ``text`` view equals ``full``, and the ``image`` view
(question removed) has nothing to search with and returns empty rankings.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import Stemmer

from harness.core.errors import MireEvalError
from harness.core.progress import progress
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
        docs, scores = self._bm25.retrieve(tokens, k=min(k, len(self._ids)), show_progress=False, n_threads=1)
        return {
            q.id: {self._ids[d]: float(s) for d, s in zip(docs[i], scores[i]) if s > 0}
            for i, q in enumerate(queries)
        }

    def describe(self) -> dict:
        return describe_record(
            name=self.name, checkpoint=None, similarity="bm25", search="exact (bm25s top-k over every passage)",
            views={"full": "question text", "text": "question text (same as full)",
                   "image": "nothing to search with: empty rankings"},
            options=self.settings, library=f"bm25s {bm25s.__version__}",
        )


def build(checkpoint: str | None = None, device: str = "cpu", **options) -> BM25Retriever:
    if checkpoint:
        raise MireEvalError("bm25 takes no --checkpoint")
    check_options("bm25", options, {"k1", "b", "method", "stemmer", "stopwords"})
    return BM25Retriever(**options)


