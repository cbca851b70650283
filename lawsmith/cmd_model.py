"""`lawsmith fit`, `lawsmith score`, `lawsmith show`: fit laws to a trace, score, and read a model."""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lawsmith.envs.errors import TraceError
from lawsmith.envs.trace import open_trace
from lawsmith import args as args_
from lawsmith.errors import UsageError

if TYPE_CHECKING:
    from lawsmith.laws.model import WorldModel

FIT_EXAMPLE = """examples:
  lawsmith fit --laws examples/crafter.law runs/crafter.jsonl.gz -o models/crafter
  lawsmith fit models/crafter runs/more.jsonl.gz        # refit (after editing models/crafter/laws.law)
  lawsmith fit models/crafter runs/more.jsonl.gz --posterior --device cuda"""
SCORE_EXAMPLE = """example:
  lawsmith score models/crafter runs/heldout.jsonl.gz"""
SHOW_EXAMPLE = """example:
  lawsmith show models/crafter"""
DIFF_EXAMPLE = """examples:
  lawsmith diff models/round1 models/round2                       # laws and fitted values
  lawsmith diff models/learned models/edited runs/heldout.jsonl.gz  # and NLL per observable class
  lawsmith diff models/a models/b --json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    fit_parser = subparsers.add_parser(
        "fit", help="fit a laws file's parameters to a trace (Pyro)", epilog=FIT_EXAMPLE,
        description="Fit law weights, law parameters and unexplained-change rates to a trace. "
                    "With --laws, start a model folder; otherwise refit MODEL_DIR, warm-starting "
                    "every value it already has.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    fit_parser.add_argument("paths", nargs="+", metavar="[MODEL_DIR] TRACE")
    fit_parser.add_argument("--laws", metavar="FILE.law", help="start from this laws file")
    fit_parser.add_argument("-o", "--output", metavar="MODEL_DIR", help="the new model folder")
    fit_parser.add_argument("--steps", type=args_.positive_int, default=300,
                            help="most optimiser steps (300; stops once the loss settles)")
    fit_parser.add_argument("--lr", type=args_.positive_float, default=0.1,
                            help="Adam learning rate (0.1)")
    fit_parser.add_argument("--seed", type=args_.nonnegative_int, default=0)
    fit_parser.add_argument("--device", type=args_.device, default="cpu", help="cpu or cuda")
    fit_parser.add_argument("--posterior", action="store_true",
                            help="fit a Gaussian posterior and report parameter uncertainty")
    fit_parser.add_argument("--heldout", type=args_.share, default=0.2,
                            help="share of transitions held out for scoring and pruning (0.2)")
    fit_parser.add_argument("--prune", action="store_true",
                            help="drop laws whose removal does not raise the held-out NLL")
    fit_parser.set_defaults(run=run_fit)

    score = subparsers.add_parser("score", help="held-out NLL of a model on a trace",
                                  epilog=SCORE_EXAMPLE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    score.add_argument("model", metavar="MODEL_DIR")
    score.add_argument("trace", metavar="TRACE")
    score.set_defaults(run=run_score)

    show = subparsers.add_parser("show", help="print a model's laws with their fitted values",
                                 epilog=SHOW_EXAMPLE,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("model", metavar="MODEL_DIR")
    show.set_defaults(run=run_show)

    diff = subparsers.add_parser(
        "diff", help="compare two model folders: laws, fitted values, NLL on a trace",
        description="Laws added, removed, changed and renamed (matched by their canonical form, "
                    "so reordering or renaming is no change), fitted values that moved, and with "
                    "a trace the NLL per transition of each model per observable class.",
        epilog=DIFF_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_argument("model_a", metavar="MODEL_A")
    diff.add_argument("model_b", metavar="MODEL_B")
    diff.add_argument("trace", metavar="TRACE", nargs="?")
    diff.add_argument("--top", type=args_.nonnegative_int, default=15,
                      help="observable classes listed (15)")
    diff.add_argument("--json", action="store_true", help="the report as JSON")
    diff.set_defaults(run=run_diff)


def _new_folder(folder: str) -> None:
    """UsageError unless `folder` is free for a new model (never overwrite one, or a file)."""
    from lawsmith.laws.folder import MANIFEST_FILE
    path = pathlib.Path(folder)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{folder} is a file, not a model folder: choose another -o")
    if (path / MANIFEST_FILE).exists():
        raise UsageError(f"{folder} already holds a model: choose another -o, or refit it with "
                         f"'lawsmith fit {folder} TRACE'")


def _transitions(path: str, schema: dict | None) -> tuple[list, list[int], dict]:
    """The trace's triples, their episodes and its schema (checked against `schema` if given)."""
    from lawsmith.laws.folder import check_schema

    reader = open_trace(path)
    if schema is not None:
        check_schema(schema, reader.schema, path)
    transitions, episodes = reader.triples_with_episodes()
    if not transitions:
        raise TraceError("no transitions in the file", path=path)
    return transitions, episodes, reader.schema


def run_fit(args: argparse.Namespace) -> int:
    # Heavy imports (torch, Pyro) where they are needed, so `lawsmith --help` stays quick.
    from lawsmith.laws.folder import file_sha256, load_model, save_model
    from lawsmith.laws.model import WorldModel
    from lawsmith.synth.fit import FitConfig, build_tables, fit, heldout_nll, prune, split
    from lawsmith.synth.learn import drop_laws

    if args.laws:
        if len(args.paths) != 1 or not args.output:
            raise UsageError("with --laws give one TRACE and -o MODEL_DIR")
        trace, folder = args.paths[0], args.output
        _new_folder(folder)
        transitions, episodes, schema = _transitions(trace, None)
        try:
            text = pathlib.Path(args.laws).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read {args.laws}: {error}") from None
        model = WorldModel(text, schema, filename=args.laws)
    else:
        if len(args.paths) != 2 or args.output:
            raise UsageError("give MODEL_DIR TRACE (or --laws FILE.law TRACE -o MODEL_DIR)")
        folder, trace = args.paths
        model, manifest = load_model(folder)
        transitions, episodes, schema = _transitions(trace, model.schema)
    parts = split(transitions, args.heldout, args.seed, episodes)
    train, test = parts.train, parts.test
    if len(train) < 2:
        raise UsageError(f"--heldout {args.heldout} leaves {len(train)} of {len(transitions)} "
                         "transitions to fit on; at least 2 are needed")
    config = FitConfig(steps=args.steps, learning_rate=args.lr, seed=args.seed,
                       device=args.device, posterior=args.posterior)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("fitting", total=config.steps)
        result = fit(model, train, config,
                     progress=lambda step: progress.update(task, completed=step))
    fitted = WorldModel(model.text, schema, result.params)
    fit_info = {"transitions": len(train), "heldout_transitions": len(test),
                "train_nll": result.train_nll, "seconds": round(result.seconds, 2),
                "steps": result.steps, "device": args.device, "posterior": args.posterior,
                "split": parts.record}
    dropped: list[str] = []
    if test:
        tables = build_tables(fitted, test, config.chunk)
        fit_info["heldout_nll"] = heldout_nll(fitted, tables)
        if args.prune:
            dropped, report = prune(fitted, tables)
            fit_info["pruned"] = dropped
            fit_info["heldout_nll"] = report["heldout_nll_after"]
            if dropped:
                fitted = WorldModel(drop_laws(fitted.text, dropped), schema, result.params)
    manifest = {"world": open_trace(trace).header["world"],
                "data": {"trace": str(trace), "sha256": file_sha256(trace),
                         "transitions": len(transitions)},
                "fit": fit_info}
    save_model(folder, fitted, manifest, command=args.command)
    print(f"fitted {folder} on {trace}")
    print(f"  transitions   {len(train)} train, {len(test)} held out"
          + (f" ({parts.describe()})" if test else ""))
    print(f"  NLL/transition train {result.train_nll:.4f}"
          + (f", held out {fit_info['heldout_nll']:.4f}" if "heldout_nll" in fit_info else ""))
    print(f"  time          {result.seconds:.1f} s ({result.steps} steps, {args.device})")
    if dropped:
        print(f"  pruned        {', '.join(dropped)}")
    _print_parameters(fitted)
    return 0


def _print_parameters(model: WorldModel) -> None:
    uncertainty = model.params.get("uncertainty", {})
    if model.params["parameters"]:
        print("  parameters")
        for name, value in sorted(model.params["parameters"].items()):
            print(f"    {name:<24} {_value(value, uncertainty.get(name))}")


def _value(value, spread: dict | None) -> str:
    if isinstance(value, list):
        sds = spread["sd"] if spread else [None] * len(value)
        return "[" + ", ".join(_one(v, s) for v, s in zip(value, sds)) + "]"
    return _one(value, spread["sd"] if spread else None)


def _one(value: float, sd: float | None) -> str:
    return f"{value:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def run_score(args: argparse.Namespace) -> int:
    from lawsmith.laws.folder import load_model
    from lawsmith.synth.fit import FitConfig, build_tables

    model, _ = load_model(args.model)
    transitions, _, _ = _transitions(args.trace, model.schema)
    tables = build_tables(model, transitions, FitConfig().chunk)
    n = len(transitions)
    totals: dict[str, float] = {}
    for table in tables:
        for name, value in model.class_log_probs(table).items():
            totals[name] = totals.get(name, 0.0) + value
    overall = -sum(totals.values()) / n
    print(f"{args.model} on {args.trace}: {n} transitions")
    print(f"  NLL per transition  {overall:.4f}")
    print()
    groups: dict[str, float] = {}
    for name, value in totals.items():
        group = name.split(".")[0] if not name.startswith("player.") else ".".join(
            name.split(".")[:2])
        groups[group] = groups.get(group, 0.0) - value / n
    width = max(len(g) for g in groups)
    print(f"  {'observable group':<{width}}  {'NLL/transition':>14}")
    for group, value in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<{width}}  {value:>14.4f}")
    if not math.isfinite(overall):
        return 1
    return 0


def run_show(args: argparse.Namespace) -> int:
    from lawsmith.dsl import format_law, parse
    from lawsmith.dsl.ast import parameter_names
    from lawsmith.laws.folder import load_model

    model, manifest = load_model(args.model)
    program = parse(model.text)
    params = model.params
    uncertainty = params.get("uncertainty", {})
    fit_info = manifest.get("fit") or manifest.get("learn") or {}
    print(f"# {args.model}: {len(program.laws)} laws"
          + (f", fitted on {manifest['data']['transitions']} transitions of {manifest['data']['trace']}"
             if "data" in manifest else "")
          + (f", held-out NLL {fit_info['heldout_nll']:.4f}/transition"
             if "heldout_nll" in fit_info else ""))
    if "provenance" in manifest:
        made = manifest["provenance"]
        print(f"# made by: {made.get('command')} (commit {made.get('commit')})")
    for law in program.laws:
        print()
        notes = [f"weight {params['weights'][law.name]:.2f}"]
        for name in parameter_names(law):
            notes.append(f"{name} = {_value(params['parameters'][name], uncertainty.get(name))}")
        print("# fitted: " + "; ".join(notes))
        print(format_law(_with_fitted_init(law, params["parameters"])))
    return 0


def _with_fitted_init(law, values: dict):
    """The law with each parameter's `init` set to its fitted value (valid DSL that warm-starts)."""
    effects = []
    for effect in law.effects:
        chance = getattr(effect, "chance", None)
        if chance is not None and chance.param:
            effect = dataclasses.replace(effect, chance=dataclasses.replace(
                chance, init=round(values[chance.param], 4)))
        value = getattr(effect, "value", None)
        if hasattr(value, "outcomes"):
            effect = dataclasses.replace(effect, value=dataclasses.replace(
                value, init=_rounded_distribution(values[value.param])))
        effects.append(effect)
    return dataclasses.replace(law, effects=tuple(effects))


def _rounded_distribution(probabilities: list[float], digits: int = 4) -> tuple[float, ...]:
    """Probabilities rounded to `digits`, the largest taking up the rounding so that they still
    sum to 1 (the checker insists, and `show`'s text must parse back)."""
    rounded = [round(p, digits) for p in probabilities]
    largest = max(range(len(rounded)), key=rounded.__getitem__)
    rounded[largest] = round(rounded[largest] + 1 - sum(rounded), digits)
    return tuple(rounded)


def run_diff(args: argparse.Namespace) -> int:
    import json

    from lawsmith.laws.compare import compare
    from lawsmith.laws.folder import check_schema, load_model

    a, _ = load_model(args.model_a)
    b, _ = load_model(args.model_b)
    check_schema(a.schema, b.schema, args.model_b, what="the second model")
    transitions = _transitions(args.trace, a.schema)[0] if args.trace else []
    report = compare(a, b, transitions)
    if args.json:
        print(json.dumps({"a": args.model_a, "b": args.model_b, "trace": args.trace, **report},
                         indent=2))
        return 0
    print(f"A {args.model_a} ({len(a.law_names)} laws)  B {args.model_b} "
          f"({len(b.law_names)} laws)")
    print(f"  same {len(report['same'])}, renamed {len(report['renamed'])}, changed "
          f"{len(report['changed'])}, removed {len(report['removed'])}, added "
          f"{len(report['added'])}")
    for title, sign, key in (("removed (in A only)", "-", "removed"),
                             ("added (in B only)", "+", "added")):
        if report[key]:
            print(f"\n{title}:")
            for law in report[key]:
                print(_indented(law["text"], f"  {sign} "))
    if report["changed"]:
        print("\nchanged (same name, other law):")
        for law in report["changed"]:
            print(_indented(law["a"], "  A "))
            print(_indented(law["b"], "  B "))
    if report["renamed"]:
        print("\nrenamed (same law):")
        for old, new in report["renamed"]:
            print(f"  {old} -> {new}")
    if report["values"]:
        print("\nfitted values that moved:")
        for value in report["values"]:
            print(f"  {value['what']}: {_moved(value['a'])} -> {_moved(value['b'])}")
    if "nll" in report:
        nll = report["nll"]
        print(f"\nNLL per transition on {args.trace} ({nll['transitions']} transitions): "
              f"A {nll['a']:.4f}, B {nll['b']:.4f} ({nll['change']:+.4f})")
        rows = nll["classes"][:args.top]
        width = max([len("observable class")] + [len(r["class"]) for r in rows])
        print(f"  {'observable class':<{width}}  {'A':>9}  {'B':>9}  {'B - A':>9}")
        for row in rows:
            print(f"  {row['class']:<{width}}  {row['a']:>9.4f}  {row['b']:>9.4f}  "
                  f"{row['change']:>+9.4f}")
    return 0


def _indented(text: str, prefix: str) -> str:
    lines = text.splitlines()
    return "\n".join([prefix + lines[0]] + [" " * len(prefix) + line for line in lines[1:]])


def _moved(value) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(f"{v:.3f}" for v in value) + ")"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
