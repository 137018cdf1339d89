"""Training hyper-parameters of the MIRe authors' configs (mire.md §2.3-2.4), per task name.

``batch_size`` is per GPU in the reference (4 GPUs), and so are its in-batch negatives
(quirk Q4): 128 negatives per query. ``colbertv2`` fine-tunes with the same table, so the
text-only baseline gets MIRe's budget.
"""

# cfgs/mire_train_vid2r.yaml: text tower frozen, query = visual tokens only.
PRETRAIN_DEFAULTS = {
    "vid2r": dict(lr=1e-4, warmup_steps=300, epochs=5, batch_size=128, temperature=0.3,
                  weight_decay=0.0, query_maxlen=40, doc_maxlen=400, reference_gpus=4),
}
PRETRAIN_DEFAULTS["default"] = PRETRAIN_DEFAULTS["vid2r"]

# cfgs/mire_train_{okvqa_gs,remuq,m2kr_evqa,m2kr_infoseek,aokvqa}.yaml: all tau 0.8, 32 / 180 tokens.
_FT = dict(temperature=0.8, weight_decay=0.0, batch_size=128, query_maxlen=32, doc_maxlen=180,
           reference_gpus=4)
FINETUNE_DEFAULTS = {
    "okvqa": {**_FT, "lr": 5e-5, "warmup_steps": 10, "epochs": 15},
    "okvqa-wiki11m": {**_FT, "lr": 5e-5, "warmup_steps": 10, "epochs": 15},
    "remuq": {**_FT, "lr": 5e-5, "warmup_steps": 10, "epochs": 10},
    "evqa": {**_FT, "lr": 5e-5, "warmup_steps": 200, "epochs": 5},
    "infoseek": {**_FT, "lr": 5e-5, "warmup_steps": 200, "epochs": 5},
    "aokvqa": {**_FT, "lr": 2e-5, "warmup_steps": 50, "epochs": 10, "batch_size": 32},
    "default": {**_FT, "lr": 5e-5, "warmup_steps": 10, "epochs": 10},
}
