"""The bottom layer: types, errors, the lazy registry mechanism, files (atomic writes, text and
JSON-lines reading, TREC run and qrels files), fingerprints, the cache home, image decoding, hub
access, safe weight reading, progress and the distributed world. Imports nothing above it;
``tasks/`` and ``retrievers/`` import only this layer of the harness."""
