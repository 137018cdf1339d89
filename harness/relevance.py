"""Answer-match relevance, materialised once into explicit qrels.

When a task has no relevance judgements, a passage counts as relevant to a query when it
contains one of the query's answers. The papers use two variants:

* ``answer-word``: case-insensitive, the answer delimited on both sides by a non-word
  character or the text's edge (``(?<!\\w)ANSWER(?!\\w)`` with the answer escaped), so
  answers such as ``c++``, ``3.5`` or ``(a)`` match literally. For answers that begin and
  end with a word character this is exactly the reference's ``\\bANSWER\\b``.
* ``answer-substring``: the lower-cased answer occurs anywhere in the lower-cased passage
  (M2KR's ``compute_pseudo_recall``).

Matching the whole corpus up front (not only the retrieved lists, as the reference code
does) gives ``recall@k`` its true denominator. The search is one Aho-Corasick pass per
passage over all answers at once (pyahocorasick), streamed over the corpus in batches, and
the result is cached on disk keyed by corpus, answers and variant.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import ahocorasick

from harness.cache import stable_hash
from harness.progress import progress
from harness.types import Corpus, Qrels, Query

MODES = ("answer-word", "answer-substring")
EMPTY_RULES = ("ignore", "all-relevant")
_WORD_CHAR = re.compile(r"\w")


def normalise_answer(answer: str) -> str:
    """Lower-cased, surrounding whitespace removed (the form matched against passages).

    >>> normalise_answer("  Eiffel Tower ")
    'eiffel tower'
    """
    return answer.strip().lower()


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def build_automaton(answers: Iterable[str]) -> tuple[ahocorasick.Automaton, list[str]]:
    """An automaton over the distinct non-empty normalised answers; values index the list."""
    vocab = sorted({a for a in map(normalise_answer, answers) if a})
    automaton = ahocorasick.Automaton()
    for i, answer in enumerate(vocab):
        automaton.add_word(answer, (i, len(answer)))
    automaton.make_automaton()
    return automaton, vocab


def matched_answers(automaton: ahocorasick.Automaton, text: str, mode: str) -> set[int]:
    """Indices of the answers found in ``text`` (already lower-cased).

    >>> a, vocab = build_automaton(["c++", "3.5", "(a)", "cat"])
    >>> sorted(vocab[i] for i in matched_answers(a, "i like c++, version 3.5 (a) concatenate", "answer-word"))
    ['(a)', '3.5', 'c++']
    >>> sorted(vocab[i] for i in matched_answers(a, "concatenate", "answer-substring"))
    ['cat']
    """
    found: set[int] = set()
    if mode == "answer-substring":
        for _, (i, _n) in automaton.iter(text):
            found.add(i)
        return found
    last = len(text) - 1
    for end, (i, n) in automaton.iter(text):
        if i in found:
            continue
        start = end - n + 1
        if (start == 0 or not _is_word(text[start - 1])) and (end == last or not _is_word(text[end + 1])):
            found.add(i)
    return found


def answer_qrels(
    queries: Sequence[Query],
    corpus: Corpus,
    mode: str,
    cache_dir: Path | None = None,
    batch_size: int = 20000,
    empty: str = "ignore",
) -> Qrels:
    """Relevance of every passage to every query by answer match (relevance grade 1).

    Queries without any match keep an empty dict, so they are counted, not dropped.

    ``empty``: what an answer that is empty after ``strip()`` matches. ``"ignore"``: nothing
    (mire-eval's default). ``"all-relevant"``: the reference's behaviour, kept as a named
    option: in ``answer-substring`` every passage (``"" in text`` is true; MIRe's
    ``compute_pseudo_recall``, FLMR's PseudoRecall), in ``answer-word`` every passage holding a
    word character (``re.search(r"\b\b", text)``, MIRe's ``has_answers``).

    >>> from harness.types import Corpus, Query
    >>> corpus = Corpus.from_records([{"_id": "p1", "text": "Made in 1889."},
    ...                               {"_id": "p2", "text": "The year 18890."}])
    >>> answer_qrels([Query("q", "when?", answers=("1889",))], corpus, "answer-word")
    {'q': {'p1': 1}}
    """
    if mode not in MODES:
        raise ValueError(f"unknown answer-match mode {mode!r}; known: {MODES}")
    if empty not in EMPTY_RULES:
        raise ValueError(f"unknown empty-answer rule {empty!r}; known: {EMPTY_RULES}")
    empty_queries = [q.id for q in queries if any(not a.strip() for a in q.answers)] if empty != "ignore" else []
    key = stable_hash({"corpus": corpus.fingerprint(), "mode": mode,
                       "answers": [[q.id, sorted(q.answers)] for q in queries]}
                      | ({"empty": empty} if empty_queries else {}))  # unchanged keys for the default
    cached = cache_dir / f"qrels-{key}.json.gz" if cache_dir else None
    if cached:
        found = read_cached_qrels(cached)
        if found is not None:
            return found

    automaton, vocab = build_automaton(a for q in queries for a in q.answers)
    index = {a: i for i, a in enumerate(vocab)}
    queries_of: dict[int, list[str]] = defaultdict(list)
    for q in queries:
        for i in sorted({index[a] for a in map(normalise_answer, q.answers) if a}):
            queries_of[i].append(q.id)

    qrels: Qrels = {q.id: {} for q in queries}
    ids = corpus.ids
    with progress(desc=f"relevance ({mode})", total=len(corpus), unit="passage", unit_scale=True) as bar:
        for start in range(0, len(corpus), batch_size):
            for row, text in enumerate(corpus.texts(start, min(start + batch_size, len(corpus))), start):
                for i in matched_answers(automaton, text.lower(), mode):
                    for qid in queries_of[i]:
                        qrels[qid][ids[row]] = 1
                if empty_queries and (mode == "answer-substring" or _WORD_CHAR.search(text)):
                    for qid in empty_queries:
                        qrels[qid][ids[row]] = 1
            bar.update(min(batch_size, len(corpus) - start))

    if cached:
        write_cached_qrels(cached, qrels)
    return qrels


def read_cached_qrels(path: Path) -> Qrels | None:
    """A cached answer-match qrels file, or None when it is absent or damaged (truncated, empty,
    not gzip, not ``{qid: {pid: grade}}``): a cache entry is only ever a shortcut, so a bad one
    is recomputed and rewritten, never an error."""
    import zlib

    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            qrels = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):  # ValueError: bad JSON
        return None
    if not isinstance(qrels, dict) or not all(
            isinstance(judged, dict) and all(isinstance(g, int) for g in judged.values()) for judged in qrels.values()):
        return None
    return qrels


def write_cached_qrels(path: Path, qrels: Qrels) -> None:
    """Write ``qrels`` to ``path`` whole or not at all: a private temporary file beside it, then
    ``os.replace`` (atomic on one file system), so a reader never sees half a file and two
    writers never share a temporary name."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wt", encoding="utf-8") as f:
            json.dump(qrels, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
