"""Distractors: plausible but wrong next states, for ranking a model's log-probabilities (OneLife's
state-ranking protocol).

Each distractor is the TRUE next state with one mistake a poor world model might make (an illegal
collect, craft or place also counts its achievement, as the real one would):

| label | the mistake |
| --- | --- |
| `health:<kind>[id]±1` | a creature's health off by one |
| `shift:<kind>[id]` | a creature one cell away from where it is |
| `vanish:<kind>[id]` | a creature gone |
| `survive:<kind>[id]` | a creature that died (or was eaten) still there |
| `player_health±3` | the player's health off by three |
| `inventory:<item>±1` | an inventory count off by one (the items that changed, one at random) |
| `collect:<material>` | the faced cell collected though not allowed, or a material not there |
| `craft:<item>` | crafted without its needs (the action's own recipe, one at random) |
| `place:<thing>` | placed where not allowed, without the items, or on the wrong cell |
| `move:<action>` | moved on a non-move action, stayed on a move, or walked into a block |
| `sleeping` | the player's sleeping flag flipped |

Only candidates that differ from the truth in `comparable()` form and are valid states are kept,
each once. The model's own sample is added by the protocol, which knows the model.
"""

from __future__ import annotations

import copy
import json
from typing import Callable, Iterator

import numpy as np

from lawsmith.envs.rules import DEFAULT_RULES
from lawsmith.envs.state import find_player, validate_state
from lawsmith.envs.errors import TraceError
from lawsmith.experiments.models import comparable

# Creatures mutated per kind of mistake: the ones nearest the player.
NEAREST = 3
MOVES = {"move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1)}
STEPS = tuple(MOVES.values())

Candidate = tuple[str, dict]


def distractors(state: dict, action: str, true_next: dict, schema: dict,
                 rng: np.random.Generator, rules: dict | None = None) -> list[Candidate]:
    """Wrong next states for (state, action), each labelled with its mistake (see the module
    docstring); deterministic given `rng`'s state."""
    rules = rules if rules is not None else DEFAULT_RULES
    seen = {_key(true_next)}
    kept: list[Candidate] = []
    for make in MISTAKES:
        for label, candidate in make(state, action, true_next, schema, rules, rng):
            key = _key(candidate)
            if key not in seen and is_valid(candidate, schema):
                seen.add(key)
                kept.append((label, candidate))
    return kept


# --- the mistakes -----------------------------------------------------------------------------
# Each takes (state, action, true_next, schema, rules, rng) and yields (label, candidate) pairs;
# candidates are fresh copies of true_next. `experiments.onelife` hands some of them the previous
# state as `true_next`, for OneLife's mutated previous states.

def creature_health(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    for obj in nearest(true_next):
        if "health" not in obj:
            continue
        delta = int(rng.choice([-1, 1]))
        top = schema["kinds"][obj["kind"]]["health"]["max"]
        if not 0 <= obj["health"] + delta <= top:
            delta = -delta
        new = _copy(true_next)
        _by_id(new, obj["id"])["health"] += delta
        yield f"health:{_name(obj)}{delta:+d}", new


def creature_shift(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """A creature one step onto a free walkable neighbour cell."""
    walkable = set(schema["walkable"])
    taken = {tuple(o["pos"]) for o in true_next["objects"]}
    for obj in nearest(true_next):
        x, y = obj["pos"]
        steps = [(dx, dy) for dx, dy in STEPS if (x + dx, y + dy) not in taken
                 and _material(true_next, schema, x + dx, y + dy) in walkable]
        if not steps:
            continue
        dx, dy = steps[int(rng.integers(len(steps)))]
        new = _copy(true_next)
        moved = _by_id(new, obj["id"])
        moved["pos"] = [moved["pos"][0] + dx, moved["pos"][1] + dy]
        yield f"shift:{_name(obj)}", new


def creature_vanish(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    for obj in nearest(true_next):
        new = _copy(true_next)
        new["objects"] = [o for o in new["objects"] if o["id"] != obj["id"]]
        yield f"vanish:{_name(obj)}", new


def creature_survives(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """A creature that died (or was eaten) still there, as it was."""
    alive = {o["id"] for o in true_next["objects"]}
    for obj in nearest(state):
        if obj["id"] not in alive:
            new = _copy(true_next)
            new["objects"] = sorted(new["objects"] + [copy.deepcopy(obj)], key=lambda o: o["id"])
            yield f"survive:{_name(obj)}", new


def player_health(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    top = schema["items"]["health"]["max"]
    for delta in (-3, 3):
        new = _copy(true_next)
        inventory = find_player(new)["inventory"]
        inventory["health"] = min(max(inventory["health"] + delta, 0), top)
        yield f"player_health{delta:+d}", new


def inventory_counts(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    before, after = find_player(state)["inventory"], find_player(true_next)["inventory"]
    changed = [item for item in after if after[item] != before.get(item)]
    items = list(schema["items"])
    for item in changed + [items[int(rng.integers(len(items)))]]:
        for delta in (-1, 1):
            new = _copy(true_next)
            _add_items(new, schema, {item: delta})
            yield f"inventory:{item}{delta:+d}", new


def illegal_collect(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """The faced cell collected as if every requirement were met, and a material not there."""
    faced = _faced(state)
    here = _material(state, schema, *faced)
    others = [m for m in rules["collect"] if m != here and m in schema["materials"]]
    picks = ([here] if here in rules["collect"] else []) + [others[int(rng.integers(len(others)))]]
    for material in picks:
        rule = rules["collect"][material]
        new = _copy(true_next)
        _set_cell(new, schema, *faced, rule["leaves"])
        _add_items(new, schema, rule["receive"])
        _achieve(new, *(f"collect_{item}" for item in rule["receive"]))
        yield f"collect:{material}", new


def illegal_craft(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """The action's recipe (or a random one) done whatever the table, furnace or items."""
    recipes = list(rules["make"])
    own = action[len("make_"):] if action.startswith("make_") else None
    picks = ([own] if own in rules["make"] else []) + [recipes[int(rng.integers(len(recipes)))]]
    for item in picks:
        rule = rules["make"][item]
        new = _copy(true_next)
        _add_items(new, schema, {**{k: -v for k, v in rule["uses"].items()}, item: rule["gives"]})
        _achieve(new, f"make_{item}")
        yield f"craft:{item}", new


def illegal_place(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """The action's thing (or a random one) placed on the faced cell whatever is there, and on the
    cell behind the player."""
    things = list(rules["place"])
    own = action[len("place_"):] if action.startswith("place_") else None
    thing = own if own in rules["place"] else things[int(rng.integers(len(things)))]
    rule = rules["place"][thing]
    player = find_player(state)
    (x, y), (fx, fy) = player["pos"], player["facing"]
    for label, cell in (("", _faced(state)), (":behind", (x - fx, y - fy))):
        new = _copy(true_next)
        _add_items(new, schema, {k: -v for k, v in rule["uses"].items()})
        if rule["type"] == "material":
            _set_cell(new, schema, *cell, thing)
        else:
            new["objects"].append(_new_object(new, thing, cell, schema))
        _achieve(new, f"place_{thing}")
        yield f"place:{thing}{label}", new


def wrong_move(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    """A non-move action moves the player ahead; a move stays put, or goes through a block."""
    before, after = find_player(state), find_player(true_next)
    if action not in MOVES:
        step, label = after["facing"], f"move:{action}"
    elif after["pos"] != before["pos"]:
        step, label = (0, 0), f"move:{action}:stayed"
    else:
        step, label = MOVES[action], f"move:{action}:blocked"
    new = _copy(true_next)
    find_player(new)["pos"] = [before["pos"][0] + step[0], before["pos"][1] + step[1]]
    yield label, new


def sleeping_flipped(state, action, true_next, schema, rules, rng) -> Iterator[Candidate]:
    new = _copy(true_next)
    player = find_player(new)
    player["sleeping"] = not player["sleeping"]
    yield "sleeping", new


MISTAKES: tuple[Callable[..., Iterator[Candidate]], ...] = (
    creature_health, creature_shift, creature_vanish, creature_survives, player_health,
    inventory_counts, illegal_collect, illegal_craft, illegal_place, wrong_move, sleeping_flipped)


# --- helpers ----------------------------------------------------------------------------------

def _copy(state: dict) -> dict:
    return copy.deepcopy(state)


def _key(state: dict) -> str:
    return json.dumps(comparable(state), sort_keys=True)


def is_valid(state: dict, schema: dict) -> bool:
    """A well-formed state (schema, cells inside the grid) with at most one object per cell
    (shared with OneLife's distractors, `experiments.onelife`)."""
    try:
        validate_state(state, schema)
    except TraceError:
        return False
    cells = [tuple(obj["pos"]) for obj in state["objects"]]
    return len(cells) == len(set(cells))


def nearest(state: dict) -> list[dict]:
    """The NEAREST creatures (non-player objects) to the player, nearest first, ties by id."""
    x, y = find_player(state)["pos"]
    others = [o for o in state["objects"] if o["kind"] != "player"]
    others.sort(key=lambda o: (abs(o["pos"][0] - x) + abs(o["pos"][1] - y), o["id"]))
    return others[:NEAREST]


def _by_id(state: dict, oid: int) -> dict:
    return next(o for o in state["objects"] if o["id"] == oid)


def _name(obj: dict) -> str:
    return f"{obj['kind']}[{obj['id']}]"


def _faced(state: dict) -> tuple[int, int]:
    player = find_player(state)
    return player["pos"][0] + player["facing"][0], player["pos"][1] + player["facing"][1]


def _material(state: dict, schema: dict, x: int, y: int) -> str | None:
    names = {code: name for name, code in schema["materials"].items()}
    if 0 <= y < len(state["grid"]) and 0 <= x < len(state["grid"][y]):
        return names[state["grid"][y][x]]
    return None


def _set_cell(state: dict, schema: dict, x: int, y: int, material: str) -> None:
    if material in schema["materials"] and 0 <= y < len(state["grid"]) \
            and 0 <= x < len(state["grid"][y]):
        row = state["grid"][y]
        state["grid"][y] = row[:x] + schema["materials"][material] + row[x + 1:]


def _add_items(state: dict, schema: dict, deltas: dict[str, int]) -> None:
    """Add to the player's inventory, within each item's bounds."""
    inventory = find_player(state)["inventory"]
    for item, delta in deltas.items():
        if item in inventory:
            bounds = schema["items"][item]
            inventory[item] = min(max(inventory[item] + delta, bounds["min"]), bounds["max"])


def _achieve(state: dict, *names: str) -> None:
    """Count the achievements a real collect/craft/place would have counted."""
    achievements = find_player(state)["achievements"]
    for name in names:
        if name in achievements:
            achievements[name] += 1


def _new_object(state: dict, kind: str, cell: tuple[int, int], schema: dict) -> dict:
    """A fresh object of `kind` at `cell` (attributes at their minimum, health at its maximum)."""
    record = {"id": state["engine"]["next_id"], "kind": kind, "pos": list(cell)}
    state["engine"]["next_id"] += 1
    for attr, spec in schema["kinds"][kind].items():
        if attr != "pos":
            record[attr] = spec["max"] if attr == "health" else spec.get("min", 0)
    return record
