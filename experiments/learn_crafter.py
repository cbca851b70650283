"""Experiment: learn laws offline from an explorer trace of real Crafter and compare them with the
hand-written `examples/crafter.law` fitted on the same training split.

Prints: the learner's rounds, time, and the NLL per transition of both models (overall and per
observable group) on a separate **test trace**: fresh explorer lives whose seeds start at
`TEST_SEED_BASE`, which neither the training trace (seeds from `TRAIN_SEED_BASE`) nor the
evaluation's held-out lives (`experiments/evaluate.py`, from 1,000,000) use. The learner's own
held-out split chose its rounds and pruned its laws, so its NLL there is printed only for contrast.
CleanRL-style: settings at the top.

    python experiments/learn_crafter.py [--transitions 2000] [--test-transitions 1000]
                                        [--rules FILE] [--rounds 4]
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
TEST_TRANSITIONS = 1000
SEED = 0
TRAIN_SEED_BASE = 100
TEST_SEED_BASE = 2_000_000


def explorer_trace(name: str, size: int, rules_path: str | None,
                   first_seed: int) -> pathlib.Path:
    """A cached explorer trace of `size` transitions over as many lives as it takes, the lives'
    seeds counting up from `first_seed`."""
    tag = pathlib.Path(rules_path).stem if rules_path else "default"
    path = ROOT / "runs" / f"{name}_{tag}_{size}.jsonl.gz"
    if not path.exists():
        record_lives(CrafterWorld(load_rules(rules_path)), make_policy("explorer"), str(path),
                     size, first_seed=first_seed)
    return path


def group_nll(model: WorldModel, transitions) -> dict[str, float]:
    totals: dict[str, float] = {}
    for table in build_tables(model, transitions, 10_000):
        for name, value in model.class_log_probs(table).items():
            group = name.split(".")[0] if not name.startswith("player.") else ".".join(
                name.split(".")[:2])
            totals[group] = totals.get(group, 0.0) - value / len(transitions)
    return totals


def learn_trace(path: pathlib.Path, out: pathlib.Path, rounds: int):
    """The offline learner on a trace, as `lawsmith learn` runs it: (model, rounds, split)."""
    reader = open_trace(path)
    transitions, episodes = reader.triples_with_episodes()
    config = LearnConfig(rounds=rounds, seed=SEED)
    parts = split(transitions, config.heldout, config.seed, episodes)   # the learner's split
    proposer = OfflineProposer(parts.train, reader.schema)
    model, history = learn(transitions, reader.schema, proposer, str(out), config,
                           {"world": "crafter"}, progress=print, episodes=episodes)
    return model, history, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=TRANSITIONS)
    parser.add_argument("--test-transitions", type=int, default=TEST_TRANSITIONS)
    parser.add_argument("--rules", help="a Crafter rules variant (YAML)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = explorer_trace("learn", args.transitions, args.rules, TRAIN_SEED_BASE)
    test_path = explorer_trace("test", args.test_transitions, args.rules, TEST_SEED_BASE)
    reader = open_trace(path)
    transitions = reader.triples()
    out = ROOT / "runs" / f"learned_{path.stem}"
    start = time.perf_counter()
    learned, history, parts = learn_trace(path, out, args.rounds)
    seconds = time.perf_counter() - start
    hand = WorldModel((ROOT / "examples" / "crafter.law").read_text(), reader.schema)
    hand = WorldModel(hand.text, reader.schema,
                      fit(hand, parts.train, FitConfig(seed=SEED)).params)
    test = open_trace(test_path).triples()
    learned_groups, hand_groups = group_nll(learned, test), group_nll(hand, test)
    learned_total, hand_total = sum(learned_groups.values()), sum(hand_groups.values())
    print()
    print(f"trace {path.name}: {len(transitions)} transitions ({len(parts.train)} train, "
          f"{len(parts.test)} held out for the learner: {parts.describe()})")
    print(f"learned {len(learned.law_names)} laws in {seconds:.1f} s over "
          f"{len(history) - 1} kept rounds; the learner's own held-out NLL "
          f"{history[-1]['heldout_nll']:.3f} (it selected on it: not a clean number)")
    print(f"test trace {test_path.name}: {len(test)} transitions of fresh lives "
          f"(seeds from {TEST_SEED_BASE})")
    print(f"{'test NLL/transition':<28} {'learned':>9} {'crafter.law':>12}")
    for group in sorted(set(learned_groups) | set(hand_groups),
                        key=lambda g: -max(learned_groups.get(g, 0), hand_groups.get(g, 0))):
        print(f"  {group:<26} {learned_groups.get(group, 0):>9.3f} {hand_groups.get(group, 0):>12.3f}")
    print(f"  {'total':<26} {learned_total:>9.3f} {hand_total:>12.3f}   "
          f"(learned / hand-written = {learned_total / hand_total:.2f})")
    print(f"\nlearned laws: {out}/laws.law")


if __name__ == "__main__":
    main()
