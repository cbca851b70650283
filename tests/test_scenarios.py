"""The 23 evaluation scenarios: in the real world the success variant shows its mechanic and the
failing variant does not."""

from __future__ import annotations

import pytest

from lawsmith.envs.state import find_player
from lawsmith.experiments.models import comparable
from lawsmith.experiments.scenarios import FAILURE, SCENARIO_NAMES, SUCCESS, scenarios, with_seed

SEEDS = range(6)  # engine seeds per check: cow_movement's cow moves in about half the steps


@pytest.fixture(scope="module")
def built(crafter_world):
    return scenarios(crafter_world, seed=0)


def _outcomes(world, scenario):
    for k in SEEDS:
        state = with_seed(scenario.state, k)
        yield state, world.transition(state, scenario.action)


def test_twenty_three_scenarios_each_with_a_failing_variant(built, crafter_world):
    assert len(SCENARIO_NAMES) == 23 and len(built) == 46
    assert [s.name for s in built[::2]] == list(SCENARIO_NAMES)
    assert [s.variant for s in built] == [SUCCESS, FAILURE] * 23
    for scenario in built:
        crafter_world.load(scenario.state)  # a valid state
        assert scenario.action in crafter_world.actions and scenario.description


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_mechanic_happens_only_in_the_success_variant(built, crafter_world, name):
    success, failure = [s for s in built if s.name == name]
    shown = [success.happened(s, n) for s, n in _outcomes(crafter_world, success)]
    assert all(shown) if name != "cow_movement" else any(shown)
    assert not any(failure.happened(s, n) for s, n in _outcomes(crafter_world, failure))


def test_mechanics_in_detail(built, crafter_world):
    """A few success variants checked beyond their `happened` test."""
    def step(name):
        scenario = next(s for s in built if s.name == name and s.variant == SUCCESS)
        return scenario.state, crafter_world.transition(scenario.state, scenario.action)

    state, after = step("collect_wood")
    assert find_player(after)["inventory"]["wood"] == find_player(state)["inventory"]["wood"] + 1
    state, after = step("eat_plant")
    assert find_player(after)["inventory"]["food"] == find_player(state)["inventory"]["food"] + 4
    state, after = step("zombie_defeat")
    assert not any(o["kind"] == "zombie" for o in after["objects"])
    state, after = step("place_stone")
    assert after["grid"] != state["grid"]
    state, after = step("wake_up")
    assert find_player(after)["achievements"]["wake_up"] == 1


def test_scenarios_are_deterministic_per_seed(built, crafter_world):
    again = scenarios(crafter_world, seed=0)
    assert [comparable(s.state) for s in again] == [comparable(s.state) for s in built]
    assert [s.state["engine"]["seed"] for s in again] == [s.state["engine"]["seed"] for s in built]
