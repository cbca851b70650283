"""The evaluation: every model through the scenario protocols (ours and
the OneLife-comparable one), each model's two baselines fitted on its own training data, held-out
NLL against a converged oracle (overall and per observable class), and optionally planning.

Held-out discipline: the held-out trace is recorded here, from explorer lives whose seeds start at
`EVAL_SEED_BASE + seed`; no training, pruning or round selection has seen it (training traces use
seeds below). The baselines are fitted on the trace the model folder's manifest names (or
`--baseline-trace`), the data the model itself had.

    report = evaluate(["models/learned"], EvalConfig(trials=10), say=print)

From the command line (a benchmark of this repository, not a verb of the installed `lawsmith`,
which never imports `experiments/`):

    python experiments/evaluate.py models/learned models/crafter -o reports/eval [--jobs 2]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import multiprocessing
import pathlib
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from typing import Callable, Sequence

import numpy as np
import torch

from lawsmith.args import nonnegative_int, positive_int
from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.recorder import record_lives
from lawsmith.envs.trace import open_trace
from lawsmith.envs.worlds import make_policy
from lawsmith.experiments import baselines, oracle
from lawsmith.experiments.models import EvalModel, LawModel, NullModel, RandomModel, TrueModel
from lawsmith.errors import UsageError
from lawsmith.experiments.stats import bootstrap_ci, chance, difference_ci
from lawsmith.laws.errors import ModelError
from lawsmith.laws.folder import check_schema, load_model, provenance
from lawsmith.laws.model import WorldModel

EVAL_SEED_BASE = 1_000_000
PROTOCOLS = ("lawsmith", "onelife")
BASELINES = ("PoE-World inference", "no parameter inference")
RANKING = ("mrr", "rank1", "recall")


@dataclasses.dataclass
class EvalConfig:
    trials: int = 10                  # engine seeds per scenario and variant
    seed: int = 0
    heldout: int = 200                # fresh transitions for held-out NLL
    planning: bool = False
    protocols: tuple[str, ...] = PROTOCOLS
    baseline_trace: str | None = None  # for model folders whose manifest names no trace
    jobs: int = 1                     # processes for the protocol runs
    oracle_ladder: tuple[int, ...] = oracle.LADDER


def fresh_transitions(world: CrafterWorld, count: int, seed: int) -> list[tuple[dict, str, dict]]:
    """`count` explorer transitions of the world from lives no training run used."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "eval.jsonl"
        record_lives(world, make_policy("explorer"), str(path), count,
                     first_seed=EVAL_SEED_BASE + seed)
        return open_trace(path).triples()


def class_nll(model: WorldModel, transitions: list) -> dict[str, float]:
    """Negative log-probability per transition of each observable class."""
    totals = model.class_log_probs(model.table(transitions))
    return {name: -value / max(len(transitions), 1) for name, value in sorted(totals.items())}


def evaluate(model_dirs: Sequence[str], config: EvalConfig,
             say: Callable[[str], None]) -> dict:
    """Run everything; returns the report dict (see experiments/report.py)."""
    from lawsmith.experiments.scenarios import scenarios as build_scenarios

    torch.set_num_threads(1)
    began = time.perf_counter()
    world = CrafterWorld()
    laws = [_law_models(folder, world, config, say) for folder in model_dirs]
    say(f"recording {config.heldout} fresh held-out transitions (explorer lives from seed "
        f"{EVAL_SEED_BASE + config.seed})")
    held = fresh_transitions(world, config.heldout, config.seed)
    say(f"oracle: held-out NLL with {', '.join(map(str, config.oracle_ladder))} draws")
    reference = TrueModel(world)
    curve = oracle.convergence(reference.sample, held, world.schema, config.oracle_ladder,
                               progress=_every(50, len(held), "oracle", say))
    say(f"oracle: {curve['chosen']} draws per transition "
        + ("(converged)" if curve["converged"] else "(NOT converged within the ladder)"))
    models: list[EvalModel] = [TrueModel(world, samples=curve["chosen"]),
                               NullModel(world.schema), RandomModel(world.schema, config.seed)]
    for group in laws:
        models += group["models"]
    cases = build_scenarios(world, config.seed)
    names = list(dict.fromkeys(case.name for case in cases))
    report = {"world": "crafter", "trials": config.trials, "seed": config.seed,
              "scenarios": names, "protocols": list(config.protocols),
              "heldout": {"transitions": len(held), "trace": f"explorer lives from seed "
                          f"{EVAL_SEED_BASE + config.seed} (recorded by the evaluation)"},
              "oracle": curve,
              "baseline_data": {g["name"]: g["trace"] for g in laws}}
    for protocol in config.protocols:
        rows = _run_protocol(models, cases, world, config, protocol, say)
        section = protocol_section(rows, [m.name for m in models], names,
                                   [g["name"] for g in laws], config.seed)
        if protocol == config.protocols[0]:   # the first protocol's numbers are top-level
            report.update(section)
        else:
            report[protocol] = section
    say("held-out NLL of the law models, overall and per observable class")
    report["nll"] = {models[0].name: curve["nll"][curve["draws"].index(curve["chosen"])]}
    report["nll_by_class"] = {models[0].name: curve["per_class"][curve["chosen"]]}
    for model in models[3:]:
        report["nll_by_class"][model.name] = class_nll(model.model, held)
        report["nll"][model.name] = sum(report["nll_by_class"][model.name].values())
    if config.planning:
        say("planning: strategy ranking and MPC agents in real Crafter")
        report["planning"] = planning_section(
            [LawModel(g["models"][0].model, g["name"], unexplained=False) for g in laws],
            world, config.seed)
    report["seconds"] = time.perf_counter() - began
    return report


def _law_models(folder: str, world: CrafterWorld, config: EvalConfig,
                say: Callable[[str], None]) -> dict:
    """A model folder as the model and its two baselines, fitted on its own training data."""
    model, manifest = load_model(folder)
    if model.schema != world.schema:
        raise ValueError(f"{folder}: the model's schema is not the default Crafter schema")
    name = pathlib.Path(folder).name or str(folder)
    trace = baselines.training_trace(folder, manifest, config.baseline_trace)
    reader = open_trace(trace)
    check_schema(model.schema, reader.schema, trace)
    data = reader.triples()
    say(f"{name}: fitting its baselines on {trace} ({len(data)} transitions)")
    poe = baselines.poe_world(model, data, config.seed)
    plain = baselines.no_inference(model, data)
    return {"name": name, "trace": trace,
            "models": [LawModel(model, name), LawModel(poe, f"{name} ({BASELINES[0]})"),
                       LawModel(plain, f"{name} ({BASELINES[1]})")]}


# --- the protocol runs, in parallel when asked ----------------------------------------------------

_JOBS: dict = {}   # what forked workers read (set before the pool starts)


def _run_protocol(models: list, cases: list, world, config: EvalConfig, protocol: str,
                  say: Callable[[str], None]) -> dict[str, list[dict]]:
    """Every model's protocol rows, `config.jobs` models at a time."""
    _JOBS.update(models=models, cases=cases, world=world, config=config, protocol=protocol)
    rows: dict[str, list[dict]] = {}
    indices = range(len(models))
    if config.jobs > 1:
        with multiprocessing.get_context("fork").Pool(config.jobs) as pool:
            for index, result in pool.imap_unordered(_protocol_job, indices):
                rows[models[index].name] = result
                say(f"protocol {protocol}: {models[index].name} ({len(rows)}/{len(models)})")
    else:
        for index in indices:
            rows[models[index].name] = _protocol_job(index)[1]
            say(f"protocol {protocol}: {models[index].name} ({len(rows)}/{len(models)})")
    return {model.name: rows[model.name] for model in models}


def _protocol_job(index: int) -> tuple[int, list[dict]]:
    from lawsmith.experiments.protocol import evaluate_model

    torch.set_num_threads(1)
    return index, evaluate_model(_JOBS["models"][index], _JOBS["cases"], _JOBS["world"],
                                 _JOBS["config"].trials, _JOBS["config"].seed,
                                 protocol=_JOBS["protocol"])


# --- summaries ----------------------------------------------------------------------------------

def protocol_section(rows: dict[str, list[dict]], models: list[str], scenarios: list[str],
                     law_models: list[str], seed: int) -> dict:
    """One protocol's numbers: per model and variant the means with 95% intervals and the chance
    line of its own candidate sets; the chance line of all candidate sets; MRR and the truth's
    NLL per scenario; and each law model against its baselines."""
    from lawsmith.experiments.protocol import mrr_by_scenario, overall

    summary, per_scenario, scenario_nll = {}, {}, {}
    pooled: dict[str, list[int]] = defaultdict(list)
    for name in models:
        summary[name] = overall(rows[name])
        for variant, entry in summary[name].items():
            mine = [r for r in rows[name] if r["variant"] == variant]
            strata = [r["scenario"] for r in mine]
            for metric in RANKING:
                entry[f"{metric}_ci95"] = bootstrap_ci([r[metric] for r in mine], strata, seed)
            line = chance([r["candidates"] for r in mine])
            entry.update(chance_mrr=line["mrr"], chance_rank1=line["rank1"], rows=len(mine))
            pooled[variant] += [r["candidates"] for r in mine]
        per_scenario[name] = mrr_by_scenario(rows[name])
        scenario_nll[name] = _scenario_nll(rows[name])
    return {"chance": {variant: chance(sizes) for variant, sizes in pooled.items()},
            "summary": summary, "per_scenario": per_scenario, "scenario_nll": scenario_nll,
            "rows": rows,
            "beats_baseline": {name: {label: wins(rows[name], rows[f"{name} ({label})"],
                                                  scenarios, seed)
                                      for label in BASELINES}
                               for name in law_models}}


def _scenario_nll(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{scenario: {variant: mean -log p(true next state)}}: the mechanic's own NLL."""
    values: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        values[(row["scenario"], row["variant"])].append(-row["truth_log_prob"])
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for (scenario, variant), group in values.items():
        table[scenario][variant] = float(np.mean(group))
    return dict(table)


def wins(model_rows: list[dict], baseline_rows: list[dict], scenarios: list[str],
         seed: int) -> dict:
    """Scenarios (success variants) where the model's MRR beats the baseline's with the 95%
    interval of the difference clear of zero, loses likewise, or neither (indistinguishable)."""
    result = {"wins": [], "losses": [], "indistinguishable": [], "scenarios": len(scenarios)}
    for scenario in scenarios:
        ours = [r["mrr"] for r in model_rows
                if r["scenario"] == scenario and r["variant"] == "success"]
        theirs = [r["mrr"] for r in baseline_rows
                  if r["scenario"] == scenario and r["variant"] == "success"]
        low, high = difference_ci(ours, theirs, seed)
        key = "wins" if low > 0 else "losses" if high < 0 else "indistinguishable"
        result[key].append(scenario)
    return result


def planning_section(models: list[LawModel], world: CrafterWorld, seed: int) -> dict:
    """experiments/planning.py's evaluation of the models, with its tables as text."""
    from lawsmith.experiments import planning

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


def _every(step: int, total: int, what: str, say: Callable[[str], None]) -> Callable[[int], None]:
    """A progress callback that says `what: done/total` every `step` items."""
    def progress(done: int) -> None:
        if done % step == 0 or done == total:
            say(f"{what}: {done}/{total}")
    return progress


EXAMPLES = """examples:
  python experiments/evaluate.py models/learned -o reports/eval     # 10 trials, both protocols
  python experiments/evaluate.py models/learned models/crafter -o reports/eval --trials 3 --jobs 2
  python experiments/evaluate.py models/hand -o reports/hand --baseline-trace runs/crafter.jsonl.gz"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="experiments/evaluate.py",
        description="Rank the true next state among distractors and compare samples with the "
                    "truth on OneLife's 23 Crafter scenarios (success and failure variants) under "
                    "two protocols (ours and the OneLife-comparable one), for each model, its two "
                    "baselines (PoE-World inference, no parameter inference; fitted on the "
                    "model's own training data) and the True/Null/Random reference models, beside "
                    "the chance line and with 95%% intervals; held-out NLL against a converged "
                    "oracle on a fresh trace; optionally planning. Writes report.md, report.json "
                    "and plots.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL_DIR")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR")
    parser.add_argument("--trials", type=positive_int, default=10, help="seeds per scenario (10)")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--heldout", type=positive_int, default=200,
                        help="fresh transitions for held-out NLL (200, at least 10)")
    parser.add_argument("--protocol", choices=("both", "lawsmith", "onelife"), default="both",
                        help="which scenario protocol(s) to run (both)")
    parser.add_argument("--baseline-trace", metavar="TRACE",
                        help="the training trace for models whose manifest names none")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="processes for the protocol runs (1)")
    parser.add_argument("--planning", action="store_true", help="also run the planning checks")
    return parser


def run(args: argparse.Namespace, command: str) -> int:
    """Evaluate `args.models` and write the report (see `build_parser`)."""
    from lawsmith.experiments.report import (at_chance, baseline_lines, sections, summary_table,
                                             write_report)

    if args.heldout < 10:
        raise UsageError("--heldout must be at least 10")
    for folder in args.models:
        if not pathlib.Path(folder).is_dir():
            raise ModelError("not a model folder (no such directory)", path=folder)
    names: dict[str, str] = {}
    for folder in args.models:   # the report names each model by its folder's base name
        name = pathlib.Path(folder).name or str(folder)
        if name in names:
            raise UsageError(f"{names[name]} and {folder} would both be reported as {name!r}: "
                             "give the model folders different names")
        names[name] = folder
    if args.baseline_trace and not pathlib.Path(args.baseline_trace).is_file():
        raise UsageError(f"--baseline-trace {args.baseline_trace}: no such file")
    config = EvalConfig(trials=args.trials, seed=args.seed, heldout=args.heldout,
                        planning=args.planning, baseline_trace=args.baseline_trace,
                        jobs=args.jobs,
                        protocols=PROTOCOLS if args.protocol == "both" else (args.protocol,))
    try:
        report = evaluate(args.models, config,
                          say=lambda message: print(f"  {message}", flush=True))
    except ValueError as error:
        raise UsageError(str(error)) from None
    report["provenance"] = provenance(command)
    files = write_report(args.output, report)
    for protocol, section in sections(report).items():
        print(f"\nprotocol {protocol}")
        print(summary_table(report, section))
        for line in baseline_lines(section):
            print(line)
        hits = at_chance(section)
        if hits:
            print("at chance (MRR interval contains the chance line): " + ", ".join(hits))
    print(f"\nwrote {', '.join(str(f) for f in files)} ({report['seconds']:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line; exit 2 with one line on bad input, as the `lawsmith` verbs do."""
    from lawsmith.cli import reported

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    command = shlex.join(["python", "experiments/evaluate.py", *argv])
    return reported("experiments/evaluate.py", lambda: run(args, command))


if __name__ == "__main__":
    sys.exit(main())
