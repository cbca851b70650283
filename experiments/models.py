"""The models an evaluation compares: a fitted laws model, the reference models True, Null and Random,
and a PoE-World-style baseline (the same laws with their preconditions removed, weights fitted).

Every model answers two questions about a transition from a plain state:

    model.log_prob(state, action, next_state) -> float   # higher: more plausible
    model.sample(state, action, seed) -> dict            # a next state

The True model is the world itself. The real Crafter gives no probabilities, so its `log_prob` is
estimated from `samples` draws of the true transition with fresh randomness, per observable (how
often each value came up among the draws, add-alpha smoothed with one bucket for every value that
did not), which is also the oracle of held-out NLL.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
from typing import Protocol

import numpy as np

from dsl import format_law, parse
from laws.model import WorldModel
from laws.observables import StateView, changed_observables, domain_size


class EvalModel(Protocol):
    name: str

    def log_prob(self, state: dict, action: str, next_state: dict) -> float: ...

    def sample(self, state: dict, action: str, seed: int) -> dict: ...


def comparable(state: dict) -> dict:
    """What a prediction is judged on: the grid and the objects (by id), without the engine's
    bookkeeping or the clock."""
    return {"grid": state["grid"],
            "objects": sorted(state["objects"], key=lambda o: o["id"])}


class LawModel:
    """A fitted laws model (a model folder, or laws fitted in memory). `unexplained=False` samples
    only what the laws predict (cheaper and steadier rollouts for planning)."""

    def __init__(self, model: WorldModel, name: str, unexplained: bool = True):
        self.model, self.name, self.unexplained = model, name, unexplained

    def log_prob(self, state: dict, action: str, next_state: dict) -> float:
        return self.model.log_prob(state, action, next_state).total

    def sample(self, state: dict, action: str, seed: int) -> dict:
        return self.model.sample(state, action, seed, unexplained=self.unexplained)


class TrueModel:
    """The world itself: samples are real transitions with fresh randomness; `log_prob` is the
    per-observable estimate from `samples` draws (see the module docstring)."""

    def __init__(self, world, samples: int = 32, smoothing: float = 0.5, name: str = "True"):
        self.world, self.samples, self.smoothing, self.name = world, samples, smoothing, name
        self._draws: dict[str, list[dict]] = {}

    def sample(self, state: dict, action: str, seed: int) -> dict:
        reseeded = copy.deepcopy(state)
        if "engine" in reseeded and "seed" in reseeded["engine"]:
            reseeded["engine"]["seed"] = _mix(state["engine"]["seed"], seed)
        return self.world.transition(reseeded, action)

    def draws(self, state: dict, action: str) -> list[dict]:
        """`samples` true next states (cached per (state, action))."""
        key = _digest(state, action)
        if key not in self._draws:
            self._draws = {key: [self.sample(state, action, k) for k in range(self.samples)]}
        return self._draws[key]

    def log_prob(self, state: dict, action: str, next_state: dict) -> float:
        schema = self.world.schema
        before = StateView(state, schema)
        views = [StateView(draw, schema) for draw in self.draws(state, action)]
        candidate = StateView(next_state, schema)
        observables = {o.name: o for view in views + [candidate]
                       for o in changed_observables(before, view, schema)}
        total = 0.0
        for observable in observables.values():
            values = [_value(view, observable, before) for view in views]
            seen = set(values)
            mine = _value(candidate, observable, before)
            # Add-alpha over the values the draws took plus one bucket for all others, which is
            # spread evenly over the rest of the domain.
            norm = len(values) + self.smoothing * (len(seen) + 1)
            if mine in seen:
                total += math.log((values.count(mine) + self.smoothing) / norm)
            else:
                rest = max(domain_size(observable, schema) - len(seen), 1)
                total += math.log(self.smoothing / norm / rest)
        return total


class NullModel:
    """Nothing changes: the state itself is the prediction; every changed observable costs the
    same."""

    name = "Null"
    COST = math.log(1e3)

    def __init__(self, schema: dict):
        self.schema = schema

    def log_prob(self, state: dict, action: str, next_state: dict) -> float:
        before, after = StateView(state, self.schema), StateView(next_state, self.schema)
        return -self.COST * sum(1 for _ in changed_observables(before, after, self.schema))

    def sample(self, state: dict, action: str, seed: int) -> dict:
        return {**copy.deepcopy(state), "step": state["step"] + 1}


class RandomModel:
    """Scores every candidate at random (seeded by the candidate, so it is repeatable); samples
    move one random object one cell, or change nothing."""

    name = "Random"

    def __init__(self, schema: dict, seed: int = 0):
        self.schema, self.seed = schema, seed

    def log_prob(self, state: dict, action: str, next_state: dict) -> float:
        value = int(_digest(comparable(next_state), str(self.seed))[:12], 16)
        return -float(np.random.default_rng(value).exponential(10.0))

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


def _value(view: StateView, observable, before: StateView):
    """An observable's value, where a spawn is judged with the new objects' attributes too (the
    truth's new plant has health 1; a distractor's with health 0 is not the same outcome)."""
    if observable.what != "spawn":
        return view.value(observable, before)
    return tuple(sorted(json.dumps({k: v for k, v in obj.items() if k != "id"}, sort_keys=True)
                        for obj in view.state["objects"]
                        if obj["kind"] == observable.kind and tuple(obj["pos"]) == observable.cell
                        and obj["id"] not in before.by_id))


def strip_preconditions(text: str) -> str:
    """The laws with every precondition removed: all experts always on (PoE-World's baseline)."""
    laws = [dataclasses.replace(law, condition=None) for law in parse(text).laws]
    return "\n\n".join(format_law(law) for law in laws) + "\n"


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _mix(seed: int, k: int) -> int:
    """A fresh seed for draw `k` of a state's transition."""
    return int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:8], 16)
