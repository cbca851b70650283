"""changes(): labels for what changed between two states, from the schema alone."""

import copy

from lawsmith.envs.changes import changes
from lawsmith.envs.toy_world import ToyWorld, toy_schema

SCHEMA = toy_schema()


def _state() -> dict:
    return {"step": 0,
            "grid": ["########", "#.b....#", "#......#", "#..~...#",
                     "#......#", "#......#", "#......#", "########"],
            "objects": [{"id": 1, "kind": "player", "pos": [2, 2], "facing": [0, -1],
                         "inventory": {"berry": 0, "drink": 0, "meat": 0}},
                        {"id": 2, "kind": "sheep", "pos": [5, 5], "facing": [1, 0], "health": 2}],
            "engine": {"seed": 0, "next_id": 3}}


def _player(state: dict) -> dict:
    return state["objects"][0]


def test_no_change_but_time():
    state = _state()
    later = copy.deepcopy(state)
    later["step"] = 1
    later["engine"]["seed"] = 7
    assert changes(state, later, SCHEMA) == []


def test_player_moves_turns_and_collects():
    state = _state()
    later = copy.deepcopy(state)
    _player(later)["pos"] = [3, 2]
    _player(later)["facing"] = [1, 0]
    _player(later)["inventory"]["berry"] = 2
    _player(later)["inventory"]["drink"] = 0
    assert changes(state, later, SCHEMA) == ["player.inventory.berry+2", "player.moved",
                                             "player.turned"]


def test_objects_matched_by_id_appear_and_disappear():
    state = _state()
    later = copy.deepcopy(state)
    later["objects"][1]["health"] = 1
    later["objects"].append({"id": 5, "kind": "sheep", "pos": [1, 1], "facing": [0, 1],
                             "health": 2})
    assert changes(state, later, SCHEMA) == ["sheep.appeared", "sheep.health-1"]
    gone = copy.deepcopy(state)
    del gone["objects"][1]
    assert changes(state, gone, SCHEMA) == ["sheep.disappeared"]
    # Same position, new id: one sheep left, another came.
    swapped = copy.deepcopy(state)
    swapped["objects"][1]["id"] = 9
    assert changes(state, swapped, SCHEMA) == ["sheep.appeared", "sheep.disappeared"]


def test_grid_cells_by_material_name():
    state = _state()
    later = copy.deepcopy(state)
    later["grid"][1] = "#...~..#"
    assert changes(state, later, SCHEMA) == ["grid:bush->grass", "grid:grass->water"]


def test_hidden_counters_left_out_unless_asked():
    schema = copy.deepcopy(SCHEMA)
    schema["kinds"]["sheep"]["hunger"] = {"type": "float", "min": 0, "hidden": True}
    schema["kinds"]["player"]["sleeping"] = {"type": "bool"}
    schema["kinds"]["player"]["warmth"] = {"type": "float"}
    state = _state()
    state["objects"][1]["hunger"] = 1.0
    _player(state).update(sleeping=False, warmth=1.0)
    later = copy.deepcopy(state)
    later["objects"][1]["hunger"] = 2.5
    _player(later).update(sleeping=True, warmth=0.5)
    assert changes(state, later, schema) == ["player.sleeping->true", "player.warmth-0.5"]
    assert changes(state, later, schema, hidden=True) == [
        "player.sleeping->true", "player.warmth-0.5", "sheep.hunger.changed"]


def test_toy_world_steps():
    world = ToyWorld()
    state = world.reset(3)
    seen = set()
    for action in ["move_left", "move_left", "move_up", "do", "move_right", "noop"] * 5:
        next_state, _ = world.step(action)
        labels = changes(state, next_state, world.schema)
        assert labels == sorted(set(labels))
        seen.update(labels)
        state = next_state
    assert "sheep.moved" in seen and "player.moved" in seen
