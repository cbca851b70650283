"""A small grid world for fast tests, in the same state and trace format as Crafter.

An 8x8 field walled in, with bushes, a pond and sheep. Rules, all deterministic but one:
- `move_<dir>` turns the player that way and steps onto grass if no object stands there;
- `do` facing water: drink +1; facing a sheep: its health -1, and at 0 it disappears and meat +1;
- `do` facing a bush: berry +1 **with probability `berry_prob` (0.3)**, the one stochastic rule;
- each sheep walks one cell along its facing each step, and turns around when the cell ahead is blocked.
Items are capped at 9. Randomness comes from (engine.seed, step) like the Crafter world.
"""

from __future__ import annotations

import copy

import numpy as np

from lawsmith.envs.crafter_world import reseed
from lawsmith.envs.errors import TraceError
from lawsmith.envs.state import validate_state

SIZE = 8
MATERIALS = {"grass": ".", "wall": "#", "bush": "b", "water": "~"}
ACTIONS = ["noop", "move_left", "move_right", "move_up", "move_down", "do"]
ITEMS = {"berry": 0, "drink": 0, "meat": 0}
ITEM_MAX = 9
SHEEP_HEALTH = 2
BERRY_PROB = 0.3
_MOVES = {"move_left": [-1, 0], "move_right": [1, 0], "move_up": [0, -1], "move_down": [0, 1]}


def toy_schema() -> dict:
    pos = {"type": "pos"}
    return {
        "grid": {"width": SIZE, "height": SIZE},
        "materials": dict(MATERIALS),
        "walkable": ["grass"],
        "actions": list(ACTIONS),
        "items": {name: {"min": 0, "max": ITEM_MAX, "initial": initial}
                  for name, initial in ITEMS.items()},
        "kinds": {
            "player": {"pos": pos, "facing": {"type": "dir"},
                       "inventory": {"type": "counts", "keys": "items"}},
            "sheep": {"pos": pos, "facing": {"type": "dir"},
                      "health": {"type": "int", "min": 1, "max": SHEEP_HEALTH}},
        },
        "globals": {"step": {"type": "int", "min": 0}},
        "engine": {"seed": {"type": "int", "min": 0}, "next_id": {"type": "int", "min": 1}},
    }


class ToyWorld:
    """The toy world with the same interface as CrafterWorld (reset, step, transition, schema)."""

    name = "toy"
    health = None   # the toy player cannot be hurt

    def __init__(self, berry_prob: float = BERRY_PROB):
        self.berry_prob = berry_prob
        self.schema = toy_schema()
        self.actions = list(ACTIONS)
        self.rules = {"berry_prob": berry_prob}
        self._state: dict | None = None
        self._random = np.random.RandomState(0)

    def config(self) -> dict:
        return {"area": [SIZE, SIZE]}

    def reset(self, seed: int) -> dict:
        random = np.random.RandomState(seed)
        grid = [["#" if x in (0, SIZE - 1) or y in (0, SIZE - 1) else "." for x in range(SIZE)]
                for y in range(SIZE)]
        inner = [(x, y) for y in range(1, SIZE - 1) for x in range(1, SIZE - 1)
                 if (x, y) != (SIZE // 2, SIZE // 2)]
        picks = random.permutation(len(inner))
        cells = [inner[i] for i in picks]
        for x, y in cells[:4]:
            grid[y][x] = "b"
        for x, y in cells[4:6]:
            grid[y][x] = "~"
        objects = [{"id": 1, "kind": "player", "pos": [SIZE // 2, SIZE // 2], "facing": [0, 1],
                    "inventory": dict(ITEMS)}]
        for i, (x, y) in enumerate(cells[6:8]):
            facing = [[-1, 0], [1, 0], [0, -1], [0, 1]][random.randint(4)]
            objects.append({"id": 2 + i, "kind": "sheep", "pos": [x, y], "facing": facing,
                            "health": SHEEP_HEALTH})
        self._state = {"step": 0, "grid": ["".join(row) for row in grid], "objects": objects,
                       "engine": {"seed": int(seed), "next_id": 2 + len(objects) - 1}}
        return copy.deepcopy(self._state)

    def load(self, state: dict, validate: bool = True) -> None:
        if validate:
            validate_state(state, self.schema)
        self._state = copy.deepcopy(state)

    def export(self) -> dict:
        return copy.deepcopy(self._state)

    def step(self, action: str) -> tuple[dict, str | None]:
        if action not in self.actions:
            raise TraceError(f"unknown action '{action}' (known: {', '.join(self.actions)})",
                             field="action")
        if self._state is None:
            raise TraceError("reset() or load() the world before stepping")
        self._state = self._next(self._state, action)
        return copy.deepcopy(self._state), None

    def transition(self, state: dict, action: str) -> dict:
        self.load(state)
        return self.step(action)[0]

    def _next(self, state: dict, action: str) -> dict:
        state = copy.deepcopy(state)
        reseed(self._random, state["engine"]["seed"], state["step"])
        grid = [list(row) for row in state["grid"]]
        objects = state["objects"]
        player = next(o for o in objects if o["kind"] == "player")
        occupied = {tuple(o["pos"]): o for o in objects}
        inventory = player["inventory"]
        if action in _MOVES:
            player["facing"] = list(_MOVES[action])
            target = _ahead(player)
            if _walkable(grid, target) and target not in occupied:
                player["pos"] = list(target)
        elif action == "do":
            tx, ty = _ahead(player)
            if (tx, ty) in occupied:
                sheep = occupied[(tx, ty)]
                sheep["health"] -= 1
                if sheep["health"] <= 0:
                    objects.remove(sheep)
                    inventory["meat"] = min(ITEM_MAX, inventory["meat"] + 1)
            elif grid[ty][tx] == "~":
                inventory["drink"] = min(ITEM_MAX, inventory["drink"] + 1)
            elif grid[ty][tx] == "b" and self._random.uniform() < self.berry_prob:
                inventory["berry"] = min(ITEM_MAX, inventory["berry"] + 1)
        occupied = {tuple(o["pos"]) for o in objects}
        for sheep in objects:
            if sheep["kind"] != "sheep":
                continue
            target = _ahead(sheep)
            if not _walkable(grid, target) or target in occupied:
                sheep["facing"] = [-sheep["facing"][0], -sheep["facing"][1]]
            else:
                occupied.discard(tuple(sheep["pos"]))
                sheep["pos"] = list(target)
                occupied.add(target)
        state["step"] += 1
        state["grid"] = ["".join(row) for row in grid]
        return state


def _ahead(obj: dict) -> tuple[int, int]:
    return obj["pos"][0] + obj["facing"][0], obj["pos"][1] + obj["facing"][1]


def _walkable(grid: list[list[str]], cell: tuple[int, int]) -> bool:
    x, y = cell
    return 0 <= y < len(grid) and 0 <= x < len(grid[y]) and grid[y][x] == "."
