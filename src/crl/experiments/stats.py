"""Statistics of a results table: mean and std over seeds, Welch's t-test, and the IQM across
datasets with stratified-bootstrap confidence intervals (rliable)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats


def mean_std(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1, as Welch's test uses); std is nan for one seed."""
    x = np.asarray(scores, dtype=np.float64)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else math.nan


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test; nan when either side has < 2 seeds or
    both have zero variance (no test is possible)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def iqm_intervals(
    scores: Mapping[str, np.ndarray], reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """label -> (IQM, CI low, CI high) of a (seeds x datasets) score matrix per label (rliable's
    stratified bootstrap over seeds within each dataset, percentile intervals)."""
    from rliable import library as rly
    from rliable import metrics

    # rliable's stratified bootstrap draws from NumPy's global generator (its random_state only seeds
    # arch's unused one): seed that, and put it back afterwards.
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        point, interval = rly.get_interval_estimates(
            dict(scores), lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps,
            confidence_interval_size=confidence,
        )  # fmt: skip
    finally:
        np.random.set_state(saved)
    return {k: (float(point[k][0]), float(interval[k][0, 0]), float(interval[k][1, 0])) for k in scores}
