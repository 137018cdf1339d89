"""Stubs for modules the authors' code imports but that are absent here (none is used on
the paths compared): timm/fairscale (BLIP ViT helpers in layers/vit.py), sentence_transformers
(ModernColBERT), bitarray, git, line_profiler, missing repo modules (preflmr, model_utils.dist)."""
import sys, types, json

def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m

class _Any:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return None

stub("ujson", load=json.load, loads=json.loads, dump=json.dump, dumps=json.dumps)
stub("timm"); stub("timm.models")
stub("timm.models.vision_transformer", PatchEmbed=_Any)
stub("timm.models.layers", trunc_normal_=_Any(), DropPath=_Any)
stub("timm.models.helpers", adapt_input_conv=_Any())
stub("fairscale"); stub("fairscale.nn"); stub("fairscale.nn.checkpoint")
stub("fairscale.nn.checkpoint.checkpoint_activations", checkpoint_wrapper=lambda x: x)
stub("sentence_transformers", SentenceTransformer=_Any)
stub("bitarray", bitarray=_Any)
stub("git", Repo=_Any)
stub("line_profiler", LineProfiler=_Any)
stub("model_utils"); stub("model_utils.dist", ContiguousDistributedSampler=_Any)
stub("retrievers.preflmr", PreFLMR=_Any)
stub("dotenv", load_dotenv=_Any())

import torch, transformers
transformers.AdamW = torch.optim.AdamW  # removed in transformers 5; only imported by colbert/training
stub("jsonlines", open=_Any())
stub("skimage"); stub("skimage.io")
stub("cairosvg"); stub("random_user_agent"); stub("random_user_agent.user_agent", UserAgent=_Any)
stub("random_user_agent.params", SoftwareName=_Any(), OperatingSystem=_Any())
stub("spacy", load=_Any())
