"""FLMR / PreFLMR (``preflmr``): ColBERTv2 text encoders + CLIP, mapped CLS tokens and (PreFLMR)
a transformer mapping network whose patches cross-attend to the question's encoding.

configuration (config.json fields, instructions, defaults) · modeling (the forward pass) ·
tokenization (ColBERT tokens, instruction mask, query text) · loading (the released layout,
strict) · encoding (the Encoder the harness uses) · training (the Trainable).
"""
