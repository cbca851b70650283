"""Chance lines and intervals of the evaluation (experiments/stats.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lawsmith.experiments.metrics import rank_truth
from lawsmith.experiments.stats import bootstrap_ci, chance, cluster_ci, difference_ci


def test_chance_of_hand_made_candidate_sets():
    assert chance([1]) == {"mrr": 1.0, "rank1": 1.0, "recall": 0.5}
    assert chance([2])["mrr"] == pytest.approx(0.75)
    assert chance([4])["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert chance([4])["rank1"] == pytest.approx(0.25)
    # Trials with different candidate counts: the mean of their own chance lines.
    assert chance([2, 4])["mrr"] == pytest.approx((0.75 + 25 / 48) / 2)
    assert chance([2, 4])["rank1"] == pytest.approx((0.5 + 0.25) / 2)


def test_chance_is_what_a_random_ranking_scores():
    rng = np.random.default_rng(0)
    sizes = [int(n) for n in rng.integers(2, 13, size=4000)]
    reciprocal = [rank_truth(list(rng.random(n)), truth=0).reciprocal for n in sizes]
    assert np.mean(reciprocal) == pytest.approx(chance(sizes)["mrr"], abs=0.01)


def test_bootstrap_interval_holds_the_mean_and_narrows_with_data():
    rng = np.random.default_rng(1)
    small, large = rng.random(20), rng.random(2000)
    low, high = bootstrap_ci(small)
    assert low <= small.mean() <= high
    big_low, big_high = bootstrap_ci(large)
    assert big_high - big_low < high - low
    # Stratified: a stratum whose trials agree adds no spread.
    values = [0.0] * 10 + [1.0] * 10
    assert bootstrap_ci(values, ["a"] * 10 + ["b"] * 10) == [0.5, 0.5]
    assert bootstrap_ci(values)[0] < 0.5 < bootstrap_ci(values)[1]


def test_difference_interval():
    low, high = difference_ci([1.0] * 10, [0.0] * 10)
    assert low == high == 1.0
    low, high = difference_ci([0, 1] * 5, [1, 0] * 5)
    assert low < 0 < high


def test_cluster_interval_is_wider_for_correlated_clusters():
    rng = np.random.default_rng(2)
    # 20 episodes of 50 steps; each episode has its own level: steps within one are alike.
    levels = rng.normal(size=20)
    values = np.repeat(levels, 50) + 0.01 * rng.normal(size=1000)
    clusters = np.repeat(np.arange(20), 50)
    low, high = cluster_ci(values, clusters)
    assert low <= values.mean() <= high
    naive_low, naive_high = bootstrap_ci(values)
    assert high - low > 3 * (naive_high - naive_low)
