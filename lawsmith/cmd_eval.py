"""`lawsmith eval`: OneLife's evaluation protocol for model folders, written as a report."""

from __future__ import annotations

import argparse
import pathlib

from laws.errors import ModelError
from lawsmith.errors import UsageError

EVAL_EXAMPLE = """examples:
  lawsmith eval models/learned -o reports/eval                   # 10 trials, both protocols
  lawsmith eval models/learned models/crafter -o reports/eval --trials 3 --jobs 2
  lawsmith eval models/hand -o reports/hand --baseline-trace runs/crafter.jsonl.gz"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate model folders: 23 scenarios, ranking, fidelity, NLL, planning",
        description="Rank the true next state among distractors and compare samples with the "
                    "truth on OneLife's 23 Crafter scenarios (success and failure variants) under "
                    "two protocols (ours and the OneLife-comparable one), for each model, its two "
                    "baselines (PoE-World inference, no parameter inference; fitted on the "
                    "model's own training data) and the True/Null/Random reference models, beside "
                    "the chance line and with 95%% intervals; held-out NLL against a converged "
                    "oracle on a fresh trace; optionally planning. Writes report.md, report.json "
                    "and plots.",
        epilog=EVAL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL_DIR")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR")
    parser.add_argument("--trials", type=int, default=10, help="seeds per scenario (10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout", type=int, default=200,
                        help="fresh transitions for held-out NLL (200)")
    parser.add_argument("--protocol", choices=("both", "lawsmith", "onelife"), default="both",
                        help="which scenario protocol(s) to run (both)")
    parser.add_argument("--baseline-trace", metavar="TRACE",
                        help="the training trace for models whose manifest names none")
    parser.add_argument("--jobs", type=int, default=1, help="processes for the protocol runs (1)")
    parser.add_argument("--planning", action="store_true", help="also run the planning checks")
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from experiments.evaluate import PROTOCOLS, EvalConfig, evaluate
    from experiments.report import (at_chance, baseline_lines, sections, summary_table,
                                    write_report)
    from laws.folder import provenance

    if args.trials < 1 or args.heldout < 10 or args.jobs < 1:
        raise UsageError("--trials and --jobs must be at least 1 and --heldout at least 10")
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
    report["provenance"] = provenance(args.command)
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
