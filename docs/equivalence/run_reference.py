# Usage (outside the repository's venv paths; nothing here is imported by mire-eval):
#   git clone https://github.com/yeongjoonJu/MIRe $SNAPSHOT && git -C $SNAPSHOT checkout c0f9966
#   MIRE_SRC=$SNAPSHOT MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/run_reference.py
#   MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/compare.py
"""Run the MIRe authors' code (HEAD c0f9966) on tiny random weights and save its outputs.

Writes /tmp/mire-ref/run/: the authors' checkpoint layout (ckpt/), the plain ColBERTv2 dir
(ckpts/colbertv2.0), images, and ref_outputs.pt with every embedding and score matrix."""
import sys, json
from pathlib import Path
import os; HERE = os.path.dirname(os.path.abspath(__file__)); REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.environ['MIRE_SRC']); sys.path.insert(0, HERE)
import stubs  # noqa
import torch
import retrievers.colbert.modeling.colbert as C
C.ColBERT.loaded_extensions = True  # skip the C++ extension build (not used by these paths)
# transformers 5 needs post_init() in a PreTrainedModel's __init__ (HF_ColBERT predates it).
import retrievers.colbert.modeling.hf_colbert as H, retrievers.colbert.modeling.base_colbert as B
import retrievers.colbert.modeling.tokenization.query_tokenization as QT, retrievers.colbert.modeling.tokenization.doc_tokenization as DT
_orig_factory = H.class_factory
def _factory(name):
    cls = _orig_factory(name)
    class HF_ColBERT(cls):
        def __init__(self, config, colbert_config):
            super().__init__(config, colbert_config)
            self.post_init()
    return HF_ColBERT
for _m in (H, B, QT, DT):
    _m.class_factory = _factory
from retrievers.colbert.infra import ColBERTConfig
from retrievers.colbert.modeling.checkpoint import Checkpoint
from retrievers.colbert.modeling.tokenization import QueryTokenizer, DocTokenizer
from retrievers.colbert.modeling.colbert import colbert_score
from retrievers.mire import MIRe
from retrievers.indexing import XknowCheckpoint
from transformers import AutoConfig
from omegaconf import OmegaConf
from data import QUERIES, DOCS

sys.path.insert(0, os.path.join(REPO, 'tests', 'retrievers'))
import tiny  # writes tiny random ColBERT/CLIP directories in the real layouts

root = Path(os.environ.get('MIRE_REF_OUT', '/tmp/mire-ref/run'))
import shutil; shutil.rmtree(root, ignore_errors=True)
colbert_dir = tiny.write_colbert(root / 'ckpts' / 'colbertv2.0', seed=0)
clip_dir = tiny.write_clip(root / 'clip', seed=0)
image_paths = []
for i, im in enumerate(tiny.images(3)):
    p = root / 'images' / f'img{i}.png'; p.parent.mkdir(parents=True, exist_ok=True); im.save(p)
    image_paths.append(str(p))
q_images = [image_paths[0], image_paths[1], image_paths[2], image_paths[0]]
out = {}

def padded(flat, doclens):
    parts = torch.split(flat.float(), doclens)
    L = max(doclens)
    D = torch.zeros(len(parts), L, flat.size(1)); M = torch.zeros(len(parts), L, dtype=torch.bool)
    for i, p in enumerate(parts):
        D[i, :len(p)] = p; M[i, :len(p)] = True
    return D, M

def score_matrix(Q, D, M):
    return torch.stack([colbert_score(Q[i:i+1].float(), D, M, config=ColBERTConfig()) for i in range(Q.size(0))])

# ---- plain ColBERTv2 (runs/evaluate_retrieval.py without --mire_ckpt) -------------------------
eval_cfg = ColBERTConfig(nbits=2, doc_maxlen=384, query_maxlen=64)
cfg = ColBERTConfig.from_existing(ColBERTConfig.load_from_checkpoint(str(colbert_dir)), eval_cfg)
ckpt = Checkpoint(str(colbert_dir), colbert_config=cfg)
ckpt.query_tokenizer.query_maxlen = 64
with torch.no_grad():
    Qc = ckpt.queryFromText(QUERIES)
    Dflat, doclens = ckpt.docFromText(DOCS, bsize=4, keep_dims='flatten')
Dc, Mc = padded(Dflat, doclens)
out['colbert_Q'] = Qc.float(); out['colbert_doclens'] = torch.tensor(doclens); out['colbert_Dflat'] = Dflat.float()
out['colbert_scores'] = score_matrix(Qc, Dc, Mc)

# ---- MIRe training model (train_retrieval.py), random pooling, perturbed BERT ---------------
model_cfg = AutoConfig.from_pretrained(str(colbert_dir))
model_cfg.update(dict(short_name='mire', vision_model_name=str(clip_dir), colbert_checkpoint=str(colbert_dir),
                      gather_embeddings=True, num_tokens=16, num_heads=12, hidden_size=32, pretraining=True))
col_config = ColBERTConfig.load_from_checkpoint(str(colbert_dir)); col_config.nway = 1
torch.manual_seed(1)
model = MIRe(model_cfg, colbert_config=col_config)
tiny.fill_seeded(model, names=lambda k: k)  # every weight seeded by its (authors') name
import transformers; print('transformers', transformers.__version__, 'torch', torch.__version__)
ckpt_dir = root / 'ckpt'; ckpt_dir.mkdir()
model_cfg.save_pretrained(str(ckpt_dir)); col_config.save_for_checkpoint(str(ckpt_dir))
model.raw_tokenizer.save_pretrained(str(ckpt_dir))
train_cfg = OmegaConf.create({'model': dict(model_cfg.to_dict() | {}), 'trainer_config': {'learning_rate': 1e-4}, 'seed': 2024})
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(), 'scheduler': {'last_epoch': 3},
            'config': train_cfg, 'epoch': 4, 'scaler': torch.amp.GradScaler('cpu', enabled=False).state_dict()},
           ckpt_dir / 'mire_epoch_4.pth')
out['state_keys'] = sorted(model.state_dict().keys())

# training-time embeddings (dataset/base.py tokenisation + get_dataloader collate), eval mode (no dropout)
model.eval()
for stage, (qlen, dlen, pre) in {'pretrain': (40, 400, True), 'finetune': (32, 180, False)}.items():
    qt = QueryTokenizer(col_config); qt.query_maxlen = qlen
    dt = DocTokenizer(col_config); dt.doc_maxlen = dlen
    q_ids = []
    for text in QUERIES:
        ids = qt.tok(['. ' + text], padding='max_length', truncation=True, return_tensors='pt', max_length=qlen).input_ids
        ids[:, 1] = qt.Q_marker_token_id; ids[ids == qt.pad_token_id] = qt.mask_token_id
        q_ids.append(ids[0])
    d_ids = []
    for text in DOCS[:4]:
        ids = dt.tok(['. ' + text], padding='longest', truncation='longest_first', return_tensors='pt', max_length=dlen).input_ids
        ids[:, 1] = dt.D_marker_token_id
        d_ids.append(ids[0])
    Tq = torch.nn.utils.rnn.pad_sequence(q_ids, batch_first=True, padding_value=103); Mq = Tq.ne(0)
    Td = torch.nn.utils.rnn.pad_sequence(d_ids, batch_first=True, padding_value=0); Md = Td.ne(0)
    from PIL import Image
    proc = model.vision_tower.image_processor
    pix = torch.stack([torch.tensor(proc(Image.open(p).convert('RGB'))['pixel_values'][0]) for p in q_images])
    model.pretraining = pre
    with torch.no_grad():
        Q = model.encode_query(Tq, Mq, pix)
        D, DM = model.encode_document(Td, Md)
        res = model(query_ids=Tq, query_attention_mask=Mq, query_images=pix, doc_ids=Td, doc_attention_mask=Md, return_loss=True)
    out[f'train_{stage}_Q'] = Q.float(); out[f'train_{stage}_D'] = D.float(); out[f'train_{stage}_Dmask'] = DM
    out[f'train_{stage}_loss'] = res['loss'].float()
    out[f'train_{stage}_temperature'] = torch.tensor(0.3 if pre else 1.0)  # eval mode: model.training False

# ---- MIRe evaluation (runs/evaluate_retrieval.py --mire_ckpt: XknowSearcher / XknowIndexer) ----
cfg_m = ColBERTConfig.from_existing(ColBERTConfig.load_from_checkpoint(str(ckpt_dir)), eval_cfg)
mcfg = AutoConfig.from_pretrained(str(ckpt_dir)); mcfg.pretraining = False
x = XknowCheckpoint(mcfg, colbert_config=cfg_m)
# The authors' own loading (their file, written a few lines above by their code).
x.load_state_dict(torch.load(ckpt_dir / 'mire_epoch_4.pth', weights_only=False)['model'])
x.eval()
x.query_tokenizer.query_maxlen = 64
with torch.no_grad():
    Qm = x.queryFromText(QUERIES, context=q_images)
    Dflat_m, doclens_m = x.docFromText(DOCS, bsize=4, keep_dims='flatten')            # punctuation kept (Q3)
    ids, mask = x.doc_tokenizer.tensorize(DOCS)
    Dskip, Mskip = C.ColBERT.doc(x, ids, mask, keep_dims='return_mask')               # plain ColBERT.doc with MIRe weights
    _, qmask = x.query_tokenizer.tensorize(QUERIES)
Dm, Mm = padded(Dflat_m, doclens_m)
out['mire_Q'] = Qm.float(); out['mire_Q_mask'] = qmask
out['mire_Dflat_keep'] = Dflat_m.float(); out['mire_doclens_keep'] = torch.tensor(doclens_m)
out['mire_scores_keep'] = score_matrix(Qm, Dm, Mm)
Dskip = Dskip.float(); Mskip = Mskip.squeeze(-1)
out['mire_D_skip'] = Dskip; out['mire_D_skip_mask'] = Mskip
out['mire_scores_skip'] = score_matrix(Qm, Dskip, Mskip)
torch.save(out, root / 'ref_outputs.pt')
json.dump({'queries': QUERIES, 'docs': DOCS, 'images': q_images}, open(root / 'inputs.json', 'w'))
print('reference outputs:', {k: tuple(v.shape) if hasattr(v, 'shape') else len(v) for k, v in out.items()})
