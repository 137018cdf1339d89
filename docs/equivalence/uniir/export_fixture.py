# Usage: UNIIR_REF_OUT=/tmp/uniir-ref python docs/equivalence/uniir/export_fixture.py
"""tests/retrievers/data/uniir_reference_98dc570.safetensors from run_reference.py's outputs:
every embedding (dimension 32), the score matrices (fp32 and through fp16), the token ids of
the full-view queries and the passages, and in the metadata the inputs, the query texts UniIR
built for each view and the provenance."""
import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from inputs import DOCS, INSTRUCTION, QUERIES  # noqa: E402

ref = torch.load(Path(os.environ.get("UNIIR_REF_OUT", "/tmp/uniir-ref")) / "ref_outputs.pt", weights_only=True)
keep = {k: v for k, v in ref.items() if torch.is_tensor(v) and (v.is_floating_point() or k in ("q_full_ids", "p_ids"))}
tensors = {k: (v.float() if v.is_floating_point() else v.to(torch.int32)).contiguous() for k, v in keep.items()}
views = ("full", "text", "image", "full_noinst", "image_noinst")
meta = {
    "provenance": (f"{ref['provenance']['uniir']} (clip_scorefusion/clip_sf.py CLIPScoreFusion.encode_mbeir_batch, "
                   f"data/mbeir_dataset.py MBEIRInferenceOnlyDataset/MBEIRCandidatePoolDataset and collators) with "
                   f"{ref['provenance']['clip']} (clip.model.build_model, clip.tokenize, clip._transform), run on CPU "
                   f"fp32 with torch {ref['provenance']['torch']}, torchvision {ref['provenance']['torchvision']}, "
                   "on the tiny weights and BPE of tests/retrievers/tiny_uniir.py; images tiny.images(3) as PNG; "
                   "embeddings normalised by faiss.normalize_L2 (scores_*_fp16: after the fp16 round trip "
                   "mbeir_embedder.py saves)"),
    "queries": json.dumps(QUERIES), "docs": json.dumps(DOCS), "instruction": INSTRUCTION,
    "texts": json.dumps({v: ref[f"q_{v}_texts"] for v in views}),
    "real_vocab_tokenizer": json.dumps(ref["real_vocab_tokenizer"]),
}
out = HERE.parents[2] / "tests" / "retrievers" / "data" / "uniir_reference_98dc570.safetensors"
save_file(tensors, str(out), metadata=meta)
print(out, out.stat().st_size, "bytes;", {k: tuple(v.shape) for k, v in tensors.items()})
