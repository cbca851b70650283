"""The evaluation runner behind `lawsmith eval`: every model through OneLife's protocol (23 scenarios,
success and failure variants, distractor ranking and sample fidelity), held-out NLL against the
oracle, the PoE-World-style baseline of each model, and optionally planning.

It never reads a model's training trace: the held-out trace and the baseline's fitting trace are
recorded here, from explorer lives whose seeds start at `EVAL_SEED_BASE + seed`.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import tempfile
import time
from typing import Callable

import torch

from envs.crafter_world import CrafterWorld
from envs.recorder import record_lives
from envs.trace import open_trace
from envs.worlds import make_policy
from experiments.models import (EvalModel, LawModel, NullModel, RandomModel, TrueModel,
                                strip_preconditions)
from laws.folder import load_model
from laws.model import WorldModel
from synth.fit import FitConfig, fit

EVAL_SEED_BASE = 1_000_000


def fresh_transitions(world: CrafterWorld, count: int, seed: int) -> list[tuple[dict, str, dict]]:
    """`count` explorer transitions of the world from lives no training run used."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "eval.jsonl"
        record_lives(world, make_policy("explorer"), str(path), count,
                     first_seed=EVAL_SEED_BASE + seed)
        return open_trace(path).triples()


def baseline_of(model: WorldModel, transitions: list, seed: int) -> WorldModel:
    """PoE-World-style: the same laws without preconditions, every expert always on, fitted."""
    text = strip_preconditions(model.text)
    stripped = WorldModel(text, model.schema)
    return WorldModel(text, model.schema,
                      fit(stripped, transitions, FitConfig(seed=seed)).params)


def mean_nll(model: EvalModel, transitions: list) -> float:
    """Mean negative log-probability per transition."""
    return -sum(model.log_prob(s, a, n) for s, a, n in transitions) / max(len(transitions), 1)


def evaluate(model_dirs: list[str], trials: int, seed: int, heldout: int,
             planning: bool, say: Callable[[str], None]) -> dict:
    """Run everything; returns the report dict (see experiments/report.py)."""
    from experiments.protocol import evaluate_model, mrr_by_scenario, overall
    from experiments.scenarios import scenarios as build_scenarios

    torch.set_num_threads(1)
    began = time.perf_counter()
    world = CrafterWorld()
    models: list[EvalModel] = [TrueModel(world), NullModel(world.schema),
                               RandomModel(world.schema, seed)]
    say(f"recording {2 * heldout} fresh transitions (held-out and baseline-fitting)")
    fresh = fresh_transitions(world, 2 * heldout, seed)
    held, calibration = fresh[:heldout], fresh[heldout:]
    learned = []
    for folder in model_dirs:
        model, _ = load_model(folder)
        if model.schema != world.schema:
            raise ValueError(f"{folder}: the model's schema is not the default Crafter schema")
        name = pathlib.Path(folder).name or str(folder)
        say(f"fitting the PoE-World-style baseline of {name}")
        learned.append(name)
        models += [LawModel(model, name),
                   LawModel(baseline_of(model, calibration, seed), f"{name} (PoE baseline)")]
    cases = build_scenarios(world, seed)
    rows, summary, per_scenario = {}, {}, {}
    for model in models:
        say(f"protocol: {model.name}")
        rows[model.name] = evaluate_model(model, cases, world, trials, seed)
        summary[model.name] = overall(rows[model.name])
        per_scenario[model.name] = mrr_by_scenario(rows[model.name])
    say("held-out NLL against the oracle")
    nll = {models[0].name: mean_nll(models[0], held)}   # the oracle
    for model in models[3:]:
        nll[model.name] = mean_nll(model, held)
    names = sorted({case.name for case in cases}, key=[c.name for c in cases].index)
    report = {"world": "crafter", "trials": trials, "seed": seed, "scenarios": names,
              "summary": summary, "per_scenario": per_scenario, "nll": nll,
              "heldout_transitions": len(held), "rows": rows,
              "beats_baseline": {name: _wins(per_scenario[name],
                                             per_scenario[f"{name} (PoE baseline)"], names)
                                 for name in learned}}
    if planning:
        say("planning: strategy ranking and MPC agents in real Crafter")
        report["planning"] = planning_section(
            [LawModel(m.model, m.name, unexplained=False) for m in models[3::2]], world, seed)
    report["seconds"] = time.perf_counter() - began
    return report


def planning_section(models: list[LawModel], world: CrafterWorld, seed: int) -> dict:
    """experiments/planning.py's evaluation of the models, with its tables as text."""
    from experiments import planning

    results = planning.evaluate(models, world, seed=seed)
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        for name, rows in results["ranking"].items():
            planning.print_ranking(name, rows)
        planning.print_mpc(results["agents"], results["settings"]["steps"])
    agents = {name: {k: v for k, v in agent.items() if k != "actions"}
              for name, agent in results["agents"].items()}
    return {"ranking": results["ranking"], "agents": agents, "settings": results["settings"],
            "text": text.getvalue().strip()}


def _wins(model: dict, baseline: dict, scenarios: list[str]) -> dict:
    wins = ties = 0
    for name in scenarios:
        ours, theirs = model.get(name, {}).get("success"), baseline.get(name, {}).get("success")
        if ours is None or theirs is None:
            continue
        wins += ours > theirs + 1e-9
        ties += abs(ours - theirs) <= 1e-9
    return {"wins": wins, "ties": ties, "scenarios": len(scenarios)}
