"""Indexing and search: the fp16 embedding store, exact MaxSim/cosine search, and ``ann/``
(faiss ivf / ivfpq candidates + exact rerank). Imports only :mod:`harness.core`."""
