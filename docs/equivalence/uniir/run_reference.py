# Usage (outside the repository's venv paths; nothing here is imported by mire-eval):
#   git clone https://github.com/TIGER-AI-Lab/UniIR $UNIIR && git -C $UNIIR checkout 98dc570
#   git clone https://github.com/openai/CLIP $CLIP && git -C $CLIP checkout d05afc4
#   pip install --no-deps --target $EXTRA torchvision==0.28.0 typeguard   # never into the project venv
#   PYTHONPATH=$EXTRA UNIIR_SRC=$UNIIR CLIP_SRC=$CLIP UNIIR_REF_OUT=/tmp/uniir-ref \
#       python docs/equivalence/uniir/run_reference.py
#   UNIIR_REF_OUT=/tmp/uniir-ref python docs/equivalence/uniir/export_fixture.py
"""Run UniIR's own CLIP_SF code (CLIPScoreFusion, MBEIR datasets and collators, OpenAI's clip
package) on the tiny weights of tests/retrievers/tiny_uniir.py and save what it computes.

The model is built as UniIR's embedder builds it, minus the download: OpenAI's
``clip.model.build_model`` on the state dict, ``.float()`` as ``clip.load`` does on CPU, then
``load_state_dict`` of the checkpoint's ``"model"`` entry into ``CLIPScoreFusion`` (strict).
``clip.tokenize`` reads the tiny merges file (``SimpleTokenizer(bpe_path=...)``). Queries go
through ``MBEIRInferenceOnlyDataset`` + ``MBEIRInferenceOnlyCollator`` (an instruction TSV with
one instruction per key, so ``random.choice`` has one choice), passages through
``MBEIRCandidatePoolDataset`` + ``MBEIRCandidatePoolCollator``, both with
``img_preprocess_fn = clip._transform(224)``, the real torchvision transforms when torchvision
imports, then ``encode_mbeir_batch`` in fp32 on CPU. Embeddings are normalised with
``faiss.normalize_L2`` as ``mbeir_retriever.py`` does, fp32 and after the fp16 round trip.
A second check runs OpenAI's ``SimpleTokenizer`` with the real vocabulary
(``bpe_simple_vocab_16e6``) against mire-eval's tokenizer on awkward strings.
"""
import json
import os
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
UNIIR, CLIP = Path(os.environ["UNIIR_SRC"]), Path(os.environ["CLIP_SRC"])
OUT = Path(os.environ.get("UNIIR_REF_OUT", "/tmp/uniir-ref"))
sys.path[:0] = [str(CLIP), str(UNIIR / "src"), str(REPO), str(REPO / "tests" / "retrievers"), str(HERE)]

import torch  # noqa: E402

try:
    import torchvision  # noqa: F401
    REAL_TORCHVISION = True
except ImportError:  # stand-ins only so the modules import; pixels then come from mire-eval
    REAL_TORCHVISION = False
    tv = types.ModuleType("torchvision")
    tr = types.ModuleType("torchvision.transforms")
    for n in ("Compose", "Resize", "CenterCrop", "ToTensor", "Normalize"):
        setattr(tr, n, lambda *a, **k: None)
    tv.transforms = tr
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tr})

import faiss  # noqa: E402
import numpy as np  # noqa: E402
from inputs import DOCS, INSTRUCTION, QUERIES, TOKENIZER_STRINGS  # noqa: E402

import clip  # noqa: E402  (OpenAI's package, from CLIP_SRC)
import clip.clip as clip_module  # noqa: E402
from clip.simple_tokenizer import SimpleTokenizer  # noqa: E402
from data.mbeir_dataset import (  # noqa: E402  (UniIR's)
    MBEIRCandidatePoolCollator, MBEIRCandidatePoolDataset, MBEIRInferenceOnlyCollator, MBEIRInferenceOnlyDataset,
)
from data.preprocessing.utils import format_string  # noqa: E402
from models.uniir_clip.clip_scorefusion.clip_sf import CLIPScoreFusion  # noqa: E402

import tiny  # noqa: E402
import tiny_uniir  # noqa: E402

OUT.mkdir(parents=True, exist_ok=True)
work = OUT / "mbeir"
work.mkdir(exist_ok=True)

# -- weights, tokenizer, model -----------------------------------------------------------------
ckpt_dir = tiny_uniir.write_uniir(OUT / "ckpt")
bpe = OUT / "ckpt-bpe" / "bpe_tiny.txt.gz"
clip_module._tokenizer = SimpleTokenizer(bpe_path=str(bpe))
from retrievers.weights import read_weights  # noqa: E402  (weights_only; OmegaConf config kept inert)

checkpoint = {"model": read_weights(ckpt_dir / "clip_sf_tiny.pth").state_dict}

model = CLIPScoreFusion.__new__(CLIPScoreFusion)  # __init__ minus clip.load's download
torch.nn.Module.__init__(model)
openai_state = {k[len("clip_model."):]: v.clone() for k, v in checkpoint["model"].items()}
model.clip_model = clip.model.build_model(openai_state).to("cpu").float()  # clip.load on CPU
model.img_preprocess_fn = clip_module._transform(model.clip_model.visual.input_resolution)
model.tokenizer = clip.tokenize
model.load_state_dict(checkpoint["model"], strict=True)  # mbeir_embedder: the UniIR checkpoint
model.eval()

if not REAL_TORCHVISION:
    from retrievers.uniir.processing import pixels
    model.img_preprocess_fn = lambda im: pixels([im], 224)[0]

# -- M-BEIR files: images, instructions, queries, candidate pool ---------------------------------
image_paths = []
for i, im in enumerate(tiny.images(3)):
    im.save(work / f"img{i}.png")
    image_paths.append(f"img{i}.png")
with open(work / "instructions.tsv", "w") as f:
    f.write("query_modality\tcand_modality\ttask\tdataset_id\tprompt_1\n")
    for qm in ("image,text", "text", "image"):
        f.write(f"{qm}\ttext\ttask6\t5\t{INSTRUCTION}\n")


def query_entries(view):
    out = []
    for i, (text, image) in enumerate(QUERIES):
        text = "" if view == "image" else text
        path = None if view == "text" or image is None else image_paths[image]
        # a query left with neither keeps the instruction alone as its text
        modality = ",".join(m for m, x in (("image", path), ("text", text)) if x) or "text"
        out.append({"qid": f"5:{i + 1}", "query_txt": text, "query_img_path": path,
                    "query_modality": modality, "candidate_modality": "text"})
    return out


def embed(dataset, collator):
    batch = collator([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        emb, _ = model.encode_mbeir_batch(batch)
    return emb.float(), batch


tokenizer = model.get_tokenizer()
results = {}
for view, instruct in (("full", True), ("text", True), ("image", True), ("full", False), ("image", False)):
    ds = MBEIRInferenceOnlyDataset(str(work), query_entries(view), "instructions.tsv",
                                   model.img_preprocess_fn, enable_query_instruct=instruct, print_config=False)
    emb, batch = embed(ds, MBEIRInferenceOnlyCollator(tokenizer, (224, 224)))
    name = f"q_{view}" + ("" if instruct else "_noinst")
    results[name] = emb
    results[name + "_ids"] = batch["txt_batched"]
    results[name + "_txt_mask"] = batch["txt_mask_batched"]
    results[name + "_img_mask"] = batch["image_mask_batched"]
    results[name + "_texts"] = [ds[i]["query"]["txt"] for i in range(len(ds))]

with open(work / "cand_pool.jsonl", "w") as f:
    for i, (title, text) in enumerate(DOCS):
        txt = format_string(f"{title}. {text}" if title else text)  # oven_data_preprocessor.py:243
        f.write(json.dumps({"did": f"5:{i + 1}", "txt": txt, "img_path": None, "modality": "text"}) + "\n")
pool = MBEIRCandidatePoolDataset(str(work), "cand_pool.jsonl", model.img_preprocess_fn, print_config=False)
results["p"], pbatch = embed(pool, MBEIRCandidatePoolCollator(tokenizer, (224, 224)))
results["p_ids"] = pbatch["txt_batched"]


def normalised(x, half):
    a = (x.half() if half else x).cpu().numpy().astype("float32")  # mbeir_embedder saves fp16
    faiss.normalize_L2(a)  # mbeir_retriever.py, before the inner-product index
    return torch.from_numpy(a)


for half in (False, True):
    p = normalised(results["p"], half)
    for name in [k for k in results if k.startswith("q_") and k.count("_") <= 2 and torch.is_tensor(results[k])
                 and results[k].is_floating_point()]:
        results[f"scores_{name[2:]}" + ("_fp16" if half else "")] = normalised(results[name], half) @ p.T

# -- the real vocabulary: OpenAI's tokenizer against ours ---------------------------------------
from retrievers.uniir.processing import load_tokenizer, write_tokenizer_from_bpe  # noqa: E402

real_bpe = CLIP / "clip" / "bpe_simple_vocab_16e6.txt.gz"
ours = load_tokenizer(str(write_tokenizer_from_bpe(real_bpe, OUT / "real-tokenizer")))
theirs = SimpleTokenizer(bpe_path=str(real_bpe))
mismatch = []
for s in TOKENIZER_STRINGS:
    ref_ids = [theirs.encoder["<|startoftext|>"], *theirs.encode(s)[:75], theirs.encoder["<|endoftext|>"]]
    if ours.ids(s) != ref_ids:
        mismatch.append(s)
results["real_vocab_tokenizer"] = {"strings": len(TOKENIZER_STRINGS), "mismatches": mismatch}

results["provenance"] = {
    "uniir": "github.com/TIGER-AI-Lab/UniIR @ 98dc570", "clip": "github.com/openai/CLIP @ d05afc4",
    "torch": str(torch.__version__), "torchvision": str(getattr(sys.modules["torchvision"], "__version__", "stand-in")),
    "real_torchvision": REAL_TORCHVISION,
}
torch.save(results, OUT / "ref_outputs.pt")
print(json.dumps({"real_torchvision": REAL_TORCHVISION, "tokenizer": results["real_vocab_tokenizer"],
                  "shapes": {k: list(v.shape) for k, v in results.items() if torch.is_tensor(v)}}, indent=1))
