"""The `onelife` protocol: what it scores, its distractors (mutated previous states), the filtered
log-probabilities, and the True model ranking the truth first under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lawsmith.experiments.models import LawModel, TrueModel
from lawsmith.experiments.onelife import SCORED_HIDDEN, differs, onelife_distractors, onelife_scored
from lawsmith.experiments.protocol import evaluate_model
from lawsmith.experiments.scenarios import scenarios, with_seed
from lawsmith.laws.model import WorldModel
from lawsmith.laws.observables import parse_observable

LAWS = Path(__file__).resolve().parent.parent / "examples" / "crafter.law"
PICKED = ("collect_stone", "craft_wooden_pickaxe", "zombie_defeat", "cow_movement")


@pytest.fixture(scope="module")
def picked(crafter_world):
    return [s for s in scenarios(crafter_world, seed=0) if s.name in PICKED]


@pytest.fixture(scope="module")
def scored(crafter_world):
    return onelife_scored(crafter_world.schema)


def test_scores_player_position_health_inventory_and_creatures(scored):
    for name in ("player.pos", "player.inventory.health", "player.inventory.wood", "cow[3].pos",
                 "cow[3].health", "zombie[4].cooldown", "cow[3].exists", "spawn.zombie[1,2]"):
        assert scored(name), name
    for name in ("grid[3,4]", "player.facing", "player.sleeping", "player.achievements.eat_cow",
                 "arrow[5].facing"):
        assert not scored(name), name


def test_hidden_attributes_are_not_scored(crafter_world, scored):
    hidden = [(kind, attr) for kind, attrs in crafter_world.schema["kinds"].items()
              for attr, spec in attrs.items() if spec.get("hidden") and attr not in SCORED_HIDDEN]
    assert ("player", "hunger") in hidden and ("plant", "grown") in hidden
    for kind, attr in hidden:
        assert not scored("player." + attr if kind == "player" else f"{kind}[1].{attr}")


def test_distractors_are_valid_wrong_previous_states(picked, crafter_world, scored):
    schema = crafter_world.schema
    for index, scenario in enumerate(picked):
        state = with_seed(scenario.state, index)
        truth = crafter_world.transition(state, scenario.action)
        found = onelife_distractors(state, scenario.action, truth, schema,
                                    np.random.default_rng(index), crafter_world.rules)
        assert 3 <= len(found) <= 7
        for number, (label, candidate) in enumerate(found):
            crafter_world.load(candidate)  # validates
            assert differs(candidate, truth, schema, scored), label
            assert all(differs(candidate, other, schema, scored) for _, other in found[:number])
            # built from the previous state: its hidden counters, not the truth's
            hidden = [_hidden(s, schema) for s in (candidate, state, truth)]
            assert hidden[0] == hidden[1] != hidden[2], label
        again = onelife_distractors(state, scenario.action, truth, schema,
                                    np.random.default_rng(index), crafter_world.rules)
        assert [label for label, _ in again] == [label for label, _ in found]


def test_filtered_law_log_prob_is_the_sum_of_scored_terms(picked, crafter_world, scored):
    model = LawModel(WorldModel(LAWS.read_text(), crafter_world.schema), "hand")
    scenario = picked[0]
    truth = crafter_world.transition(scenario.state, scenario.action)
    result = model.model.log_prob(scenario.state, scenario.action, truth)
    terms = [t.log_prob for t in result.predicted + result.unexplained if scored(t.observable)]
    unchanged = [value for group, value in result.unchanged.items()
                 if group != "grid" and scored(_member(group))]
    filtered = model.log_prob(scenario.state, scenario.action, truth, scored=scored)
    assert filtered == pytest.approx(sum(terms) + sum(unchanged))
    rest = model.log_prob(scenario.state, scenario.action, truth, scored=lambda n: not scored(n))
    assert filtered + rest == pytest.approx(result.total)
    assert rest < 0 and "grid" in result.unchanged


def test_true_model_ranks_the_truth_first_under_onelife(picked, crafter_world):
    deterministic = [s for s in picked if s.name != "cow_movement" and s.variant == "success"]
    rows = evaluate_model(TrueModel(crafter_world, samples=8), deterministic, crafter_world,
                          trials=1, seed=0, protocol="onelife")
    assert [row["rank"] for row in rows] == [1] * len(deterministic)
    assert all(row["protocol"] == "onelife" and row["candidates"] >= 4 for row in rows)
    assert all(row["truth_log_prob"] > -1.0 for row in rows)


def test_rows_name_their_protocol_and_unknown_ones_fail(picked, crafter_world):
    model = TrueModel(crafter_world, samples=2)
    (row,) = evaluate_model(model, picked[:1], crafter_world, trials=1)
    assert row["protocol"] == "lawsmith" and "truth_log_prob" in row
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate_model(model, picked[:1], crafter_world, trials=1, protocol="strict")


def _hidden(state: dict, schema: dict) -> dict:
    """The player's hidden counters."""
    player = next(o for o in state["objects"] if o["kind"] == "player")
    return {k: v for k, v in player.items() if schema["kinds"]["player"].get(k, {}).get("hidden")}


def _member(group: str) -> str:
    """An observable name of a class other than the grid (the test's own spelling of the rule)."""
    head, _, rest = group.partition(".")
    if head == "player":
        return group
    if head == "spawn":
        return f"spawn.{rest}[0,0]"
    name = f"{head}[0].{rest}"
    assert parse_observable(name).group == group
    return name
