"""OneLife's 23 evaluation scenarios: small hand-set Crafter states where one mechanic happens, each
with a failing variant where it must not.

Every scenario starts from a generated world (`world.reset(seed)`), removes all creatures, clears a
square of grass around the player and then sets the few cells, items and creatures the mechanic
needs. The rules (what a tool, recipe or placement needs) are read from `world.rules`, so a rules
variant gets scenarios that match it.

Failing variants (what is missing; the action stays the same unless noted):

| scenario | failing variant |
| --- | --- |
| collect_wood, collect_drink | the tree/water is beside the player, the player faces sand |
| collect_stone, collect_coal | no pickaxe |
| collect_iron | a wood pickaxe only (iron needs a stone one) |
| collect_diamond | wood and stone pickaxes only (diamond needs an iron one) |
| craft_wooden_pickaxe, craft_stone_sword | no table nearby (one three cells away) |
| craft_stone_pickaxe | no stone |
| craft_iron_pickaxe | no furnace nearby |
| craft_wooden_sword | no wood |
| craft_iron_sword | no iron |
| place_table | one wood too few |
| place_furnace | facing a tree (not a place a furnace may go) |
| place_plant | facing sand (saplings grow on grass only) |
| place_stone | no stone |
| eat_plant | the plant ahead is not ripe |
| eat_cow | the cow ahead has full health (one hit does not kill it) |
| zombie_defeat | the zombie ahead has full health |
| defeat_skeleton | the skeleton ahead has full health |
| cow_movement | the cow is walled in by stone on all four sides |
| random_movement | the cell to the left is stone: move_left does not move the player |
| wake_up | the sleeping player's energy is low, so it sleeps on |

The engine seed of each state comes from `scenarios(world, seed)`'s seed; `with_seed` gives a
scenario fresh randomness for another trial.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Callable

from lawsmith.envs.state import find_player

SUCCESS, FAILURE = "success", "failure"
# Cells of grass cleared around the player (a square of side 2 * CLEAR + 1).
CLEAR = 5
# The pickaxe one tier below each tool requirement, for "the wrong tool" failures.
LOWER_TOOLS = {"stone_pickaxe": ["wood_pickaxe"], "iron_pickaxe": ["wood_pickaxe", "stone_pickaxe"]}
RIPE, UNRIPE = 400, 50  # a plant is ripe when grown > 300
LOW_FOOD = 3  # food/drink before eating or drinking, so a rise shows
VITALS = ("health", "food", "drink", "energy")

# (state, next_state) -> did the mechanic show?
Check = Callable[[dict, dict], bool]


@dataclasses.dataclass
class Scenario:
    """One hand-set state and action; `happened` tells whether a next state shows the mechanic."""
    name: str
    variant: str  # SUCCESS or FAILURE
    state: dict
    action: str
    description: str
    happened: Check


# --- editing a state around the player --------------------------------------------------------

class Edit:
    """A copy of a base state, edited in player-relative coordinates."""

    def __init__(self, base: dict, schema: dict):
        self.state = copy.deepcopy(base)
        self.codes = schema["materials"]
        self.player = find_player(self.state)
        self.x, self.y = self.player["pos"]

    def cell(self, dx: int, dy: int, material: str) -> "Edit":
        row = self.state["grid"][self.y + dy]
        x = self.x + dx
        self.state["grid"][self.y + dy] = row[:x] + self.codes[material] + row[x + 1:]
        return self

    def face(self, dx: int, dy: int) -> "Edit":
        self.player["facing"] = [dx, dy]
        return self

    def items(self, **counts: int) -> "Edit":
        self.player["inventory"].update(counts)
        return self

    def creature(self, kind: str, dx: int, dy: int, **attrs) -> "Edit":
        engine = self.state["engine"]
        record = {"id": engine["next_id"], "kind": kind, "pos": [self.x + dx, self.y + dy]}
        record.update(attrs)
        self.state["objects"].append(record)
        engine["next_id"] += 1
        return self


def cleared(state: dict, schema: dict, radius: int = CLEAR) -> dict:
    """A copy of `state` with no creatures and a square of grass of `radius` around the player."""
    state = copy.deepcopy(state)
    state["objects"] = [obj for obj in state["objects"] if obj["kind"] == "player"]
    x, y = find_player(state)["pos"]
    grass = schema["materials"]["grass"]
    grid = [list(row) for row in state["grid"]]
    for cy in range(y - radius, y + radius + 1):
        for cx in range(x - radius, x + radius + 1):
            grid[cy][cx] = grass
    state["grid"] = ["".join(row) for row in grid]
    return state


def base_state(world, seed: int) -> dict:
    """A reset world with no creatures and a clear square of grass around the player."""
    return cleared(world.reset(seed), world.schema)


def with_seed(state: dict, *seeds: int) -> dict:
    """A copy of `state` whose engine draws fresh randomness, derived from `seeds`."""
    state = copy.deepcopy(state)
    text = ":".join(str(seed) for seed in seeds)
    state["engine"]["seed"] = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return state


# --- what "the mechanic happened" means -------------------------------------------------------

def _player(state: dict) -> dict:
    return find_player(state)


def item_rose(item: str) -> Check:
    return lambda s, n: _player(n)["inventory"][item] > _player(s)["inventory"][item]


def achieved(name: str) -> Check:
    return lambda s, n: _player(n)["achievements"][name] > _player(s)["achievements"][name]


def player_moved(s: dict, n: dict) -> bool:
    return _player(n)["pos"] != _player(s)["pos"]


def creatures_moved(kind: str) -> Check:
    def check(s: dict, n: dict) -> bool:
        before = {o["id"]: o["pos"] for o in s["objects"] if o["kind"] == kind}
        return any(o["kind"] == kind and o["id"] in before and o["pos"] != before[o["id"]]
                   for o in n["objects"])
    return check


def woke_up(s: dict, n: dict) -> bool:
    return _player(s)["sleeping"] and not _player(n)["sleeping"]


# --- the scenarios ----------------------------------------------------------------------------

def _pair(name: str, action: str, happened: Check, success: Edit, failure: Edit,
          what: str, why_not: str, failure_action: str | None = None) -> list[Scenario]:
    return [Scenario(name, SUCCESS, success.state, action, what, happened),
            Scenario(name, FAILURE, failure.state, failure_action or action,
                     f"{what}; fails: {why_not}", happened)]


def _collect(base: dict, world, name: str, material: str) -> list[Scenario]:
    rule = world.rules["collect"][material]
    item = next(iter(rule["receive"]))
    start = LOW_FOOD if item in VITALS else 0

    def edit() -> Edit:
        return Edit(base, world.schema).face(0, 1).items(**{item: start})

    success = edit().cell(0, 1, material).items(**rule["require"])
    what = f"do facing {material} with {_items(rule['require']) or 'nothing'}: {item} +1"
    if rule["require"]:
        lower = [tool for need in rule["require"] for tool in LOWER_TOOLS.get(need, [])]
        failure = edit().cell(0, 1, material).items(**{tool: 1 for tool in lower})
        why_not = f"only {', '.join(lower)}" if lower else f"no {', '.join(rule['require'])}"
    else:
        failure = edit().cell(1, 0, material).cell(0, 1, "sand")
        why_not = f"the {material} is beside the player, who faces sand"
    return _pair(name, "do", item_rose(item), success, failure, what, why_not)


# craft scenario -> (item, what its failing variant lacks: "table", "furnace" or an item)
CRAFTS = {"craft_wooden_pickaxe": ("wood_pickaxe", "table"),
          "craft_stone_pickaxe": ("stone_pickaxe", "stone"),
          "craft_iron_pickaxe": ("iron_pickaxe", "furnace"),
          "craft_wooden_sword": ("wood_sword", "wood"),
          "craft_stone_sword": ("stone_sword", "table"),
          "craft_iron_sword": ("iron_sword", "iron")}
# Where the crafting stations stand, relative to the player (and a spot too far for `nearby`).
STATIONS = {"table": (-1, 0), "furnace": (1, 0)}
FAR = 3


def _craft(base: dict, world, name: str) -> list[Scenario]:
    item, lacking = CRAFTS[name]
    rule = world.rules["make"][item]

    def edit(missing: str | None) -> Edit:
        e = Edit(base, world.schema).face(0, 1).items(**rule["uses"])
        for station in rule["nearby"]:
            dx, dy = STATIONS[station]
            e.cell(dx * (FAR if station == missing else 1), dy, station)
        if missing in rule["uses"]:
            e.items(**{missing: 0})
        return e

    what = f"make_{item} with {_items(rule['uses'])} near {' and '.join(rule['nearby'])}"
    why_not = f"no {lacking} nearby" if lacking in STATIONS else f"no {lacking}"
    return _pair(name, f"make_{item}", item_rose(item), edit(None), edit(lacking), what, why_not)


# place scenario -> (the cell faced on success, what the failing variant changes)
PLACES = {"place_table": ("grass", "too_few"), "place_furnace": ("grass", "tree"),
          "place_plant": ("grass", "sand"), "place_stone": ("water", "none")}


def _place(base: dict, world, name: str) -> list[Scenario]:
    thing = name[len("place_"):]
    target, failing = PLACES[name]
    rule = world.rules["place"][thing]

    def edit(cell: str) -> Edit:
        return Edit(base, world.schema).face(0, 1).cell(0, 1, cell).items(**rule["uses"])

    failure = edit(target)
    if failing == "too_few":
        failure.items(**{k: v - 1 for k, v in rule["uses"].items()})
        why_not = "one " + next(iter(rule["uses"])) + " too few"
    elif failing == "none":
        failure.items(**{k: 0 for k in rule["uses"]})
        why_not = f"no {', '.join(rule['uses'])}"
    else:
        failure = edit(failing)
        why_not = f"facing {failing}"
    what = f"place_{thing} facing {target} with {_items(rule['uses'])}"
    return _pair(name, f"place_{thing}", achieved(f"place_{thing}"), edit(target), failure,
                 what, why_not)


def _eat_plant(base: dict, world) -> list[Scenario]:
    def edit(grown: int) -> Edit:
        return (Edit(base, world.schema).face(0, 1).items(food=LOW_FOOD)
                .creature("plant", 0, 1, health=1, grown=grown))

    return _pair("eat_plant", "do", item_rose("food"), edit(RIPE), edit(UNRIPE),
                 "do facing a ripe plant: food +4", "the plant is not ripe")


def _fight(base: dict, world, name: str, kind: str, full: int, check: Check,
           cell: str = "grass", **attrs) -> list[Scenario]:
    def edit(health: int) -> Edit:
        return (Edit(base, world.schema).face(0, 1).items(food=LOW_FOOD)
                .cell(0, 1, cell).creature(kind, 0, 1, health=health, **attrs))

    return _pair(name, "do", check, edit(1), edit(full),
                 f"do facing a {kind} with 1 health", f"the {kind} has full health ({full})")


def _cow_movement(base: dict, world) -> list[Scenario]:
    open_field = Edit(base, world.schema).creature("cow", 3, 0, health=3)
    walled = Edit(base, world.schema).creature("cow", 3, 0, health=3)
    for dx, dy in ((2, 0), (4, 0), (3, -1), (3, 1)):
        walled.cell(dx, dy, "stone")
    return _pair("cow_movement", "noop", creatures_moved("cow"), open_field, walled,
                 "a cow on open grass wanders (half the steps)", "the cow is walled in by stone")


def _random_movement(base: dict, world) -> list[Scenario]:
    free = Edit(base, world.schema).face(-1, 0)
    blocked = Edit(base, world.schema).face(-1, 0).cell(-1, 0, "stone")
    return _pair("random_movement", "move_left", player_moved, free, blocked,
                 "move_left onto grass moves the player", "the cell to the left is stone")


def _wake_up(base: dict, world) -> list[Scenario]:
    def edit(energy: int) -> Edit:
        e = Edit(base, world.schema).items(energy=energy)
        e.player["sleeping"] = True
        return e

    rested, tired = edit(world.rules["items"]["energy"]["max"]), edit(3)
    return _pair("wake_up", "noop", woke_up, rested, tired,
                 "a sleeping player with full energy wakes up", "energy is low: sleeps on")


SCENARIO_NAMES = (
    "collect_wood", "collect_stone", "collect_coal", "collect_iron", "collect_diamond",
    "collect_drink", "craft_wooden_pickaxe", "craft_stone_pickaxe", "craft_iron_pickaxe",
    "craft_wooden_sword", "craft_stone_sword", "craft_iron_sword", "place_table", "place_furnace",
    "place_plant", "place_stone", "eat_plant", "eat_cow", "zombie_defeat", "defeat_skeleton",
    "cow_movement", "random_movement", "wake_up")
COLLECTED = {"collect_wood": "tree", "collect_stone": "stone", "collect_coal": "coal",
             "collect_iron": "iron", "collect_diamond": "diamond", "collect_drink": "water"}


def scenarios(world, seed: int = 0) -> list[Scenario]:
    """The 23 scenarios, success and failing variant each (46), built on the world of `seed`."""
    base = with_seed(base_state(world, seed), seed)
    built: list[Scenario] = []
    for name in SCENARIO_NAMES:
        if name in COLLECTED:
            built += _collect(base, world, name, COLLECTED[name])
        elif name in CRAFTS:
            built += _craft(base, world, name)
        elif name in PLACES:
            built += _place(base, world, name)
        elif name == "eat_plant":
            built += _eat_plant(base, world)
        elif name == "eat_cow":
            built += _fight(base, world, name, "cow", 3, achieved("eat_cow"))
        elif name == "zombie_defeat":
            built += _fight(base, world, name, "zombie", 5, achieved("defeat_zombie"), cooldown=0)
        elif name == "defeat_skeleton":
            built += _fight(base, world, name, "skeleton", 3, achieved("defeat_skeleton"),
                            cell="path", reload=0)
        elif name == "cow_movement":
            built += _cow_movement(base, world)
        elif name == "random_movement":
            built += _random_movement(base, world)
        else:
            built += _wake_up(base, world)
    return built


def _items(counts: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())
