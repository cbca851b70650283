"""Back end 2: checked laws over a batch of N states at once, as torch tensors (fitting, fast simulation).

A batch (`encode_batch`) holds, for N (state, action) pairs:
- `grid`   [N, H, W] int8: material index per cell (schema `materials` order);
- `action` [N] long: action index (schema `actions` order);
- `globals[name]` [N]: `step`, `daylight`...;
- `tables[kind]`: the objects of each kind, padded to M (the most in any state): `ids` [N, M] (-1 in
  padding), `mask` [N, M], and `fields[(attr, key)]` [N, M] (int64, float64 or bool) or [N, M, 2]
  (positions, directions); `key` names a counts entry (`("inventory", "wood")`), else None.

`TorchLaws.predict(batch)` gives one `LawOutput` per law: a precondition mask ([N], or [N, M] for
`for each` laws), and per effect the outcome tensors (`values` [..., K]), the value kept when a
chance fails (`old`), where it applies (`valid`) and its labels/probability/parameter name.
`decode` turns them into the Python back end's `Firing` lists, which is how the two are compared.

Expressions are evaluated with one tensor axis per bound object: a law about each cow works on
[N, M_cow], an `exists(zombie z ...)` inside it on [N, M_cow, M_zombie] and reduces the last axis.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from lawsmith.dsl import ast, ir
from lawsmith.dsl.check import resolve
from lawsmith.dsl.compile_py import combine
from lawsmith.dsl.predictions import (Firing, cell_observable, distribution, exists_observable,
                             field_observable, spawn_observable)

_DTYPES = {ir.INT: torch.int64, ir.FLOAT: torch.float64, ir.BOOL: torch.bool}


@dataclass
class Table:
    """The objects of one kind across a batch, padded to M per state."""
    ids: torch.Tensor
    mask: torch.Tensor
    fields: dict[tuple[str, str | None], torch.Tensor]


@dataclass
class Batch:
    """N states with their actions, as tensors (see the module docstring for shapes)."""
    grid: torch.Tensor
    action: torch.Tensor
    globals: dict[str, torch.Tensor]
    tables: dict[str, Table]
    # Derived tensors that evaluators may share (`near`'s summed-area tables), per batch.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return self.grid.shape[0]

    def to(self, device) -> "Batch":
        """The same states on `device`."""
        return Batch(self.grid.to(device), self.action.to(device),
                     {k: v.to(device) for k, v in self.globals.items()},
                     {k: Table(t.ids.to(device), t.mask.to(device),
                               {f: c.to(device) for f, c in t.fields.items()})
                      for k, t in self.tables.items()})

    def select(self, index: torch.Tensor, action: torch.Tensor | None = None) -> "Batch":
        """The states at `index` (rows may repeat), with `action` [len(index)] if given."""
        return Batch(self.grid[index], self.action[index] if action is None else action,
                     {k: v[index] for k, v in self.globals.items()},
                     {k: Table(t.ids[index], t.mask[index],
                               {f: c[index] for f, c in t.fields.items()})
                      for k, t in self.tables.items()})


def encode_batch(states: Sequence[dict], actions: Sequence[str] | None, schema: dict,
                 device: str | torch.device = "cpu") -> Batch:
    """Tensors for N plain states and the actions taken in them (None: no actions, all 0)."""
    # int8 material indices: a 64x64 grid is 4 KB a state, so 100k states fit in memory.
    lookup = np.full(256, -1, dtype=np.int8)
    for index, code in enumerate(schema["materials"].values()):
        lookup[ord(code)] = index
    height, width = schema["grid"]["height"], schema["grid"]["width"]
    text = "".join("".join(s["grid"]) for s in states).encode("latin-1")
    grid = torch.from_numpy(lookup[np.frombuffer(text, dtype=np.uint8)].reshape(
        len(states), height, width))
    action = (torch.zeros(len(states), dtype=torch.int64) if actions is None else
              torch.tensor([schema["actions"].index(a) for a in actions], dtype=torch.int64))
    global_values = {}
    for name, spec in schema.get("globals", {}).items():
        if spec["type"] in _DTYPES:
            global_values[name] = torch.tensor([s[name] for s in states],
                                               dtype=_DTYPES[spec["type"]])
    by_kind: dict[str, list[list[dict]]] = {kind: [] for kind in schema["kinds"]}
    for state in states:
        buckets: dict[str, list[dict]] = {kind: [] for kind in by_kind}
        for obj in state["objects"]:
            buckets[obj["kind"]].append(obj)
        for kind, objs in buckets.items():
            by_kind[kind].append(objs)
    tables = {kind: _table(by_kind[kind], attrs, schema) for kind, attrs in schema["kinds"].items()}
    return Batch(grid, action, global_values, tables).to(device)


def _table(per_state: list[list[dict]], attrs: dict, schema: dict) -> Table:
    """The objects of one kind, `per_state[i]` being those of state i."""
    n, m = len(per_state), max((len(objs) for objs in per_state), default=0)
    # Columns are filled as flat Python lists and turned into tensors once (per-element tensor
    # writes cost microseconds each, which dominated encoding).
    flat_index = [i * m + j for i, objs in enumerate(per_state) for j in range(len(objs))]
    flat_objects = [obj for objs in per_state for obj in objs]
    index = torch.tensor(flat_index, dtype=torch.int64)
    ids = torch.full((n * m,), -1, dtype=torch.int64)
    ids[index] = torch.tensor([obj["id"] for obj in flat_objects], dtype=torch.int64)
    mask = torch.zeros(n * m, dtype=torch.bool)
    mask[index] = True
    columns: dict[tuple[str, str | None], torch.Tensor] = {}
    for attr, spec in attrs.items():
        kind_type = spec["type"]
        if kind_type in _DTYPES:
            columns[(attr, None)] = _column([obj[attr] for obj in flat_objects], index,
                                            _DTYPES[kind_type], (n, m))
        elif kind_type in ("pos", "dir"):
            columns[(attr, None)] = _column([obj[attr] for obj in flat_objects], index,
                                            torch.int64, (n, m, 2))
        elif kind_type == "counts":
            keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
            for key in keys:
                columns[(attr, key)] = _column([obj[attr][key] for obj in flat_objects], index,
                                               torch.int64, (n, m))
    return Table(ids.reshape(n, m), mask.reshape(n, m), columns)


def _column(values: list, index: torch.Tensor, dtype: torch.dtype, shape: tuple) -> torch.Tensor:
    """A padded [N, M(, 2)] column from the values of the objects at flat positions `index`."""
    column = torch.zeros((shape[0] * shape[1],) + shape[2:], dtype=dtype)
    if values:
        column[index] = torch.tensor(values, dtype=dtype)
    return column.reshape(shape)


@dataclass
class EffectOutput:
    """One effect over a batch. Shapes follow the law's mask ([N] or [N, M]); positions and
    directions are (x, y) pairs of tensors; `values` has a last axis of K outcomes."""
    effect: ir.Effect
    valid: torch.Tensor
    cell: tuple[torch.Tensor, torch.Tensor] | None
    old: Any
    values: Any


@dataclass
class LawOutput:
    """One law over a batch: `mask` where it fires; `object_ids` [N, M] for `for each` laws
    (for `for each cell` laws, the cell index y * width + x). `rows`, when set, are the batch rows
    the tensors cover (a cell law is evaluated only where its cell-free conditions hold, so its
    tensors are [R, H * W]); None: all N."""
    law: ir.Law
    mask: torch.Tensor
    object_ids: torch.Tensor | None
    effects: tuple[EffectOutput, ...]
    rows: torch.Tensor | None = None


class _Evaluator:
    """Evaluates typed nodes on a batch; `axes` maps a bound name to (kind, axis or None=player)."""

    def __init__(self, batch: Batch, schema: dict, shared: "_Shared | None" = None):
        self.batch = batch
        self.shared = shared or _Shared()
        # Values of subexpressions by their structure (and, for those that read bound objects, how
        # the names are bound): laws that test the same thing compute it once a batch.
        self.memo: dict[Any, Any] = {}
        self.kinds = list(schema["kinds"])
        materials = list(schema["materials"])
        walkable = torch.zeros(len(materials) + 1, dtype=torch.bool)
        for name in schema.get("walkable", []):
            if name in materials:
                walkable[materials.index(name)] = True
        self.walkable = walkable.to(batch.grid.device)
        self.n = batch.size
        self.device = batch.grid.device
        self.named: dict[str, Any] = {}   # `let` values at depth 0, computed on first use
        # material -> summed-area table of its cells (`near`), kept with the batch
        self._areas: dict[int, torch.Tensor] = batch.cache.setdefault("areas", {})

    def shaped(self, tensor: torch.Tensor, axis: int | None, depth: int) -> torch.Tensor:
        """A per-state [N] or per-object [N, M] tensor viewed with `depth` object axes."""
        shape = [self.n] + [1] * depth
        if axis is not None:
            shape[axis] = tensor.shape[1]
        return tensor.reshape(shape)

    def value(self, node: ir.Node, axes: dict, depth: int):
        if isinstance(node, ir.Named):   # per state: computed once, viewed at this depth
            if node.name not in self.named:
                self.named[node.name] = self.value(node.value, {"player": axes["player"]}, 0)
            return _at_depth(self.named[node.name], self.n, depth)
        if isinstance(node, ir.Const):
            return self.shared.constant(node, self.device)
        if isinstance(node, (ir.Apply, ir.Quantify, ir.Component)):
            free = self.shared.free_vars(node)
            if free <= {"player"}:
                key = self.shared.key(node)
                if key not in self.memo:
                    self.memo[key] = self._value(node, {"player": axes["player"]}, 0)
                return _at_depth(self.memo[key], self.n, depth)
            # A subexpression of bound objects: shared by laws that bind the same names alike.
            key = (self.shared.key(node), depth, tuple((v, axes[v]) for v in sorted(free)))
            if key not in self.memo:
                self.memo[key] = self._value(node, axes, depth)
            return self.memo[key]
        return self._value(node, axes, depth)

    def _value(self, node: ir.Node, axes: dict, depth: int):
        if isinstance(node, ir.Field):
            kind, axis = axes[node.var]
            column = self.batch.tables[kind].fields[(node.attr, node.key)]
            if axis is None:
                column = column[:, 0]
            if node.type in (ir.POS, ir.DIR):
                return (self.shaped(column[..., 0], axis, depth),
                        self.shaped(column[..., 1], axis, depth))
            return self.shaped(column, axis, depth)
        if isinstance(node, ir.Global):
            return self.shaped(self.batch.globals[node.name], None, depth)
        if isinstance(node, ir.Action):
            return self.shaped(self.batch.action, None, depth)
        if isinstance(node, ir.Component):
            return self.value(node.operand, axes, depth)[node.axis]
        if isinstance(node, ir.Quantify):
            joined = self.join(node, axes, depth)
            if joined is not None:
                return joined
            kind = self.kinds[node.kind]
            inner = {**axes, node.var: (kind, depth + 1)}
            where = self.value(node.where, inner, depth + 1)
            mask = self.shaped(self.batch.tables[kind].mask, depth + 1, depth + 1)
            hits = where & mask
            return hits.any(-1) if node.quantifier == "exists" else hits.sum(-1)
        return self.apply(node, axes, depth)

    def join(self, node: ir.Quantify, axes: dict, depth: int):
        """`exists`/`count` whose condition is equalities between an expression of the bound
        object alone and one of the outer names (a cell's chunk and an object's chunk), besides
        conditions on the object alone: counted by sorting the objects' keys and looking up the
        outer keys, instead of comparing every outer position with every object. None when the
        condition has another shape (the dense evaluation then runs)."""
        var, allowed = node.var, {node.var, "player"}
        pairs, filters = [], []
        for part in ir.conjuncts(node.where):
            free = self.shared.free_vars(part)
            if var not in free:
                return None
            if free <= allowed:
                filters.append(part)
                continue
            if not (isinstance(part, ir.Apply) and part.op == "=="):
                return None
            left, right = part.args
            if self.shared.free_vars(right) <= allowed and var not in self.shared.free_vars(left):
                left, right = right, left
            if not (self.shared.free_vars(left) <= allowed
                    and var not in self.shared.free_vars(right)):
                return None
            if left.type not in (ir.INT, ir.MATERIAL, ir.KIND, ir.BOOL, ir.POS, ir.DIR):
                return None
            pairs.append((left, right))
        if not pairs:
            return None
        kind = self.kinds[node.kind]
        table = self.batch.tables[kind]
        shape = tuple(table.mask.shape)
        inner_axes = {"player": axes["player"], var: (kind, 1)}
        keep = table.mask.clone()
        for part in filters:
            keep &= self.value(part, inner_axes, 1).expand(shape)
        inner_parts, outer_parts = [], []
        for left, right in pairs:
            a, b = self.value(left, inner_axes, 1), self.value(right, axes, depth)
            a, b = (a, b) if isinstance(a, tuple) else ((a,), (b,))
            inner_parts += [x.expand(shape).to(torch.int64) for x in a]
            outer_parts += [y.to(torch.int64) for y in b]
        outer_parts = list(torch.broadcast_tensors(*outer_parts))
        outer_shape = outer_parts[0].shape
        if outer_parts[0].dim() == 0 or outer_shape[0] != self.n:
            outer_shape = (self.n,) + tuple(outer_shape[1:] if outer_parts[0].dim() else ())
            outer_parts = [y.expand(outer_shape) for y in outer_parts]
        # One int64 key per (row, values): each value shifted to start at 0 within its range.
        rows_in = torch.arange(self.n, device=self.device).unsqueeze(1).expand(shape)[keep]
        rows_out = torch.arange(self.n, device=self.device).reshape(
            [self.n] + [1] * (len(outer_shape) - 1)).expand(outer_shape)
        key_in, key_out, span = rows_in, rows_out, self.n
        for x, y in zip(inner_parts, outer_parts):
            x = x[keep]
            both = torch.cat([x, y.reshape(-1)])
            if len(both) == 0:
                continue
            low, high = int(both.min()), int(both.max())
            size = high - low + 1
            span *= size
            if span >= 2 ** 62:
                return None
            key_in = key_in * size + (x - low)
            key_out = key_out * size + (y - low)
        sorted_keys = key_in.sort().values
        count = (torch.searchsorted(sorted_keys, key_out.contiguous(), right=True)
                 - torch.searchsorted(sorted_keys, key_out.contiguous()))
        return count > 0 if node.quantifier == "exists" else count

    def apply(self, node: ir.Apply, axes: dict, depth: int):
        args = [self.value(a, axes, depth) for a in node.args]
        op = node.op
        if op in _ELEMENTWISE:
            return _ELEMENTWISE[op](*args)
        if op == "neg":
            value = args[0]
            return (-value[0], -value[1]) if isinstance(value, tuple) else -value
        if op == "pos+dir":
            (x, y), (dx, dy) = args
            return x + dx, y + dy
        if op in ("==", "!="):
            left, right = args
            equal = ((left[0] == right[0]) & (left[1] == right[1]) if isinstance(left, tuple)
                     else left == right)
            return equal if op == "==" else ~equal
        if op == "if":
            cond, then, orelse = args
            if isinstance(then, tuple):
                return (torch.where(cond, then[0], orelse[0]), torch.where(cond, then[1], orelse[1]))
            return torch.where(cond, then, orelse)
        if op in ("material", "kind_at") and self._own_cell(node.args[0], axes):
            grid = self.batch.grid if op == "material" else self.occupancy
            return self.shaped(grid.reshape(self.n, grid.shape[1] * grid.shape[2]).to(torch.int64),
                               1, depth)
        if op == "material":
            return self.material(*args[0])
        if op == "kind_at":
            return self.kind_at(*args[0])
        if op == "free":
            return self.free(*args[0])
        if op == "moved":
            (x, y), (dx, dy) = args
            free = self.free(x + dx, y + dy)
            return torch.where(free, x + dx, x), torch.where(free, y + dy, y)
        if op == "dist":
            (x, y), (u, v) = args
            return (x - u).abs() + (y - v).abs()
        if op == "mod":
            value, divisor = args
            return torch.remainder(value, divisor)
        if op in ("toward", "toward_short"):
            (x, y), (u, v) = args
            dx, dy = torch.broadcast_tensors(u - x, v - y)
            along_x = (dx.abs() > dy.abs()) if op == "toward" else (dx.abs() <= dy.abs())
            zero = torch.zeros_like(dx)
            return torch.where(along_x, dx.sign(), zero), torch.where(along_x, zero, dy.sign())
        if op == "near":
            (x, y), material, radius = args
            radius = int(radius)
            if isinstance(material, int) or (isinstance(material, torch.Tensor)
                                             and material.numel() == 1):
                return self.near(x, y, int(material), radius)
            found = torch.zeros((), dtype=torch.bool, device=self.device)
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    found = found | (self.material(x + dx, y + dy) == material)
            return found
        raise ValueError(f"unknown operation {op}")

    def _own_cell(self, node: ir.Node, axes: dict) -> bool:
        """Whether `node` is the position of a `for each cell` law's cell while the cells are all
        of the grid in order (then reading a cell is reading the grid as it is)."""
        return (isinstance(node, ir.Field) and node.attr == "pos" and node.var in axes
                and axes[node.var] == (ir.CELL, 1) and self.batch.cache.get("every_cell", False))

    def material(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lookup(self.batch.grid, x, y)

    def near(self, x: torch.Tensor, y: torch.Tensor, material: int, radius: int) -> torch.Tensor:
        """`near((x, y), material, radius)`: for few positions (the player's) the window around
        each is read; for many, a summed-area table of the material's cells gives four lookups
        per position, whatever the radius (cells outside the grid never match)."""
        x, y = torch.broadcast_tensors(x, y)
        side = 2 * radius + 1
        if x.numel() * side * side < self.batch.grid.numel() * 4 and material not in self._areas:
            # Few positions (the player's): read the window around each instead of building the
            # material's summed-area table over every grid.
            offsets = torch.arange(-radius, radius + 1, device=self.device)
            dx = offsets.repeat(side)
            dy = offsets.repeat_interleave(side)
            cells = self.lookup(self.batch.grid, x.unsqueeze(-1) + dx, y.unsqueeze(-1) + dy)
            return (cells == material).any(-1)
        if material not in self._areas:
            cells = (self.batch.grid == material).to(torch.int32)
            # int16 holds any count of a grid of up to 32,767 cells; int32 beyond.
            small = cells.shape[1] * cells.shape[2] < 2 ** 15
            table = torch.zeros((self.n, cells.shape[1] + 1, cells.shape[2] + 1),
                                dtype=torch.int16 if small else torch.int32, device=self.device)
            table[:, 1:, 1:] = cells.cumsum(1, dtype=torch.int32).cumsum(2, dtype=torch.int32)
            self._areas[material] = table
        table = self._areas[material]
        height, width = table.shape[1] - 1, table.shape[2] - 1
        x0, x1 = (x - radius).clamp(0, width), (x + radius + 1).clamp(0, width)
        y0, y1 = (y - radius).clamp(0, height), (y + radius + 1).clamp(0, height)
        x1, y1 = torch.maximum(x1, x0), torch.maximum(y1, y0)
        rows = torch.arange(self.n, device=self.device).reshape([self.n] + [1] * (x.dim() - 1))
        flat = table.reshape(-1)

        def at(yy, xx):
            return flat[(rows * (height + 1) + yy) * (width + 1) + xx]

        return (at(y1, x1) - at(y0, x1) - at(y1, x0) + at(y0, x0)) > 0

    def lookup(self, grid: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """`grid` [N, H, W] at cells (x, y) (broadcast, with object axes); -1 outside the grid."""
        x, y = torch.broadcast_tensors(x, y)
        _, height, width = grid.shape
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        rows = torch.arange(self.n, device=self.device).reshape([self.n] + [1] * (x.dim() - 1))
        flat = (rows * height + y.clamp(0, height - 1)) * width + x.clamp(0, width - 1)
        return grid.reshape(-1)[flat].to(torch.int64).masked_fill_(~inside, ir.NONE_ID)

    def kind_at(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lookup(self.occupancy, x, y)

    @functools.cached_property
    def occupancy(self) -> torch.Tensor:
        """[N, H, W]: the kind index of the object on each cell (the first kind in schema order
        when several share one), or -1."""
        grid = torch.full_like(self.batch.grid, ir.NONE_ID)
        for index in reversed(range(len(self.kinds))):
            table = self.batch.tables[self.kinds[index]]
            rows = torch.arange(self.n, device=self.device).unsqueeze(1).expand_as(table.ids)
            pos = table.fields[("pos", None)]
            mask = table.mask
            grid[rows[mask], pos[..., 1][mask], pos[..., 0][mask]] = index
        return grid

    def free(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        material = self.material(x, y)
        walkable = self.walkable[material]  # index -1 is the padding entry: not walkable
        return walkable & (self.kind_at(x, y) == ir.NONE_ID)


class _Shared:
    """What evaluators of one compiled program share across batches: constant tensors, and per
    node whether it reads a bound object and its structural key (nodes are immutable and live as
    long as the program, so `id` identifies them)."""

    def __init__(self):
        self.constants: dict[tuple[int, str], Any] = {}
        self.free: dict[int, frozenset] = {}
        self.keys: dict[int, str] = {}
        self.parts: dict[int, tuple[ir.Node, ...]] = {}
        self._keep: list = []   # every node an id above stands for, so no id is reused

    def constant(self, node: ir.Const, device):
        key = (id(node), str(device))
        if key not in self.constants:
            if node.type == ir.DIR:
                value = tuple(torch.tensor(v, device=device) for v in node.value)
            else:
                value = torch.tensor(node.value, dtype=_DTYPES.get(node.type, torch.int64),
                                     device=device)
            self.constants[key] = value
            self._keep.append(node)
        return self.constants[key]

    def condition_parts(self, law: ir.Law) -> tuple[ir.Node, ...]:
        """(conditions that do not read the law's bound name, those that do; and of the latter,
        those without a quantifier, those with one), each one node built once per law: a fresh
        `and` node per batch would miss every cache keyed by node."""
        if id(law) not in self.parts:
            once, bound = ir.split_condition(law)
            parts = ir.conjuncts(bound)
            self.parts[id(law)] = (once, bound,
                                   ir.all_of([p for p in parts if not _quantifies(p)]),
                                   ir.all_of([p for p in parts if _quantifies(p)]))
            self._keep.append(law)
        return self.parts[id(law)]

    def free_vars(self, node: ir.Node) -> frozenset:
        cached = self.free.get(id(node))
        if cached is not None:
            return cached
        if isinstance(node, ir.Field):
            result = frozenset([node.var])
        elif isinstance(node, ir.Component):
            result = self.free_vars(node.operand)
        elif isinstance(node, ir.Apply):
            result = frozenset().union(*(self.free_vars(a) for a in node.args))
        elif isinstance(node, ir.Quantify):
            result = self.free_vars(node.where) - {node.var}
        else:   # constants, globals, the action, definitions (which read the player only)
            result = frozenset()
        self.free[id(node)] = result
        self._keep.append(node)
        return result

    def key(self, node: ir.Node) -> str:
        cached = self.keys.get(id(node))
        if cached is None:
            cached = self.keys[id(node)] = repr(node)
            self._keep.append(node)
        return cached


def _silent(law: ir.Law, mask: torch.Tensor, ids, rows=None) -> LawOutput:
    """The output of a law that fires nowhere in the batch: its effects apply nowhere (their
    values are not computed)."""
    effects = tuple(EffectOutput(e, mask, None, None, None) for e in law.effects)
    return LawOutput(law, mask, ids, effects, rows)


def _quantifies(node: ir.Node) -> bool:
    """Whether `node` has an `exists` or `count` inside."""
    if isinstance(node, ir.Quantify):
        return True
    if isinstance(node, ir.Component):
        return _quantifies(node.operand)
    if isinstance(node, ir.Apply):
        return any(_quantifies(a) for a in node.args)
    if isinstance(node, ir.Named):
        return _quantifies(node.value)
    return False


def _at_depth(value, n: int, depth: int):
    """A depth-0 value ([N], or a 0-dim constant; a pair for positions) viewed with `depth`
    trailing object axes."""
    if isinstance(value, tuple):
        return tuple(_at_depth(v, n, depth) for v in value)
    if value.dim() == 0 or depth == 0:
        return value
    return value.reshape([n] + [1] * depth)


_ELEMENTWISE = {
    "+": torch.add, "-": torch.sub, "*": torch.mul,
    "<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge,
    "and": torch.logical_and, "or": torch.logical_or, "not": torch.logical_not,
    "min": torch.minimum, "max": torch.maximum, "abs": torch.abs,
}


class TorchLaws:
    """Checked laws compiled for batches of states."""

    def __init__(self, program: ir.Program, schema: dict):
        self.program = program
        self.schema = schema
        self.kinds = list(schema["kinds"])
        self.materials = list(schema["materials"])
        self.shared = _Shared()

    def predict(self, batch: Batch) -> list[LawOutput]:
        """Every law's firing mask and predicted outcomes on the batch, in file order."""
        evaluator = _Evaluator(batch, self.schema, self.shared)
        return [self._law(law, batch, evaluator) for law in self.program.laws]

    def _cell_law(self, law: ir.Law, batch: Batch, evaluator: _Evaluator) -> LawOutput:
        """A `for each cell` law: the cell-free conditions on all N states, then the rest on the
        rows where they hold, with one axis over the H * W cells."""
        once, _, cheap, costly = self.shared.condition_parts(law)
        player = {"player": ("player", None)}
        rows = evaluator.value(once, player, 0).expand(batch.size).nonzero().flatten()
        _, height, width = batch.grid.shape
        if len(rows) == 0:
            empty = torch.zeros((0, height * width), dtype=torch.bool, device=batch.grid.device)
            return _silent(law, empty, empty.to(torch.int64), rows)
        sub = batch.select(rows)
        index = torch.arange(height * width, device=batch.grid.device)
        pos = torch.stack([index % width, index // width], -1)
        cells = Table(index.expand(len(rows), -1), torch.ones(len(rows), height * width,
                                                              dtype=torch.bool,
                                                              device=batch.grid.device),
                      {("pos", None): pos.expand(len(rows), -1, -1)})
        sub = Batch(sub.grid, sub.action, sub.globals, {**sub.tables, ir.CELL: cells},
                    {"every_cell": True})
        axes = {**player, law.var: (ir.CELL, 1)}
        # Conditions without a quantifier first, on every cell; the cells where they hold are then
        # packed to the left ([R, K], K the most in any row) for the quantified conditions, which
        # cost a [R, K, M] tensor each.
        shape = tuple(cells.ids.shape)
        inner = _Evaluator(sub, self.schema, self.shared)
        mask = inner.value(cheap, axes, 1).expand(shape) & cells.mask
        if costly != ir.Const(True, ir.BOOL):
            counts = mask.sum(1)
            most = int(counts.max())
            # Each kept cell goes to its rank among its row's kept cells (in cell order).
            rank = mask.cumsum(1) - 1
            r, c = mask.nonzero(as_tuple=True)
            packed = torch.zeros((len(rows), most), dtype=torch.int64, device=mask.device)
            packed[r, rank[r, c]] = c
            keep = torch.arange(most, device=mask.device) < counts.unsqueeze(1)
            cells = Table(packed, keep, {("pos", None): pos[packed]})
            sub = Batch(sub.grid, sub.action, sub.globals, {**sub.tables, ir.CELL: cells})
            inner = _Evaluator(sub, self.schema, self.shared)
            shape = tuple(cells.ids.shape)
            mask = inner.value(costly, axes, 1).expand(shape) & keep
        effects = tuple(self._effect(e, axes, 1, shape, mask, inner) for e in law.effects)
        return LawOutput(law, mask, cells.ids, effects, rows)

    def _law(self, law: ir.Law, batch: Batch, evaluator: _Evaluator) -> LawOutput:
        if law.cells:
            return self._cell_law(law, batch, evaluator)
        axes = {"player": ("player", None)}
        depth, ids = 0, None
        if law.kind is not None:
            kind = self.kinds[law.kind]
            axes[law.var] = (kind, 1)
            depth, ids = 1, batch.tables[kind].ids
        shape = (batch.size,) if ids is None else tuple(ids.shape)
        if ids is not None:
            # The conditions on the state alone first: where they hold nowhere (a law of every
            # 10th step), the object conditions and the effects are not evaluated.
            once = self.shared.condition_parts(law)[0]
            if not bool(evaluator.value(once, {"player": axes["player"]}, 0).any()):
                return _silent(law, torch.zeros(shape, dtype=torch.bool, device=ids.device), ids)
        mask = evaluator.value(law.condition, axes, depth).expand(shape)
        if ids is not None:
            mask = mask & batch.tables[self.kinds[law.kind]].mask
        if not bool(mask.any()):
            return _silent(law, mask, ids)
        effects = tuple(self._effect(e, axes, depth, shape, mask, evaluator) for e in law.effects)
        return LawOutput(law, mask, ids, effects)

    def _effect(self, effect: ir.Effect, axes: dict, depth: int, shape: tuple, mask: torch.Tensor,
                evaluator: _Evaluator) -> EffectOutput:
        target, cell, valid = effect.target, None, mask
        field = target if isinstance(target, ir.FieldTarget) else None
        if field is not None:
            old = evaluator.value(ir.Field(field.var, field.attr, field.key, field.type), axes, depth)
        elif isinstance(target, ir.ExistsTarget):
            old = torch.ones(shape, dtype=torch.bool, device=mask.device)
        else:
            x, y = (t.expand(shape) for t in evaluator.value(target.pos, axes, depth))
            cell = (x, y)
            material = evaluator.material(x, y)
            valid = mask & (material != ir.NONE_ID)
            old = (material if isinstance(target, ir.CellTarget)
                   else torch.zeros(shape, dtype=torch.bool, device=mask.device))
        outcomes = [evaluator.value(o, axes, depth) for o in effect.outcomes]
        new = [_combine(effect.op, old, value, field) for value in outcomes]
        if isinstance(old, tuple):
            values = tuple(torch.stack([v[i].expand(shape) for v in new], -1) for i in range(2))
            old = tuple(o.expand(shape) for o in old)
        else:
            values = torch.stack([torch.as_tensor(v).expand(shape) for v in new], -1)
            old = old.expand(shape)
        return EffectOutput(effect, valid, cell, old, values)

    def decode(self, batch: Batch, outputs: list[LawOutput]) -> list[list[Firing]]:
        """The outputs as one Firing list per state, exactly as `PythonLaws.predict` gives them."""
        result = []
        local = [None if out.rows is None else {int(r): i for i, r in enumerate(out.rows.tolist())}
                 for out in outputs]
        for n in range(batch.size):
            firings = []
            for out, rows in zip(outputs, local):
                if out.object_ids is None:
                    if out.mask[n]:
                        firings.append(self._firing(out, (n,), None))
                    continue
                row = n if rows is None else rows.get(n)
                if row is None:
                    continue
                for m in out.mask[row].nonzero().flatten().tolist():
                    firings.append(self._firing(out, (row, m), int(out.object_ids[row, m])))
            result.append(firings)
        return result

    def _firing(self, out: LawOutput, index: tuple, object_id: int | None) -> Firing:
        kind = (self.kinds[out.law.kind] if out.law.kind is not None
                else ir.CELL if out.law.cells else "player")
        predictions = []
        for effect_out in out.effects:
            if not effect_out.valid[index]:
                continue
            effect, target = effect_out.effect, effect_out.effect.target
            if isinstance(target, ir.FieldTarget):
                owner = "player" if target.var == "player" else kind
                observable = field_observable(owner, object_id, target.attr, target.key)
                value_type = target.type
            elif isinstance(target, ir.ExistsTarget):
                observable, value_type = exists_observable(kind, object_id), ir.BOOL
            else:
                x, y = (int(t[index]) for t in effect_out.cell)
                if isinstance(target, ir.CellTarget):
                    observable, value_type = cell_observable(x, y), ir.MATERIAL
                else:
                    observable = spawn_observable(self.kinds[target.kind], x, y)
                    value_type = ir.BOOL
            old = self._plain(effect_out.old, index, value_type)
            count = len(effect.outcomes)
            values = tuple(self._plain(effect_out.values, index + (k,), value_type)
                           for k in range(count))
            predictions.append(distribution(observable, values, effect.labels, effect.prob,
                                            effect.param, old))
        return Firing(out.law.name, object_id, tuple(predictions))

    def _plain(self, tensor, index: tuple, value_type: str):
        if isinstance(tensor, tuple):
            return (int(tensor[0][index]), int(tensor[1][index]))
        value = tensor[index].item()
        if value_type == ir.MATERIAL:
            return self.materials[value]
        return {ir.INT: int, ir.FLOAT: float, ir.BOOL: bool}[value_type](value)


def _combine(op: str, old, value, field: ir.FieldTarget | None):
    """`=`, `+=`, `-=` and the schema's caps, on tensors (the same rule as the Python back end)."""
    if isinstance(old, tuple):
        return value
    new = combine(op, old, value, None)
    if field is not None and field.type in ir.NUMERIC:
        new = torch.as_tensor(new, device=old.device)
        if field.type == ir.FLOAT:
            new = new.to(torch.float64)
        if field.low is not None or field.high is not None:   # an unbounded number is not capped
            new = new.clamp(min=field.low, max=field.high)
    return new


def compile_torch(program: ast.Program | ir.Program, schema: dict) -> TorchLaws:
    """Compile laws (checked against `schema` first when given as a syntax tree)."""
    if isinstance(program, ast.Program):
        program = resolve(program, schema)
    return TorchLaws(program, schema)
