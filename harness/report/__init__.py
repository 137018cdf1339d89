"""``mire-eval report``: one self-contained static HTML page of a results directory.

* :mod:`harness.report.collect`: what the page shows, read from the results folders (and the
  task's own data for the drill-down): leaderboard rows with their comparison against a
  baseline, each task's probe, per-query top-5 passages, failure slices;
* :mod:`harness.report.render`: those as HTML fragments (every text escaped);
* :mod:`harness.report.builder`: the fragments, the query data (JSON) and the inline CSS/JS of
  ``report.css`` / ``report.js`` put into ``template.html``; figures as ``data:`` URIs.

The page loads nothing from anywhere: no server, no CDN, no external URL. docs/report.md.
"""
