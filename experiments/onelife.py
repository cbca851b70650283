"""The `onelife` protocol's two parts that differ from lawsmith's own: what is scored, and how
distractors are made. They follow OneLife's evaluator (its `src/onelife/evaluator/`), so numbers
under this protocol are comparable with the published ones.

- **Scored observables** (`onelife_scored`): the player's position and its inventory (health is an
  inventory count here), and every creature's existence (new ones included), position and visible
  whole-number attributes (health), plus the zombie's attack cooldown, which OneLife scores though
  the schema marks it hidden. Not scored: the material grid, the other hidden counters (the schema's
  `hidden` flags: hunger, thirst, fatigue, plant growth...), achievements, facings, sleeping.
- **Distractors** (`onelife_distractors`): the PREVIOUS state with one thing the world might have
  done instead: collected the faced material (or another) though it should not, crafted a recipe
  illegally, changed a creature's health by one, moved a creature 2 to 10 cells (OneLife's jump,
  which no creature makes in a step, so never a possible outcome of a random walk), moved the player
  wrongly (along the action through a block, ahead on a non-move action, or the wrong way), changed
  the player's health by 3. Only valid states that differ in a scored observable from the truth and
  from the previous state (a mutation that changed nothing, such as +3 health at full health, would
  be "nothing happened", a possible outcome where creatures move at random) are kept, each once, at
  most `limit` (OneLife's 7) chosen with `rng`.

    scored = onelife_scored(world.schema)
    found = onelife_distractors(state, action, truth, world.schema, rng, world.rules)
    model.log_prob(state, action, next_state, scored=scored)
"""

from __future__ import annotations

import copy
from typing import Callable, Iterator

import numpy as np

from lawsmith.envs.rules import DEFAULT_RULES
from lawsmith.envs.state import find_player
from lawsmith.experiments.distractors import (MOVES, STEPS, Candidate, creature_health, illegal_collect,
                                     illegal_craft, is_valid, nearest, player_health, wrong_move)
from lawsmith.experiments.models import Scored
from lawsmith.laws.observables import StateView, changed_observables, parse_observable

# Hidden attributes OneLife's evaluator scores all the same (the zombie's attack cooldown).
SCORED_HIDDEN = frozenset({"cooldown"})
# Types of a creature's attributes that OneLife scores (position, health, cooldown).
CREATURE_TYPES = frozenset({"pos", "int"})
LIMIT = 7
# How far OneLife's position mutator moves a creature, in cells along a (diagonal) direction.
JUMP = (2, 10)
DIRECTIONS = tuple((dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if (dx, dy) != (0, 0))


def onelife_scored(schema: dict) -> Scored:
    """Whether OneLife's evaluator scores an observable (by name), read from `schema`: see the
    module docstring. The answer is the same for every member of an observable class."""
    kinds = schema["kinds"]

    def scored(name: str) -> bool:
        observable = parse_observable(name)
        if observable.what in ("exists", "spawn"):
            return True
        if observable.what == "cell":
            return False
        spec = kinds[observable.kind][observable.attr]
        if observable.kind == "player":
            return spec["type"] == "pos" or (spec["type"] == "counts" and spec["keys"] == "items")
        visible = not spec.get("hidden") or observable.attr in SCORED_HIDDEN
        return visible and spec["type"] in CREATURE_TYPES

    return scored


def differs(a: dict, b: dict, schema: dict, scored: Scored) -> bool:
    """Whether two states differ in a scored observable."""
    return any(scored(observable.name)
               for observable in changed_observables(StateView(a, schema), StateView(b, schema),
                                                     schema))


def onelife_distractors(state: dict, action: str, truth: dict, schema: dict,
                        rng: np.random.Generator, rules: dict | None = None,
                        limit: int = LIMIT) -> list[Candidate]:
    """Mutated previous states (see the module docstring), labelled with the mutation;
    deterministic given `rng`'s state."""
    rules = rules if rules is not None else DEFAULT_RULES
    scored = onelife_scored(schema)
    base = {**copy.deepcopy(state), "step": state["step"] + 1}
    kept: list[Candidate] = []
    for mutate in MUTATIONS:
        for label, candidate in mutate(state, action, base, schema, rules, rng):
            others = [truth, base] + [other for _, other in kept]
            if is_valid(candidate, schema) and all(differs(candidate, other, schema, scored)
                                                   for other in others):
                kept.append((label, candidate))
    if len(kept) <= limit:
        return kept
    picks = sorted(rng.choice(len(kept), size=limit, replace=False).tolist())
    return [kept[i] for i in picks]


def creature_jump(state, action, base, schema, rules, rng) -> Iterator[Candidate]:
    """Each of the creatures nearest the player moved 2 to 10 cells in one of the eight
    directions, as OneLife's entity position mutator does."""
    for obj in nearest(base):
        dx, dy = DIRECTIONS[int(rng.integers(len(DIRECTIONS)))]
        distance = int(rng.integers(JUMP[0], JUMP[1] + 1))
        new = copy.deepcopy(base)
        moved = next(o for o in new["objects"] if o["id"] == obj["id"])
        moved["pos"] = [obj["pos"][0] + dx * distance, obj["pos"][1] + dy * distance]
        yield f"jump:{obj['kind']}[{obj['id']}]", new


def wrong_step(state, action, base, schema, rules, rng) -> Iterator[Candidate]:
    """The player one cell in a direction the action does not move it (any direction on a
    non-move action), facing it, as OneLife's movement mutator does."""
    steps = [step for step in STEPS if step != MOVES.get(action)]
    dx, dy = steps[int(rng.integers(len(steps)))]
    new = copy.deepcopy(base)
    player = find_player(new)
    player["pos"] = [player["pos"][0] + dx, player["pos"][1] + dy]
    player["facing"] = [dx, dy]
    yield f"move:{action}:wrong", new


# Each takes (state, action, base, schema, rules, rng), `base` the previous state a step on, and
# yields (label, candidate) pairs; the strict protocol's mutators copy what they get as the next
# state, so handed `base` they mutate the previous state.
MUTATIONS: tuple[Callable[..., Iterator[Candidate]], ...] = (
    illegal_collect, illegal_craft, creature_health, creature_jump, wrong_move, wrong_step,
    player_health)
