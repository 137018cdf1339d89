"""Paired significance tests, confidence intervals and multiple-comparison correction.

Pure functions over per-query score arrays (``[n] float64``, one value per query, the same
query order in both arrays); nothing here reads files or imports torch:

* :mod:`harness.stats.paired`: the paired randomization (Fisher) test, exact or Monte Carlo;
  Student's paired t-test; the paired bootstrap test; the exact McNemar test;
* :mod:`harness.stats.intervals`: paired (cluster) bootstrap confidence intervals;
* :mod:`harness.stats.holm`: Holm's step-down correction (Holm 1979);
* :mod:`harness.stats.table`: systems x metrics against a baseline, every p corrected together;
* :mod:`harness.stats.inputs`: results folders or TREC run files -> aligned per-query scores,
  refusing different query sets or relevance.

docs/statistics.md explains the choices (Smucker, Allan & Carterette, CIKM 2007).
"""
