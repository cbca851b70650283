"""Benchmark (issue 11): the offline learner on real Crafter, on a coverage trace and on an
explorer trace, against the hand-written `examples/crafter.law` fitted on the same training split.

Two kinds of training trace, each with a separate test trace of the same kind:
- coverage: explorer states perturbed through the schema and stepped once by the real game
  (experiments/coverage_trace.py), which measures the learner apart from the explorer; training
  lives from coverage seed COVERAGE_TRAIN_SEED, test lives from COVERAGE_TEST_SEED (that script's
  own seed range, from 3,000,000);
- explorer: explorer lives, training from TRAIN_SEED_BASE, test from TEST_SEED_BASE.
The evaluation's held-out lives (experiments/evaluate.py, from 1,000,000) and its scenario states
(built on the world of seed SEED) are in neither; the script checks that no training state has a
scenario state's grid.

For each kind it prints
1. the learn time (goal: at most GOAL_SECONDS for 10,000 transitions on 2 cores), the number of
   laws, and how many literals the learner's ablation removed (when its history records it);
2. NLL per transition on the test trace, overall and per observable group, of the learned laws
   and of crafter.law fitted on the learner's own training split (goal: learned within
   GOAL_NLL_RATIO of hand-written). The learner's own held-out split chose its rounds and pruned
   its laws, so its number there is printed only for contrast;
3. the evaluation protocol (experiments/protocol.py, protocol PROTOCOL, TRIALS trials) on the 23
   scenarios of experiments/scenarios.py, success and failure variants: MRR with 95% bootstrap
   intervals of the learned laws, of crafter.law and of the Random model, the chance line of the
   learned model's own candidate sets, and whether the learned MRR is within GOAL_MRR_GAP of
   crafter.law's (goal: every row);
4. a check: how many learned laws about a creature or plant (`for each KIND v`, KIND not the
   player) have a condition that reads one of the player's counts attributes (found from the
   schema: inventory, achievements), which a learner that reads spurious correlations writes.
A last table puts the kinds side by side. Traces are cached under runs/ (ignored by git); with
`--rules FILE` everything is done on that variant's traces. CleanRL-style: settings at the top.

    python experiments/learn_crafter.py [--transitions 10000] [--test-transitions 2000]
        [--trials 10] [--rounds 4] [--traces coverage,explorer] [--rules FILE] [--laws-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lawsmith.dsl import ast  # noqa: E402
from lawsmith.dsl.parse import parse  # noqa: E402
from lawsmith.envs.crafter_world import CrafterWorld  # noqa: E402
from lawsmith.envs.recorder import record_lives  # noqa: E402
from lawsmith.envs.rules import load_rules  # noqa: E402
from lawsmith.envs.trace import open_trace  # noqa: E402
from lawsmith.envs.worlds import make_policy  # noqa: E402
from lawsmith.experiments import coverage_trace  # noqa: E402
from lawsmith.experiments.evaluate import protocol_section  # noqa: E402
from lawsmith.experiments.models import LawModel, RandomModel  # noqa: E402
from lawsmith.experiments.protocol import PROTOCOLS, evaluate_model  # noqa: E402
from lawsmith.experiments.report import summary_table  # noqa: E402
from lawsmith.experiments.scenarios import FAILURE, SUCCESS, scenarios  # noqa: E402
from lawsmith.experiments.stats import bootstrap_ci, chance, difference_ci  # noqa: E402
from lawsmith.laws.model import WorldModel  # noqa: E402
from lawsmith.synth.fit import FitConfig, build_tables, fit, split  # noqa: E402
from lawsmith.synth.learn import LearnConfig, learn  # noqa: E402
from lawsmith.synth.offline import OfflineProposer  # noqa: E402

# --- settings ---------------------------------------------------------------------------------
TRANSITIONS = 10_000          # training transitions of each kind
TEST_TRANSITIONS = 2_000      # test transitions of each kind
TRIALS = 10                   # protocol trials per scenario and variant
ROUNDS = 4                    # the learner's rounds
SEED = 0                      # learner, fits, protocol and the scenarios' world
PROTOCOL = "lawsmith"
KINDS = ("coverage", "explorer")
TRAIN_SEED_BASE = 100         # explorer training lives
TEST_SEED_BASE = 2_000_000    # explorer test lives
COVERAGE_TRAIN_SEED = 0       # coverage_trace --seed: lives from 3,000,000
COVERAGE_TEST_SEED = 1        # lives from 3,100,000
GOAL_SECONDS = 120.0
GOAL_NLL_RATIO = 1.10
GOAL_MRR_GAP = 0.05
HAND = "crafter.law"
MODELS = ("learned", HAND, "Random")
COLUMNS = ("Random", HAND, "learned")     # the per-scenario table's order


def tag(rules_path: str | None) -> str:
    return pathlib.Path(rules_path).stem if rules_path else "default"


def explorer_trace(name: str, size: int, rules_path: str | None,
                   first_seed: int) -> pathlib.Path:
    """A cached explorer trace of `size` transitions over as many lives as it takes, the lives'
    seeds counting up from `first_seed`."""
    path = ROOT / "runs" / f"{name}_{tag(rules_path)}_{size}.jsonl.gz"
    if not path.exists():
        record_lives(CrafterWorld(load_rules(rules_path)), make_policy("explorer"), str(path),
                     size, first_seed=first_seed)
    return path


def coverage(name: str, size: int, rules_path: str | None, seed: int) -> pathlib.Path:
    """A cached coverage trace (experiments/coverage_trace.py) of `size` transitions."""
    path = ROOT / "runs" / f"coverage_{name}_{tag(rules_path)}_{size}_s{seed}.jsonl.gz"
    if not path.exists():
        coverage_trace.write_coverage(CrafterWorld(load_rules(rules_path)), path, size, seed,
                                      rules_path)
    return path


def training_trace(kind: str, args) -> pathlib.Path:
    if kind == "coverage":
        return coverage("learn", args.transitions, args.rules, COVERAGE_TRAIN_SEED)
    return explorer_trace("learn", args.transitions, args.rules, TRAIN_SEED_BASE)


def test_trace(kind: str, args) -> pathlib.Path:
    """The test trace of a kind: lives its training trace does not use."""
    if kind == "coverage":
        return coverage("test", args.test_transitions, args.rules, COVERAGE_TEST_SEED)
    return explorer_trace("test", args.test_transitions, args.rules, TEST_SEED_BASE)


def group_nll(model: WorldModel, transitions) -> dict[str, float]:
    totals: dict[str, float] = {}
    for table in build_tables(model, transitions, 10_000):
        for name, value in model.class_log_probs(table).items():
            group = name.split(".")[0] if not name.startswith("player.") else ".".join(
                name.split(".")[:2])
            totals[group] = totals.get(group, 0.0) - value / len(transitions)
    return totals


def learn_trace(path: pathlib.Path, out: pathlib.Path, rounds: int):
    """The offline learner on a trace, as `lawsmith learn` runs it: (model, history, split)."""
    reader = open_trace(path)
    transitions, episodes = reader.triples_with_episodes()
    config = LearnConfig(rounds=rounds, seed=SEED)
    parts = split(transitions, config.heldout, config.seed, episodes)   # the learner's split
    proposer = OfflineProposer(parts.train, reader.schema)
    model, history = learn(transitions, reader.schema, proposer, str(out), config,
                           {"world": "crafter"}, progress=print, episodes=episodes)
    return model, history, parts


def fitted_hand(schema: dict, train) -> WorldModel:
    """crafter.law with its parameters fitted on `train`."""
    hand = WorldModel((ROOT / "examples" / "crafter.law").read_text(), schema)
    return WorldModel(hand.text, schema, fit(hand, train, FitConfig(seed=SEED)).params)


def ablated(history: list) -> str:
    """What the learner's last round says its ablation removed (the learner may not record it)."""
    last = history[-1] if history else {}
    value = last.get("ablated") if isinstance(last, dict) else None
    if value is None:
        return "not recorded by the learner"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:g} literals"
    if isinstance(value, (list, tuple, set, dict)):
        return f"{len(value)} literals"
    return str(value)


# --- the check: laws about creatures that read the player's counts ----------------------------------

def counts_attributes(schema: dict) -> set[str]:
    """The player's attributes of type counts (Crafter's inventory and achievements)."""
    return {name for name, spec in schema["kinds"]["player"].items() if spec["type"] == "counts"}


def reads_player_counts(node, counts: set[str]) -> bool:
    """Whether an expression reads `player.<counts attribute>.<key>` anywhere."""
    if isinstance(node, ast.Attr):
        base = node.base
        if (isinstance(base, ast.Attr) and isinstance(base.base, ast.Name)
                and base.base.id == "player" and base.name in counts):
            return True
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return any(reads_player_counts(getattr(node, f.name), counts)
                   for f in dataclasses.fields(node) if f.name != "span")
    if isinstance(node, (tuple, list)):
        return any(reads_player_counts(item, counts) for item in node)
    return False


def creature_laws_on_counts(text: str, schema: dict) -> list[str]:
    """Laws `for each KIND v` (KIND an object kind other than the player) whose condition, as
    written, mentions `player.<counts attribute>.` (a `let` it uses is not looked into)."""
    program = parse(text)
    counts = counts_attributes(schema)
    return [law.name for law in program.laws
            if law.subject is not None and law.subject.kind in schema["kinds"]
            and law.subject.kind != "player" and law.condition is not None
            and reads_player_counts(law.condition, counts)]


# --- the protocol -------------------------------------------------------------------------------

def check_disjoint(transitions, cases) -> None:
    """No training state is a scenario state (compared by grid: the scenarios clear a square of
    grass around the player, which no recorded state has)."""
    grids = {"".join(case.state["grid"]) for case in cases}
    clash = sum("".join(state["grid"]) in grids for state, _, _ in transitions)
    if clash:
        raise SystemExit(f"{clash} training states have a scenario state's grid: refusing to "
                         "evaluate on states the models were fitted to")


def protocol_rows(models: dict, world, cases, trials: int) -> dict[str, list[dict]]:
    rows = {}
    for name, model in models.items():
        began = time.perf_counter()
        rows[name] = evaluate_model(model, cases, world, trials, SEED, protocol=PROTOCOL)
        print(f"protocol {PROTOCOL}: {name}, {len(rows[name])} trials in "
              f"{time.perf_counter() - began:.1f} s")
    return rows


def mrr_ci(rows: list[dict]) -> tuple[float, list[float]]:
    values = [row["mrr"] for row in rows]
    return sum(values) / len(values), bootstrap_ci(values, None, SEED)


def scenario_table(rows: dict[str, list[dict]], names: list[str]) -> tuple[list[str], dict]:
    """Lines of the per-scenario table, and {variant: (rows within the gap, rows)}."""
    def cell(mean: float, ci: list[float]) -> str:
        return f"{mean:.3f} [{ci[0]:.2f},{ci[1]:.2f}]"

    lines = [f"{'scenario':<22} {'variant':<8} {'chance':>6}  "
             + " ".join(f"{model:<19}" for model in COLUMNS)
             + f" {'learned - ' + HAND:<22} within {GOAL_MRR_GAP:g} of hand-written"]
    within: dict[str, list[int]] = {SUCCESS: [0, 0], FAILURE: [0, 0]}
    for scenario in names:
        for variant in (SUCCESS, FAILURE):
            mine = {model: [r for r in rows[model]
                            if r["scenario"] == scenario and r["variant"] == variant]
                    for model in MODELS}
            line = chance([r["candidates"] for r in mine["learned"]])["mrr"]
            stats = {model: mrr_ci(mine[model]) for model in COLUMNS}
            gap = stats["learned"][0] - stats[HAND][0]
            gap_ci = difference_ci([r["mrr"] for r in mine["learned"]],
                                   [r["mrr"] for r in mine[HAND]], SEED)
            close = gap >= -GOAL_MRR_GAP
            within[variant][0] += close
            within[variant][1] += 1
            lines.append(f"{scenario:<22} {variant:<8} {line:>6.3f}  "
                         + " ".join(f"{cell(*stats[model]):<19}" for model in COLUMNS)
                         + f" {gap:+.3f} [{gap_ci[0]:+.2f},{gap_ci[1]:+.2f}]  "
                         + ("yes" if close else "NO"))
    return lines, {variant: tuple(count) for variant, count in within.items()}


# --- one kind of trace --------------------------------------------------------------------------

def bench(kind: str, args, world: CrafterWorld) -> dict:
    """Everything for one kind of trace; returns its summary row."""
    path = training_trace(kind, args)
    out = ROOT / "runs" / f"learned_{path.name.split('.')[0]}"
    print(f"\n=== {kind} trace: {path.relative_to(ROOT)} ===")
    start = time.perf_counter()
    learned, history, parts = learn_trace(path, out, args.rounds)
    seconds = time.perf_counter() - start
    laws_file = out / "laws.law"
    print(f"learned laws: {laws_file}")
    if args.laws_only:
        return {"kind": kind, "laws_file": str(laws_file)}
    test_path = test_trace(kind, args)
    schema = open_trace(path).schema
    cases = scenarios(world, SEED)
    check_disjoint(parts.train + parts.test, cases)
    began = time.perf_counter()
    hand = fitted_hand(schema, parts.train)
    print(f"{HAND} fitted on the learner's {len(parts.train)} training transitions in "
          f"{time.perf_counter() - began:.1f} s")
    test = open_trace(test_path).triples()
    learned_groups, hand_groups = group_nll(learned, test), group_nll(hand, test)
    learned_total, hand_total = sum(learned_groups.values()), sum(hand_groups.values())
    ratio = learned_total / hand_total
    flagged = creature_laws_on_counts(laws_file.read_text(), schema)

    print(f"\ntrace {path.name}: {len(parts.train) + len(parts.test)} transitions "
          f"({len(parts.train)} train, {len(parts.test)} held out for the learner: "
          f"{parts.describe()})")
    print(f"learn time {seconds:.1f} s (goal <= {GOAL_SECONDS:.0f} s: "
          f"{'yes' if seconds <= GOAL_SECONDS else 'NO'}); {len(learned.law_names)} laws over "
          f"{len(history) - 1} kept rounds; ablation removed: {ablated(history)}")
    print(f"the learner's own held-out NLL {history[-1]['heldout_nll']:.3f} (it selected on it: "
          "not a clean number)")
    print(f"\ntest trace {test_path.name}: {len(test)} transitions of fresh lives")
    print(f"{'test NLL/transition':<28} {'learned':>9} {HAND:>12}")
    for group in sorted(set(learned_groups) | set(hand_groups),
                        key=lambda g: -max(learned_groups.get(g, 0), hand_groups.get(g, 0))):
        print(f"  {group:<26} {learned_groups.get(group, 0):>9.3f} "
              f"{hand_groups.get(group, 0):>12.3f}")
    print(f"  {'total':<26} {learned_total:>9.3f} {hand_total:>12.3f}   (learned / hand-written "
          f"= {ratio:.3f}; goal <= {GOAL_NLL_RATIO:.2f}: "
          f"{'yes' if ratio <= GOAL_NLL_RATIO else 'NO'})")

    print(f"\nprotocol {PROTOCOL}: {len(cases) // 2} scenarios x 2 variants x {args.trials} trials "
          f"(scenario states on the world of seed {SEED}; models fitted on {path.name})")
    models = {"learned": LawModel(learned, "learned"), HAND: LawModel(hand, HAND),
              "Random": RandomModel(schema, SEED)}
    rows = protocol_rows(models, world, cases, args.trials)
    names = list(dict.fromkeys(case.name for case in cases))
    section = protocol_section(rows, list(MODELS), names, [], SEED)
    print(summary_table({}, section))
    lines, within = scenario_table(rows, names)
    print("\nMRR per scenario, 95% bootstrap intervals over trials; chance: a uniformly random "
          "ranking of the learned model's own candidate sets; the difference's interval resamples "
          f"both models' trials; 'within' compares the means (learned >= {HAND} - "
          f"{GOAL_MRR_GAP:g})")
    print("\n".join(lines))
    print(f"within {GOAL_MRR_GAP:g} of hand-written: "
          + ", ".join(f"{variant} {n}/{total}" for variant, (n, total) in within.items()))
    reference = creature_laws_on_counts((ROOT / "examples" / "crafter.law").read_text(), schema)
    print(f"\nlaws about a creature or plant conditioned on the player's inventory or "
          f"achievements: {len(flagged)}" + (f" ({', '.join(flagged)})" if flagged else "")
          + f"; {HAND} as written: {len(reference)}")
    summary = section["summary"]
    return {"kind": kind, "seconds": seconds, "laws": len(learned.law_names),
            "nll": learned_total, "hand_nll": hand_total, "ratio": ratio,
            "mrr": {v: summary["learned"][v]["mrr"] for v in (SUCCESS, FAILURE)},
            "hand_mrr": {v: summary[HAND][v]["mrr"] for v in (SUCCESS, FAILURE)},
            "within": within, "flagged": len(flagged), "laws_file": str(laws_file)}


def print_summary(results: list[dict]) -> None:
    print(f"\n=== summary ({'' if len(results) > 1 else 'one kind; '}goals: learn <= "
          f"{GOAL_SECONDS:.0f} s, NLL ratio <= {GOAL_NLL_RATIO:.2f}, every scenario within "
          f"{GOAL_MRR_GAP:g}) ===")
    print(f"{'trace':<10} {'learn s':>8} {'laws':>5} {'NLL':>8} {HAND:>12} {'ratio':>6} "
          f"{'MRR s/f':>12} {HAND + ' s/f':>16} {'within s':>9} {'within f':>9} {'creature|counts':>16}")
    for r in results:
        within = r["within"]
        print(f"{r['kind']:<10} {r['seconds']:>8.1f} {r['laws']:>5} {r['nll']:>8.3f} "
              f"{r['hand_nll']:>12.3f} {r['ratio']:>6.3f} "
              f"{r['mrr'][SUCCESS]:>5.3f}/{r['mrr'][FAILURE]:.3f} "
              f"{r['hand_mrr'][SUCCESS]:>9.3f}/{r['hand_mrr'][FAILURE]:.3f} "
              f"{'%d/%d' % within[SUCCESS]:>9} {'%d/%d' % within[FAILURE]:>9} {r['flagged']:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=TRANSITIONS)
    parser.add_argument("--test-transitions", type=int, default=TEST_TRANSITIONS)
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--traces", default=",".join(KINDS),
                        help=f"which kinds, comma-separated ({', '.join(KINDS)})")
    parser.add_argument("--rules", help="a Crafter rules variant (YAML)")
    parser.add_argument("--laws-only", action="store_true",
                        help="learn and print the learned laws files' paths; no evaluation")
    args = parser.parse_args()
    kinds = [k for k in args.traces.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown or PROTOCOL not in PROTOCOLS:
        parser.error(f"unknown trace kind {sorted(unknown)} (known: {', '.join(KINDS)})")
    torch.set_num_threads(1)
    began = time.perf_counter()
    world = CrafterWorld(load_rules(args.rules))
    results = [bench(kind, args, world) for kind in kinds]
    if args.laws_only:
        print("\n" + "\n".join(f"{r['kind']}: {r['laws_file']}" for r in results))
        return
    print_summary(results)
    print(f"\ntotal {time.perf_counter() - began:.0f} s; learned laws: "
          + ", ".join(f"{r['kind']} {r['laws_file']}" for r in results))


if __name__ == "__main__":
    main()
