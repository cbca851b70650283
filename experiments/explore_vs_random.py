"""Random, the unguided explorer and the curious explorer in real Crafter: one life per seed.

For each seed every policy plays one life (until death or STEPS actions, no reset) in the same world,
under the default rules and under each variant in `examples/rules/`. The table shows per seed, and the
median and mean with a 95% bootstrap interval: steps survived, distinct achievements unlocked,
distinct (action, change label) pairs (labels from `envs.changes`), and per variant which of its
changed rules the life exercised (a changed rule is exercised when its effect happened: the collect
gave its items, the placed thing appeared, the made item was received). The curious explorer's
learning rounds (steps, laws, seconds) and its share of survival, need and fight choices are listed.

With `--evaluate`, the life of each seed (default rules) is learned (`synth.learn`, the CLI's
defaults) and each model goes through the evaluation protocol (`experiments.evaluate`, our strict
protocol), beside a model learned from `--baseline-transitions` transitions of the explorer's lives
and the reference models (True, Null, Random): MRR on the success variants with 95% intervals.

    .venv/bin/python experiments/explore_vs_random.py [--seeds 5] [--first-seed 200] [--steps 10000] [--evaluate]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time

from lawsmith.envs.changes import changes
from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.recorder import RandomPolicy, record, record_lives, run_episode
from lawsmith.envs.rules import load_rules
from lawsmith.envs.state import find_player
from lawsmith.experiments.stats import bootstrap_ci
from lawsmith.laws.folder import source_commit
from lawsmith.synth.curious import CuriousExplorer

# --- hyper-parameters ---------------------------------------------------------------------------
SEEDS = 5          # seeds 0 .. SEEDS-1
STEPS = 10_000     # one life: at most this many actions
POLICIES = {"random": lambda world: RandomPolicy(), "explorer": lambda world: Explorer(),
            "curious": lambda world: CuriousExplorer(health=world.health)}
COLUMNS = ("steps", "achievements", "pairs")
VARIANTS = sorted(pathlib.Path(__file__).parent.parent.glob("examples/rules/*.yaml"))
RUNS = pathlib.Path("runs/explore_vs_random")


def changed_rules(rules: dict) -> list[tuple[str, str, dict]]:
    """The (section, name, entry) a variant file sets."""
    return [(section, name, entry) for section, entries in rules.items()
            if isinstance(entries, dict) for name, entry in entries.items()
            if isinstance(entry, dict)]


def exercised(rule: tuple[str, str, dict], before: dict, action: str, after: dict,
              materials: dict) -> bool:
    """Whether this transition shows the changed rule's effect (Crafter's rule sections)."""
    section, name, entry = rule
    p, q = find_player(before), find_player(after)
    x, y = p["pos"][0] + p["facing"][0], p["pos"][1] + p["facing"][1]
    if section == "collect":
        code = materials.get(name)
        faced = (0 <= y < len(before["grid"]) and 0 <= x < len(before["grid"][y])
                 and before["grid"][y][x] == code)
        return faced and action == "do" and any(
            q["inventory"][item] > p["inventory"][item] for item in entry.get("receive", {}))
    if section == "place":
        return action == f"place_{name}" and after["grid"] != before["grid"]
    if section == "make":
        return action == f"make_{name}" and q["inventory"][name] > p["inventory"][name]
    return False


def measure(world, policy, seed: int, steps: int, rules: list, trace: str | None = None) -> dict:
    """Play one life and count what it saw (and write it to `trace` if given)."""
    pairs: set[tuple[str, str]] = set()
    previous: list = []
    last: dict = {}
    hit: set[int] = set()
    materials = world.schema["materials"]

    def on_step(t: int, state: dict, action: str | None, end: str | None) -> None:
        if previous:
            before, taken = previous.pop()
            pairs.update((taken, label) for label in changes(before, state, world.schema))
            for i, rule in enumerate(rules):
                if i not in hit and exercised(rule, before, taken, state, materials):
                    hit.add(i)
        if action is not None:
            previous.append((state, action))
        last["state"] = state

    began = time.perf_counter()
    if trace is None:
        taken = run_episode(world, policy, steps, seed, on_step=on_step)
    else:
        taken = record(world, policy, trace, steps, seed, on_step=on_step)
    achievements = find_player(last["state"])["achievements"]
    return {"steps": taken, "seconds": time.perf_counter() - began,
            "achievements": sum(1 for count in achievements.values() if count > 0),
            "unlocked": sorted(name for name, count in achievements.items() if count > 0),
            "pairs": len(pairs), "exercised": sorted(hit), "rules": len(rules),
            "rounds": list(getattr(policy, "rounds", [])),
            "modes": dict(getattr(policy, "modes", {}))}


def summary(values: list[float]) -> str:
    low, high = bootstrap_ci(values)
    return (f"median {statistics.median(values):8.1f}  mean {statistics.fmean(values):8.1f} "
            f"[{low:.1f}, {high:.1f}]")


def lives(seeds: list[int], steps: int, verbose: bool) -> dict:
    worlds = [("default", CrafterWorld(), [])]
    for path in VARIANTS:
        rules = load_rules(str(path))
        worlds.append((path.stem, CrafterWorld(rules), changed_rules(_variant_file(path))))
    results: dict = {}
    for label, world, rules in worlds:
        for name, make in POLICIES.items():
            runs = []
            for seed in seeds:
                trace = None
                if label == "default":
                    RUNS.mkdir(parents=True, exist_ok=True)
                    trace = str(RUNS / f"{name}-{seed}.jsonl.gz")
                run = measure(world, make(world), seed, steps, rules, trace)
                runs.append(run)
                if verbose:
                    print(f"{label} seed {seed} {name:8s} {run['steps']:5d} steps "
                          f"{run['seconds']:.0f} s: {', '.join(run['unlocked'])}", flush=True)
            results[label, name] = runs
    return results


def _variant_file(path: pathlib.Path) -> dict:
    import ruamel.yaml
    return ruamel.yaml.YAML(typ="safe").load(path.read_text()) or {}


def print_lives(results: dict, seeds: list[int], steps: int) -> None:
    print(f"Crafter 64x64, one life of at most {steps} steps, seeds {seeds[0]}..{seeds[-1]} "
          f"(commit {source_commit()})\n")
    header = f"{'rules':16s} {'policy':9s} {'seed':>5s} " + " ".join(
        f"{c:>12s}" for c in COLUMNS) + "  changed rules exercised"
    print(header)
    print("-" * len(header))
    for (label, name), runs in results.items():
        for seed, run in zip(seeds, runs):
            rules = (f"{len(run['exercised'])} of {run['rules']}" if run["rules"] else "")
            print(f"{label:16s} {name:9s} {seed:5d} " + " ".join(
                f"{run[c]:12d}" for c in COLUMNS) + f"  {rules}")
        for c in COLUMNS:
            print(f"{label:16s} {name:9s} {c:>12s}: {summary([r[c] for r in runs])}")
        print("-" * len(header))
    print("\ncurious explorer, default rules: learning rounds (step: laws, seconds) and choices")
    for seed, run in zip(seeds, results.get(("default", "curious"), [])):
        rounds = ", ".join(f"{r['step']}: {r['laws']} laws {r['seconds']:.0f} s"
                           for r in run["rounds"])
        print(f"  seed {seed}: {run['steps']} steps in {run['seconds']:.0f} s; rounds {rounds}; "
              f"choices {run['modes']}; unlocked {', '.join(run['unlocked'])}")


def evaluate_lives(seeds: list[int], baseline_transitions: int, trials: int) -> None:
    """Learn each curious life and the explorer baseline; MRR on success variants."""
    import subprocess
    import sys

    from lawsmith.experiments.evaluate import EvalConfig, evaluate
    from lawsmith.experiments.report import summary_table

    lawsmith = str(pathlib.Path(sys.executable).parent / "lawsmith")
    baseline = RUNS / f"explorer-{baseline_transitions}.jsonl.gz"
    if not baseline.exists():   # the same arguments give the same bytes: record it once
        record_lives(CrafterWorld(), Explorer(), str(baseline), baseline_transitions, 0, STEPS)
    folders = []
    for trace in [RUNS / f"curious-{seed}.jsonl.gz" for seed in seeds] + [baseline]:
        folder = RUNS / (trace.name.split(".")[0] + "-model")
        if not (folder / "manifest.json").exists():
            subprocess.run([lawsmith, "learn", str(trace), "-o", str(folder)], check=True,
                           stdout=subprocess.DEVNULL)
        folders.append(str(folder))
    report = evaluate(folders, EvalConfig(trials=trials, protocols=("lawsmith",)),
                      say=lambda message: None)
    print(f"\nmodels learned from each curious life and from {baseline_transitions} explorer "
          f"transitions, our protocol, {trials} trials per scenario and variant\n")
    print(summary_table(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds FIRST .. FIRST+SEEDS-1 (seeds no choice was tuned on: 200 on)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--verbose", action="store_true", help="list the achievements per run")
    parser.add_argument("--evaluate", action="store_true",
                        help="learn each curious life and run the evaluation protocol")
    parser.add_argument("--baseline-transitions", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results = lives(seeds, args.steps, args.verbose)
    print_lives(results, seeds, args.steps)
    if args.evaluate:
        evaluate_lives(seeds, args.baseline_transitions, args.trials)
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
