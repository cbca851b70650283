"""States as plain JSON, their grid encoding, and validation against a world schema.

A state is a dict (see docs/trace-format.md):

    {"step": int, "daylight": float,
     "grid": [row_0, ..., row_{H-1}],     # row y is a string of W one-character material codes
     "objects": [{"id": int, "kind": str, "pos": [x, y], ...attributes}, ...],
     "engine": {...}}                      # hidden bookkeeping a world needs to continue exactly

In memory each grid row is plain (`row[x]` is the code of cell (x, y)) and objects are a list of
records in id order. Files may use a compact form of both (what `encode_state` writes): a grid row may
be run-length encoded, a decimal count before a code repeating it ("12~3.T" is 12 water, 3 grass, a
tree), and objects may be grouped by kind in columns, `{"cow": {"id": [4, 9], "pos": [[3, 1], [7, 2]],
"health": [3, 3]}}`. The plain form is valid in files too, which is what hand-written files use.
A schema (in the trace header) names the materials with their codes, the actions, the inventory
items, each object kind's attributes with types and ranges, the globals and the engine fields.
"""

from __future__ import annotations

import re
from typing import Any

from lawsmith.envs.errors import TraceError
from lawsmith.envs.schema import MAX_GRID_SIDE

_RUN = re.compile(r"(\d*)(\D)")
_DIRECTIONS = ([-1, 0], [1, 0], [0, -1], [0, 1], [0, 0])


def encode_row(row: str) -> str:
    """Run-length encode one plain grid row (runs of 3 or more become `<count><code>`)."""
    out = []
    i, n = 0, len(row)
    while i < n:
        j = i + 1
        while j < n and row[j] == row[i]:
            j += 1
        run = j - i
        out.append(f"{run}{row[i]}" if run >= 3 else row[i] * run)
        i = j
    return "".join(out)


def decode_row(text: str) -> str:
    """Expand a run-length encoded row; a plain row decodes to itself. A row that would expand
    beyond MAX_GRID_SIDE cells is refused before it is built (a run of 10^12 is not a row)."""
    if not any(c.isdigit() for c in text):
        return text
    runs = _RUN.findall(text)
    total = 0
    for count, _ in runs:
        total += int(count) if count and len(count) <= 6 else MAX_GRID_SIDE + 1 if count else 1
        if total > MAX_GRID_SIDE:
            raise TraceError(f"a run-length encoded row longer than {MAX_GRID_SIDE} cells "
                             "(the largest grid side)")
    return "".join(code * (int(count) if count else 1) for count, code in runs)


def encode_state(state: dict) -> dict:
    """The compact file form of an in-memory state: encoded grid rows, objects in columns."""
    columns: dict[str, dict[str, list]] = {}
    for obj in state["objects"]:
        table = columns.setdefault(obj["kind"], {})
        for key, value in obj.items():
            if key != "kind":
                table.setdefault(key, []).append(value)
    return {**state, "grid": [encode_row(r) for r in state["grid"]], "objects": columns}


def decode_state(state: Any) -> Any:
    """The in-memory form of a state read from a file (plain or compact), for validation next.

    Malformed parts are left as they are, for `validate_state` to report with their field.
    """
    if not isinstance(state, dict):
        return state
    state = dict(state)
    grid = state.get("grid")
    if isinstance(grid, list) and all(isinstance(r, str) for r in grid):
        rows = []
        for y, row in enumerate(grid):
            try:
                rows.append(decode_row(row))
            except TraceError as error:
                raise error.located(prefix=f"grid[{y}]") from None
        state["grid"] = rows
    objects = state.get("objects")
    if isinstance(objects, dict):
        state["objects"] = _decode_columns(objects)
    return state


def _decode_columns(columns: dict) -> list[dict]:
    records = []
    for kind, table in columns.items():
        if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
            raise TraceError("expected columns: an object of equal-length lists",
                             field=f"objects.{kind}")
        lengths = {len(v) for v in table.values()}
        if len(lengths) > 1:
            raise TraceError(f"columns of different lengths {sorted(lengths)}",
                             field=f"objects.{kind}")
        names = list(table)
        for row in zip(*table.values()):
            records.append({"kind": kind, **dict(zip(names, row))})
    ids = [r.get("id") for r in records]
    if all(isinstance(i, int) for i in ids):
        records.sort(key=lambda r: r["id"])
    return records


def material_at(state: dict, schema: dict, x: int, y: int) -> str | None:
    """The material name of cell (x, y), or None outside the grid."""
    grid = state["grid"]
    if not (0 <= y < len(grid) and 0 <= x < len(grid[y])):
        return None
    return schema_code_names(schema)[grid[y][x]]


def schema_code_names(schema: dict) -> dict[str, str]:
    """Map from one-character code to material name."""
    return {code: name for name, code in schema["materials"].items()}


def find_player(state: dict) -> dict:
    """The object of kind `player` (a state has exactly one)."""
    for obj in state["objects"]:
        if obj["kind"] == "player":
            return obj
    raise TraceError("no object of kind 'player'", field="objects")


# --- validation -------------------------------------------------------------------------------

def validate_state(state: Any, schema: dict) -> None:
    """Raise TraceError (with a field path) unless `state` is a well-formed in-memory state."""
    if not isinstance(state, dict):
        raise TraceError(f"expected an object, got {_type_name(state)}")
    for key in ("step", "grid", "objects"):
        if key not in state:
            raise TraceError(f"missing field '{key}'", field=key)
    # The schema's globals are top-level fields too (a relabelled world renames `daylight`).
    unknown = set(state) - {"step", "daylight", "grid", "objects", "engine",
                            *schema.get("globals", {})}
    if unknown:
        raise TraceError(f"unknown field '{sorted(unknown)[0]}'", field=sorted(unknown)[0])
    for name, spec in schema.get("globals", {}).items():
        if name not in state:
            raise TraceError(f"missing field '{name}'", field=name)
        _check_at(state[name], spec, schema, name)
    _check_grid(state["grid"], schema)
    _check_objects(state["objects"], schema)
    engine_spec = schema.get("engine", {})
    if engine_spec:
        engine = state.get("engine")
        if not isinstance(engine, dict):
            raise TraceError("missing field 'engine' (an object)", field="engine")
        for name, spec in engine_spec.items():
            if name not in engine:
                raise TraceError(f"missing field '{name}'", field=f"engine.{name}")
            _check_at(engine[name], spec, schema, f"engine.{name}")


def _check_grid(grid: Any, schema: dict) -> None:
    width, height = schema["grid"]["width"], schema["grid"]["height"]
    if not isinstance(grid, list) or len(grid) != height:
        raise TraceError(f"expected a list of {height} row strings", field="grid")
    codes = set(schema["materials"].values())
    for y, row in enumerate(grid):
        if not isinstance(row, str) or len(row) != width:
            got = len(row) if isinstance(row, str) else _type_name(row)
            raise TraceError(f"expected a row of {width} cells, got {got}", field=f"grid[{y}]")
        bad = set(row) - codes
        if bad:
            code = sorted(bad)[0]
            raise TraceError(f"unknown material code {code!r} at x={row.index(code)}"
                             f" (known: {''.join(sorted(codes))})", field=f"grid[{y}]")


def _check_objects(objects: Any, schema: dict) -> None:
    if not isinstance(objects, list):
        raise TraceError("expected a list of objects", field="objects")
    kinds = schema["kinds"]
    seen_ids: set[int] = set()
    players = 0
    for i, obj in enumerate(objects):
        where = f"objects[{i}]"
        if not isinstance(obj, dict):
            raise TraceError(f"expected an object, got {_type_name(obj)}", field=where)
        kind = obj.get("kind")
        if kind not in kinds:
            raise TraceError(f"unknown kind {kind!r} (known: {', '.join(kinds)})",
                             field=f"{where}.kind")
        players += kind == "player"
        oid = obj.get("id")
        if not isinstance(oid, int) or isinstance(oid, bool) or oid < 0:
            raise TraceError("expected a non-negative integer id", field=f"{where}.id")
        if oid in seen_ids:
            raise TraceError(f"duplicate object id {oid}", field=f"{where}.id")
        seen_ids.add(oid)
        attrs = kinds[kind]
        for name, spec in attrs.items():
            if name not in obj:
                raise TraceError(f"missing attribute '{name}' of a {kind}", field=f"{where}.{name}")
            _check_at(obj[name], spec, schema, f"{where}.{name}")
        extra = set(obj) - set(attrs) - {"id", "kind"}
        if extra:
            name = sorted(extra)[0]
            raise TraceError(f"unknown attribute '{name}' of a {kind} (known: {', '.join(attrs)})",
                             field=f"{where}.{name}")
    if players != 1:
        raise TraceError(f"expected exactly one player object, found {players}", field="objects")


def _check_at(value: Any, spec: dict, schema: dict, field: str) -> None:
    """Check one value; errors are located at `field` (built only when there is an error)."""
    try:
        _check_value(value, spec, schema)
    except TraceError as error:
        raise error.located(prefix=field) from None


def _check_value(value: Any, spec: dict, schema: dict) -> None:
    """Check one value against its type; an error's field is relative to the value (or None)."""
    kind = spec["type"]
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise TraceError(f"expected an integer, got {_type_name(value)}")
        _check_range(value, spec)
    elif kind == "float":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            raise TraceError(f"expected a number, got {_type_name(value)}")
        _check_range(value, spec)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise TraceError(f"expected true or false, got {_type_name(value)}")
    elif kind == "pos":
        width, height = schema["grid"]["width"], schema["grid"]["height"]
        if not (_is_int_pair(value) and 0 <= value[0] < width and 0 <= value[1] < height):
            raise TraceError(f"expected [x, y] inside the {width}x{height} grid, got {value!r}")
    elif kind == "dir":
        if not _is_int_pair(value) or list(value) not in _DIRECTIONS:
            raise TraceError(f"expected a direction [dx, dy] (one of {_DIRECTIONS}), got {value!r}")
    elif kind == "counts":
        keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
        if not isinstance(value, dict):
            raise TraceError(f"expected an object of counts, got {_type_name(value)}")
        for key in keys:
            if key not in value:
                raise TraceError(f"missing key '{key}'", field=key)
        for key, count in value.items():
            if key not in keys:
                raise TraceError(f"unknown key '{key}'", field=key)
            if not isinstance(count, int) or isinstance(count, bool):
                raise TraceError(f"expected an integer, got {_type_name(count)}", field=key)
            item = schema["items"].get(key, {}) if spec["keys"] == "items" else {}
            low, high = item.get("min", 0), item.get("max", spec.get("max"))
            if count < low or (high is not None and count > high):
                raise TraceError(f"value {count} outside [{low}, {high}]", field=key)
    elif kind == "cells":
        if not isinstance(value, list) or not all(_is_int_pair(v) for v in value):
            raise TraceError("expected a list of [x, y] pairs")
    else:
        raise TraceError(f"schema has unknown attribute type {kind!r}")


def _check_range(value: float, spec: dict) -> None:
    low, high = spec.get("min"), spec.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise TraceError(f"value {value} outside [{low}, {high}]")


def _is_int_pair(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value))


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                            type(value).__name__)
