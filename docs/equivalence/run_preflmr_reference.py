# Usage (outside the repository's venv paths; nothing here is imported by mire-eval):
#   git clone https://github.com/LinWeizheDragon/FLMR $SNAPSHOT && git -C $SNAPSHOT checkout be4b748
#   FLMR_SRC=$SNAPSHOT FLMR_REF_OUT=/tmp/flmr-ref python docs/equivalence/run_preflmr_reference.py
#   FLMR_REF_OUT=/tmp/flmr-ref python docs/equivalence/export_preflmr_fixture.py
"""Run the FLMR authors' code (github.com/LinWeizheDragon/FLMR @ be4b748) on a tiny random
PreFLMR saved in the released layout, and save its query vectors, passage vectors and scores.

What runs is theirs: ``FLMRConfig.from_pretrained``, ``FLMRQueryEncoderTokenizer`` /
``FLMRContextEncoderTokenizer.from_pretrained(subfolder=...)``, ``FLMRModelForRetrieval``
(``query``, ``doc``), ``flmr_utils.colbert_score``, and the query preparation of
``examples/example_use_preflmr.py`` (its nested ``prepare_inputs`` and ``tokenize_inputs``,
taken from the file's syntax tree and run as written: instruction with ':' -> the mask token,
the black 336x336 image for a query without one).

Value-neutral adaptations for transformers 5 / Python 3.11 (docs/reproducibility.md):
  A1 the package is imported without ``flmr/__init__.py`` (it imports the ColBERT engine, unused here);
  A2 weights are read from model.safetensors with the CLIP keys' transformers-4 nesting
     (``*.vision_model.vision_model.*``) mapped to transformers 5's (``*.vision_model.*``) and
     loaded with ``load_state_dict(strict=True)``: transformers 5's ``from_pretrained`` misses
     those keys and leaves CLIP random (printed below as a check);
  A3 the mapping network's self-attention is run eagerly without a mask (bidirectional), as
     transformers < 4.41 ran it; transformers >= 4.41's SDPA makes a decoder BERT's unmasked
     self-attention causal. Both are saved (``*_causal``) to pin mire-eval's named option;
  A4 ``easydict`` (imported by the example) is a 5-line stand-in;
  A5 ``transformers.models.bert.tokenization_bert_fast`` (gone in transformers 5) is aliased to
     its ``BertTokenizerFast`` (the fast classes are imported, never used here);
  A6 ``FLMRTextConfig`` gets ``is_decoder = add_cross_attention = False``, the values transformers
     4's ``PretrainedConfig`` gave every config (transformers 5's BertModel reads them);
  A7 ``invert_attention_mask`` (a transformers 4 ``ModuleUtilsMixin`` method, gone in 5) is put
     back as it was: ``(1 - mask[:, None, None, :]) * finfo(dtype).min``.
"""
import ast, json, os, sys, types
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__)); REPO = os.path.dirname(os.path.dirname(HERE))
SRC = Path(os.environ["FLMR_SRC"])
sys.path.insert(0, HERE); sys.path.insert(0, os.path.join(REPO, "tests", "retrievers")); sys.path.insert(0, REPO)

# A1: the flmr package without its __init__ (which imports the ColBERT indexing engine).
pkg = types.ModuleType("flmr"); pkg.__path__ = [str(SRC / "flmr")]; sys.modules["flmr"] = pkg
models = types.ModuleType("flmr.models"); models.__path__ = [str(SRC / "flmr" / "models")]; sys.modules["flmr.models"] = models
# A4
class EasyDict(dict):
    def __init__(self, d=None, **kw):
        super().__init__({k: EasyDict(v) if isinstance(v, dict) else v for k, v in {**(d or {}), **kw}.items()})
    __getattr__ = dict.__getitem__
    def __setattr__(self, k, v): self[k] = v
sys.modules["easydict"] = types.ModuleType("easydict"); sys.modules["easydict"].EasyDict = EasyDict

import torch
import transformers
# A5: transformers 5 merged tokenization_bert_fast into tokenization_bert (the fast classes are
# imported by the package, unused on these paths).
import transformers.models.bert.tokenization_bert as _tb
sys.modules["transformers.models.bert.tokenization_bert_fast"] = types.ModuleType("tokenization_bert_fast")
sys.modules["transformers.models.bert.tokenization_bert_fast"].BertTokenizerFast = getattr(transformers, "BertTokenizerFast", _tb.BertTokenizer)
from PIL import Image
from safetensors.torch import load_file
import transformers
from transformers import AutoImageProcessor
from flmr.models.flmr import (FLMRConfig, FLMRContextEncoderTokenizer, FLMRModelForRetrieval,
                              FLMRQueryEncoderTokenizer)
from flmr.models.flmr.flmr_utils import colbert_score


def _invert_attention_mask(self, encoder_attention_mask):
    # A7: transformers 4's ModuleUtilsMixin.invert_attention_mask (gone in transformers 5), as it was.
    m = encoder_attention_mask
    ext = m[:, None, :, :] if m.dim() == 3 else m[:, None, None, :]
    ext = ext.to(dtype=self.dtype)
    return (1.0 - ext) * torch.finfo(self.dtype).min


FLMRModelForRetrieval.invert_attention_mask = _invert_attention_mask
import tiny, tiny_preflmr
from preflmr_data import QUERIES, DOCS

root = Path(os.environ.get("FLMR_REF_OUT", "/tmp/flmr-ref"))
import shutil; shutil.rmtree(root, ignore_errors=True)
ckpt = tiny_preflmr.write_preflmr(root / "ckpt")
image_paths = []
for i, im in enumerate(tiny.images(3)):
    p = root / "images" / f"img{i}.png"; p.parent.mkdir(parents=True, exist_ok=True); im.save(p); image_paths.append(str(p))
print("transformers", transformers.__version__, "torch", torch.__version__)

# The example's nested functions, as written (prepare_inputs, tokenize_inputs).
tree = ast.parse((SRC / "examples" / "example_use_preflmr.py").read_text())
main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
nested = {n.name: n for n in main.body if isinstance(n, ast.FunctionDef)}

os.chdir(ckpt)  # transformer_mapping_config_base "mapping_base" is read relative to the working directory
flmr_config = FLMRConfig.from_pretrained(str(ckpt))
# A6: transformers 4's PretrainedConfig gave every config is_decoder / add_cross_attention =
# False, which BertModel reads; transformers 5 moved them to the BERT config only.
for _c in (flmr_config.text_config,):
    _c.is_decoder = False; _c.add_cross_attention = False
query_tokenizer = FLMRQueryEncoderTokenizer.from_pretrained(str(ckpt), text_config=flmr_config.text_config, subfolder="query_tokenizer")
context_tokenizer = FLMRContextEncoderTokenizer.from_pretrained(str(ckpt), text_config=flmr_config.text_config, subfolder="context_tokenizer")
image_processor = AutoImageProcessor.from_pretrained(str(ckpt))
scope = {"EasyDict": EasyDict, "flmr_config": flmr_config, "Image": Image, "torch": torch}
for name in ("prepare_inputs", "tokenize_inputs"):
    exec(compile(ast.Module([nested[name]], []), "example_use_preflmr.py", "exec"), scope)


def authors_model(causal: bool):
    torch.manual_seed(0)
    model = FLMRModelForRetrieval(flmr_config, query_tokenizer=query_tokenizer, context_tokenizer=context_tokenizer)
    # A3: eager attention, no mask (transformers < 4.41) or SDPA (>= 4.41: causal when no mask).
    model.transformer_mapping_network.config._attn_implementation = "sdpa" if causal else "eager"
    # A2: the released file's keys onto transformers 5's module names, strictly.
    state = load_file(str(ckpt / "model.safetensors"))
    own = model.state_dict()
    mapped = {}
    for k, v in state.items():
        k = k.replace("_vision_encoder.vision_model.vision_model.", "_vision_encoder.vision_model.")
        mapped[k] = v
        for q, c in (("query_vision_encoder.", "context_vision_encoder."), ("query_vision_projection.", "context_vision_projection.")):
            if k.startswith(q) and not flmr_config.separate_query_and_context_vision_encoder:
                mapped[c + k[len(q):]] = v
    for k in list(mapped):  # FLMRTextModel's alias of its BERT: text_model = bert_model (one module, two names)
        if "_text_encoder.bert_model." in k:
            mapped[k.replace(".bert_model.", ".text_model.")] = mapped[k]
    missing, unexpected = set(own) - set(mapped), set(mapped) - set(own)
    assert not missing and not unexpected, (sorted(missing)[:3], sorted(unexpected)[:3])
    model.load_state_dict(mapped, strict=True)
    return model.eval()


model = authors_model(causal=False)

# The trap A2 avoids: transformers 5's from_pretrained on the released layout.
try:
    fp = FLMRModelForRetrieval.from_pretrained(str(ckpt), config=flmr_config, query_tokenizer=query_tokenizer,
                                               context_tokenizer=context_tokenizer)
    k = "query_vision_encoder.vision_model.embeddings.patch_embedding.weight"
    print("from_pretrained leaves CLIP as in the file:", torch.equal(fp.state_dict()[k], model.state_dict()[k]))
except Exception as exc:  # noqa: BLE001
    print("from_pretrained failed:", type(exc).__name__, str(exc)[:200])

from preflmr_data import DEFAULT_INSTRUCTION
samples = [{"instruction": ins if ins is not None else DEFAULT_INSTRUCTION, "question": q,
            "img_path": image_paths[i] if i is not None else None} for ins, q, i in QUERIES]
prepared = [scope["prepare_inputs"](dict(s)) for s in samples]
batch = {"text_sequence": [p["text_sequence"] for p in prepared], "img_path": [p["img_path"] for p in prepared]}
batch = scope["tokenize_inputs"](batch, query_tokenizer, image_processor)
out = {"text_sequences": batch["text_sequence"]}
with torch.no_grad():
    for tag, m in (("", model), ("_causal", authors_model(causal=True))):
        Q = m.query(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    pixel_values=batch["pixel_values"]).late_interaction_output          # [nq, Lq + N + P, 128]
        enc = context_tokenizer(DOCS)
        doc = m.doc(enc["input_ids"], enc["attention_mask"])
        D, Dmask = doc.late_interaction_output, doc.context_mask.squeeze(-1)             # [nd, 512, 128], [nd, 512]
        scores = torch.stack([colbert_score(Q[i:i + 1], D, Dmask.unsqueeze(-1).float(), use_gpu=False) for i in range(len(Q))])
        out["Q" + tag] = Q.float(); out["scores" + tag] = scores.float()
        if not tag:
            out["doclens"] = Dmask.sum(-1); out["D_first"] = torch.stack([D[i][Dmask[i]][0] for i in range(len(DOCS))])
            out["query_input_ids"] = batch["input_ids"]
torch.save(out, root / "ref_outputs.pt")
json.dump({"queries": QUERIES, "docs": DOCS, "text_sequences": out["text_sequences"]}, open(root / "inputs.json", "w"))
print({k: tuple(v.shape) if hasattr(v, "shape") else len(v) for k, v in out.items()})
