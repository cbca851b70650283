"""The real Crafter (PyPI `crafter` 1.8.3) behind state export/import and a pure transition function.

Crafter's rules are not reimplemented here: a live `crafter.Env` steps the world, and this module only
moves its full state (map, objects with their hidden fields, player counters, RNG seed) to and from
the plain JSON form of docs/trace-format.md.

Two things make stock Crafter runs differ between processes, and both are fixed without changing any
rule's probabilities:
- chunk balancing picks a creature to despawn from a list built from a Python `set`, whose order follows
  memory addresses: here chunks are visited in sorted order and their creatures in object-id order;
- night rendering draws noise from the world's RNG: here rendering never touches it.
In addition the world RNG is reseeded at the start of every step from (episode seed, step). Every draw
is still uniform, so each rule keeps its probabilities; what it buys is a state whose randomness is one
integer, so that `transition(state, action)` is a pure function of plain data.
"""

from __future__ import annotations

import collections
import functools
import json
from typing import Any

import crafter
import numpy as np
from crafter import engine, objects

from lawsmith.envs import rules as rules_mod
from lawsmith.envs.errors import TraceError
from lawsmith.envs.state import validate_state

MATERIAL_CODES = {"water": "~", "grass": ".", "stone": "#", "path": "_", "sand": ":", "tree": "T",
                  "lava": "!", "coal": "c", "iron": "i", "diamond": "d", "table": "t",
                  "furnace": "f"}
# Codes for materials a rules variant adds, in order.
SPARE_CODES = "ABCDEFGHIJKLMNOPQRSUVWXYZabeghjklmnopqrsuvwxyz"
CHUNK = (12, 12)
KIND_CLASSES = {"player": objects.Player, "cow": objects.Cow, "zombie": objects.Zombie,
                "skeleton": objects.Skeleton, "arrow": objects.Arrow, "plant": objects.Plant,
                "fence": objects.Fence}
CLASS_KINDS = {cls: kind for kind, cls in KIND_CLASSES.items()}


def material_codes(materials: list[str]) -> dict[str, str]:
    """One-character code per material, in crafter's id order."""
    spare = iter(SPARE_CODES)
    return {name: MATERIAL_CODES.get(name) or next(spare) for name in materials}


def crafter_schema(rules: dict, area: tuple[int, int] = (64, 64)) -> dict:
    """The schema of Crafter states under `rules` (see docs/trace-format.md)."""
    health = {"type": "int", "min": 0, "max": 9}
    pos = {"type": "pos"}
    return {
        "grid": {"width": area[0], "height": area[1]},
        "materials": material_codes(rules["materials"]),
        "walkable": list(rules["walkable"]),
        "actions": list(rules["actions"]),
        "items": {name: {"min": 0, "max": info["max"], "initial": info["initial"]}
                  for name, info in rules["items"].items()},
        "kinds": {
            "player": {
                "pos": pos, "facing": {"type": "dir"}, "sleeping": {"type": "bool"},
                "inventory": {"type": "counts", "keys": "items"},
                "achievements": {"type": "counts", "keys": list(rules["achievements"])},
                "hunger": {"type": "float", "min": 0, "max": 25, "hidden": True},
                "thirst": {"type": "float", "min": 0, "max": 20, "hidden": True},
                "fatigue": {"type": "float", "min": -10, "max": 30, "hidden": True},
                "recover": {"type": "float", "min": -15, "max": 25, "hidden": True},
                "last_health": {**health, "hidden": True},
            },
            "cow": {"pos": pos, "health": {"type": "int", "min": 0, "max": 3}},
            "zombie": {"pos": pos, "health": {"type": "int", "min": 0, "max": 5},
                       "cooldown": {"type": "int", "min": 0, "max": 5, "hidden": True}},
            "skeleton": {"pos": pos, "health": {"type": "int", "min": 0, "max": 3},
                         "reload": {"type": "int", "min": 0, "max": 4, "hidden": True}},
            "arrow": {"pos": pos, "facing": {"type": "dir"}},
            "plant": {"pos": pos, "health": {"type": "int", "min": 0, "max": 1},
                      "grown": {"type": "int", "min": 0, "hidden": True}},
            "fence": {"pos": pos},
        },
        "globals": {"step": {"type": "int", "min": 0}, "daylight": {"type": "float", "min": 0,
                                                                    "max": 1}},
        "engine": {"seed": {"type": "int", "min": 0}, "next_id": {"type": "int", "min": 1},
                   "chunks": {"type": "cells"}},
    }


class _OrderedWorld(engine.World):
    """crafter's World, with chunks visited in sorted order and their objects in id order."""

    @property
    def chunks(self):
        return {key: sorted(objs, key=self._index_of) for key, objs in sorted(self._chunks.items())}

    def _index_of(self, obj) -> int:
        return int(self._obj_map[tuple(obj.pos)])


class _Env(crafter.Env):
    """crafter.Env without observation rendering, with per-step reseeding and swappable rules."""

    def __init__(self, rules: dict, area: tuple[int, int], seed: int, length: int | None):
        self._rules = rules
        with rules_mod.applied(rules):
            super().__init__(area=area, seed=seed, length=length, reward=False)
        self._world.__class__ = _OrderedWorld
        self.world_seed = 0

    def reset(self):
        with rules_mod.applied(self._rules):
            super().reset()
        self.world_seed = hash((self._seed, self._episode)) % (2 ** 31 - 1)

    def step(self, action: int):
        reseed(self._world.random, self.world_seed, self._step)
        with rules_mod.applied(self._rules):
            return super().step(action)

    def render(self, size=None):
        # Night noise draws from the world RNG; leave it where it was.
        saved = self._world.random.get_state()
        try:
            with rules_mod.applied(self._rules):
                return super().render(size)
        finally:
            self._world.random.set_state(saved)

    def _obs(self):
        return None


def reseed(random: np.random.RandomState, seed: int, step: int) -> None:
    """Reseed `random` in place (objects hold a reference to it) for the given step."""
    random.seed([seed % 2 ** 32, step % 2 ** 32])


class CrafterWorld:
    """A live Crafter world that speaks the plain state form.

    `reset(seed)` generates a world exactly as stock Crafter does for that seed; `step(action)` advances
    it; `export()` and `load(state)` move the whole world to and from a state dict; `transition(state,
    action)` is the pure function load -> step -> export (it replaces this object's live world).
    """

    name = "crafter"
    # The player's own health (a counts key of `inventory`): the one fact an unguided explorer may
    # be told (synth/curious.py), since a life ends when it reaches 0.
    health = "inventory.health"

    def __init__(self, rules: dict | None = None, area: tuple[int, int] = (64, 64),
                 length: int | None = None):
        self.rules = rules if rules is not None else rules_mod.load_rules(None)
        self.area = tuple(area)
        self.schema = crafter_schema(self.rules, self.area)
        self.actions: list[str] = list(self.rules["actions"])
        self._action_index = {name: i for i, name in enumerate(self.actions)}
        self._env = _Env(self.rules, self.area, seed=0, length=length)
        codes = self.schema["materials"]
        ids = self._env._world._mat_ids
        self._id_to_code = np.full(256, ord("?"), np.uint8)
        self._code_to_id = np.zeros(256, np.uint8)
        for name, code in codes.items():
            self._id_to_code[ids[name]] = ord(code)
            self._code_to_id[ord(code)] = ids[name]

    def config(self) -> dict:
        """What a trace header records about this world."""
        return {"area": list(self.area)}

    def reset(self, seed: int) -> dict:
        """Generate the world for `seed` (as stock `crafter.Env(seed=seed).reset()` does)."""
        self._env._seed = seed
        self._env._episode = 0
        self._env.reset()
        return self.export()

    def step(self, action: str) -> tuple[dict, str | None]:
        """Advance one step; return the new state and why the episode ended ('dead', or None)."""
        index = self._action_index.get(action)
        if index is None:
            raise TraceError(f"unknown action '{action}' (known: {', '.join(self.actions)})",
                             field="action")
        self._env.step(index)
        state = self.export()
        return state, ("dead" if self._env._player.health <= 0 else None)

    def transition(self, state: dict, action: str) -> dict:
        """The next state after `action` in `state`; `state` is not modified."""
        self.load(state)
        return self.step(action)[0]

    def render(self, size: int = 256) -> np.ndarray:
        """An RGB picture of the live world around the player (does not change the world)."""
        return self._env.render((size, size))

    # --- export -------------------------------------------------------------------------------

    def export(self) -> dict:
        """The live world as a state dict (fresh data, safe to keep)."""
        env, world = self._env, self._env._world
        codes = self._id_to_code[world._mat_map.T]
        grid = [row.tobytes().decode("ascii") for row in codes]
        exported = []
        for index, obj in enumerate(world._objects):
            if obj is not None:
                exported.append(_export_object(index, obj))
        return {
            "step": int(env._step),
            "daylight": float(world.daylight),
            "grid": grid,
            "objects": exported,
            "engine": {"seed": int(env.world_seed), "next_id": len(world._objects),
                       "chunks": [[int(xmin), int(ymin)] for xmin, _, ymin, _ in sorted(world._chunks)]},
        }

    # --- import -------------------------------------------------------------------------------

    def load(self, state: dict, validate: bool = True) -> None:
        """Make the live world exactly the one `state` describes."""
        if validate:
            validate_state(state, self.schema)
        env, world = self._env, self._env._world
        width, height = self.area
        codes = np.frombuffer("".join(state["grid"]).encode("ascii"), np.uint8)
        world._mat_map[:] = self._code_to_id[codes].reshape(height, width).T
        world._obj_map[:] = 0
        engine_state = state["engine"]
        world._objects = [None] * engine_state["next_id"]
        world._chunks = collections.defaultdict(set)
        for xmin, ymin in engine_state["chunks"]:
            world._chunks[world.chunk_key((xmin, ymin))]
        records = sorted(state["objects"], key=lambda o: o["kind"] != "player")
        player = None
        for record in records:
            obj = _import_object(world, record, player)
            if record["kind"] == "player":
                player = obj
            index, pos = record["id"], tuple(obj.pos)
            if index >= len(world._objects):
                raise TraceError(f"object id {index} is not below engine.next_id "
                                 f"{len(world._objects)}", field="objects")
            if world._obj_map[pos]:
                raise TraceError(f"two objects at {list(pos)}", field="objects")
            world._objects[index] = obj
            world._obj_map[pos] = index
            world._chunks[world.chunk_key(obj.pos)].add(obj)
        env._player = player
        env._step = state["step"]
        env._update_time()
        env._last_health = player.health
        env._unlocked = {name for name, count in player.achievements.items() if count > 0}
        env.world_seed = engine_state["seed"]


def _num(value: Any) -> int | float:
    """A JSON number that keeps crafter's int/float distinction (its counters mix both)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(value)
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _export_object(index: int, obj) -> dict:
    kind = CLASS_KINDS[type(obj)]
    record = {"id": index, "kind": kind, "pos": [int(obj.pos[0]), int(obj.pos[1])]}
    if kind == "player":
        record.update(
            facing=[int(obj.facing[0]), int(obj.facing[1])], sleeping=bool(obj.sleeping),
            inventory={k: int(v) for k, v in obj.inventory.items()},
            achievements={k: int(v) for k, v in obj.achievements.items()},
            hunger=_num(obj._hunger), thirst=_num(obj._thirst), fatigue=_num(obj._fatigue),
            recover=_num(obj._recover), last_health=int(obj._last_health))
    elif kind == "arrow":
        record["facing"] = [int(obj.facing[0]), int(obj.facing[1])]
    elif kind != "fence":
        record["health"] = int(obj.health)
        if kind == "zombie":
            record["cooldown"] = int(obj.cooldown)
        elif kind == "skeleton":
            record["reload"] = int(obj.reload)
        elif kind == "plant":
            record["grown"] = int(obj.grown)
    return record


def _import_object(world, record: dict, player):
    kind, pos = record["kind"], record["pos"]
    cls = KIND_CLASSES[kind]
    if kind == "player":
        obj = cls(world, pos)
        obj.facing = tuple(record["facing"])
        obj.sleeping = record["sleeping"]
        obj.inventory = dict(record["inventory"])
        obj.achievements = dict(record["achievements"])
        obj._hunger, obj._thirst = record["hunger"], record["thirst"]
        obj._fatigue, obj._recover = record["fatigue"], record["recover"]
        obj._last_health = record["last_health"]
        return obj
    if player is None:
        raise TraceError("the player must be listed before creatures can refer to it",
                         field="objects")
    if kind in ("zombie", "skeleton"):
        obj = cls(world, pos, player)
    elif kind == "arrow":
        obj = cls(world, pos, np.array(record["facing"]))
    else:
        obj = cls(world, pos)
    if "health" in record:
        obj.health = record["health"]
    for name in ("cooldown", "reload", "grown"):
        if name in record:
            setattr(obj, name, record[name])
    return obj


@functools.lru_cache(maxsize=8)
def _shared_world(rules_key: str) -> CrafterWorld:
    return CrafterWorld(json.loads(rules_key))


_DEFAULT_RULES_KEY = json.dumps(rules_mod.DEFAULT_RULES, sort_keys=True)


def transition(state: dict, action: str, rules: dict | None = None) -> dict:
    """Pure Crafter transition: the state after `action` in `state` (same input, same output)."""
    key = _DEFAULT_RULES_KEY if rules is None else json.dumps(rules, sort_keys=True)
    return _shared_world(key).transition(state, action)
