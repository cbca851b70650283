"""The unguided explorer against a uniformly random policy in real Crafter, one life per seed.

For each seed both policies play one episode (until death or STEPS actions) in the same world; the
table shows, per seed and on average: steps survived, distinct achievements unlocked, distinct
(action, change label) pairs seen and distinct change labels (labels from `envs.changes`).

    .venv/bin/python experiments/explore_vs_random.py [--seeds 5] [--steps 2000]
"""

from __future__ import annotations

import argparse
import time

from envs.changes import changes
from envs.crafter_world import CrafterWorld
from envs.explorer import Explorer
from envs.recorder import RandomPolicy, run_episode
from envs.state import find_player

# --- hyper-parameters ---------------------------------------------------------------------------
SEEDS = 5          # seeds 0 .. SEEDS-1
STEPS = 2000       # one life: at most this many actions
POLICIES = {"explorer": Explorer, "random": RandomPolicy}
COLUMNS = ("steps", "achievements", "pairs", "labels")


def measure(world: CrafterWorld, policy, seed: int, steps: int) -> dict:
    """Play one life and count what it saw."""
    pairs: set[tuple[str, str]] = set()
    previous: list = []
    last: dict = {}

    def on_step(t: int, state: dict, action: str | None, end: str | None) -> None:
        if previous:
            before, taken = previous.pop()
            pairs.update((taken, label) for label in changes(before, state, world.schema))
        if action is not None:
            previous.append((state, action))
        last["state"] = state

    taken = run_episode(world, policy, steps, seed, on_step=on_step)
    achievements = find_player(last["state"])["achievements"]
    return {"steps": taken,
            "achievements": sum(1 for count in achievements.values() if count > 0),
            "unlocked": sorted(name for name, count in achievements.items() if count > 0),
            "pairs": len(pairs),
            "labels": len({label for _, label in pairs})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--verbose", action="store_true", help="list the achievements per run")
    args = parser.parse_args()
    world = CrafterWorld()
    results: dict[str, list[dict]] = {name: [] for name in POLICIES}
    started = time.perf_counter()
    for seed in range(args.seeds):
        for name, make in POLICIES.items():
            result = measure(world, make(), seed, args.steps)
            results[name].append(result)
            if args.verbose:
                print(f"seed {seed} {name:8s} {result['steps']:5d} steps: "
                      f"{', '.join(result['unlocked'])}")
    print(f"Crafter 64x64, one life of at most {args.steps} steps, seeds 0..{args.seeds - 1} "
          f"({time.perf_counter() - started:.0f} s)\n")
    header = f"{'policy':10s} {'seed':>5s} " + " ".join(f"{c:>12s}" for c in COLUMNS)
    print(header)
    print("-" * len(header))
    for name, runs in results.items():
        for seed, run in enumerate(runs):
            print(f"{name:10s} {seed:5d} " + " ".join(f"{run[c]:12d}" for c in COLUMNS))
        means = [sum(run[c] for run in runs) / len(runs) for c in COLUMNS]
        print(f"{name:10s} {'mean':>5s} " + " ".join(f"{m:12.1f}" for m in means))
        print("-" * len(header))


if __name__ == "__main__":
    main()
