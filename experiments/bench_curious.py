"""What a long life costs the curious explorer: its choices and learning rounds over 10,000 steps.

No curious life in real Crafter lasts 10,000 steps yet, so the budget (a 10,000-step life within 15
minutes on 2 cores, learning rounds included) is measured on a replay: the curious explorer acts
on, and observes, the states of a recorded trace (explorer lives, one after another, as if one
life), so every step pays for its look in the model, its drives and its learning rounds on a
growing history. The actions it chooses are timed but not played (the trace's are observed).
Real Crafter steps (about 1 ms each, `experiments/bench_env.py`) are not included.

    .venv/bin/python experiments/bench_curious.py [--trace runs/explorer10k.jsonl.gz] [--steps 10000]
"""

from __future__ import annotations

import argparse
import pathlib
import time

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.recorder import record_lives
from lawsmith.envs.trace import open_trace
from lawsmith.synth.curious import CuriousExplorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default="runs/explorer10k.jsonl.gz",
                        help="recorded if missing: explorer lives from seed 0")
    parser.add_argument("--steps", type=int, default=10_000)
    args = parser.parse_args()
    if not pathlib.Path(args.trace).exists():
        record_lives(CrafterWorld(), Explorer(), args.trace, args.steps, 0, 10_000)
    reader = open_trace(args.trace)
    world = CrafterWorld()
    policy = CuriousExplorer(health=world.health)
    policy.reset(0, reader.schema)
    acting = 0.0
    began = time.perf_counter()
    steps = 0
    for state, action, next_state in reader.triples()[:args.steps]:
        t = time.perf_counter()
        policy.act(state)
        acting += time.perf_counter() - t
        policy.observe(state, action, next_state)
        steps += 1
    total = time.perf_counter() - began
    learning = sum(r["seconds"] for r in policy.rounds)
    print(f"{steps} steps replayed from {args.trace} in {total:.0f} s "
          f"({total / 60:.1f} min; budget 15 min)")
    print(f"  choosing: {acting - learning:.0f} s ({1000 * (acting - learning) / steps:.1f} ms a "
          f"step), learning rounds: {learning:.0f} s")
    for r in policy.rounds:
        print(f"    step {r['step']:5d}: {r['transitions']:5d} transitions, {r['laws']:3d} laws, "
              f"{r['seconds']:6.1f} s")
    print(f"  choices {dict(policy.modes)}")


if __name__ == "__main__":
    main()
