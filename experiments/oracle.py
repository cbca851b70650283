"""The oracle: the real game's probability of a next state, estimated from repeated draws.

Crafter gives no probabilities, only samples. For a transition (s, a, s') the True model draws the
real next state `n` times with fresh randomness and scores s' per observable (every observable
that changed in some draw or in s'):

    log p(s' | s, a) ~= sum over observables o of log p_hat(o = s'_o),
    p_hat(v) = (count(v) + alpha) / (n + alpha * (seen + 1))          for a value v some draw took,
    p_hat(v) = alpha / (n + alpha * (seen + 1)) / (D_o - seen)         for any other value,

`seen` the distinct values the draws took and D_o the observable's domain size. What this assumes:
observables are independent given (s, a) (the product of marginals: joint effects, such as a cow's
x and y moving together, are scored as if separate), and a value no draw took shares one
alpha-bucket with every other unseen value. It is an estimate of the true conditional entropy that
is biased high for small `n` (rare outcomes fall into the unseen bucket), so `convergence` doubles
`n` until the held-out NLL moves by less than `TOLERANCE`, and the evaluation uses that `n`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Callable, Sequence

from lawsmith.dsl.predictions import field_observable
from lawsmith.laws.observables import (Observable, StateView, changed_observables, domain_size,
                              parse_observable)

Scored = Callable[[str], bool]

SMOOTHING = 0.5
TOLERANCE = 0.02          # relative change of the held-out NLL when the draws double
LADDER = (8, 16, 32, 64, 128, 256)


def value_of(view: StateView, observable: Observable, before: StateView,
             scored: Scored | None = None):
    """An observable's value, where a spawn is judged with the new objects' (scored) attributes too
    (the truth's new plant has health 1; a distractor's with health 0 is not the same outcome)."""
    if observable.what != "spawn":
        return view.value(observable, before)
    return tuple(sorted(json.dumps(_attributes(obj, scored), sort_keys=True)
                        for obj in view.state["objects"]
                        if obj["kind"] == observable.kind and tuple(obj["pos"]) == observable.cell
                        and obj["id"] not in before.by_id))


def _attributes(obj: dict, scored: Scored | None) -> dict:
    """A new object's attributes without its id (and, given `scored`, only the scored ones)."""
    return {k: v for k, v in obj.items() if k != "id" and (
        scored is None or k == "kind" or scored(field_observable(obj["kind"], obj["id"], k, None)))}


class Draws:
    """Draws of the true next state of one (state, action), summarised once for scoring many
    candidates: per draw, the value of every observable that changed (only the `scored` ones,
    when given)."""

    def __init__(self, state: dict, draws: Sequence[dict], schema: dict,
                 scored: Scored | None = None):
        self.schema, self.scored = schema, scored
        self.before = StateView(state, schema)
        self.observables: dict[str, Observable] = {}
        self.views = [StateView(draw, schema) for draw in draws]
        self.changes = [self._changed(view) for view in self.views]

    def _changed(self, view: StateView) -> dict[str, object]:
        changed = {}
        for o in changed_observables(self.before, view, self.schema):
            if self.scored is None or self.scored(o.name):
                self.observables.setdefault(o.name, o)
                changed[o.name] = value_of(view, o, self.before, self.scored)
        return changed

    def terms(self, next_state: dict, smoothing: float = SMOOTHING,
              count: int | None = None) -> dict[str, float]:
        """log p_hat per observable of `next_state` from the first `count` draws (all: None)."""
        changes, views = self.changes[:count], self.views[:count]
        candidate = StateView(next_state, self.schema)
        mine = self._changed(candidate)
        terms = {}
        for name in set(mine).union(*changes):
            observable = self.observables[name]
            # An observable a draw did not change may still read differently there (the
            # attributes of an object that vanished), so unchanged values are read, not assumed.
            values = [change[name] if name in change else
                      value_of(view, observable, self.before, self.scored)
                      for change, view in zip(changes, views)]
            own = mine[name] if name in mine else value_of(candidate, observable, self.before,
                                                           self.scored)
            terms[name] = _log_p(values, own, domain_size(observable, self.schema), smoothing)
        return terms


def _log_p(values: list, mine, domain: int, smoothing: float) -> float:
    seen = set(values)
    norm = len(values) + smoothing * (len(seen) + 1)
    if mine in seen:
        return math.log((values.count(mine) + smoothing) / norm)
    return math.log(smoothing / norm / max(domain - len(seen), 1))


def convergence(draw: Callable[[dict, str, int], dict], transitions: Sequence[tuple],
                schema: dict, ladder: Sequence[int] = LADDER, tolerance: float = TOLERANCE,
                smoothing: float = SMOOTHING,
                progress: Callable[[int], None] | None = None) -> dict:
    """The oracle's held-out NLL per transition for each number of draws in `ladder` (the first n
    of the same draws each time), per observable class too, and the smallest n whose NLL moves by
    less than `tolerance` (relative) when the draws double. `draw(state, action, k)` is the k-th
    fresh draw of the real next state."""
    totals = defaultdict(float)
    per_class: dict[int, dict[str, float]] = {n: defaultdict(float) for n in ladder}
    for index, (state, action, next_state) in enumerate(transitions):
        draws = Draws(state, [draw(state, action, k) for k in range(max(ladder))], schema)
        for n in ladder:
            for name, log_p in draws.terms(next_state, smoothing, n).items():
                totals[n] -= log_p
                per_class[n][_class(name)] -= log_p
        if progress:
            progress(index + 1)
    count = max(len(transitions), 1)
    nll = [totals[n] / count for n in ladder]
    chosen, converged = ladder[-1], False
    for i in range(len(ladder) - 1):
        if abs(nll[i + 1] - nll[i]) <= tolerance * abs(nll[i + 1]):
            chosen, converged = ladder[i], True
            break
    return {"draws": list(ladder), "nll": nll, "chosen": chosen, "converged": converged,
            "tolerance": tolerance, "transitions": len(transitions),
            "per_class": {n: {c: v / count for c, v in sorted(per_class[n].items())}
                          for n in ladder}}


def _class(name: str) -> str:
    return parse_observable(name).group
