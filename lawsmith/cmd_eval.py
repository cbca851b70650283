"""`lawsmith eval`: OneLife's evaluation protocol for model folders, written as a report."""

from __future__ import annotations

import argparse
import pathlib

from laws.errors import ModelError
from lawsmith.errors import UsageError

EVAL_EXAMPLE = """example:
  lawsmith eval models/learned models/crafter -o reports/eval --trials 3"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate model folders: 23 scenarios, ranking, fidelity, NLL, planning",
        description="Rank the true next state among distractors and compare samples with the "
                    "truth on OneLife's 23 Crafter scenarios (success and failure variants), for "
                    "each model, its PoE-World-style baseline and the True/Null/Random reference "
                    "models; held-out NLL against the oracle on a fresh trace; optionally "
                    "planning. Writes report.md, report.json and plots.",
        epilog=EVAL_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", metavar="MODEL_DIR")
    parser.add_argument("-o", "--output", required=True, metavar="REPORT_DIR")
    parser.add_argument("--trials", type=int, default=3, help="seeds per scenario (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout", type=int, default=200,
                        help="fresh transitions for held-out NLL (200)")
    parser.add_argument("--planning", action="store_true", help="also run the planning checks")
    parser.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from experiments.evaluate import evaluate
    from experiments.report import summary_table, write_report

    if args.trials < 1 or args.heldout < 10:
        raise UsageError("--trials must be at least 1 and --heldout at least 10")
    for folder in args.models:
        if not pathlib.Path(folder).is_dir():
            raise ModelError("not a model folder (no such directory)", path=folder)
    try:
        report = evaluate(args.models, args.trials, args.seed, args.heldout, args.planning,
                          say=lambda message: print(f"  {message}", flush=True))
    except ValueError as error:
        raise UsageError(str(error)) from None
    files = write_report(args.output, report)
    print()
    print(summary_table(report))
    for name, count in report["beats_baseline"].items():
        print(f"{name}: beats its PoE-World-style baseline on {count['wins']} of "
              f"{count['scenarios']} scenarios by MRR ({count['ties']} ties)")
    print(f"\nwrote {', '.join(str(f) for f in files)} ({report['seconds']:.0f} s)")
    return 0
