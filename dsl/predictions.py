"""What a law predicts, in the same form from both back ends: per firing law, per observable, a
distribution over next values (a point, a Bernoulli between two values, or a categorical).

Observables are named as the rest of lawsmith names them:
`player.pos`, `player.inventory.wood`, `cow[7].health`, `cow[7].exists`, `grid[12,30]` (the
material of cell x=12, y=30) and `spawn.plant[12,30]` (a new plant appears on that cell).
Values are plain: numbers, booleans, (x, y) tuples for positions and directions, material names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """The distribution one law gives one observable.

    - `point`: `values == (v,)`, certainly v;
    - `bernoulli`: `values == (happens, otherwise)`; probability `prob` (fixed) or parameter `param`;
    - `categorical`: `values[i]` has the probability of label `labels[i]` of parameter `param`.
    Equal values may repeat (a blocked move and staying both keep the position).
    """
    observable: str
    kind: str
    values: tuple[Any, ...]
    labels: tuple[str, ...] = ()
    prob: float | None = None
    param: str | None = None


@dataclass(frozen=True)
class Firing:
    """A law whose precondition held, for the object `object_id` (`for each` laws) or the state."""
    law: str
    object_id: int | None
    predictions: tuple[Prediction, ...]


def field_observable(kind: str, object_id: int, attr: str, key: str | None) -> str:
    """`player.attr[.key]` for the player, `kind[id].attr[.key]` for other objects."""
    owner = "player" if kind == "player" else f"{kind}[{object_id}]"
    return f"{owner}.{attr}" + (f".{key}" if key is not None else "")


def cell_observable(x: int, y: int) -> str:
    return f"grid[{x},{y}]"


def exists_observable(kind: str, object_id: int) -> str:
    return f"{kind}[{object_id}].exists"


def spawn_observable(kind: str, x: int, y: int) -> str:
    return f"spawn.{kind}[{x},{y}]"


def distribution(observable: str, values: tuple, labels: tuple[str, ...], prob: float | None,
                 param: str | None, old: Any) -> Prediction:
    """The Prediction for an effect's outcome values (before `old`, kept when a chance fails)."""
    if labels:
        return Prediction(observable, "categorical", values, labels, param=param)
    if prob is not None or param is not None:
        return Prediction(observable, "bernoulli", (values[0], old), prob=prob, param=param)
    return Prediction(observable, "point", values)
