"""examples/crafter.law against the real game, mechanic by mechanic, on hand-set states.

For each state and action the real Crafter makes the next state (several engine seeds for the
stochastic mechanics). The laws must (1) fire the law that states the mechanic, (2) name the true
value among the values each firing law predicts, for every observable it predicts, and (3) predict
every observable that changed (chunk balancing, which the file leaves out, only runs on every 10th
step; these states are not on one).
"""

from __future__ import annotations

import pathlib

import pytest

from lawsmith.dsl import compile_python, parse
from lawsmith.experiments.scenarios import Edit, base_state, scenarios, with_seed
from lawsmith.laws.observables import StateView, changed_observables, parse_observable

LAWS = pathlib.Path(__file__).resolve().parent.parent / "examples" / "crafter.law"
SEEDS = range(6)


@pytest.fixture(scope="module")
def base(crafter_world):
    state = base_state(crafter_world, 3)
    state["step"] = 5   # not a chunk-balancing step
    return state


@pytest.fixture(scope="module")
def laws(crafter_world):
    return compile_python(parse(LAWS.read_text()), crafter_world.schema)


def _mechanics(base: dict, schema: dict) -> dict[str, tuple[dict, str, str]]:
    """name -> (state, action, the law that states it)."""
    def edit() -> Edit:
        return Edit(base, schema)

    def player_with(e: Edit, **fields) -> dict:
        e.player.update(fields)
        return e.state

    cases = {
        "lava_death": (edit().face(1, 0).cell(1, 0, "lava").state, "move_right", "move_right"),
        "drink_resets_thirst": (player_with(edit().face(0, 1).cell(0, 1, "water").items(drink=3),
                                            thirst=12), "do", "thirst"),
        "hunger_costs_food": (player_with(edit().items(food=4), hunger=25), "noop", "food"),
        "thirst_costs_drink": (player_with(edit().items(drink=4), thirst=20), "noop", "drink"),
        "tired_loses_energy": (player_with(edit().items(energy=5), fatigue=30), "noop", "energy"),
        "sleep_restores_energy": (player_with(edit().items(energy=5), sleeping=True,
                                              fatigue=-10), "noop", "energy"),
        "falls_asleep": (edit().items(energy=4).state, "sleep", "fall_asleep"),
        "regenerates": (player_with(edit().items(health=5), recover=25), "noop", "health"),
        "degenerates": (player_with(edit().items(health=5, food=0), recover=-15), "noop",
                        "health"),
        "wakes_when_hurt": (player_with(edit().items(energy=3, health=5), sleeping=True,
                                        last_health=7), "noop", "fall_asleep"),
        "zombie_strikes_sleeper": (player_with(edit().items(energy=3).creature(
            "zombie", 1, 0, health=5, cooldown=0), sleeping=True), "noop",
            "zombie_strikes"),
        "zombie_cools_down": (edit().creature("zombie", 1, 0, health=5, cooldown=3).state, "noop",
                              "zombie_strikes"),
        "zombie_approaches": (edit().creature("zombie", 2, 0, health=5, cooldown=0).state, "noop",
                              "zombie_strikes"),
        "zombie_chases": (edit().creature("zombie", 4, 2, health=5, cooldown=0).state, "noop",
                          "zombie_chases"),
        "zombie_slain_strikes": (edit().face(1, 0).creature("zombie", 1, 0, health=1,
                                                            cooldown=0).state, "do",
                                 "zombie_strikes_dying"),
        "arrow_flies": (edit().creature("arrow", 3, 0, facing=[1, 0]).state, "noop",
                        "arrow_flies"),
        "arrow_hits_player": (edit().creature("arrow", 2, 0, facing=[-1, 0]).state, "noop",
                              "health"),
        "arrow_breaks_table": (edit().cell(4, 0, "table").creature("arrow", 3, 0,
                                                                 facing=[1, 0]).state, "noop",
                               "arrow_breaks"),
        # the arrow first: Crafter updates objects in id order, and a cow updated first may
        # step out of the arrow's way (the laws' one-state approximation)
        "arrow_hurts_cow": (edit().creature("arrow", 3, 0, facing=[1, 0]).creature(
            "cow", 4, 0, health=3).state, "noop", "cow_hurt"),
        "skeleton_flees": (edit().cell(2, 0, "path").cell(3, 0, "path").creature(
            "skeleton", 2, 0, health=3, reload=2).state, "noop", "skeleton_flees"),
        "skeleton_shoots": (edit().cell(3, 0, "path").cell(4, 0, "path").cell(5, 0, "path")
                            .creature("skeleton", 4, 0, health=3, reload=0).state, "noop",
                            "skeleton_shoots"),
        "plant_eaten": (edit().creature("plant", 3, 0, health=1, grown=10).creature(
            "cow", 4, 0, health=3).state, "noop", "plant_eaten"),
        "plant_grows": (edit().creature("plant", 3, 0, health=1, grown=10).state, "noop",
                        "plant_grows"),
    }
    return cases


def _check(laws, world, state: dict, action: str, law: str, seeds=SEEDS) -> None:
    schema = world.schema
    for seed in seeds:
        state = with_seed(state, 7, seed)
        truth = world.transition(state, action)
        before, after = StateView(state, schema), StateView(truth, schema)
        firings = laws.predict(state, action)
        assert law in {f.law for f in firings}, f"{law} did not fire"
        predicted = set()
        for firing in firings:
            for prediction in firing.predictions:
                predicted.add(prediction.observable)
                value = after.value(parse_observable(prediction.observable), before)
                if value is None:   # an object that is gone
                    continue
                assert value in prediction.values, (
                    f"seed {seed}: {firing.law} predicts {prediction.observable} in "
                    f"{prediction.values}, the game gives {value}")
        missed = [o.name for o in changed_observables(before, after, schema)
                  if o.name not in predicted]
        assert not missed, f"seed {seed}: no law predicts {missed}"


def test_every_scenario_agrees_with_the_game(crafter_world, laws):
    for scenario in scenarios(crafter_world, seed=0):
        state = dict(scenario.state, step=5)
        _check(laws, crafter_world, state, scenario.action,
               next(f.law for f in laws.predict(state, scenario.action)), seeds=range(3))


MECHANICS = (
    "lava_death", "drink_resets_thirst", "hunger_costs_food", "thirst_costs_drink",
    "tired_loses_energy", "sleep_restores_energy", "falls_asleep", "regenerates", "degenerates",
    "wakes_when_hurt", "zombie_strikes_sleeper", "zombie_cools_down", "zombie_approaches",
    "zombie_chases", "zombie_slain_strikes", "arrow_flies", "arrow_hits_player",
    "arrow_breaks_table", "arrow_hurts_cow", "skeleton_flees", "skeleton_shoots", "plant_eaten",
    "plant_grows")


@pytest.mark.parametrize("name", MECHANICS)
def test_mechanic_agrees_with_the_game(crafter_world, laws, base, name):
    cases = _mechanics(base, crafter_world.schema)
    assert set(cases) == set(MECHANICS)
    state, action, law = cases[name]
    _check(laws, crafter_world, state, action, law)
