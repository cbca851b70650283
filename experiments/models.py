"""The models an evaluation compares: a fitted laws model and the reference models True, Null and
Random (the baselines of a laws model are laws models too: experiments/baselines.py).

Every model answers two questions about a transition from a plain state:

    model.log_prob(state, action, next_state, scored=None) -> float   # higher: more plausible
    model.sample(state, action, seed) -> dict            # a next state

`scored(observable_name) -> bool`, when given, limits `log_prob` to the terms of the observables it
accepts (the `onelife` protocol scores fewer observables than the default, see
`experiments.onelife`); it must answer alike for every member of an observable class, since a laws
model sums unexplained unchanged observables per class.

The True model is the world itself. The real Crafter gives no probabilities, so its `log_prob` is
estimated from `samples` draws of the true transition with fresh randomness, per observable (how
often each value came up among the draws, add-alpha smoothed with one bucket for every value that
did not), which is also the oracle of held-out NLL (experiments/oracle.py: the estimate, what it
assumes, and how many draws it needs).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Protocol

import numpy as np

from lawsmith.dsl.predictions import cell_observable, exists_observable, field_observable, spawn_observable
from lawsmith.experiments.oracle import SMOOTHING, Draws, Scored
from lawsmith.laws.model import LogProb, WorldModel
from lawsmith.laws.observables import StateView, changed_observables


class EvalModel(Protocol):
    name: str

    def log_prob(self, state: dict, action: str, next_state: dict,
                 scored: Scored | None = None) -> float: ...

    def sample(self, state: dict, action: str, seed: int) -> dict: ...


def comparable(state: dict) -> dict:
    """What a prediction is judged on: the grid and the objects (by id), without the engine's
    bookkeeping or the clock; a whole-number float is the int it equals (Crafter's counters hold
    1 or 1.0 depending on their history, and the observables compare them equal)."""
    return {"grid": state["grid"],
            "objects": [_whole(obj) for obj in sorted(state["objects"], key=lambda o: o["id"])]}


def _whole(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value


class LawModel:
    """A fitted laws model (a model folder, or laws fitted in memory). `unexplained=False` samples
    only what the laws predict (cheaper and steadier rollouts for planning)."""

    def __init__(self, model: WorldModel, name: str, unexplained: bool = True):
        self.model, self.name, self.unexplained = model, name, unexplained

    def log_prob(self, state: dict, action: str, next_state: dict,
                 scored: Scored | None = None) -> float:
        result = self.model.log_prob(state, action, next_state)
        return result.total if scored is None else scored_total(result, scored)

    def sample(self, state: dict, action: str, seed: int) -> dict:
        return self.model.sample(state, action, seed, unexplained=self.unexplained)


class TrueModel:
    """The world itself: samples are real transitions with fresh randomness; `log_prob` is the
    per-observable estimate from `samples` draws (see the module docstring)."""

    def __init__(self, world, samples: int = 32, smoothing: float = SMOOTHING,
                 name: str = "True"):
        self.world, self.samples, self.smoothing, self.name = world, samples, smoothing, name
        self._draws: tuple | None = None

    def sample(self, state: dict, action: str, seed: int) -> dict:
        reseeded = copy.deepcopy(state)
        if "engine" in reseeded and "seed" in reseeded["engine"]:
            reseeded["engine"]["seed"] = _mix(state["engine"]["seed"], seed)
        return self.world.transition(reseeded, action)

    def draws(self, state: dict, action: str, scored: Scored | None = None) -> Draws:
        """`samples` true next states of (state, action), summarised for scoring (the last one
        asked for is cached: a trial scores all its candidates against the same draws)."""
        key = (_digest(state, action), id(scored))
        if self._draws is None or self._draws[0] != key:
            draws = [self.sample(state, action, k) for k in range(self.samples)]
            self._draws = (key, Draws(state, draws, self.world.schema, scored))
        return self._draws[1]

    def log_prob(self, state: dict, action: str, next_state: dict,
                 scored: Scored | None = None) -> float:
        return sum(self.draws(state, action, scored).terms(next_state, self.smoothing).values())


class NullModel:
    """Nothing changes: the state itself is the prediction; every changed observable costs the
    same."""

    name = "Null"
    COST = math.log(1e3)

    def __init__(self, schema: dict):
        self.schema = schema

    def log_prob(self, state: dict, action: str, next_state: dict,
                 scored: Scored | None = None) -> float:
        before, after = StateView(state, self.schema), StateView(next_state, self.schema)
        return -self.COST * sum(1 for o in changed_observables(before, after, self.schema)
                                if scored is None or scored(o.name))

    def sample(self, state: dict, action: str, seed: int) -> dict:
        return {**copy.deepcopy(state), "step": state["step"] + 1}


class RandomModel:
    """Scores every candidate with an independent random number (a seeded stream: the same run
    gives the same scores; each trial is a fresh random ranking, so its mean tends to the chance
    line; `scored` makes no difference); samples move one random object one cell, or change
    nothing."""

    name = "Random"

    def __init__(self, schema: dict, seed: int = 0):
        self.schema, self.seed = schema, seed
        self._scores = np.random.default_rng([seed, 0x5EED])

    def log_prob(self, state: dict, action: str, next_state: dict,
                 scored: Scored | None = None) -> float:
        return -float(self._scores.exponential(10.0))

    def sample(self, state: dict, action: str, seed: int) -> dict:
        rng = np.random.default_rng(seed)
        new = {**copy.deepcopy(state), "step": state["step"] + 1}
        movable = [o for o in new["objects"] if "pos" in o]
        if movable and rng.random() < 0.5:
            obj = movable[int(rng.integers(len(movable)))]
            dx, dy = [(-1, 0), (1, 0), (0, -1), (0, 1)][int(rng.integers(4))]
            width, height = self.schema["grid"]["width"], self.schema["grid"]["height"]
            obj["pos"] = [min(max(obj["pos"][0] + dx, 0), width - 1),
                          min(max(obj["pos"][1] + dy, 0), height - 1)]
        return new


def scored_total(result: LogProb, scored: Scored) -> float:
    """A laws model's log-probability over the scored observables only: their predicted and
    unexplained terms, and the unchanged sums of their classes."""
    terms = [term for term in result.predicted + result.unexplained if scored(term.observable)]
    return (sum(term.log_prob for term in terms)
            + sum(value for group, value in result.unchanged.items()
                  if scored(class_member(group))))


def class_member(group: str) -> str:
    """The name of an observable of class `group` (see `laws.observables.Observable.group`)."""
    if group == "grid":
        return cell_observable(0, 0)
    head, _, rest = group.partition(".")
    if head == "spawn":
        return spawn_observable(rest, 0, 0)
    if rest == "exists":
        return exists_observable(head, 0)
    attr, _, key = rest.partition(".")
    return field_observable(head, 0, attr, key or None)


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _mix(seed: int, k: int) -> int:
    """A fresh seed for draw `k` of a state's transition."""
    return int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:8], 16)
