"""The oracle: the real world's probability of a next state estimated from draws, and the number
of draws it needs (experiments/oracle.py)."""

from __future__ import annotations

import math

import pytest

from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import BERRY_PROB, ToyWorld
from lawsmith.experiments.models import TrueModel
from lawsmith.experiments.oracle import SMOOTHING, Draws, convergence
from toy_laws import facing_bush


def _berry_outcomes(world, state):
    got = world.transition(state, "do")
    find_player(got)["inventory"]["berry"] = find_player(state)["inventory"]["berry"] + 1
    missed = world.transition(state, "do")
    find_player(missed)["inventory"]["berry"] = find_player(state)["inventory"]["berry"]
    return got, missed


def test_the_estimate_approaches_the_true_probability():
    world = ToyWorld()
    state = facing_bush(world, seed=5)
    truth = TrueModel(world)
    draws = Draws(state, [truth.sample(state, "do", k) for k in range(2000)], world.schema)
    got, missed = _berry_outcomes(world, state)
    berry = "player.inventory.berry"
    assert math.exp(draws.terms(got)[berry]) == pytest.approx(BERRY_PROB, abs=0.03)
    assert math.exp(draws.terms(missed)[berry]) == pytest.approx(1 - BERRY_PROB, abs=0.03)
    # Prefixes use the first n draws only.
    few = draws.terms(got, count=4)[berry]
    assert few == Draws(state, [truth.sample(state, "do", k) for k in range(4)],
                        world.schema).terms(got)[berry]


def test_a_value_no_draw_took_shares_the_unseen_bucket():
    world = ToyWorld()
    state = facing_bush(world, seed=1)
    truth = TrueModel(world)
    draws = Draws(state, [truth.sample(state, "do", k) for k in range(50)], world.schema)
    odd = world.transition(state, "do")
    find_player(odd)["inventory"]["berry"] = find_player(state)["inventory"]["berry"] + 3
    seen = len({d.get("player.inventory.berry") for d in draws.changes})
    expected = math.log(SMOOTHING / (50 + SMOOTHING * (seen + 1)))
    assert draws.terms(odd)["player.inventory.berry"] < expected   # spread over the rest


def test_convergence_reports_the_curve_and_picks_the_first_stable_count():
    world = ToyWorld()
    truth = TrueModel(world)
    transitions = []
    for seed in range(6):
        state = facing_bush(world, seed)
        transitions.append((state, "do", world.transition(state, "do")))
    curve = convergence(truth.sample, transitions, world.schema, ladder=(4, 8, 16, 32, 64),
                        tolerance=0.05)
    assert curve["draws"] == [4, 8, 16, 32, 64] and len(curve["nll"]) == 5
    assert curve["chosen"] in curve["draws"]
    i = curve["draws"].index(curve["chosen"])
    if curve["converged"]:
        assert abs(curve["nll"][i + 1] - curve["nll"][i]) <= 0.05 * abs(curve["nll"][i + 1])
        assert all(abs(curve["nll"][j + 1] - curve["nll"][j]) > 0.05 * abs(curve["nll"][j + 1])
                   for j in range(i))
    assert set(curve["per_class"][curve["chosen"]]) >= {"player.inventory.berry"}
