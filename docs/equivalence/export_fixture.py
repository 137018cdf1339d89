# Usage (outside the repository's venv paths; nothing here is imported by mire-eval):
#   git clone https://github.com/yeongjoonJu/MIRe $SNAPSHOT && git -C $SNAPSHOT checkout c0f9966
#   MIRE_SRC=$SNAPSHOT MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/run_reference.py
#   MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/compare.py
"""Reference values for tests/retrievers/test_reference_equivalence.py (first 8 dims of each
embedding, full score matrices), from run_reference.py's outputs."""
import json, sys
import os; HERE = os.path.dirname(os.path.abspath(__file__)); REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import torch
from safetensors.torch import save_file
from data import QUERIES, DOCS
ref = torch.load(os.path.join(os.environ.get('MIRE_REF_OUT', '/tmp/mire-ref/run'), 'ref_outputs.pt'), weights_only=True)
t = {
    'colbert_Q8': ref['colbert_Q'][..., :8], 'colbert_scores': ref['colbert_scores'],
    'mire_Q8': ref['mire_Q'][..., :8], 'mire_Q_mask': ref['mire_Q_mask'].to(torch.int64),
    'mire_scores_keep': ref['mire_scores_keep'], 'mire_scores_skip': ref['mire_scores_skip'],
    'mire_doclens_keep': ref['mire_doclens_keep'], 'colbert_doclens': ref['colbert_doclens'],
    'train_pretrain_Q8': ref['train_pretrain_Q'][..., :8], 'train_finetune_Q8': ref['train_finetune_Q'][..., :8],
    'train_pretrain_loss': ref['train_pretrain_loss'].reshape(1), 'train_finetune_loss': ref['train_finetune_loss'].reshape(1),
}
t = {k: v.contiguous().float() if v.is_floating_point() else v.contiguous() for k, v in t.items()}
meta = {
    'provenance': 'github.com/yeongjoonJu/MIRe @ c0f9966 (retrievers/mire.py, retrievers/indexing.py '
                  'XknowCheckpoint, retrievers/colbert Checkpoint, dataset/base.py tokenisation), run on '
                  'CPU fp32 with transformers 5.23.0 / torch 2.13.0 on tiny weights seeded by name '
                  '(tests/retrievers/tiny.py seeded_value); images tiny.images(3) as PNG, query images [0, 1, 2, 0]',
    'queries': json.dumps(QUERIES), 'docs': json.dumps(DOCS),
}
save_file(t, os.path.join(REPO, 'tests/retrievers/data/mire_reference_c0f9966.safetensors'), metadata=meta)
print({k: tuple(v.shape) for k, v in t.items()})
