# Usage: FLMR_REF_OUT=/tmp/flmr-ref python docs/equivalence/export_preflmr_fixture.py
"""Reference values for tests/retrievers/test_preflmr_equivalence.py from run_preflmr_reference.py's
outputs: full score matrices (bidirectional and causal mapping attention), the first 4 of 128
dimensions of every query row (instruction rows are zero there), passage lengths, and the
query texts the authors' example built."""
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__)); REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import torch
from safetensors.torch import save_file
from preflmr_data import QUERIES, DOCS
import transformers

root = os.environ.get("FLMR_REF_OUT", "/tmp/flmr-ref")
ref = torch.load(os.path.join(root, "ref_outputs.pt"), weights_only=True)
t = {"scores": ref["scores"], "scores_causal": ref["scores_causal"], "Q4": ref["Q"][..., :4],
     "doclens": ref["doclens"].to(torch.int64), "D_first8": ref["D_first"][..., :8],
     "query_input_ids": ref["query_input_ids"].to(torch.int64)}
t = {k: v.contiguous().float() if v.is_floating_point() else v.contiguous() for k, v in t.items()}
meta = {
    "provenance": "github.com/LinWeizheDragon/FLMR @ be4b748 (flmr/models/flmr: FLMRConfig, "
                  "FLMRQueryEncoderTokenizer, FLMRContextEncoderTokenizer, FLMRModelForRetrieval.query/doc, "
                  "flmr_utils.colbert_score; examples/example_use_preflmr.py prepare_inputs/tokenize_inputs) "
                  f"run on CPU fp32 with transformers {transformers.__version__} / torch {torch.__version__} "
                  "(adaptations A1-A7 of docs/equivalence/run_preflmr_reference.py) on the tiny PreFLMR of "
                  "tests/retrievers/tiny_preflmr.py (weights seeded by released name); images tiny.images(3) as PNG",
    "queries": json.dumps(QUERIES), "docs": json.dumps(DOCS), "text_sequences": json.dumps(ref["text_sequences"]),
}
path = os.path.join(REPO, "tests/retrievers/data/preflmr_reference_be4b748.safetensors")
save_file(t, path, metadata=meta)
print({k: tuple(v.shape) for k, v in t.items()}, os.path.getsize(path), "bytes")
