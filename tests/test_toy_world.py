"""The toy world: its deterministic rules, and the one stochastic rule's known probability."""

from __future__ import annotations

import copy

from lawsmith.envs.state import find_player, validate_state
from lawsmith.envs.toy_world import BERRY_PROB, ToyWorld


def _facing(world: ToyWorld, material: str) -> dict:
    """A start state with the player at (3, 3) facing right onto `material`, and no sheep."""
    state = world.reset(0)
    grid = [list(row) for row in state["grid"]]
    grid[3][3], grid[3][4] = ".", world.schema["materials"][material]
    state["grid"] = ["".join(row) for row in grid]
    state["objects"] = [find_player(state)]
    player = state["objects"][0]
    player["pos"], player["facing"] = [3, 3], [1, 0]
    validate_state(state, world.schema)
    return state


def test_berry_probability_is_the_known_one():
    world = ToyWorld()
    start = _facing(world, "bush")
    hits, trials = 0, 4000
    for seed in range(trials):
        state = copy.deepcopy(start)
        state["engine"]["seed"] = seed
        after = world.transition(state, "do")
        hits += find_player(after)["inventory"]["berry"]
    # Binomial(4000, 0.3) has sd 0.0072; 0.03 is over 4 sd.
    assert abs(hits / trials - BERRY_PROB) < 0.03


def test_water_gives_drink_and_walls_block():
    world = ToyWorld()
    state = _facing(world, "water")
    after = world.transition(state, "do")
    assert find_player(after)["inventory"]["drink"] == 1
    blocked = world.transition(_facing(world, "wall"), "move_right")
    assert find_player(blocked)["pos"] == [3, 3]
    moved = world.transition(_facing(world, "grass"), "move_right")
    assert find_player(moved)["pos"] == [4, 3]


def test_sheep_bounce_and_are_eaten():
    world = ToyWorld()
    state = _facing(world, "grass")
    state["objects"].append({"id": 2, "kind": "sheep", "pos": [4, 3], "facing": [1, 0], "health": 1})
    state["engine"]["next_id"] = 3
    after = world.transition(state, "do")
    assert [o["kind"] for o in after["objects"]] == ["player"]
    assert find_player(after)["inventory"]["meat"] == 1
    state["objects"][1].update(pos=[6, 1], facing=[1, 0], health=2)
    after = world.transition(state, "noop")
    assert after["objects"][1]["pos"] == [6, 1] and after["objects"][1]["facing"] == [-1, 0]
    after = world.transition(after, "noop")
    assert after["objects"][1]["pos"] == [5, 1]
