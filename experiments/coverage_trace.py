"""A coverage trace: explorer states perturbed through the schema, each stepped once by the real
world, to measure the learner apart from exploration.

An explorer trace shows what the explorer happened to do; a mechanic it never triggered (a ripe
plant eaten, an iron sword made) cannot be learned from it, so a learner measured on it is
measured on the explorer too. A coverage trace takes states from explorer lives and perturbs
them, **through the schema only** (no item, material or kind of any world is named here, so the
same code makes a toy-world trace), then steps each with a uniformly random action through the
real transition:

Four families of perturbation, each applied to a perturbed state with its probability
(P_INVENTORY, P_CELLS, P_CREATURES, P_PLAYER), so some states change in one respect only:

- inventory: each key of the player's counts attributes whose keys are the schema's items is set,
  with probability P_ITEM, to a uniform value within that item's [min, max];
- cells: the cell the player faces and the other cells within RADIUS of the player (not the
  player's own, nor a cell an object stands on) become a uniformly random material of
  `schema["materials"]`, with probabilities P_FACED and P_AROUND;
- creatures: of each non-player kind, with probability P_KIND, one is added on a free walkable
  cell (no object on it, a material of `schema["walkable"]`) within CREATURE_RADIUS of the player
  (the faced cell with probability P_CREATURE_FACED, when free); every attribute is drawn within
  its schema type and range, hidden ones too (an int or float without a max within
  [min, min + UNBOUNDED_SPAN]); ids continue from `engine.next_id`, which is moved on. Only kinds
  the real transition accepts are added: each is probed once at the start, and a kind the world
  cannot step (a schema may name one its world never makes) is left out and counted in the
  summary;
- player: its other scalar attributes (bool, int, float; hidden ones too: Crafter's hunger, say)
  are redrawn within range with probability P_PLAYER_SCALAR each; its position, facing and counts
  that are not items (Crafter's achievements) are kept.

A share UNPERTURBED of the transitions is the explorer's own (state, action, next state), so
ordinary dynamics are covered too. The states come from every STRIDE-th step of explorer lives of
at most LIFE_STEPS steps whose seeds are SEED_BASE + seed * SEEDS_PER_RUN + life: a range no other
experiment uses (experiments/learn_crafter.py trains on lives from 100 and tests on lives from
2,000,000, the evaluation's held-out lives start at 1,000,000, and its scenarios are built on the
worlds of the small evaluation seeds), so no evaluation state is reused. The engine seed and the
step of a perturbed state are its explorer state's, so its randomness is as fresh as the life's.

The trace is in the transitions form (docs/trace-format.md), states compact, written atomically;
every state is validated against the schema before it is stepped, and the real transition is the
next state. CleanRL-style: settings at the top.

    python experiments/coverage_trace.py --transitions 10000 --seed 0 -o runs/coverage_10000.jsonl.gz
                                         [--rules FILE] [--world toy]
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import sys
import time
from collections import Counter
from typing import Iterator

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lawsmith.envs.recorder import run_episode  # noqa: E402
from lawsmith.envs.state import encode_state, find_player, validate_state  # noqa: E402
from lawsmith.envs.trace import TRANSITIONS_FORMAT, TraceWriter, make_header  # noqa: E402
from lawsmith.envs.worlds import make_policy, make_world  # noqa: E402

# --- settings ---------------------------------------------------------------------------------
SEED_BASE = 3_000_000        # explorer lives' seeds: SEED_BASE + seed * SEEDS_PER_RUN + life
SEEDS_PER_RUN = 100_000      # lives one run may use before the next --seed's range begins
LIFE_STEPS = 1000            # an explorer life ends at death or this many steps
STRIDE = 2                   # every STRIDE-th state of a life is taken (neighbours are alike)
UNPERTURBED = 0.2            # share of transitions that are the explorer's own
# Each family of perturbation happens to a perturbed state with its P_<family>; within it each
# part with the probability below it (so some states change in one respect only).
P_INVENTORY = 0.6
P_ITEM = 0.4                 # each inventory item redrawn
P_CELLS = 0.6
P_FACED = 0.6                # the faced cell redrawn
P_AROUND = 0.25              # each other cell within RADIUS redrawn
RADIUS = 1
P_CREATURES = 0.6
P_KIND = 0.35                # one creature of each non-player kind added
CREATURE_RADIUS = 2
P_CREATURE_FACED = 0.5       # an added creature goes on the faced cell (when that is free)
P_PLAYER = 0.3
P_PLAYER_SCALAR = 0.25       # each of the player's bool/int/float attributes redrawn
UNBOUNDED_SPAN = 1000        # an attribute with no max is drawn in [min, min + UNBOUNDED_SPAN]
DIRECTIONS = ([-1, 0], [1, 0], [0, -1], [0, 1], [0, 0])


def explorer_states(world, count: int, seed: int) -> Iterator[tuple[dict, str, dict, int]]:
    """(state, the explorer's action, next state, life) at every STRIDE-th step of explorer lives,
    the lives' seeds counting up from SEED_BASE + seed * SEEDS_PER_RUN, until `count` are out."""
    if seed < 0:
        raise ValueError("the seed must be non-negative")
    given, life = 0, 0
    while given < count:
        if life >= SEEDS_PER_RUN:
            raise ValueError(f"more than {SEEDS_PER_RUN} lives: the next seed's range")
        steps: list[tuple[dict, str | None]] = []
        length = min(LIFE_STEPS, (count - given) * STRIDE)   # no steps past the last one needed
        run_episode(world, make_policy("explorer"), length, SEED_BASE + seed * SEEDS_PER_RUN
                    + life, on_step=lambda t, state, action, end: steps.append((state, action)))
        for t in range(0, len(steps) - 1, STRIDE):
            if given == count:
                return
            yield steps[t][0], steps[t][1], steps[t + 1][0], life
            given += 1
        life += 1


# --- perturbation: the schema only -------------------------------------------------------------

def draw_value(spec: dict, schema: dict, rng: np.random.Generator):
    """A uniformly random value of an attribute type, within its range."""
    kind = spec["type"]
    if kind in ("int", "float"):
        low = spec.get("min", 0)
        high = spec.get("max", low + UNBOUNDED_SPAN)
        if kind == "int":
            return int(rng.integers(low, high + 1))
        return float(rng.uniform(low, high))
    if kind == "bool":
        return bool(rng.random() < 0.5)
    if kind == "dir":
        return list(DIRECTIONS[int(rng.integers(len(DIRECTIONS)))])
    if kind == "pos":
        return [int(rng.integers(schema["grid"]["width"])),
                int(rng.integers(schema["grid"]["height"]))]
    if kind == "counts":
        return {key: draw_count(schema, spec, key, rng) for key in count_keys(schema, spec)}
    if kind == "cells":
        return []
    raise ValueError(f"unknown attribute type {kind!r}")


def count_keys(schema: dict, spec: dict) -> list[str]:
    return list(schema["items"]) if spec["keys"] == "items" else list(spec["keys"])


def draw_count(schema: dict, spec: dict, key: str, rng: np.random.Generator) -> int:
    item = schema["items"].get(key, {}) if spec["keys"] == "items" else {}
    low = item.get("min", 0)
    high = item.get("max", spec.get("max", low + UNBOUNDED_SPAN))
    return int(rng.integers(low, high + 1))


def inside(schema: dict, x: int, y: int) -> bool:
    return 0 <= x < schema["grid"]["width"] and 0 <= y < schema["grid"]["height"]


def set_cell(state: dict, x: int, y: int, code: str) -> None:
    row = state["grid"][y]
    state["grid"][y] = row[:x] + code + row[x + 1:]


def perturb(state: dict, schema: dict, rng: np.random.Generator,
            kinds: list[str] | None = None) -> tuple[dict, list[str]]:
    """A perturbed copy of `state` and what was changed (labels: 'inventory', 'cell', the added
    creatures' kinds as 'add <kind>', 'player <attribute>'); creatures are added of `kinds`
    (default: every non-player kind of the schema)."""
    state = copy.deepcopy(state)
    changed: list[str] = []
    player = find_player(state)
    inventory, scalars, cells, creatures = (rng.random() < p for p in
                                            (P_INVENTORY, P_PLAYER, P_CELLS, P_CREATURES))
    for name, spec in schema["kinds"]["player"].items():
        if spec["type"] == "counts" and spec["keys"] == "items" and inventory:
            for key in count_keys(schema, spec):
                if rng.random() < P_ITEM:
                    player[name][key] = draw_count(schema, spec, key, rng)
                    changed.append("inventory")
        elif spec["type"] in ("bool", "int", "float") and scalars and rng.random() < P_PLAYER_SCALAR:
            player[name] = draw_value(spec, schema, rng)
            changed.append(f"player {name}")
    x, y = player["pos"]
    faced = (x + player["facing"][0], y + player["facing"][1])
    occupied = {tuple(obj["pos"]) for obj in state["objects"]}
    codes = list(schema["materials"].values())
    for cy in range(y - RADIUS, y + RADIUS + 1):
        for cx in range(x - RADIUS, x + RADIUS + 1):
            if (not cells or (cx, cy) == (x, y) or (cx, cy) in occupied
                    or not inside(schema, cx, cy)):
                continue
            if rng.random() < (P_FACED if (cx, cy) == faced else P_AROUND):
                set_cell(state, cx, cy, codes[int(rng.integers(len(codes)))])
                changed.append("cell")
    walkable = {schema["materials"][name] for name in schema["walkable"]}
    for kind, attrs in schema["kinds"].items():
        if (not creatures or kind == "player" or (kinds is not None and kind not in kinds)
                or rng.random() >= P_KIND):
            continue
        free = [(cx, cy) for cy in range(y - CREATURE_RADIUS, y + CREATURE_RADIUS + 1)
                for cx in range(x - CREATURE_RADIUS, x + CREATURE_RADIUS + 1)
                if inside(schema, cx, cy) and (cx, cy) not in occupied
                and state["grid"][cy][cx] in walkable]
        if not free:
            continue
        cell = (faced if faced in free and rng.random() < P_CREATURE_FACED
                else free[int(rng.integers(len(free)))])
        add_object(state, schema, kind, cell, rng)
        occupied.add(cell)
        changed.append(f"add {kind}")
    return state, changed


def add_object(state: dict, schema: dict, kind: str, cell: tuple[int, int],
               rng: np.random.Generator) -> None:
    """Add an object of `kind` on `cell` (in place), its attributes drawn within the schema, its id
    the engine's next one."""
    record = {"id": state["engine"]["next_id"], "kind": kind}
    for name, spec in schema["kinds"][kind].items():
        record[name] = list(cell) if spec["type"] == "pos" else draw_value(spec, schema, rng)
    state["objects"].append(record)
    state["engine"]["next_id"] += 1


def accepted_kinds(world, state: dict, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """The non-player kinds the world's transition accepts in a state, and those it rejects: a
    schema may name a kind its world never makes and cannot step (one of Crafter's kinds breaks
    crafter's own semantic view). Probed once, with one object of the kind beside the player."""
    schema = world.schema
    player = find_player(state)
    x, y = player["pos"]
    occupied = {tuple(obj["pos"]) for obj in state["objects"]}
    cells = [(x + dx, y + dy) for dx in range(-CREATURE_RADIUS, CREATURE_RADIUS + 1)
             for dy in range(-CREATURE_RADIUS, CREATURE_RADIUS + 1)
             if (dx, dy) != (0, 0) and inside(schema, x + dx, y + dy)
             and (x + dx, y + dy) not in occupied]
    accepted, rejected = [], []
    for kind in schema["kinds"]:
        if kind == "player":
            continue
        probe = copy.deepcopy(state)
        add_object(probe, schema, kind, cells[0], rng)
        try:
            validate_state(probe, schema)
            world.transition(probe, schema["actions"][0])
            accepted.append(kind)
        except Exception:  # noqa: BLE001 - whatever the world raises, the kind is left out
            rejected.append(kind)
    return accepted, rejected


# --- the trace -----------------------------------------------------------------------------------

def coverage_transitions(world, count: int, seed: int,
                         stats: Counter | None = None) -> Iterator[tuple[dict, str, dict]]:
    """`count` (state, action, next state) triples: a share UNPERTURBED the explorer's own, the
    rest perturbed states stepped with a uniformly random action by `world.transition`."""
    rng = np.random.default_rng([seed, 0xC0FE])
    schema, actions = world.schema, list(world.schema["actions"])
    stats = stats if stats is not None else Counter()
    kinds: list[str] | None = None
    # A life is run to its end before its states are handed out, and the next one starts from a
    # reset world, so stepping perturbed states in the same world never disturbs a life.
    for state, action, next_state, _ in explorer_states(world, count, seed):
        if kinds is None:
            kinds, rejected = accepted_kinds(world, state, np.random.default_rng([seed, 1]))
            stats.update(f"kind {kind} rejected by the world" for kind in rejected)
        if rng.random() < UNPERTURBED:
            stats["unperturbed"] += 1
            yield state, action, next_state
            continue
        state, changed = perturb(state, schema, rng, kinds)
        stats["perturbed"] += 1
        stats.update(set(changed))
        validate_state(state, schema)
        action = actions[int(rng.integers(len(actions)))]
        yield state, action, world.transition(state, action)


def write_coverage(world, path: str | pathlib.Path, count: int, seed: int,
                   rules_path: str | None = None) -> Counter:
    """Write a coverage trace of `count` transitions to `path` (atomically); returns what the
    perturbations changed, counted per transition."""
    stats: Counter = Counter()
    header = make_header(world.name, world.schema, config={**world.config(), "seed": seed},
                         rules=getattr(world, "rules", None),
                         recorder={"policy": "explorer, perturbed through the schema",
                                   "transitions": count, "seed": seed,
                                   "lives_from": SEED_BASE + seed * SEEDS_PER_RUN,
                                   "rules_file": rules_path, "settings": settings()})
    header["format"] = TRANSITIONS_FORMAT
    with TraceWriter(path, header) as writer:
        for state, action, next_state in coverage_transitions(world, count, seed, stats):
            writer.write_transition(encode_state(state), action, encode_state(next_state))
    return stats


def settings() -> dict:
    return {name: value for name, value in globals().items()
            if name.isupper() and isinstance(value, (int, float)) and not isinstance(value, bool)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--rules", help="a Crafter rules variant (YAML)")
    parser.add_argument("--world", default="crafter", help="crafter or toy")
    args = parser.parse_args()
    world = make_world(args.world, args.rules)
    start = time.perf_counter()
    stats = write_coverage(world, args.output, args.transitions, args.seed, args.rules)
    parts = ", ".join(f"{key} {value}" for key, value in sorted(stats.items()))
    print(f"{args.output}: {args.transitions} transitions in {time.perf_counter() - start:.1f} s "
          f"({parts})")


if __name__ == "__main__":
    main()
