"""Back end 1: checked laws as a Python function over one state (for the simulator and debugging).

`compile_python(program, schema).predict(state, action)` lists the laws that fire and what each
predicts per observable (see dsl.predictions). It reads plain state dicts only; nothing is
evaluated as code, and every law terminates (quantifiers range over the state's objects).
"""

from __future__ import annotations

from typing import Any

from lawsmith.dsl import ast, ir
from lawsmith.dsl.check import resolve
from lawsmith.dsl.predictions import (Firing, cell_observable, distribution, exists_observable,
                             field_observable, spawn_observable)


class _State:
    """One state prepared for lookups: material indices by cell, objects by kind and by cell."""

    def __init__(self, state: dict, action: str, schema: dict):
        codes = {code: i for i, code in enumerate(schema["materials"].values())}
        self.grid = state["grid"]
        self.codes = codes
        self.height = len(self.grid)
        self.width = len(self.grid[0]) if self.grid else 0
        self.action = schema["actions"].index(action)
        self.globals = state
        self.named: dict[str, Any] = {}   # `let` values, computed on first use
        self.kinds = list(schema["kinds"])
        self.by_kind: dict[str, list[dict]] = {kind: [] for kind in self.kinds}
        for obj in state["objects"]:
            self.by_kind[obj["kind"]].append(obj)
        self.at: dict[tuple[int, int], int] = {}
        for index, kind in enumerate(self.kinds):
            for obj in self.by_kind[kind]:
                self.at.setdefault(tuple(obj["pos"]), index)
        materials = list(schema["materials"])
        self.walkable = {materials.index(m) for m in schema.get("walkable", []) if m in materials}
        self.player = self.by_kind["player"][0]

    def material(self, x: int, y: int) -> int:
        if 0 <= x < self.width and 0 <= y < self.height:
            return self.codes[self.grid[y][x]]
        return ir.NONE_ID

    def free(self, x: int, y: int) -> bool:
        return self.material(x, y) in self.walkable and (x, y) not in self.at


def _value(node: ir.Node, env: dict[str, dict], state: _State) -> Any:
    """Evaluate a typed node; positions and directions are (x, y) tuples."""
    if isinstance(node, ir.Const):
        return node.value
    if isinstance(node, ir.Named):   # the same in every law and binding of this state
        if node.name not in state.named:
            state.named[node.name] = _value(node.value, {"player": env["player"]}, state)
        return state.named[node.name]
    if isinstance(node, ir.Field):
        value = env[node.var][node.attr]
        value = value[node.key] if node.key is not None else value
        return tuple(value) if node.type in (ir.POS, ir.DIR) else value
    if isinstance(node, ir.Global):
        return state.globals[node.name]
    if isinstance(node, ir.Action):
        return state.action
    if isinstance(node, ir.Component):
        return _value(node.operand, env, state)[node.axis]
    if isinstance(node, ir.Quantify):
        kind = state.kinds[node.kind]
        hits = (bool(_value(node.where, {**env, node.var: obj}, state))
                for obj in state.by_kind[kind])
        return any(hits) if node.quantifier == "exists" else sum(hits)
    return _apply(node, env, state)


def _apply(node: ir.Apply, env: dict, state: _State) -> Any:
    op = node.op
    if op == "and":
        return bool(_value(node.args[0], env, state)) and bool(_value(node.args[1], env, state))
    if op == "or":
        return bool(_value(node.args[0], env, state)) or bool(_value(node.args[1], env, state))
    if op == "if":
        cond, then, orelse = node.args
        return _value(then if _value(cond, env, state) else orelse, env, state)
    args = [_value(a, env, state) for a in node.args]
    if op == "near":
        (x, y), material, radius = args
        return any(state.material(x + dx, y + dy) == material
                   for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1))
    return _OPS[op](state, *args)


def _moved(state: _State, pos, direction):
    target = (pos[0] + direction[0], pos[1] + direction[1])
    return target if state.free(*target) else pos


def _toward(pos, target, long_axis: bool):
    """One step from `pos` toward `target` along the longer axis (ties: y), or along the other one
    (ties: x); a zero component where `pos` already shares that coordinate (Crafter's `toward`)."""
    dx, dy = target[0] - pos[0], target[1] - pos[1]
    along_x = abs(dx) > abs(dy) if long_axis else abs(dx) <= abs(dy)
    return ((dx > 0) - (dx < 0), 0) if along_x else (0, (dy > 0) - (dy < 0))


def _number(value, type_name: str):
    return float(value) if type_name == ir.FLOAT else value


_OPS = {
    "+": lambda s, a, b: a + b, "-": lambda s, a, b: a - b, "*": lambda s, a, b: a * b,
    "neg": lambda s, a: (-a[0], -a[1]) if isinstance(a, tuple) else -a,
    "pos+dir": lambda s, p, d: (p[0] + d[0], p[1] + d[1]),
    "==": lambda s, a, b: a == b, "!=": lambda s, a, b: a != b, "<": lambda s, a, b: a < b,
    "<=": lambda s, a, b: a <= b, ">": lambda s, a, b: a > b, ">=": lambda s, a, b: a >= b,
    "not": lambda s, a: not a,
    "min": lambda s, a, b: min(a, b), "max": lambda s, a, b: max(a, b), "abs": lambda s, a: abs(a),
    "material": lambda s, p: s.material(*p),
    "kind_at": lambda s, p: s.at.get(tuple(p), ir.NONE_ID),
    "free": lambda s, p: s.free(*p),
    "moved": _moved,
    "dist": lambda s, p, q: abs(p[0] - q[0]) + abs(p[1] - q[1]),
    "mod": lambda s, a, n: a % n,   # n >= 1 (checked): the remainder is in 0..n-1
    "toward": lambda s, p, q: _toward(p, q, True),
    "toward_short": lambda s, p, q: _toward(p, q, False),
}


def combine(op: str, old, value, target: ir.FieldTarget | None):
    """The new value of a target: `=`, `+=`, `-=` applied, then the schema's caps."""
    new = value if op == "=" else old + value if op == "+=" else old - value
    if target is not None and target.type in ir.NUMERIC:
        if target.low is not None:
            new = max(new, target.low)
        if target.high is not None:
            new = min(new, target.high)
        new = _number(new, target.type)
    return new


class PythonLaws:
    """Checked laws compiled for one state at a time."""

    def __init__(self, program: ir.Program, schema: dict):
        self.program = program
        self.schema = schema
        self.materials = list(schema["materials"])
        self.kinds = list(schema["kinds"])

    def predict(self, state: dict, action: str) -> list[Firing]:
        """The laws that fire in (state, action), in file order (for each law, objects in id order)."""
        prepared = _State(state, action, self.schema)
        firings = []
        for law in self.program.laws:
            if law.cells:
                firings += self._cell_firings(law, prepared)
                continue
            bindings = ([(None, {"player": prepared.player})] if law.kind is None else
                        [(obj["id"], {"player": prepared.player, law.var: obj})
                         for obj in prepared.by_kind[self.kinds[law.kind]]])
            for object_id, env in bindings:
                if _value(law.condition, env, prepared):
                    predictions = tuple(p for effect in law.effects
                                        if (p := self._predict(effect, env, prepared)) is not None)
                    firings.append(Firing(law.name, object_id, predictions))
        return firings

    def _cell_firings(self, law: ir.Law, state: _State) -> list[Firing]:
        """A `for each cell` law, cell by cell in index order (y * width + x); the conditions that
        do not read the cell are checked once first."""
        once, per_cell = ir.split_condition(law)
        player = {"player": state.player}
        if not _value(once, player, state):
            return []
        firings = []
        for y in range(state.height):
            for x in range(state.width):
                index = y * state.width + x
                env = {**player, law.var: {"id": index, "kind": ir.CELL, "pos": (x, y)}}
                if _value(per_cell, env, state):
                    predictions = tuple(p for effect in law.effects
                                        if (p := self._predict(effect, env, state)) is not None)
                    firings.append(Firing(law.name, index, predictions))
        return firings

    def _predict(self, effect: ir.Effect, env: dict, state: _State):
        target = effect.target
        field = None
        if isinstance(target, ir.FieldTarget):
            obj = env[target.var]
            old = obj[target.attr][target.key] if target.key is not None else obj[target.attr]
            old = tuple(old) if target.type in (ir.POS, ir.DIR) else old
            observable = field_observable(obj["kind"], obj["id"], target.attr, target.key)
            field = target
        elif isinstance(target, ir.ExistsTarget):
            obj = env[target.var]
            old, observable = True, exists_observable(obj["kind"], obj["id"])
        else:
            x, y = _value(target.pos, env, state)
            if state.material(x, y) == ir.NONE_ID:
                return None
            if isinstance(target, ir.CellTarget):
                old, observable = state.material(x, y), cell_observable(x, y)
            else:
                old, observable = False, spawn_observable(self.kinds[target.kind], x, y)
        values = tuple(combine(effect.op, old, _value(o, env, state), field)
                       for o in effect.outcomes)
        if isinstance(target, ir.CellTarget):
            values, old = tuple(self.materials[v] for v in values), self.materials[old]
        return distribution(observable, values, effect.labels, effect.prob, effect.param, old)


def compile_python(program: ast.Program | ir.Program, schema: dict) -> PythonLaws:
    """Compile laws (checked against `schema` first when given as a syntax tree)."""
    if isinstance(program, ast.Program):
        program = resolve(program, schema)
    return PythonLaws(program, schema)
