"""Retrieval metrics equal to trec_eval's, their numpy arrays, and chance levels.
Imports only :mod:`harness.core`."""
