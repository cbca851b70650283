"""Benchmark: real Crafter `step` per second vs our pure `transition` (import + step + export).

Prints one table. Rows:
- stock crafter.Env.step, as shipped (renders the 64x64 observation every step);
- stock crafter.Env.step with rendering skipped (the engine's own cost);
- CrafterWorld.step: our live world, no rendering, exporting the state every step;
- transition(state, action): the pure function, importing the state into a live world, stepping, exporting.
All rows use the same seed and the same uniformly random actions, continuing after the player's death.
"""

from __future__ import annotations

import argparse
import time

import crafter
import numpy as np

from lawsmith.envs.crafter_world import CrafterWorld

STEPS = 2000
SEED = 1


def _actions(steps: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).integers(0, 17, steps).tolist()


def time_stock(actions: list[int], render: bool) -> float:
    env = crafter.Env(area=(64, 64), seed=SEED)
    env.reset()
    if not render:
        env._obs = lambda: None
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return len(actions) / (time.perf_counter() - start)


def time_ours(actions: list[int], pure: bool) -> float:
    world = CrafterWorld()
    state = world.reset(SEED)
    names = [world.actions[a] for a in actions]
    start = time.perf_counter()
    for name in names:
        state = world.transition(state, name) if pure else world.step(name)[0]
    return len(names) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    actions = _actions(args.steps, SEED)
    rows = [
        ("crafter.Env.step (renders, as shipped)", time_stock(actions, render=True)),
        ("crafter.Env.step (no rendering)", time_stock(actions, render=False)),
        ("CrafterWorld.step (+ export)", time_ours(actions, pure=False)),
        ("transition(state, action) (import+step+export)", time_ours(actions, pure=True)),
    ]
    base = rows[0][1]
    print(f"{args.steps} random-action steps, 64x64, seed {SEED}")
    print(f"{'what':<48} {'steps/s':>9} {'vs shipped':>11}")
    for name, rate in rows:
        print(f"{name:<48} {rate:>9.0f} {rate / base:>10.2f}x")


if __name__ == "__main__":
    main()
