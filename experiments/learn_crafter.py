"""Experiment: learn laws offline from an explorer trace of real Crafter and compare them with the
hand-written `examples/crafter.law` fitted on the same training split.

Prints: the learner's rounds, time, the held-out NLL per transition of both models (overall and per
observable group), and which mechanics the learned laws cover (a mechanic counts as recovered when a
learned law predicts the change it causes). CleanRL-style: settings at the top.

    python experiments/learn_crafter.py [--transitions 2000] [--rules FILE]
"""

from __future__ import annotations

import argparse
import pathlib
import time

import torch

from envs.crafter_world import CrafterWorld
from envs.recorder import record_lives
from envs.rules import load_rules
from envs.trace import open_trace
from envs.worlds import make_policy
from laws.model import WorldModel
from synth.fit import FitConfig, build_tables, fit, split
from synth.learn import LearnConfig, learn
from synth.offline import OfflineProposer

ROOT = pathlib.Path(__file__).parent.parent
TRANSITIONS = 2000
SEED = 0


def explorer_trace(size: int, rules_path: str | None) -> pathlib.Path:
    """A cached explorer trace of `size` transitions over as many lives as it takes."""
    tag = pathlib.Path(rules_path).stem if rules_path else "default"
    path = ROOT / "runs" / f"learn_{tag}_{size}.jsonl.gz"
    if not path.exists():
        record_lives(CrafterWorld(load_rules(rules_path)), make_policy("explorer"), str(path),
                     size, first_seed=100)
    return path


def group_nll(model: WorldModel, transitions) -> dict[str, float]:
    totals: dict[str, float] = {}
    for table in build_tables(model, transitions, 10_000):
        for name, value in model.class_log_probs(table).items():
            group = name.split(".")[0] if not name.startswith("player.") else ".".join(
                name.split(".")[:2])
            totals[group] = totals.get(group, 0.0) - value / len(transitions)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=TRANSITIONS)
    parser.add_argument("--rules", help="a Crafter rules variant (YAML)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = explorer_trace(args.transitions, args.rules)
    reader = open_trace(path)
    transitions = reader.triples()
    train, test = split(transitions, 0.2, SEED)
    out = ROOT / "runs" / f"learned_{path.stem}"
    start = time.perf_counter()
    proposer = OfflineProposer(train, reader.schema)
    learned, history = learn(transitions, reader.schema, proposer, str(out),
                             LearnConfig(rounds=args.rounds, seed=SEED), {"world": "crafter"},
                             progress=print)
    seconds = time.perf_counter() - start
    hand = WorldModel((ROOT / "examples" / "crafter.law").read_text(), reader.schema)
    hand = WorldModel(hand.text, reader.schema, fit(hand, train, FitConfig(seed=SEED)).params)
    learned_groups, hand_groups = group_nll(learned, test), group_nll(hand, test)
    learned_total, hand_total = sum(learned_groups.values()), sum(hand_groups.values())
    print()
    print(f"trace {path.name}: {len(transitions)} transitions ({len(train)} train, "
          f"{len(test)} held out)")
    print(f"learned {len(learned.law_names)} laws in {seconds:.1f} s over "
          f"{len(history) - 1} kept rounds")
    print(f"{'held-out NLL/transition':<28} {'learned':>9} {'crafter.law':>12}")
    for group in sorted(set(learned_groups) | set(hand_groups),
                        key=lambda g: -max(learned_groups.get(g, 0), hand_groups.get(g, 0))):
        print(f"  {group:<26} {learned_groups.get(group, 0):>9.3f} {hand_groups.get(group, 0):>12.3f}")
    print(f"  {'total':<26} {learned_total:>9.3f} {hand_total:>12.3f}   "
          f"(learned / hand-written = {learned_total / hand_total:.2f})")
    print(f"\nlearned laws: {out}/laws.law")


if __name__ == "__main__":
    main()
