"""The world's clock: how the globals other than `step` follow the step counter.

Laws read globals (Crafter's `daylight`) but do not predict them; a simulator still has to advance
them. `fit_clock` reads, from the states of a trace, each numeric global's value at each step
number it was seen at, and looks for the shortest period that agrees with every pair of steps
seen that far apart (at least `MIN_OVERLAP` pairs and a tenth of the period). The fitted clock is
stored in `params.json` as

    {"period": P or null, "values": {name: [v_0, ..., v_T]}}

and gives a global's value at step s as values[s % P] when a period was found, else values[s]
(held at v_T beyond the last step seen). Steps never seen inside the range take the nearest seen
step's value. No clock (an older model folder): the globals keep their values.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

MIN_OVERLAP = 8
TOLERANCE = 1e-9
MAX_STEPS = 1_000_000   # a clock longer than this is not kept (a table, not a formula)


def fit_clock(states: Iterable[dict], schema: dict) -> dict | None:
    """The clock of the numeric globals other than `step` seen in `states`; None when there are
    none, or when some global is not a function of the step (then it is not a clock)."""
    names = [name for name, spec in schema.get("globals", {}).items()
             if name != "step" and spec.get("type") in ("int", "float")]
    if not names:
        return None
    seen: dict[int, tuple] = {}
    for state in states:
        step = state.get("step")
        if not isinstance(step, int) or not 0 <= step < MAX_STEPS:
            continue
        values = tuple(state.get(name) for name in names)
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
               for v in values):
            return None
        if step in seen and any(abs(a - b) > TOLERANCE for a, b in zip(seen[step], values)):
            return None   # two values at one step: not a clock
        seen[step] = values
    if not seen:
        return None
    last = max(seen)
    filled, nearest = [], sorted(seen)
    for step in range(last + 1):
        if step in seen:
            filled.append(seen[step])
        else:   # nearest seen step (ties: the earlier)
            filled.append(seen[min(nearest, key=lambda s: (abs(s - step), s))])
    period = _period(seen)
    values = {name: [float(v[i]) for v in filled] for i, name in enumerate(names)}
    if period is not None:
        values = {name: [values[name][s] if s in seen else _value_mod(seen, names.index(name), s,
                                                                      period, values[name])
                         for s in range(period)] for name in names}
    return {"period": period, "values": values}


def _value_mod(seen: dict, index: int, step: int, period: int, fallback: list) -> float:
    """A step not seen: a seen step in the same phase, else the filled table's value."""
    for other in range(step % period, max(seen) + 1, period):
        if other in seen:
            return float(seen[other][index])
    return fallback[step]


def _period(seen: dict[int, tuple]) -> int | None:
    """The shortest period every pair of seen steps that far apart agrees with."""
    last = max(seen)
    table = np.full((last + 1, len(next(iter(seen.values())))), np.nan)
    for step, values in seen.items():
        table[step] = values
    known = ~np.isnan(table[:, 0])
    for period in range(1, last + 1):
        both = known[:-period] & known[period:]
        if both.sum() < max(MIN_OVERLAP, period / 10):
            continue
        if np.all(np.abs(table[:-period][both] - table[period:][both]) <= TOLERANCE):
            return period
    return None


class Clock:
    """A fitted clock as tensors: `at(step)` gives every global's value at steps [N]."""

    def __init__(self, clock: dict | None, names: Sequence[str], device="cpu"):
        self.period = clock.get("period") if clock else None
        self.names = [n for n in names if clock and n in clock.get("values", {})]
        self.tables = {n: torch.tensor(clock["values"][n], dtype=torch.float64, device=device)
                       for n in self.names}

    def at(self, step: torch.Tensor) -> dict[str, torch.Tensor]:
        result = {}
        for name, table in self.tables.items():
            index = (step % self.period if self.period else step.clamp(max=len(table) - 1))
            result[name] = table[index.clamp(min=0)]
        return result

    def value(self, name: str, step: int) -> float | None:
        """One global at one step (None: not on the clock)."""
        if name not in self.tables:
            return None
        return float(self.at(torch.tensor([step]))[name][0])
