"""Canonical forms with sympy: simplified preconditions and effects, and law equivalence.

Two laws are the same when they differ only in the order of conditions and effects, in the names of
bound variables and parameters, or in arithmetic and boolean rewriting (`x + 1 > y` and `y < 1 + x`;
`a and (b or a)` and `a`; `x -= 2` and `x = x - 2`). Conditions are reduced to propositions over
atoms (comparisons put in the form `e > 0`, `e >= 0`, `e == 0` with `e` expanded by sympy, and the
other tests), and minimised by sympy, so boolean equivalence is decided exactly over the atoms;
facts across atoms (`x >= 2` implies `x >= 1`) are not used. Past MAX_LOGIC_ATOMS atoms the
exact minimisation (exponential) is skipped: and/or are then only flattened, deduplicated and sorted.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from lawsmith.dsl import ast
from lawsmith.dsl.printer import format_expr

MAX_LOGIC_ATOMS = 8
# Expanding (a+b)(c+d)... multiplies terms: 20 such factors would be 2^20 terms and minutes of
# sympy. Past this many terms an expression keeps its factored form (still canonical for the
# same text, less so across rewritings).
MAX_EXPANDED_TERMS = 2000


def canonical_key(law: ast.Law) -> tuple:
    """A hashable form equal for laws that are the same up to ordering, renaming and rewriting."""
    law = _rename(law)
    subject = law.subject.kind if law.subject is not None else None
    condition = _condition_key(law.condition)
    effects = sorted(_effect_key(e) for e in law.effects)
    params: dict[str, str] = {}
    for effect_key in effects:  # number parameters in the canonical effect order
        for name in effect_key[1]:
            params.setdefault(name, f"?{len(params)}")
    effects = tuple((text, tuple(params[n] for n in names)) for text, names in effects)
    return subject, condition, effects


def same_law(a: ast.Law, b: ast.Law) -> bool:
    """Whether two laws say the same thing (see the module docstring)."""
    return canonical_key(a) == canonical_key(b)


def dedupe(laws) -> list[ast.Law]:
    """The laws with later duplicates (by `same_law`) dropped, order kept."""
    seen, kept = set(), []
    for law in laws:
        key = canonical_key(law)
        if key not in seen:
            seen.add(key)
            kept.append(law)
    return kept


def simplify_condition(condition: ast.Expr | None) -> sympy.Basic:
    """The condition as a simplified sympy boolean over its atoms (True when absent)."""
    if condition is None:
        return sympy.true
    expr = _boolean(condition)
    if len(expr.free_symbols) > MAX_LOGIC_ATOMS:
        return expr  # And/Or arguments are still flattened, deduplicated and sorted by sympy
    return sympy.simplify_logic(expr, force=True)


# --- renaming ---------------------------------------------------------------------------------

def _rename(law: ast.Law) -> ast.Law:
    """Bound names made canonical: the subject `_o`, a quantifier's variable `_q<depth>`."""
    mapping = {law.subject.var: "_o"} if law.subject is not None else {}
    subject = ast.Subject(law.subject.kind, "_o") if law.subject is not None else None
    condition = _rename_expr(law.condition, mapping, 0) if law.condition is not None else None
    effects = tuple(_rename_effect(e, mapping) for e in law.effects)
    return replace(law, subject=subject, condition=condition, effects=effects, name="",
                   description=None, comments=())


def _rename_effect(effect: ast.Effect, mapping: dict) -> ast.Effect:
    if isinstance(effect, ast.Remove):
        return replace(effect, var=mapping.get(effect.var, effect.var))
    if isinstance(effect, ast.Spawn):
        return replace(effect, at=_rename_expr(effect.at, mapping, 0))
    value = effect.value
    if isinstance(value, ast.Choice):
        value = replace(value, outcomes=tuple(ast.Outcome(o.label, _rename_expr(o.value, mapping, 0))
                                              for o in value.outcomes))
    else:
        value = _rename_expr(value, mapping, 0)
    return replace(effect, target=_rename_expr(effect.target, mapping, 0), value=value)


def _rename_expr(expr: ast.Expr, mapping: dict, depth: int) -> ast.Expr:
    if isinstance(expr, ast.Name):
        return ast.Name(mapping.get(expr.id, expr.id))
    if isinstance(expr, ast.Attr):
        return ast.Attr(_rename_expr(expr.base, mapping, depth), expr.name)
    if isinstance(expr, ast.Call):
        return ast.Call(expr.function, tuple(_rename_expr(a, mapping, depth) for a in expr.args))
    if isinstance(expr, ast.Unary):
        return ast.Unary(expr.op, _rename_expr(expr.operand, mapping, depth))
    if isinstance(expr, ast.Binary):
        return ast.Binary(expr.op, _rename_expr(expr.left, mapping, depth),
                          _rename_expr(expr.right, mapping, depth))
    if isinstance(expr, ast.If):
        return ast.If(*(_rename_expr(e, mapping, depth) for e in (expr.cond, expr.then, expr.orelse)))
    if isinstance(expr, ast.Quantifier):
        inner = {**mapping, expr.var: f"_q{depth + 1}"}
        where = _rename_expr(expr.where, inner, depth + 1) if expr.where is not None else None
        return ast.Quantifier(expr.quantifier, expr.kind, f"_q{depth + 1}", where)
    return replace(expr, span=None) if hasattr(expr, "span") else expr


# --- conditions -------------------------------------------------------------------------------

def _condition_key(condition: ast.Expr | None) -> str:
    """The minimal form sympy's Quine-McCluskey finds; it depends only on the truth table over the
    relevant atoms (sorted by name), so equivalent conditions get the same key."""
    if condition is None:
        return "true"
    return sympy.srepr(simplify_condition(condition))


def _boolean(expr: ast.Expr) -> sympy.Basic:
    """A sympy boolean for `expr`; non-boolean-operator parts become named atoms."""
    if isinstance(expr, ast.Bool):
        return sympy.true if expr.value else sympy.false
    if isinstance(expr, ast.Unary) and expr.op == "not":
        return sympy.Not(_boolean(expr.operand))
    if isinstance(expr, ast.Binary) and expr.op in ast.LOGIC:
        return (sympy.And if expr.op == "and" else sympy.Or)(_boolean(expr.left),
                                                              _boolean(expr.right))
    if isinstance(expr, ast.Binary) and expr.op in ast.COMPARISONS:
        return _comparison(expr)
    return sympy.Symbol(_atom_text(expr))


def _atom_text(expr: ast.Expr) -> str:
    """The name of an atom; a quantifier's condition is put in canonical form first."""
    if isinstance(expr, ast.Quantifier):
        return f"{expr.quantifier}({expr.kind} {expr.var} where {_condition_key(expr.where)})"
    return format_expr(expr)


def _comparison(expr: ast.Binary) -> sympy.Basic:
    left, right = _arith(expr.left), _arith(expr.right)
    op = expr.op
    if left is None or right is None:  # not arithmetic: materials, kinds, positions...
        texts = sorted((format_expr(expr.left), format_expr(expr.right)))
        if texts[0] == texts[1]:
            return sympy.true if op in ("==", "<=", ">=") else sympy.false
        atom = sympy.Symbol(f"{texts[0]} == {texts[1]}")
        return atom if op == "==" else sympy.Not(atom)
    if op in ("<", "<="):
        left, right, op = right, left, {"<": ">", "<=": ">="}[op]
    difference = _expand(left - right)
    if op in ("==", "!=") and difference.is_number:
        return sympy.true if (difference == 0) == (op == "==") else sympy.false
    if op in ("==", "!="):
        difference = min(difference, -difference, key=sympy.srepr)
        atom = sympy.Symbol(f"{difference} == 0")
        return atom if op == "==" else sympy.Not(atom)
    if difference.is_number:
        return sympy.true if (difference > 0 if op == ">" else difference >= 0) else sympy.false
    return sympy.Symbol(f"{difference} {op} 0")


def _arith(expr: ast.Expr) -> sympy.Expr | None:
    """A sympy expression for arithmetic; None when `expr` is not a number-valued expression."""
    if isinstance(expr, ast.Number):
        return sympy.Rational(str(expr.value))
    if isinstance(expr, ast.Binary) and expr.op in ast.ARITHMETIC:
        left, right = _arith(expr.left), _arith(expr.right)
        if left is None or right is None:
            return None
        return {"+": left + right, "-": left - right, "*": left * right}[expr.op]
    if isinstance(expr, ast.Unary) and expr.op == "-":
        inner = _arith(expr.operand)
        return -inner if inner is not None else None
    if isinstance(expr, ast.Attr) and expr.name in ("pos", "facing"):
        return None
    if isinstance(expr, (ast.Name, ast.Attr, ast.Quantifier)) or (
            isinstance(expr, ast.Call) and expr.function in ("dist", "min", "max", "abs")):
        if isinstance(expr, ast.Quantifier) and expr.quantifier == "exists":
            return None
        return sympy.Symbol(_atom_text(expr))
    if isinstance(expr, ast.If):
        then, orelse = _arith(expr.then), _arith(expr.orelse)
        if then is None or orelse is None:
            return None
        return sympy.Symbol(format_expr(expr))
    return None


# --- effects ----------------------------------------------------------------------------------

def _effect_key(effect: ast.Effect) -> tuple[str, tuple[str, ...]]:
    """(text with parameters as `?`, parameter names in order)."""
    names = []
    chance = ""
    if effect.chance is not None:
        c = effect.chance
        if c.param is None:
            chance = f" with {sympy.Rational(str(c.fixed))}"
        else:
            names.append(c.param)
            chance = f" with ?~{c.prior}@{c.init}"
    if isinstance(effect, ast.Remove):
        return f"remove {effect.var}{chance}", tuple(names)
    if isinstance(effect, ast.Spawn):
        return f"spawn {effect.kind} at {_value_text(effect.at)}{chance}", tuple(names)
    target = format_expr(effect.target)
    if isinstance(effect.value, ast.Choice):
        choice = effect.value
        names.insert(0, choice.param)
        rows = []
        for i, outcome in enumerate(choice.outcomes):
            prior = choice.prior[i] if choice.prior else None
            init = choice.init[i] if choice.init else None
            rows.append(f"{_new_value(target, effect.op, outcome.value)}~{prior}@{init}")
        return f"{target} = choose ?{{{', '.join(sorted(rows))}}}", tuple(names)
    return f"{target} = {_new_value(target, effect.op, effect.value)}{chance}", tuple(names)


def _new_value(target: str, op: str, value: ast.Expr) -> str:
    number = _arith(value)
    if number is None:
        return _value_text(value) if op == "=" else f"{target} {op} {_value_text(value)}"
    old = sympy.Symbol(target)
    new = number if op == "=" else old + number if op == "+=" else old - number
    return str(_expand(new))


def _value_text(value: ast.Expr) -> str:
    number = _arith(value)
    return str(_expand(number)) if number is not None else format_expr(value)


def _expand(expr: sympy.Basic) -> sympy.Basic:
    """sympy.expand, unless the expansion would exceed MAX_EXPANDED_TERMS terms."""
    return sympy.expand(expr) if _terms(expr) <= MAX_EXPANDED_TERMS else expr


def _terms(expr: sympy.Basic) -> int:
    """An upper bound on the number of terms `expr` expands to (capped past the limit)."""
    if expr.is_Add:
        return min(sum(_terms(a) for a in expr.args), MAX_EXPANDED_TERMS + 1)
    if expr.is_Mul:
        total = 1
        for factor in expr.args:
            total = min(total * _terms(factor), MAX_EXPANDED_TERMS + 1)
        return total
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        base = _terms(expr.base)
        return 1 if base == 1 else min(base ** min(int(expr.exp), 64), MAX_EXPANDED_TERMS + 1)
    return 1
