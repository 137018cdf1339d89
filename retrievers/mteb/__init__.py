"""Models through MTEB's encode protocol (``mteb``): encoding (the Encoder, ``build``).
Needs the ``mteb`` extra (``pip install 'mire-eval[mteb]'``); importing this package does not
import mteb."""
