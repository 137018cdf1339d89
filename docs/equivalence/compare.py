# Usage (outside the repository's venv paths; nothing here is imported by mire-eval):
#   git clone https://github.com/yeongjoonJu/MIRe $SNAPSHOT && git -C $SNAPSHOT checkout c0f9966
#   MIRE_SRC=$SNAPSHOT MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/run_reference.py
#   MIRE_REF_OUT=/tmp/mire-ref/run python docs/equivalence/compare.py
"""Our retrievers on the reference's tiny checkpoint: max abs differences, fp32, CPU."""
import sys, json
from pathlib import Path
import os; REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))); sys.path.insert(0, REPO)
import torch
from harness.core.types import Query, Passage, FileImage
from harness.index.exact import maxsim_scores
from retrievers import colbert, mire

root = Path(os.environ.get('MIRE_REF_OUT', '/tmp/mire-ref/run'))
ref = torch.load(root / 'ref_outputs.pt', weights_only=True)
inp = json.load(open(root / 'inputs.json'))
queries = [Query(f'q{i}', t, FileImage(Path(p))) for i, (t, p) in enumerate(zip(inp['queries'], inp['images']))]
passages = [Passage(f'p{i}', '', t) for i, t in enumerate(inp['docs'])]
report = {}

def pad(mats):
    L = max(m.shape[0] for m in mats)
    X = torch.zeros(len(mats), L, mats[0].shape[1]); M = torch.zeros(len(mats), L, dtype=torch.bool)
    for i, m in enumerate(mats):
        X[i, :len(m)] = m; M[i, :len(m)] = True
    return X, M

def scores(qs, ds):
    Q, QM = pad(qs); D, DM = pad(ds)
    return maxsim_scores(Q, QM, D, DM)

def maxdiff(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.float() - b.float()).abs().max())

# ---- colbertv2 ----------------------------------------------------------------------------
enc = colbert.build(str(root / 'ckpts' / 'colbertv2.0'))
Q = enc.encode_queries(queries, 'full'); D = enc.encode_passages(passages)
report['colbertv2 query'] = maxdiff(torch.stack(Q), ref['colbert_Q'])
refD = torch.split(ref['colbert_Dflat'], ref['colbert_doclens'].tolist())
assert [d.shape[0] for d in D] == [d.shape[0] for d in refD], ([d.shape[0] for d in D], [d.shape[0] for d in refD])
report['colbertv2 passage'] = max(maxdiff(a, b) for a, b in zip(D, refD))
report['colbertv2 score'] = maxdiff(scores(Q, D), ref['colbert_scores'])

# ---- mire (eval, Q1 default) from the authors' .pth -----------------------------------------
for punct, key in (('keep', 'keep'), ('skip', 'skip')):
    r = mire.build(str(root / 'ckpt' / 'mire_epoch_4.pth'), passage_punctuation=punct)
    e = r.encoder
    Qm = e.encode_queries(queries, 'full'); Dm = e.encode_passages(passages)
    if key == 'keep':
        refQ, qmask = ref['mire_Q'], ref['mire_Q_mask'].bool()
        diffs = []
        for i, q in enumerate(Qm):
            keep = torch.cat([torch.ones(28, dtype=torch.bool), qmask[i]])
            diffs.append(maxdiff(q, refQ[i][keep]))
            assert float(refQ[i][~keep].abs().sum()) == 0.0  # the rows we drop are zero in the reference
        report['mire query (reference-eval mask)'] = max(diffs)
        report['mire query rows'] = [int(q.shape[0]) for q in Qm]
        refD = torch.split(ref['mire_Dflat_keep'], ref['mire_doclens_keep'].tolist())
        assert [d.shape[0] for d in Dm] == [d.shape[0] for d in refD]
        report['mire passage (punctuation kept, XknowIndexer)'] = max(maxdiff(a, b) for a, b in zip(Dm, refD))
        report['mire score (kept)'] = maxdiff(scores(Qm, Dm), ref['mire_scores_keep'])
    else:
        refD = [d[m] for d, m in zip(ref['mire_D_skip'], ref['mire_D_skip_mask'])]
        assert [d.shape[0] for d in Dm] == [d.shape[0] for d in refD]
        report['mire passage (punctuation skipped, ColBERT.doc)'] = max(maxdiff(a, b) for a, b in zip(Dm, refD))
        report['mire score (skipped)'] = maxdiff(scores(Qm, Dm), ref['mire_scores_skip'])
    report['mire describe state_dict'] = r.describe()['state_dict']

# ---- mire training-time embeddings (eval mode, no dropout) ----------------------------------
for stage in ('pretrain', 'finetune'):
    t = mire.build_trainable(str(root / 'ckpt' / 'mire_epoch_4.pth'), stage=stage).eval()
    with torch.no_grad():
        Qt, QtM = t.embed_queries(t.collate_queries(queries))
        Dt, DtM = t.embed_passages(t.collate_passages(passages[:4]))
    report[f'mire {stage} query'] = maxdiff(Qt, ref[f'train_{stage}_Q'])
    refD, refM = ref[f'train_{stage}_D'], ref[f'train_{stage}_Dmask']
    assert torch.equal(DtM, refM), 'passage masks differ'
    report[f'mire {stage} passage'] = maxdiff(Dt * DtM.unsqueeze(-1), refD)
    # in-batch InfoNCE as the reference's compute_ib_loss (nway 1: the other CE term is 0)
    tau = float(ref[f'train_{stage}_temperature'])
    S = maxsim_scores(Qt, QtM, Dt, DtM) / tau
    loss = torch.nn.functional.cross_entropy(S, torch.arange(len(S)))
    report[f'mire {stage} in-batch loss'] = abs(float(loss) - float(ref[f'train_{stage}_loss']))

print(json.dumps(report, indent=1))
