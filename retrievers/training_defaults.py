"""Training hyper-parameters of the MIRe authors' configs (cfgs/mire_train_*.yaml and
train_retrieval.py at c0f9966; docs/training.md), in the form harness/cli_train.py reads:
``PRETRAIN_DEFAULTS`` flat, ``FINETUNE_DEFAULTS[task]`` with ``"*"``
as the fallback. Keys that are ``TrainConfig`` fields go to the trainer, the others
(``query_maxlen``, ``doc_maxlen``) to ``build_trainable``.

Reference facts kept: AdamW with weight decay 0 and eps 1e-8, linear warm-up then constant,
the same data order every epoch (``sampler.set_epoch`` is commented out), fp32 (its autocast
dtype is float32), no gradient clipping. ``batch_size`` is per GPU in the reference (4 GPUs)
and so are its in-batch negatives (quirk Q4): 128 negatives per query, as here.
``colbertv2`` fine-tunes with the same table, so the text-only baseline gets MIRe's budget.
"""

_REFERENCE = dict(weight_decay=0.0, adam_eps=1e-8, reshuffle_each_epoch=False, precision="fp32")

# cfgs/mire_train_vid2r.yaml: text tower frozen, query = visual tokens only.
PRETRAIN_DEFAULTS = dict(lr=1e-4, warmup=300, epochs=5, batch_size=128, temperature=0.3,
                         query_maxlen=40, doc_maxlen=400, **_REFERENCE)

# cfgs/mire_train_{okvqa_gs,remuq,m2kr_evqa,m2kr_infoseek,aokvqa}.yaml: tau 0.8, 32 / 180 tokens.
_FT = dict(temperature=0.8, batch_size=128, query_maxlen=32, doc_maxlen=180, lr=5e-5, **_REFERENCE)
FINETUNE_DEFAULTS = {
    "okvqa": {**_FT, "warmup": 10, "epochs": 15},
    "okvqa-wiki11m": {**_FT, "warmup": 10, "epochs": 15},  # no config of its own: OK-VQA's
    "remuq": {**_FT, "warmup": 10, "epochs": 10},
    "evqa": {**_FT, "warmup": 200, "epochs": 5},
    "infoseek": {**_FT, "warmup": 200, "epochs": 5},
    "aokvqa": {**_FT, "lr": 2e-5, "warmup": 50, "epochs": 10, "batch_size": 32},
    "*": {**_FT, "warmup": 10, "epochs": 10},
}
