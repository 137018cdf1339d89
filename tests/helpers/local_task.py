"""Small tasks written in the local format (corpus.jsonl, queries.jsonl, images/, qrels/)."""

import json
from pathlib import Path

from PIL import Image


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def make_local_task(root: Path, *, qrels: dict[str, list[tuple[str, str]]] | None = None) -> Path:
    """A four-query task: animals pictured, passages about them; optional qrels per split."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    colours = {"fox": (200, 80, 20), "owl": (90, 70, 50), "seal": (120, 120, 130), "crab": (220, 40, 40)}
    for name, colour in colours.items():
        Image.new("RGB", (32, 32), colour).save(root / "images" / f"{name}.png")
    write_jsonl(root / "corpus.jsonl", [
        {"_id": "p-fox", "title": "Red fox", "text": "The red fox hunts voles at dusk."},
        {"_id": "p-owl", "title": "Barn owl", "text": "The barn owl swallows mice whole."},
        {"_id": "p-seal", "title": "Grey seal", "text": "The grey seal eats herring and cod."},
        {"_id": "p-crab", "title": "Shore crab", "text": "The shore crab feeds on mussels."},
        {"_id": "p-zoo", "title": "Zoo", "text": "Visitors feed the animals on Sundays."},
    ])
    write_jsonl(root / "queries.jsonl", [
        {"_id": "q-fox", "text": "What does this fox hunt?", "image": "images/fox.png", "answers": ["voles"]},
        {"_id": "q-owl", "text": "What does this owl eat?", "image": "images/owl.png", "answers": ["mice"]},
        {"_id": "q-seal", "text": "Which fish does the seal eat?", "image": "images/seal.png", "answers": ["herring", "cod"]},
        {"_id": "q-crab", "text": "What does this crab feed on?", "image": "images/crab.png", "answers": ["mussels"]},
    ])
    for split, pairs in (qrels or {}).items():
        (root / "qrels").mkdir(exist_ok=True)
        with open(root / "qrels" / f"{split}.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for q, p in pairs:
                f.write(f"{q}\t{p}\t1\n")
    return root
