"""Syntax tree to text in the one canonical layout (`lawsmith fmt` writes it).

`parse(format_program(p)) == p` for every well-formed tree, and formatting parsed text again gives
the same text. Layout: the header comment, then a blank line between laws, comments on their own lines above their law,
`for each` / `when` / `then` clauses indented two spaces, one effect per line, a long `and` chain
split one condition per line, `choose` alternatives one per line.
"""

from __future__ import annotations

from lawsmith.dsl import ast
from lawsmith.dsl.parse import escape

LINE_WIDTH = 96
_LEVEL = {"if": 0, "or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "neg": 7,
          "atom": 8}


def format_program(program: ast.Program) -> str:
    """The canonical text of a laws file (ends with one newline; empty program: empty text)."""
    blocks = ([format_definition(d) for d in program.definitions]
              + [format_law(law) for law in program.laws])
    if program.header_comments:
        blocks.insert(0, "\n".join(f"#{c}" for c in program.header_comments))
    if program.trailing_comments:
        blocks.append("\n".join(f"#{c}" for c in program.trailing_comments))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _head(keyword: str, item: ast.Law | ast.Definition) -> list[str]:
    """The comment lines and the `law NAME "description"` (or `let ...`) line."""
    head = f"{keyword} {item.name}"
    if item.description is not None:
        head += " " + escape(item.description)
    return [f"#{c}" for c in item.comments] + [head]


def format_definition(definition: ast.Definition) -> str:
    """The canonical text of one `let` (no trailing newline)."""
    return "\n".join(_head("let", definition) + ["  = " + format_expr(definition.value)])


def format_law(law: ast.Law) -> str:
    """The canonical text of one law (no trailing newline)."""
    lines = _head("law", law)
    if law.subject is not None:
        lines.append(f"  for each {law.subject.kind} {law.subject.var}")
    if law.condition is not None:
        lines.extend(_condition_lines(law.condition))
    for i, effect in enumerate(law.effects):
        lead = "  then " if i == 0 else "       "
        lines.append(lead + format_effect(effect, indent=len(lead)))
    return "\n".join(lines)


def _condition_lines(condition: ast.Expr) -> list[str]:
    one_line = "  when " + format_expr(condition)
    if len(one_line) <= LINE_WIDTH:
        return [one_line]
    parts = []
    while isinstance(condition, ast.Binary) and condition.op == "and":
        parts.append(condition.right)
        condition = condition.left
    parts.append(condition)
    parts.reverse()
    return (["  when " + _expr(parts[0], _LEVEL["and"])]
            + ["   and " + _expr(p, _LEVEL["not"]) for p in parts[1:]])


def format_effect(effect: ast.Effect, indent: int = 0) -> str:
    """The text of one effect; `indent` is the column it starts at (for multi-line `choose`)."""
    if isinstance(effect, ast.Update):
        value = effect.value
        text = f"{format_expr(effect.target)} {effect.op} "
        text += _choice(value, indent) if isinstance(value, ast.Choice) else format_expr(value)
    elif isinstance(effect, ast.Remove):
        text = f"remove {effect.var}"
    else:
        text = f"spawn {effect.kind} at {format_expr(effect.at)}"
    if effect.chance is not None:
        text += " " + _chance(effect.chance)
    return text


def _chance(chance: ast.Chance) -> str:
    if chance.param is None:
        return f"with probability {_number(chance.fixed)}"
    text = f"with probability {chance.param}"
    if chance.prior is not None:
        text += f" ~ beta({_number(chance.prior.a)}, {_number(chance.prior.b)})"
    if chance.init is not None:
        text += f" init {_number(chance.init)}"
    return text


def _choice(choice: ast.Choice, indent: int) -> str:
    pad = " " * (indent + 4)
    outcomes = ",\n".join(f"{pad}{o.label}: {format_expr(o.value)}" for o in choice.outcomes)
    text = f"choose {choice.param} {{\n{outcomes}\n{' ' * indent}}}"
    if choice.prior is not None:
        text += f" ~ dirichlet({', '.join(_number(v) for v in choice.prior)})"
    if choice.init is not None:
        text += f" init ({', '.join(_number(v) for v in choice.init)})"
    return text


def format_expr(expr: ast.Expr) -> str:
    """An expression with the fewest parentheses that parse back to the same tree."""
    return _expr(expr, 0)


def _number(value: int | float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _expr(expr: ast.Expr, context: int) -> str:
    text, level = _bare(expr)
    return f"({text})" if level < context else text


def _bare(expr: ast.Expr) -> tuple[str, int]:
    """The text of `expr` without outer parentheses, and its precedence level."""
    atom = _LEVEL["atom"]
    if isinstance(expr, ast.Number):
        return _number(expr.value), atom
    if isinstance(expr, ast.Bool):
        return ("true" if expr.value else "false"), atom
    if isinstance(expr, ast.NoneValue):
        return "none", atom
    if isinstance(expr, ast.Name):
        return expr.id, atom
    if isinstance(expr, ast.Attr):
        return f"{_expr(expr.base, atom)}.{expr.name}", atom
    if isinstance(expr, ast.Call):
        return f"{expr.function}({', '.join(format_expr(a) for a in expr.args)})", atom
    if isinstance(expr, ast.Quantifier):
        where = f" where {format_expr(expr.where)}" if expr.where is not None else ""
        return f"{expr.quantifier}({expr.kind} {expr.var}{where})", atom
    if isinstance(expr, ast.Unary):
        if expr.op == "not":
            return f"not {_expr(expr.operand, _LEVEL['not'])}", _LEVEL["not"]
        return f"-{_expr(expr.operand, _LEVEL['neg'])}", _LEVEL["neg"]
    if isinstance(expr, ast.If):
        return (f"if {format_expr(expr.cond)} then {format_expr(expr.then)} "
                f"else {format_expr(expr.orelse)}"), _LEVEL["if"]
    if isinstance(expr, ast.Binary):
        if expr.op in ast.COMPARISONS:
            level = _LEVEL["compare"]
            return f"{_expr(expr.left, level + 1)} {expr.op} {_expr(expr.right, level + 1)}", level
        level = _LEVEL[expr.op]
        return f"{_expr(expr.left, level)} {expr.op} {_expr(expr.right, level + 1)}", level
    raise TypeError(f"not an expression: {expr!r}")
