"""The law language's syntax tree: frozen dataclasses, one per construct.

Every node may carry a `span` (where its text starts); spans take no part in equality, so a tree
parsed from text equals the same tree built in code, and `parse(format(tree)) == tree`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Span:
    """Where a node's text starts (1-based line and column)."""
    line: int
    column: int


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)


# --- expressions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    """A non-negative literal: int, or float when written with a point or exponent."""
    value: int | float
    span: Span | None = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span | None = _span()


@dataclass(frozen=True)
class NoneValue:
    """`none`: no object kind here, or no material (outside the grid)."""
    span: Span | None = _span()


@dataclass(frozen=True)
class Name:
    """A bare name: a bound object, a global (`daylight`), `action`, `ahead`, or a constant
    (material, action, kind, direction) resolved by the checker from the context."""
    id: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Attr:
    """`base.name`: an object's attribute, a counts entry (`player.inventory.wood`), `pos.x`."""
    base: "Expr"
    name: str
    span: Span | None = _span()


@dataclass(frozen=True)
class Call:
    """A built-in function applied to arguments, e.g. `material(ahead)`, `dist(z.pos, player.pos)`."""
    function: str
    args: tuple["Expr", ...]
    span: Span | None = _span()


@dataclass(frozen=True)
class Unary:
    """`not x` or `-x`."""
    op: str
    operand: "Expr"
    span: Span | None = _span()


@dataclass(frozen=True)
class Binary:
    """`left op right` for op in and, or, +, -, * and the comparisons ==, !=, <, <=, >, >=."""
    op: str
    left: "Expr"
    right: "Expr"
    span: Span | None = _span()


@dataclass(frozen=True)
class If:
    """`if cond then a else b`."""
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: Span | None = _span()


@dataclass(frozen=True)
class Quantifier:
    """`exists(kind var where cond)` or `count(kind var where cond)`: over the objects of one kind."""
    quantifier: str
    kind: str
    var: str
    where: "Expr | None"
    span: Span | None = _span()


Expr = Union[Number, Bool, NoneValue, Name, Attr, Call, Unary, Binary, If, Quantifier]

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
ARITHMETIC = ("+", "-", "*")
LOGIC = ("and", "or")


# --- effects ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Beta:
    """A Beta(a, b) prior on a probability parameter."""
    a: float
    b: float


@dataclass(frozen=True)
class Chance:
    """`with probability ...`: a fixed number, or a named parameter with optional prior and initial value.

    Exactly one of `fixed` and `param` is set.
    """
    fixed: float | None = None
    param: str | None = None
    prior: Beta | None = None
    init: float | None = None


@dataclass(frozen=True)
class Outcome:
    """One labelled alternative of a `choose`."""
    label: str
    value: Expr


@dataclass(frozen=True)
class Choice:
    """`choose param { label: value, ... } ~ dirichlet(...) init (...)`: a categorical over values whose
    probabilities are the named parameter `param` (one entry per label)."""
    param: str
    outcomes: tuple[Outcome, ...]
    prior: tuple[float, ...] | None = None
    init: tuple[float, ...] | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Update:
    """`target op value [with probability p]`; op is `=`, `+=` or `-=`; the target is an attribute path
    or `material(pos)` (a grid cell)."""
    target: Expr
    op: str
    value: "Expr | Choice"
    chance: Chance | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Remove:
    """`remove var`: the bound object disappears."""
    var: str
    chance: Chance | None = None
    span: Span | None = _span()


@dataclass(frozen=True)
class Spawn:
    """`spawn kind at pos`: a new object of `kind` appears at `pos`."""
    kind: str
    at: Expr
    chance: Chance | None = None
    span: Span | None = _span()


Effect = Union[Update, Remove, Spawn]


# --- laws -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subject:
    """`for each kind var`: the law applies to every object of `kind`, bound as `var`."""
    kind: str
    var: str


@dataclass(frozen=True)
class Law:
    """One law: when `condition` holds (absent: always), the `effects` predict the next state."""
    name: str
    effects: tuple[Effect, ...]
    description: str | None = None
    subject: Subject | None = None
    condition: Expr | None = None
    comments: tuple[str, ...] = ()
    span: Span | None = _span()


@dataclass(frozen=True)
class Definition:
    """`let name ["description"] = value`: a named expression that laws (and later definitions)
    use by name; it may read the player, the action, `ahead` and the globals, not a law's object."""
    name: str
    value: Expr
    description: str | None = None
    comments: tuple[str, ...] = ()
    span: Span | None = _span()


@dataclass(frozen=True)
class Program:
    """A laws file: a header comment (separated from the first law by a blank line; empty when
    there are no laws), its laws in order, and comments after the last law; `definitions`
    (`let`), in order, are printed before the laws. `source` is the text it was parsed from (for error
    messages), not part of equality."""
    laws: tuple[Law, ...]
    trailing_comments: tuple[str, ...] = ()
    header_comments: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)
    definitions: tuple[Definition, ...] = ()


def parameter_names(law: Law) -> list[str]:
    """The named parameters of a law's effects, in effect order (a name its effects share comes
    once per effect)."""
    names = []
    for effect in law.effects:
        chance = getattr(effect, "chance", None)
        if chance is not None and chance.param:
            names.append(chance.param)
        if isinstance(effect, Update) and isinstance(effect.value, Choice):
            names.append(effect.value.param)
    return names


def conjuncts(expr: Expr) -> list[Expr]:
    """The operands of a chain of `and`s (the expression itself when it is not one); the parsed
    twin of `dsl.ir.conjuncts`."""
    if isinstance(expr, Binary) and expr.op == "and":
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def conjoin(terms: list[Expr]) -> Expr:
    """The `and` of one or more expressions, left to right."""
    result = terms[0]
    for term in terms[1:]:
        result = Binary("and", result, term)
    return result


def inline_definitions(program: Program) -> Program:
    """The program with every use of a `let` replaced by its expression and no definitions left
    (for tools that take laws one at a time, such as the LLM grammar). Unknown names stay."""
    known: dict[str, Expr] = {}
    for definition in program.definitions:
        known[definition.name] = _substitute(definition.value, known)
    laws = tuple(_substitute(law, known) for law in program.laws)
    return Program(laws, program.trailing_comments, program.header_comments, program.source)


def _substitute(node, known: dict):
    if isinstance(node, Name):
        return known.get(node.id, node)
    if isinstance(node, tuple):
        return tuple(_substitute(item, known) for item in node)
    if hasattr(node, "__dataclass_fields__") and not isinstance(node, Span):
        changes = {f: _substitute(getattr(node, f), known) for f in node.__dataclass_fields__
                   if f != "span"}
        return dataclasses.replace(node, **changes)
    return node
