"""A colour task where only the image tells which passage answers (training and CLI tests of
mire, preflmr, uniir), and reading a run's metrics back from its results folder."""

from __future__ import annotations

import json
from pathlib import Path

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30),
           "black": (10, 10, 10), "white": (245, 245, 245), "purple": (140, 30, 160), "cyan": (30, 210, 220)}
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def write_colour_task(root: Path) -> Path:
    """Local format: 8 colour images, one shared question, the colour picks the code word."""
    from PIL import Image

    (root / "images").mkdir(parents=True)
    (root / "qrels").mkdir()
    queries, corpus, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for i, (name, rgb) in enumerate(COLOURS.items()):
        Image.new("RGB", (32, 32), rgb).save(root / "images" / f"{name}.png")
        queries.append({"_id": f"q{i}", "text": "which code word belongs to this picture?",
                        "image": f"images/{name}.png", "answers": [WORDS[i]]})
        corpus.append({"_id": f"p{i}", "title": "", "text": f"code word {WORDS[i]}"})
        qrels.append(f"q{i}\tp{i}\t1")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "corpus.jsonl").write_text("".join(json.dumps(c) + "\n" for c in corpus))
    for split in ("train", "test"):
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(qrels) + "\n")
    return root


def result_metrics(results: Path, setting: str) -> tuple[dict, dict]:
    """``(metrics, meta)`` of the run of ``setting`` (zero-shot, fine-tuned) under ``results``."""
    for metrics_file in results.rglob("metrics.json"):
        summary = json.loads(metrics_file.read_text())
        if summary["setting"] == setting:
            return summary["metrics"], json.loads((metrics_file.parent / "meta.json").read_text())
    raise AssertionError(f"no {setting} result under {results}")
