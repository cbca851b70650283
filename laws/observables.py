"""Observables: the named parts of a next state that a world model predicts.

Names are the DSL's (`dsl.predictions`): `player.pos`, `player.inventory.wood`, `cow[7].health`,
`cow[7].exists`, `grid[12,30]`, `spawn.zombie[12,30]`. Each observable belongs to a **class** (the
same name without the object id or cell: `player.inventory.wood`, `cow.health`, `cow.exists`, `grid`,
`spawn.zombie`) which shares the probability of an unexplained change, and has a **domain size** (how
many values it could take) that the noise floor and the unexplained-change term spread over.

Values are plain and hashable: numbers, booleans, (x, y) tuples, material names.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, Iterator

from lawsmith.dsl.predictions import (cell_observable, exists_observable, field_observable,
                             spawn_observable)

# A nominal domain size for integers and floats with no upper bound (the noise floor spreads over it).
UNBOUNDED_DOMAIN = 1000
_NAME = re.compile(r"^(?:(?P<kind>[A-Za-z_]\w*)\[(?P<id>\d+)\]|(?P<player>player))"
                   r"\.(?P<attr>\w+)(?:\.(?P<key>\w+))?$")
_CELL = re.compile(r"^grid\[(?P<x>\d+),(?P<y>\d+)\]$")
_SPAWN = re.compile(r"^spawn\.(?P<kind>\w+)\[(?P<x>\d+),(?P<y>\d+)\]$")


@dataclasses.dataclass(frozen=True)
class Observable:
    """A parsed observable name. `what` is 'field', 'exists', 'cell' or 'spawn'."""
    name: str
    what: str
    kind: str | None = None
    object_id: int | None = None
    attr: str | None = None
    key: str | None = None
    cell: tuple[int, int] | None = None

    @property
    def group(self) -> str:
        """The observable's class: its name without object id or cell."""
        if self.what == "cell":
            return "grid"
        if self.what == "spawn":
            return f"spawn.{self.kind}"
        if self.what == "exists":
            return f"{self.kind}.exists"
        return f"{self.kind}.{self.attr}" + (f".{self.key}" if self.key else "")


@functools.lru_cache(maxsize=200_000)
def parse_observable(name: str) -> Observable:
    """The parts of an observable name (cached: the same names recur in every transition)."""
    match = _CELL.match(name)
    if match:
        return Observable(name, "cell", cell=(int(match["x"]), int(match["y"])))
    match = _SPAWN.match(name)
    if match:
        return Observable(name, "spawn", kind=match["kind"], cell=(int(match["x"]), int(match["y"])))
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"not an observable name: {name!r}")
    kind = "player" if match["player"] else match["kind"]
    object_id = None if match["player"] else int(match["id"])
    if match["attr"] == "exists" and match["key"] is None and kind != "player":
        return Observable(name, "exists", kind=kind, object_id=object_id)
    return Observable(name, "field", kind=kind, object_id=object_id, attr=match["attr"],
                      key=match["key"])


class StateView:
    """Fast lookups into one plain state: objects by id, the player, material names of cells."""

    def __init__(self, state: dict, schema: dict):
        self.state = state
        self.by_id = {obj["id"]: obj for obj in state["objects"]}
        self.player = next(obj for obj in state["objects"] if obj["kind"] == "player")
        self._names = {code: name for name, code in schema["materials"].items()}

    def material(self, x: int, y: int) -> str | None:
        grid = self.state["grid"]
        if 0 <= y < len(grid) and 0 <= x < len(grid[y]):
            return self._names[grid[y][x]]
        return None

    def value(self, observable: Observable, before: "StateView | None" = None) -> Any:
        """The observable's value in this state; `before` (the previous state) tells spawns apart.

        A field of an object that is not in this state has no value (None).
        """
        if observable.what == "cell":
            return self.material(*observable.cell)
        if observable.what == "spawn":
            old_ids = before.by_id if before is not None else {}
            return any(obj["kind"] == observable.kind and tuple(obj["pos"]) == observable.cell
                       and obj["id"] not in old_ids for obj in self.state["objects"])
        obj = self.player if observable.kind == "player" else self.by_id.get(observable.object_id)
        if observable.what == "exists":
            return obj is not None and obj["kind"] == observable.kind
        if obj is None:
            return None
        return plain(obj[observable.attr] if observable.key is None
                     else obj[observable.attr][observable.key])


def plain(value: Any) -> Any:
    """A hashable value: lists (positions, directions) become tuples."""
    return tuple(value) if isinstance(value, list) else value


def domain_size(observable: Observable, schema: dict) -> int:
    """How many values the observable can take (unbounded numbers get UNBOUNDED_DOMAIN)."""
    if observable.what == "cell":
        return len(schema["materials"])
    if observable.what in ("exists", "spawn"):
        return 2
    spec = schema["kinds"][observable.kind][observable.attr]
    kind = spec["type"]
    if kind == "pos":
        return schema["grid"]["width"] * schema["grid"]["height"]
    if kind == "dir":
        return 5
    if kind == "bool":
        return 2
    if kind == "counts":
        item = schema["items"].get(observable.key, {}) if spec["keys"] == "items" else {}
        low, high = item.get("min", 0), item.get("max", spec.get("max"))
        return UNBOUNDED_DOMAIN if high is None else int(high - low + 1)
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None:   # a float counts its whole-number values
        return int(math.floor(high) - math.ceil(low) + 1)
    return UNBOUNDED_DOMAIN


# A direction's domain, in order (`domain_values`, and the simulator's domain indices).
DIRECTIONS = [(-1, 0), (1, 0), (0, -1), (0, 1), (0, 0)]


def domain_start(observable: Observable, schema: dict) -> int:
    """The first whole number of a numeric field's domain (its minimum, rounded up; else 0)."""
    spec = schema["kinds"][observable.kind][observable.attr]
    low = (schema["items"].get(observable.key, {}).get("min", 0) if spec["type"] == "counts"
           else spec.get("min", 0))
    return int(math.ceil(low or 0))


def default_value(spec: dict, schema: dict) -> Any:
    """An attribute's value where nothing else gives one (a new object's, without typical values):
    counts at their items' initial values (else 0), positions and directions (0, 0), false, no
    cells, a number at its minimum (else 0)."""
    kind = spec["type"]
    if kind == "counts":
        keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
        return {k: (schema["items"][k].get("initial", 0) if spec["keys"] == "items" else 0)
                for k in keys}
    if kind in ("pos", "dir"):
        return [0, 0]
    if kind == "bool":
        return False
    if kind == "cells":
        return []
    low = spec.get("min", 0) or 0
    return float(low) if kind == "float" else int(math.ceil(low))


def domain_values(observable: Observable, schema: dict) -> list:
    """Every value of the domain, for sampling an unexplained change; an unbounded number's domain
    is the UNBOUNDED_DOMAIN values from its minimum, the same nominal size the noise floor uses."""
    if observable.what == "cell":
        return list(schema["materials"])
    if observable.what in ("exists", "spawn"):
        return [False, True]
    spec = schema["kinds"][observable.kind][observable.attr]
    kind = spec["type"]
    if kind == "pos":
        return [(x, y) for y in range(schema["grid"]["height"])
                for x in range(schema["grid"]["width"])]
    if kind == "dir":
        return list(DIRECTIONS)
    if kind == "bool":
        return [False, True]
    low = domain_start(observable, schema)
    values = range(low, low + domain_size(observable, schema))
    return [float(v) for v in values] if kind == "float" else list(values)


def changed_observables(before: StateView, after: StateView, schema: dict) -> Iterator[Observable]:
    """Every observable whose value differs between two states (spawns: one per new object)."""
    old_grid, new_grid = before.state["grid"], after.state["grid"]
    for y, (old_row, new_row) in enumerate(zip(old_grid, new_grid)):
        if old_row != new_row:
            for x, (a, b) in enumerate(zip(old_row, new_row)):
                if a != b:
                    yield parse_observable(cell_observable(x, y))
    for oid, old in before.by_id.items():
        new = after.by_id.get(oid)
        kind = old["kind"]
        if new is None or new["kind"] != kind:
            if kind != "player":
                yield parse_observable(exists_observable(kind, oid))
            continue
        for attr, spec in schema["kinds"][kind].items():
            if old[attr] == new[attr]:
                continue
            if spec["type"] == "counts":
                for key, value in new[attr].items():
                    if old[attr].get(key) != value:
                        yield parse_observable(field_observable(kind, oid, attr, key))
            else:
                yield parse_observable(field_observable(kind, oid, attr, None))
    for oid, new in after.by_id.items():
        if oid not in before.by_id:
            x, y = new["pos"]
            yield parse_observable(spawn_observable(new["kind"], x, y))
