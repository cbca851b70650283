"""Planning with a model: the Crafter score, strategy ranking against the true world, MPC."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from envs.state import find_player
from experiments import planning
from experiments.models import TrueModel


@pytest.fixture(scope="module")
def true_model(crafter_world):
    from envs.crafter_world import CrafterWorld
    return TrueModel(CrafterWorld())


@pytest.fixture(scope="module")
def cases(crafter_world):
    return planning.situations(crafter_world, seed=1)


def test_crafter_score_known_values():
    assert planning.crafter_score([0.0] * 22) == 0.0
    assert planning.crafter_score([100.0] * 22) == pytest.approx(100.0)
    rates = [0.0] * 20 + [100.0, 50.0]
    expected = math.exp((math.log(101) + math.log(51)) / 22) - 1
    assert planning.crafter_score(rates) == pytest.approx(expected)


def test_pair_order_and_tau():
    assert planning.order([1.0, 0.0, 0.9], tie=0.2) == [1, 0, -1]
    assert planning.kendall_tau_b([1, 1, 1], [1, 1, 1]) == 1.0
    assert planning.kendall_tau_b([1, -1], [-1, 1]) == -1.0
    assert math.isnan(planning.kendall_tau_b([0, 0], [1, 0]))


def test_situations_load_and_strategies_are_valid(crafter_world, cases):
    assert len(cases) >= 4 and all(len(c.strategies) >= 2 for c in cases)
    for case in cases:
        for strategy in case.strategies:
            state = planning.start_of(case, strategy)
            crafter_world.load(state)
            assert strategy.policy(state, 0) in crafter_world.actions


def test_true_world_agrees_with_itself(crafter_world, true_model, cases):
    rows = planning.rank_strategies(true_model, true_model, crafter_world, trials=2, seed=1,
                                    cases=[c for c in cases if c.name in ("mine_stone", "drink")])
    assert all(row["agree"] for row in rows)
    mine = rows[0]
    assert mine["true"] == [1.0, 0.0]  # a pickaxe first gives stone; digging bare does not


def test_objective_counts_new_achievements_and_death(crafter_start):
    later = copy.deepcopy(crafter_start)
    find_player(later)["achievements"]["collect_wood"] = 1
    assert planning.objective(crafter_start, [crafter_start, later]) == pytest.approx(
        planning.DISCOUNT)
    dead = copy.deepcopy(later)
    find_player(dead)["inventory"]["health"] = 0
    assert planning.objective(crafter_start, [dead]) == pytest.approx(1 - planning.DEATH_COST)


def test_mpc_with_true_model_acts_and_is_deterministic(crafter_world, crafter_start, true_model):
    action = planning.plan(true_model, crafter_start, crafter_world.actions,
                           np.random.default_rng(0), horizon=2, rollouts=17)
    assert action in crafter_world.actions
    runs = [planning.mpc_episodes(true_model, crafter_world, steps=3, seed=5, horizon=2,
                                  rollouts=17, starts=[crafter_start]) for _ in range(2)]
    assert runs[0]["steps"] == 3 and runs[0]["episodes"] == 1
    assert set(runs[0]["actions"][0]) <= set(crafter_world.actions)
    assert runs[0]["actions"] == runs[1]["actions"]
    assert runs[0]["score"] == runs[1]["score"]


def test_imagine_keeps_attributes_a_model_left_without_value(crafter_start):
    class Blank:
        def sample(self, state, action, seed):
            after = copy.deepcopy(state)
            find_player(after)["thirst"] = None
            find_player(after)["achievements"]["wake_up"] = None
            return after

    after, before = find_player(planning.imagine(Blank(), crafter_start, "noop", 0)), find_player(
        crafter_start)
    assert after["thirst"] == before["thirst"]
    assert after["achievements"]["wake_up"] == before["achievements"]["wake_up"]
