"""``mire-eval compare``'s printed table: one line per metric x system against the baseline."""

from __future__ import annotations

from collections.abc import Mapping

from harness.stats.table import mark


def p_text(p: float) -> str:
    """A p-value as printed: 4 decimals, or ``<1e-4`` below that.

    >>> p_text(0.5), p_text(0.00001), p_text(1.0)
    ('0.5000', '<1e-4', '1.0000')
    """
    return "<1e-4" if p < 1e-4 else f"{p:.4f}"


def format_comparison(result: Mapping) -> str:
    """The table of :func:`harness.stats.table.compare_scores`'s result, with a closing line
    naming the test, the draws and seed, the clustering of the CI and the correction."""
    rows = result["rows"]
    width = max([len("system"), *(len(r["system"]) for r in rows)])
    mwidth = max([len("metric"), *(len(r["metric"]) for r in rows)])
    lines = [f"{'metric':{mwidth}s}  {'system':{width}s}  {'baseline':>8s}  {'system':>8s}  {'diff':>8s}  "
             f"{'95% CI':>19s}  {'p':>7s}  {'p (Holm)':>8s}"]
    for r in rows:
        ci = f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        lines.append(f"{r['metric']:{mwidth}s}  {r['system']:{width}s}  {r['mean_baseline']:8.4f}  {r['mean']:8.4f}  "
                     f"{r['diff']:+8.4f}  {ci:>19s}  {p_text(r['p_value']):>7s}  {p_text(r['p_holm']):>8s} "
                     f"{mark(r)}".rstrip())
    tests = sorted({f"{r['test']} ({r['method']})" for r in rows})
    lines.append(f"baseline: {result['baseline']}; {result['n_queries']} queries paired by id; "
                 f"test: {', '.join(tests)}; {result['permutations']} permutations/resamples, seed {result['seed']}; "
                 f"CI: paired bootstrap over {result['clustering']} ({result['n_clusters']} units); "
                 f"p (Holm): corrected over {len(rows)} comparisons; * p (Holm) < {result['alpha']}")
    return "\n".join(lines)
