"""Uncertainty and chance for the evaluation's numbers.

- `chance(candidates)`: what a uniformly random ranking of N candidates scores, exactly: the truth
  is equally likely at each rank, so E[1/rank] = H_N / N (H_N the N-th harmonic number),
  P(rank 1) = 1/N and E[recall] = 1/2. Averaged over trials with their own N.
- `bootstrap_ci(values, strata)`: a 95% percentile interval of the mean, resampling trials with
  replacement within each stratum (scenario), so every scenario keeps its share of the mean.
- `difference_ci(a, b)`: the same for mean(a) - mean(b) of two independent samples.
- `statistic_ci(rows, statistic)`: the interval of any statistic of rows (episodes), rows
  resampled with replacement (the Crafter score of a table of episodes, say).
- `cluster_ci(values, clusters)`: the interval of the mean resampling whole clusters (episodes),
  for per-transition numbers whose neighbours within an episode are correlated.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

import numpy as np

REPLICATES = 2000
LEVEL = 0.95


def chance(candidates: Sequence[int]) -> dict[str, float]:
    """Expected MRR, rank@1 and recall of a uniformly random ranking over these candidate sets."""
    sizes = np.asarray(candidates, dtype=float)
    if not len(sizes):
        return {"mrr": float("nan"), "rank1": float("nan"), "recall": float("nan")}
    harmonic = np.array([np.sum(1.0 / np.arange(1, int(n) + 1)) for n in sizes])
    return {"mrr": float(np.mean(harmonic / sizes)), "rank1": float(np.mean(1.0 / sizes)),
            "recall": 0.5}


def bootstrap_ci(values: Sequence[float], strata: Sequence | None = None, seed: int = 0,
                 replicates: int = REPLICATES) -> list[float]:
    """[lo, hi]: the 95% bootstrap interval of the mean of `values` (resampled within strata)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return [float("nan"), float("nan")]
    groups = _groups(strata if strata is not None else [0] * len(values))
    rng = np.random.default_rng(seed)
    means = np.zeros(replicates)
    for members in groups:
        picks = rng.integers(len(members), size=(replicates, len(members)))
        means += values[np.asarray(members)[picks]].sum(axis=1)
    means /= len(values)
    tail = (1 - LEVEL) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]


def difference_ci(a: Sequence[float], b: Sequence[float], seed: int = 0,
                  replicates: int = REPLICATES) -> list[float]:
    """[lo, hi]: the 95% bootstrap interval of mean(a) - mean(b), a and b resampled apart."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    diffs = (a[rng.integers(len(a), size=(replicates, len(a)))].mean(axis=1)
             - b[rng.integers(len(b), size=(replicates, len(b)))].mean(axis=1))
    tail = (1 - LEVEL) / 2
    return [float(np.quantile(diffs, tail)), float(np.quantile(diffs, 1 - tail))]


def statistic_ci(rows: Sequence, statistic: Callable[[np.ndarray], float] = np.mean,
                 seed: int = 0, replicates: int = REPLICATES) -> list[float]:
    """[lo, hi]: the 95% percentile-bootstrap interval of `statistic` over `rows` (first axis),
    the rows resampled with replacement."""
    rows = np.asarray(rows, dtype=float)
    picks = np.random.default_rng(seed).integers(len(rows), size=(replicates, len(rows)))
    values = [statistic(rows[pick]) for pick in picks]
    tail = (1 - LEVEL) / 2
    return [float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))]


def cluster_ci(values: Sequence[float], clusters: Sequence, seed: int = 0,
               replicates: int = REPLICATES) -> list[float]:
    """[lo, hi]: the 95% bootstrap interval of the mean of `values`, whole clusters resampled with
    replacement (the mean over the transitions the resampled clusters hold)."""
    values = np.asarray(values, dtype=float)
    groups = _groups(clusters)
    if not groups:
        return [float("nan"), float("nan")]
    sums = np.array([values[g].sum() for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    picks = np.random.default_rng(seed).integers(len(groups), size=(replicates, len(groups)))
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1 - LEVEL) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]


def _groups(strata: Sequence) -> list[list[int]]:
    members: dict = defaultdict(list)
    for index, stratum in enumerate(strata):
        members[stratum].append(index)
    return list(members.values())
