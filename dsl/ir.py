"""Checked laws: names resolved against a schema, every expression typed. Both back ends run this form.

`dsl.check.resolve` builds it from the syntax tree. Constants are already numbers here: a material is
its index in the schema's `materials` (in order), a kind its index in `kinds`, an action its index in
`actions`, a direction an (dx, dy) pair; `-1` stands for `none` (no object, or outside the grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Value types of expressions.
INT, FLOAT, BOOL, MATERIAL, KIND, ACTION, POS, DIR = (
    "int", "float", "bool", "material", "kind", "action", "pos", "dir")
NUMERIC = (INT, FLOAT)
NONE_ID = -1
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
MAX_RADIUS = 16
# mod(a, n) takes a written-out n from 1 to this (so it never divides by zero).
MAX_MODULUS = 1_000_000


@dataclass(frozen=True)
class Const:
    value: int | float | bool | tuple[int, int]
    type: str


@dataclass(frozen=True)
class Field:
    """Attribute `attr` of the object bound to `var` (`key` set: an entry of a counts attribute)."""
    var: str
    attr: str
    key: str | None
    type: str


@dataclass(frozen=True)
class Global:
    """A global value of the state (`step`, `daylight`)."""
    name: str
    type: str


@dataclass(frozen=True)
class Action:
    """The action taken (its index)."""
    type: str = ACTION


@dataclass(frozen=True)
class Component:
    """`.x` or `.y` of a position or direction."""
    operand: "Node"
    axis: int
    type: str = INT


@dataclass(frozen=True)
class Apply:
    """An operator or built-in function on typed arguments.

    ops: `+ - *` (numbers), `pos+dir`, `neg` (number or dir), `== != < <= > >=`, `and or not`,
    `if` (cond, then, else), `min max abs`, `material kind_at free moved dist toward
    toward_short near mod`.
    """
    op: str
    args: tuple["Node", ...]
    type: str


@dataclass(frozen=True)
class Quantify:
    """`exists` (bool) or `count` (int) over the objects of kind index `kind`, bound as `var`."""
    quantifier: str
    kind: int
    var: str
    where: "Node"
    type: str


@dataclass(frozen=True)
class Named:
    """A `let` definition's value where a law uses it. It reads only the player, the action and
    the globals, so a back end may compute it once per state (the Python one does)."""
    name: str
    value: "Node"
    type: str


Node = Union[Const, Field, Global, Action, Component, Apply, Quantify, Named]

CELL = "cell"   # `for each cell c`: the pseudo-kind of grid cells (never a schema kind)


def mentions(node: Node, var: str) -> bool:
    """Whether `node` reads the bound name `var` (definitions never read a law's object)."""
    if isinstance(node, Field):
        return node.var == var
    if isinstance(node, Component):
        return mentions(node.operand, var)
    if isinstance(node, Apply):
        return any(mentions(arg, var) for arg in node.args)
    if isinstance(node, Quantify):
        return node.var != var and mentions(node.where, var)
    return False


def split_condition(law: "Law") -> tuple[Node, Node]:
    """(the conditions that do not read the law's bound name, those that do), each as one `and`:
    both back ends check the first once per state before visiting the cells of a cell law."""
    parts = conjuncts(law.condition)
    return (all_of([p for p in parts if not mentions(p, law.var)]),
            all_of([p for p in parts if mentions(p, law.var)]))


def conjuncts(node: Node) -> list[Node]:
    """The operands of a chain of `and`s (the node itself when it is not one)."""
    if isinstance(node, Apply) and node.op == "and":
        return conjuncts(node.args[0]) + conjuncts(node.args[1])
    return [node]


def all_of(nodes: list[Node]) -> Node:
    """The `and` of `nodes` (true when empty)."""
    if not nodes:
        return Const(True, BOOL)
    result = nodes[0]
    for node in nodes[1:]:
        result = Apply("and", (result, node), BOOL)
    return result


# --- effects ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldTarget:
    """An object attribute (or counts entry); `low`/`high` are the schema's caps (None: none)."""
    var: str
    attr: str
    key: str | None
    type: str
    low: float | None
    high: float | None


@dataclass(frozen=True)
class CellTarget:
    """The grid cell at `pos` (its material)."""
    pos: Node


@dataclass(frozen=True)
class ExistsTarget:
    """Whether the object bound to `var` still exists (`remove`)."""
    var: str


@dataclass(frozen=True)
class SpawnTarget:
    """Whether a new object of kind index `kind` appears at `pos` (`spawn`)."""
    kind: int
    pos: Node


Target = Union[FieldTarget, CellTarget, ExistsTarget, SpawnTarget]


@dataclass(frozen=True)
class Effect:
    """One observable's prediction.

    `outcomes` are the value expressions combined with the old value by `op` (`=`, `+=`, `-=`):
    - one outcome, no `prob` and no `param`: deterministic;
    - one outcome with `prob` (fixed) or `param` (Bernoulli parameter): it happens with that
      probability, otherwise the observable keeps its value;
    - several outcomes with `param` (categorical parameter, one probability per label).
    """
    target: Target
    op: str
    outcomes: tuple[Node, ...]
    labels: tuple[str, ...] = ()
    prob: float | None = None
    param: str | None = None


@dataclass(frozen=True)
class Law:
    """A checked law; `kind`/`var` set for `for each` laws (kind index, bound name). A law `for
    each cell` has `cells` set, `kind` None and `var` bound to every grid cell (its only attribute
    is `pos`)."""
    name: str
    kind: int | None
    var: str | None
    condition: Node
    effects: tuple[Effect, ...]
    cells: bool = False


@dataclass(frozen=True)
class Parameter:
    """A named stochastic parameter: `bernoulli` (one probability) or `categorical` (one per label),
    with an optional prior (Beta (a, b) or Dirichlet concentrations) and initial value(s)."""
    name: str
    kind: str
    labels: tuple[str, ...]
    prior: tuple[float, ...] | None
    init: tuple[float, ...] | None


@dataclass(frozen=True)
class Program:
    """Checked laws and the parameters they name (by name), for one schema."""
    laws: tuple[Law, ...]
    parameters: dict[str, Parameter]
