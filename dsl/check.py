"""Checking laws against a world schema, and resolving them into the typed form both back ends run.

The schema is the one in a trace header (kinds with typed attributes, materials, actions, items,
globals). Unknown names get a "did you mean" suggestion; types must fit (a material is not a number);
probabilities lie in [0, 1]; a law writes each observable at most once; a parameter name means one
parameter across the file.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from lawsmith.dsl import ast, ir
from lawsmith.dsl.errors import DslError, located
from lawsmith.dsl.printer import format_expr

BUILTIN_NAMES = ("action", "ahead", "player")
# Built-in functions: argument types and result type ("number": int or float, result as widest).
FUNCTIONS = {
    "material": ((ir.POS,), ir.MATERIAL),
    "kind_at": ((ir.POS,), ir.KIND),
    "free": ((ir.POS,), ir.BOOL),
    "moved": ((ir.POS, ir.DIR), ir.POS),
    "dist": ((ir.POS, ir.POS), ir.INT),
    "mod": ((ir.INT, ir.INT), ir.INT),
    "toward": ((ir.POS, ir.POS), ir.DIR),
    "toward_short": ((ir.POS, ir.POS), ir.DIR),
    "near": ((ir.POS, ir.MATERIAL, ir.INT), ir.BOOL),
    "min": (("number", "number"), "number"),
    "max": (("number", "number"), "number"),
    "abs": (("number",), "number"),
}
_SCALAR_TYPES = {"int": ir.INT, "float": ir.FLOAT, "bool": ir.BOOL, "pos": ir.POS, "dir": ir.DIR}


def check(program: ast.Program, schema: dict) -> list[DslError]:
    """All problems of `program` against `schema` (at most one per law, plus file-level ones)."""
    return _Resolver(program, schema).run()[1]


def resolve(program: ast.Program, schema: dict) -> ir.Program:
    """The checked, typed form of `program`; raises the first DslError when it does not check."""
    resolved, errors = _Resolver(program, schema).run()
    if errors:
        raise errors[0]
    return resolved


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _a(type_name: str) -> str:
    return ("an " if type_name[0] in "aeiou" else "a ") + type_name


def _join(words) -> str:
    words = list(words)
    return ", ".join(words) if len(words) <= 12 else ", ".join(words[:12]) + ", ..."


@dataclass(frozen=True)
class _Bound:
    """A name bound to objects of one kind in the current scope."""
    name: str
    kind: str


class _Resolver:
    def __init__(self, program: ast.Program, schema: dict):
        self.program = program
        self.schema = schema
        self.materials = list(schema["materials"])
        self.kinds = list(schema["kinds"])
        self.actions = list(schema["actions"])
        self.items = schema["items"]
        self.globals = {name: spec for name, spec in schema.get("globals", {}).items()
                        if _SCALAR_TYPES.get(spec.get("type")) in (ir.INT, ir.FLOAT, ir.BOOL)}
        self.law: ast.Law | ast.Definition | None = None
        self.definitions: dict[str, ir.Node] = {}

    # --- errors -------------------------------------------------------------------------------

    def error(self, message: str, node=None, expected: str | None = None) -> DslError:
        span = getattr(node, "span", None) or (self.law.span if self.law else None)
        line, column = (span.line, span.column) if span else (None, None)
        what = "let" if isinstance(self.law, ast.Definition) else "law"
        where = f"{what} {self.law.name}: " if self.law is not None else ""
        return located(where + message, self.program.source, line, column, expected)

    # --- program ------------------------------------------------------------------------------

    def run(self) -> tuple[ir.Program, list[DslError]]:
        laws, errors, seen = [], [], set()
        parameters: dict[str, ir.Parameter] = {}
        for definition in self.program.definitions:
            self.law = definition
            try:
                self.define(definition)
            except DslError as error:
                errors.append(error)
        for law in self.program.laws:
            self.law = law
            try:
                if law.name in seen:
                    raise self.error(f"a law named '{law.name}' comes earlier in the file", law,
                                     "a unique law name")
                seen.add(law.name)
                resolved = self.resolve_law(law)
                for parameter, node in self.law_parameters(law):
                    self.merge_parameter(parameters, parameter, node)
                laws.append(resolved)
            except DslError as error:
                errors.append(error)
        self.law = None
        return ir.Program(tuple(laws), parameters), errors

    def define(self, definition: ast.Definition) -> None:
        """Resolve a `let` once, in a scope holding only the player; laws then use its typed form."""
        name = definition.name
        self.check_new_name(name, {}, definition)
        constants = (*self.materials, *self.actions, *self.kinds, *FUNCTIONS)
        if name in constants:
            raise self.error(f"'{name}' is already a name here", definition,
                             "a name no other definition, constant, global or function has")
        value = self.expr(definition.value, {"player": _Bound("player", "player")})
        self.definitions[name] = ir.Named(name, value, value.type)

    def law_parameters(self, law: ast.Law):
        for effect in law.effects:
            if effect.chance is not None and effect.chance.param is not None:
                chance = effect.chance
                prior = (chance.prior.a, chance.prior.b) if chance.prior else None
                init = (chance.init,) if chance.init is not None else None
                yield ir.Parameter(chance.param, "bernoulli", (), prior, init), effect
            if isinstance(effect, ast.Update) and isinstance(effect.value, ast.Choice):
                choice = effect.value
                labels = tuple(o.label for o in choice.outcomes)
                yield ir.Parameter(choice.param, "categorical", labels, choice.prior,
                                   choice.init), choice

    def merge_parameter(self, parameters: dict, parameter: ir.Parameter, node) -> None:
        known = parameters.get(parameter.name)
        if known is None:
            parameters[parameter.name] = parameter
            return
        if (known.kind, known.labels) != (parameter.kind, parameter.labels):
            raise self.error(f"parameter '{parameter.name}' is used earlier as a {known.kind}"
                             + (f" over {', '.join(known.labels)}" if known.labels else ""), node,
                             "one meaning per parameter name")
        for part in ("prior", "init"):
            mine, theirs = getattr(parameter, part), getattr(known, part)
            if mine is not None and theirs is not None and mine != theirs:
                raise self.error(f"parameter '{parameter.name}' has a different {part} earlier",
                                 node, "the same prior and init at every use, or only one")
        parameters[parameter.name] = ir.Parameter(
            known.name, known.kind, known.labels, known.prior or parameter.prior,
            known.init or parameter.init)

    # --- laws ---------------------------------------------------------------------------------

    def resolve_law(self, law: ast.Law) -> ir.Law:
        scope = {"player": _Bound("player", "player")}
        kind_index = var = None
        cells = (law.subject is not None and law.subject.kind == ir.CELL
                 and ir.CELL not in self.kinds)
        if cells:
            var = law.subject.var
            self.check_new_name(var, scope, law)
            scope[var] = _Bound(var, ir.CELL)
        elif law.subject is not None:
            kind = self.kind_name(law.subject.kind, law)
            var = law.subject.var
            self.check_new_name(var, scope, law)
            scope[var] = _Bound(var, kind)
            kind_index = self.kinds.index(kind)
        condition = ir.Const(True, ir.BOOL)
        if law.condition is not None:
            condition = self.expect(law.condition, scope, ir.BOOL)
        effects, written = [], {}
        for effect in law.effects:
            resolved = self.resolve_effect(effect, scope, law)
            key = format_expr(effect.target) if isinstance(effect, ast.Update) else (
                f"remove {effect.var}" if isinstance(effect, ast.Remove)
                else f"spawn {effect.kind} at {format_expr(effect.at)}")
            if (isinstance(effect, ast.Update) and law.subject is not None
                    and law.subject.kind == "player" and key.startswith(f"{law.subject.var}.")):
                # `for each player p`: p is the player, so p.facing is player.facing.
                key = "player." + key[len(law.subject.var) + 1:]
            if key in written:
                raise self.error(f"writes {key} twice", effect, "each observable written once")
            written[key] = effect
            effects.append(resolved)
        return ir.Law(law.name, kind_index, var, condition, tuple(effects), cells)

    def kind_name(self, kind: str, node) -> str:
        if kind not in self.kinds:
            raise self.error(f"unknown kind '{kind}'{_suggest(kind, self.kinds)}", node,
                             f"one of {_join(self.kinds)}")
        return kind

    def check_new_name(self, name: str, scope: dict, node) -> None:
        taken = (name in scope or name in BUILTIN_NAMES or name in self.globals
                 or name in ir.DIRECTIONS or name in self.definitions)
        if taken:
            raise self.error(f"'{name}' is already a name here", node, "a fresh variable name")

    # --- effects ------------------------------------------------------------------------------

    def resolve_effect(self, effect: ast.Effect, scope: dict, law: ast.Law) -> ir.Effect:
        prob, param = self.chance(effect.chance, effect)
        if isinstance(effect, ast.Remove):
            if law.subject is not None and scope.get(effect.var, _Bound("", "")).kind == ir.CELL:
                raise self.error("a cell cannot be removed", effect,
                                 "spawn KIND at c.pos or material(c.pos) = ... in a cell law")
            if law.subject is None or effect.var != law.subject.var:
                raise self.error(f"can only remove the law's own object, not '{effect.var}'",
                                 effect, "remove VAR where the law says `for each KIND VAR`")
            return ir.Effect(ir.ExistsTarget(effect.var), "=", (ir.Const(False, ir.BOOL),),
                             prob=prob, param=param)
        if isinstance(effect, ast.Spawn):
            kind = self.kind_name(effect.kind, effect)
            if kind == "player":
                raise self.error("cannot spawn a player", effect, "a creature or object kind")
            pos = self.expect(effect.at, scope, ir.POS)
            return ir.Effect(ir.SpawnTarget(self.kinds.index(kind), pos), "=",
                             (ir.Const(True, ir.BOOL),), prob=prob, param=param)
        target = self.target(effect.target, scope)
        target_type = target.type if isinstance(target, ir.FieldTarget) else ir.MATERIAL
        if effect.op != "=" and target_type not in ir.NUMERIC:
            raise self.error(f"'{effect.op}' needs a number to change, and "
                             f"{format_expr(effect.target)} is {_a(target_type)}", effect, "'='")
        if isinstance(target, ir.CellTarget):   # a cell always holds some material
            values = (effect.value.outcomes if isinstance(effect.value, ast.Choice)
                      else (effect,))
            for item in values:
                if isinstance(item.value, ast.NoneValue):
                    raise self.error("a cell cannot be set to none: every cell holds a material",
                                     item.value, "a material name")
        if isinstance(effect.value, ast.Choice):
            choice = effect.value
            self.check_choice(choice)
            outcomes = tuple(self.expect(o.value, scope, target_type, o.value)
                             for o in choice.outcomes)
            labels = tuple(o.label for o in choice.outcomes)
            return ir.Effect(target, effect.op, outcomes, labels, param=choice.param)
        value = self.expect(effect.value, scope, target_type)
        return ir.Effect(target, effect.op, (value,), prob=prob, param=param)

    def chance(self, chance: ast.Chance | None, node) -> tuple[float | None, str | None]:
        if chance is None:
            return None, None
        if chance.param is None:
            self.check_probability(chance.fixed, node)
            return float(chance.fixed), None
        if chance.prior is not None and not (chance.prior.a > 0 and chance.prior.b > 0):
            raise self.error("a Beta prior needs positive a and b", node, "beta(a, b) with a, b > 0")
        if chance.init is not None:
            self.check_probability(chance.init, node)
        return None, chance.param

    def check_probability(self, value: float, node) -> None:
        if not 0 <= value <= 1:
            raise self.error(f"probability {value} is outside [0, 1]", node, "a number in [0, 1]")

    def check_choice(self, choice: ast.Choice) -> None:
        labels = [o.label for o in choice.outcomes]
        if len(set(labels)) != len(labels):
            raise self.error(f"choose {choice.param} repeats a label", choice, "distinct labels")
        for part, values in (("prior", choice.prior), ("init", choice.init)):
            if values is not None and len(values) != len(labels):
                raise self.error(f"choose {choice.param} has {len(labels)} outcomes but {part} has "
                                 f"{len(values)} numbers", choice, f"{len(labels)} numbers")
        if choice.prior is not None and not all(v > 0 for v in choice.prior):
            raise self.error("a Dirichlet prior needs positive numbers", choice, "numbers > 0")
        if choice.init is not None:
            for value in choice.init:
                self.check_probability(value, choice)
            if not math.isclose(sum(choice.init), 1.0, abs_tol=1e-6):
                raise self.error(f"init of choose {choice.param} sums to {sum(choice.init):g}",
                                 choice, "probabilities that sum to 1")

    def target(self, node: ast.Expr, scope: dict) -> ir.FieldTarget | ir.CellTarget:
        expected = "an attribute (player.inventory.wood, c.health) or material(pos)"
        if isinstance(node, ast.Call) and node.function == "material" and len(node.args) == 1:
            return ir.CellTarget(self.expect(node.args[0], scope, ir.POS))
        field = self.expr(node, scope) if isinstance(node, ast.Attr) else None
        if not isinstance(field, ir.Field):
            raise self.error(f"cannot write to {format_expr(node)}", node, expected)
        low = high = None
        kind = scope[field.var].kind
        if kind == ir.CELL:
            raise self.error(f"cannot write to {format_expr(node)}: a cell's position is fixed",
                             node, "spawn KIND at c.pos or material(c.pos) = ...")
        if field.key is None:
            spec = self.schema["kinds"][kind][field.attr]
            low, high = spec.get("min"), spec.get("max")
        elif self.schema["kinds"][kind][field.attr].get("keys") == "items":
            item = self.items[field.key]
            low, high = item.get("min", 0), item.get("max")
        else:
            low, high = 0, self.schema["kinds"][kind][field.attr].get("max")
        return ir.FieldTarget(field.var, field.attr, field.key, field.type, low, high)

    # --- expressions --------------------------------------------------------------------------

    def expect(self, node: ast.Expr, scope: dict, want: str, where=None) -> ir.Node:
        """Resolve `node`, which must have type `want` (numbers: int fits float, not the reverse)."""
        value = self.expr(node, scope, hint=want)
        fits = value.type == want or (want == ir.FLOAT and value.type == ir.INT) or (
            want == "number" and value.type in ir.NUMERIC)
        if not fits:
            raise self.error(f"{format_expr(node)} is {_a(value.type)}", where or node,
                             _a(want))
        return value

    def expr(self, node: ast.Expr, scope: dict, hint: str | None = None) -> ir.Node:
        if isinstance(node, ast.Number):
            return ir.Const(node.value, ir.INT if isinstance(node.value, int) else ir.FLOAT)
        if isinstance(node, ast.Bool):
            return ir.Const(node.value, ir.BOOL)
        if isinstance(node, ast.NoneValue):
            if hint not in (ir.MATERIAL, ir.KIND):
                raise self.error("none stands for no material or no object kind", node,
                                 "a comparison with material(...) or kind_at(...)")
            return ir.Const(ir.NONE_ID, hint)
        if isinstance(node, ast.Name):
            return self.name(node, scope, hint)
        if isinstance(node, ast.Attr):
            return self.attr(node, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope, hint)
        if isinstance(node, ast.Unary):
            if node.op == "not":
                return ir.Apply("not", (self.expect(node.operand, scope, ir.BOOL),), ir.BOOL)
            operand = self.expr(node.operand, scope, hint)
            if operand.type not in (*ir.NUMERIC, ir.DIR):
                raise self.error(f"cannot negate {_a(operand.type)}", node, "a number or direction")
            return ir.Apply("neg", (operand,), operand.type)
        if isinstance(node, ast.If):
            cond = self.expect(node.cond, scope, ir.BOOL)
            then, orelse = self.pair(node.then, node.orelse, scope, hint)
            result = self.common_type(then, orelse, node)
            return ir.Apply("if", (cond, then, orelse), result)
        if isinstance(node, ast.Quantifier):
            kind = self.kind_name(node.kind, node)
            self.check_new_name(node.var, scope, node)
            inner = {**scope, node.var: _Bound(node.var, kind)}
            where = (self.expect(node.where, inner, ir.BOOL) if node.where is not None
                     else ir.Const(True, ir.BOOL))
            result = ir.BOOL if node.quantifier == "exists" else ir.INT
            return ir.Quantify(node.quantifier, self.kinds.index(kind), node.var, where, result)
        return self.binary(node, scope, hint)

    def pair(self, left: ast.Expr, right: ast.Expr, scope: dict, hint: str | None):
        """Resolve two operands whose constants take their type from each other."""
        if self.is_constant(left) and not self.is_constant(right):
            right_ir = self.expr(right, scope, hint)
            return self.expr(left, scope, right_ir.type), right_ir
        left_ir = self.expr(left, scope, hint)
        return left_ir, self.expr(right, scope, left_ir.type)

    def is_constant(self, node: ast.Expr) -> bool:
        return isinstance(node, ast.NoneValue) or (
            isinstance(node, ast.Name) and node.id not in BUILTIN_NAMES
            and node.id not in self.globals and node.id not in self.definitions)

    def common_type(self, left: ir.Node, right: ir.Node, node) -> str:
        if left.type in ir.NUMERIC and right.type in ir.NUMERIC:
            return ir.FLOAT if ir.FLOAT in (left.type, right.type) else ir.INT
        if left.type != right.type:
            raise self.error(f"mixes {_a(left.type)} and {_a(right.type)}", node, "values of one type")
        return left.type

    def binary(self, node: ast.Binary, scope: dict, hint: str | None) -> ir.Node:
        op = node.op
        if op in ast.LOGIC:
            return ir.Apply(op, (self.expect(node.left, scope, ir.BOOL),
                                 self.expect(node.right, scope, ir.BOOL)), ir.BOOL)
        if op in ast.COMPARISONS:
            left, right = self.pair(node.left, node.right, scope, None)
            kind = self.common_type(left, right, node)
            if op not in ("==", "!=") and kind not in ir.NUMERIC:
                raise self.error(f"'{op}' compares numbers, not {kind}s", node, "'==' or '!='")
            return ir.Apply(op, (left, right), ir.BOOL)
        left, right = self.pair(node.left, node.right, scope, hint)
        if op == "+" and (left.type, right.type) == (ir.POS, ir.DIR):
            return ir.Apply("pos+dir", (left, right), ir.POS)
        if left.type not in ir.NUMERIC or right.type not in ir.NUMERIC:
            bad = left if left.type not in ir.NUMERIC else right
            raise self.error(f"'{op}' on {_a(bad.type)}", node,
                             "numbers (or a position + a direction)")
        return ir.Apply(op, (left, right), self.common_type(left, right, node))

    def name(self, node: ast.Name, scope: dict, hint: str | None) -> ir.Node:
        name = node.id
        if name in scope:
            raise self.error(f"'{name}' is an object; use one of its attributes", node,
                             f"{name}.pos or another attribute")
        if name in self.definitions:
            return self.definitions[name]
        if name == "action":
            return ir.Action()
        if name == "ahead":
            player_pos = ir.Field("player", "pos", None, ir.POS)
            facing = ir.Field("player", "facing", None, ir.DIR)
            return ir.Apply("pos+dir", (player_pos, facing), ir.POS)
        if name in self.globals:
            return ir.Global(name, _SCALAR_TYPES[self.globals[name]["type"]])
        spaces = {ir.MATERIAL: self.materials, ir.ACTION: self.actions, ir.KIND: self.kinds,
                  ir.DIR: list(ir.DIRECTIONS)}
        if hint in spaces:
            names = spaces[hint]
            if name not in names:
                raise self.error(f"unknown {hint} '{name}'{_suggest(name, names)}", node,
                                 f"one of {_join(names)}")
            return self.constant(name, hint)
        found = [space for space, names in spaces.items() if name in names]
        if len(found) == 1:
            return self.constant(name, found[0])
        if found:
            raise self.error(f"'{name}' could be a {' or a '.join(found)}", node,
                             "a comparison that tells which")
        everything = ([*scope, *BUILTIN_NAMES, *self.globals, *self.definitions] + self.materials
                      + self.actions + self.kinds + list(ir.DIRECTIONS))
        raise self.error(f"unknown name '{name}'{_suggest(name, everything)}", node,
                         "a variable, action, ahead, a global, or a constant")

    def constant(self, name: str, space: str) -> ir.Const:
        if space == ir.DIR:
            return ir.Const(ir.DIRECTIONS[name], ir.DIR)
        names = {ir.MATERIAL: self.materials, ir.ACTION: self.actions, ir.KIND: self.kinds}[space]
        return ir.Const(names.index(name), space)

    def attr(self, node: ast.Attr, scope: dict) -> ir.Node:
        base = node.base
        if isinstance(base, ast.Name) and base.id in scope and scope[base.id].kind == ir.CELL:
            if node.name != "pos":
                raise self.error(f"a cell has no attribute '{node.name}'", node, f"{base.id}.pos")
            return ir.Field(base.id, "pos", None, ir.POS)
        if isinstance(base, ast.Name) and base.id in scope:
            kind = scope[base.id].kind
            attrs = self.schema["kinds"][kind]
            if node.name not in attrs:
                raise self.error(f"{_a(kind)} has no attribute '{node.name}'"
                                 f"{_suggest(node.name, attrs)}", node, f"one of {_join(attrs)}")
            kind_type = attrs[node.name]["type"]
            if kind_type not in _SCALAR_TYPES:
                raise self.error(f"{base.id}.{node.name} is {_a(kind_type)}; name one entry", node,
                                 f"{base.id}.{node.name}.<key>" if kind_type == "counts"
                                 else "an attribute of another type")
            return ir.Field(base.id, node.name, None, _SCALAR_TYPES[kind_type])
        if (isinstance(base, ast.Attr) and isinstance(base.base, ast.Name)
                and base.base.id in scope and scope[base.base.id].kind != ir.CELL):
            kind = scope[base.base.id].kind
            spec = self.schema["kinds"][kind].get(base.name, {})
            if spec.get("type") == "counts":
                keys = list(self.items) if spec["keys"] == "items" else list(spec["keys"])
                if node.name not in keys:
                    raise self.error(f"unknown {base.name} entry '{node.name}'"
                                     f"{_suggest(node.name, keys)}", node, f"one of {_join(keys)}")
                return ir.Field(base.base.id, base.name, node.name, ir.INT)
        value = self.expr(base, scope)
        if value.type in (ir.POS, ir.DIR) and node.name in ("x", "y"):
            return ir.Component(value, "xy".index(node.name))
        raise self.error(f"{_a(value.type)} has no attribute '{node.name}'", node,
                         ".x or .y of a position or direction" if value.type in (ir.POS, ir.DIR)
                         else "an object's attribute, or .x/.y of a position")

    def call(self, node: ast.Call, scope: dict, hint: str | None) -> ir.Node:
        if node.function not in FUNCTIONS:
            raise self.error(f"unknown function '{node.function}'"
                             f"{_suggest(node.function, FUNCTIONS)}", node,
                             f"one of {_join(FUNCTIONS)}")
        params, result = FUNCTIONS[node.function]
        if len(node.args) != len(params):
            raise self.error(f"{node.function} takes {len(params)} argument(s), "
                             f"got {len(node.args)}", node, f"{len(params)} argument(s)")
        args = tuple(self.expect(a, scope, p) for a, p in zip(node.args, params))
        if node.function == "near":
            radius = args[2]
            if not (isinstance(radius, ir.Const) and 0 <= radius.value <= ir.MAX_RADIUS):
                raise self.error("near's radius must be a whole number written out", node.args[2],
                                 f"a number from 0 to {ir.MAX_RADIUS}")
        if node.function == "mod":
            divisor = args[1]
            if not (isinstance(divisor, ir.Const) and 1 <= divisor.value <= ir.MAX_MODULUS):
                raise self.error("mod's divisor must be a whole number written out", node.args[1],
                                 f"a number from 1 to {ir.MAX_MODULUS}")
        if result == "number":
            result = ir.FLOAT if any(a.type == ir.FLOAT for a in args) else ir.INT
        return ir.Apply(node.function, args, result)
