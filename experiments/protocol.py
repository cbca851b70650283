"""OneLife's evaluation protocol for one model: for every scenario and trial, rank the true next
state among distractors by the model's log-probability, and compare the model's sample with the
truth.

Two protocols (`protocol=`), both ranking the truth among the model's own sample and distractors:
- "lawsmith" (the default, strict): every observable is scored (the material grid and hidden
  counters included) and distractors are the TRUE next state with one mistake
  (`experiments.distractors`); the sample joins when it differs from every candidate.
- "onelife" (comparable with the OneLife paper): only OneLife's observables are scored and
  distractors are mutated PREVIOUS states (`experiments.onelife`); the sample joins when it differs
  from the truth in a scored observable.

A trial gives the scenario's state a fresh engine seed, so stochastic mechanics (a cow's walk)
differ between trials. Success and failing variants are separate rows, never merged: `summarise`
groups by (model, scenario, variant).

    rows = evaluate_model(TrueModel(world), scenarios(world, seed=0), world, trials=10, seed=0)
    table = summarise(rows)            # mean and std per (model, scenario, variant)
    overall(rows), mrr_by_scenario(rows)  # per variant; {scenario: {variant: MRR}}

Row fields: protocol, candidates, rank (ties pessimistic), rank1, mrr, recall, truth_log_prob (the
model's log-probability of the truth, as the ranking scored it), edits (JSON-patch operations from
the model's sample to the truth), edits_norm (per leaf of the true state), iou (patch IoU),
sample_shows_mechanic / truth_shows_mechanic (the scenario's check on the sample / the truth).
See experiments/metrics.py for the definitions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Callable

import numpy as np

from lawsmith.experiments.distractors import distractors
from lawsmith.experiments.metrics import fidelity, rank_truth
from lawsmith.experiments.models import Scored, comparable
from lawsmith.experiments.onelife import differs, onelife_distractors, onelife_scored
from lawsmith.experiments.scenarios import Scenario, with_seed

METRICS = ("rank", "rank1", "mrr", "recall", "edits", "edits_norm", "iou", "sample_shows_mechanic")


def evaluate_model(model, scenarios: list[Scenario], world, trials: int = 10, seed: int = 0,
                   protocol: str = "lawsmith") -> list[dict]:
    """One row per (scenario, variant, trial) with the ranking and fidelity numbers."""
    rows = []
    for index, scenario in enumerate(scenarios):
        for trial in range(trials):
            rows.append(evaluate_trial(model, scenario, world, trial, seed, index, protocol))
    return rows


def evaluate_trial(model, scenario: Scenario, world, trial: int, seed: int, index: int,
                   protocol: str = "lawsmith") -> dict:
    """Rank the truth among the protocol's candidates; measure the sample's fidelity."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")
    state = with_seed(scenario.state, seed, trial)
    action = scenario.action
    truth = world.transition(state, action)
    rng = np.random.default_rng([seed, trial, index])
    sample = model.sample(state, action, seed=trial)
    candidates, scored = PROTOCOLS[protocol](state, action, truth, sample, world, rng)
    scores = [model.log_prob(state, action, candidate, scored=scored) for candidate in candidates]
    ranking = rank_truth(scores, truth=0)
    close = fidelity(state, sample, truth)
    return {"model": model.name, "scenario": scenario.name, "variant": scenario.variant,
            "trial": trial, "protocol": protocol, "candidates": ranking.candidates,
            "rank": ranking.rank, "rank1": ranking.top1, "mrr": ranking.reciprocal,
            "recall": ranking.recall, "truth_log_prob": scores[0],
            "edits": close.edit_distance, "edits_norm": close.normalised, "iou": close.patch_iou,
            "sample_shows_mechanic": float(scenario.happened(state, sample)),
            "truth_shows_mechanic": float(scenario.happened(state, truth))}


def lawsmith_candidates(state: dict, action: str, truth: dict, sample: dict, world,
                        rng: np.random.Generator) -> tuple[list[dict], Scored | None]:
    """The truth first, the strict distractors, the sample if it is none of them; all scored."""
    candidates = [truth] + [candidate for _, candidate in
                            distractors(state, action, truth, world.schema, rng, world.rules)]
    if _key(sample) not in {_key(candidate) for candidate in candidates}:
        candidates.append(sample)
    return candidates, None


def onelife_candidates(state: dict, action: str, truth: dict, sample: dict, world,
                       rng: np.random.Generator) -> tuple[list[dict], Scored | None]:
    """The truth first, OneLife's distractors, the sample unless it is the truth in the scored
    observables (OneLife's evaluator counts a differing sample as a wrong candidate)."""
    scored = onelife_scored(world.schema)
    candidates = [truth] + [candidate for _, candidate in
                            onelife_distractors(state, action, truth, world.schema, rng,
                                                world.rules)]
    if differs(sample, truth, world.schema, scored):
        candidates.append(sample)
    return candidates, scored


# protocol name -> (state, action, truth, sample, world, rng) -> (candidates, scored)
PROTOCOLS: dict[str, Callable[..., tuple[list[dict], Scored | None]]] = {
    "lawsmith": lawsmith_candidates, "onelife": onelife_candidates}


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation (over trials, ddof=0) of each metric per (model, scenario,
    variant), in first-seen order."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row.get("model"), row["scenario"], row["variant"])].append(row)
    table = []
    for (model, scenario, variant), group in groups.items():
        entry = {"model": model, "scenario": scenario, "variant": variant, "trials": len(group)}
        for metric in METRICS:
            values = np.array([row[metric] for row in group], dtype=float)
            entry[f"{metric}_mean"] = float(values.mean())
            entry[f"{metric}_std"] = float(values.std())
        table.append(entry)
    return table


def overall(rows: list[dict]) -> dict[str, dict[str, float]]:
    """The mean of each metric per variant, over all scenarios and trials (rows of one model)."""
    by_variant: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_variant[row["variant"]].append(row)
    return {variant: {metric: float(np.mean([row[metric] for row in group])) for metric in METRICS}
            for variant, group in by_variant.items()}


def mrr_by_scenario(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{scenario: {variant: mean MRR over trials}} (rows of one model)."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for entry in summarise(rows):
        table[entry["scenario"]][entry["variant"]] = entry["mrr_mean"]
    return dict(table)


def _key(state: dict) -> str:
    return json.dumps(comparable(state), sort_keys=True)
