"""Experiment: does held-out NLL see a changed rule? Total NLL against NLL per observable class.

Two models are learned offline from explorer traces of the same lives (seeds from 100): one in
default Crafter, one in a rules variant (default: examples/rules/generous.yaml, where trees give 2
wood, grass always gives a sapling and a table costs 4 wood). Both are scored on a fresh test trace
of the variant (seeds from 2,000,000, which no training run uses). The total NLL per transition is
dominated by noisy observables (creatures walking), so a changed rule can hide in it; the same NLL
per observable class shows where the models differ. Intervals: 95% bootstrap over the test trace's
episodes (transitions within a life are correlated), for each model and for the paired difference.

    python experiments/mechanic_nll.py [--rules FILE] [--transitions 2000] [--test 1000]
"""

from __future__ import annotations

import argparse
import pathlib
from collections import defaultdict

import numpy as np
import torch

from lawsmith.envs.trace import open_trace
from lawsmith.experiments.learn_crafter import (ROOT, TEST_SEED_BASE, TRAIN_SEED_BASE, explorer_trace,
                                       learn_trace)
from lawsmith.experiments.stats import cluster_ci

RULES = "examples/rules/generous.yaml"
TRANSITIONS = 2000
TEST = 1000
ROUNDS = 4
SHOWN = 8             # classes printed: those where the two models differ most


def per_transition_class_nll(model, transitions) -> dict[str, np.ndarray]:
    """{class: [N] negative log-probability of each transition's observables of that class}."""
    table: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(transitions)))
    for i, transition in enumerate(transitions):
        for name, value in model.class_log_probs(model.table([transition])).items():
            table[name][i] = -value
    return dict(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=RULES)
    parser.add_argument("--transitions", type=int, default=TRANSITIONS)
    parser.add_argument("--test", type=int, default=TEST)
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {}
    for label, rules in (("default", None), ("variant", args.rules)):
        path = explorer_trace("learn", args.transitions, rules, TRAIN_SEED_BASE)
        models[label], _, _ = learn_trace(path, ROOT / "runs" / f"mechanic_{label}", ROUNDS)
    test_path = explorer_trace("test", args.test, args.rules, TEST_SEED_BASE)
    test, episodes = open_trace(test_path).triples_with_episodes()
    nll = {label: per_transition_class_nll(model, test) for label, model in models.items()}
    classes = set(nll["default"]) | set(nll["variant"])
    zero = np.zeros(len(test))
    diff = {c: nll["default"].get(c, zero) - nll["variant"].get(c, zero) for c in classes}
    print(f"\nscored on {test_path.name}: {len(test)} transitions over {len(set(episodes))} lives "
          f"of the variant {pathlib.Path(args.rules).name} (seeds from {TEST_SEED_BASE}); "
          "NLL per transition, 95% intervals over lives")
    print(f"{'class':<28} {'learned on default':>24} {'learned on variant':>24} "
          f"{'difference':>24}")
    shown = sorted(classes, key=lambda c: -abs(diff[c].mean()))[:SHOWN]
    for name, values in [(c, (nll["default"].get(c, zero), nll["variant"].get(c, zero), diff[c]))
                         for c in shown] + [("total", _totals(nll, len(test)))]:
        cells = [f"{v.mean():>8.3f} [{lo:>6.3f},{hi:>6.3f}]"
                 for v in values for lo, hi in [cluster_ci(v, episodes)]]
        print(f"{name:<28} " + " ".join(f"{cell:>24}" for cell in cells))


def _totals(nll: dict, count: int) -> tuple:
    """Per transition, the total NLL of each model and their difference."""
    default = sum(nll["default"].values(), np.zeros(count))
    variant = sum(nll["variant"].values(), np.zeros(count))
    return default, variant, default - variant


if __name__ == "__main__":
    main()
