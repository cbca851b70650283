"""`lawsmith explain` (one transition through a model, law by law) and `lawsmith laws` (per-law
statistics on a trace)."""

from __future__ import annotations

import argparse
import json

from lawsmith.envs.errors import TraceError
from lawsmith.envs.trace import open_trace
from lawsmith.args import nonnegative_int

EXPLAIN_EXAMPLE = """examples:
  lawsmith explain models/learned runs/crafter.jsonl.gz --step 42     # the 43rd transition
  lawsmith explain models/learned --state s.json --action do --next t.json
  lawsmith explain models/learned runs/crafter.jsonl.gz --step 42 --json"""


def register(subparsers: argparse._SubParsersAction) -> None:
    explain = subparsers.add_parser(
        "explain", help="which laws fired on a transition, what each predicted, what it cost",
        description="For one transition: the laws that fired, each one's prediction for each "
                    "observable it governs, the combined distribution, the observed value and "
                    "its log-probability (most surprising first), and the changes no law "
                    "predicted.", epilog=EXPLAIN_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    explain.add_argument("model", metavar="MODEL_DIR")
    explain.add_argument("trace", metavar="TRACE", nargs="?")
    explain.add_argument("--step", type=nonnegative_int, metavar="K",
                         help="the K-th transition of the trace (from 0)")
    explain.add_argument("--state", metavar="FILE", help="a state (JSON), instead of a trace")
    explain.add_argument("--action", metavar="A", help="the action taken in --state")
    explain.add_argument("--next", metavar="FILE", help="the state after it (JSON)")
    explain.add_argument("--top", type=nonnegative_int, default=12,
                         help="observables listed, most surprising first (12; 0: all)")
    explain.add_argument("--json", action="store_true", help="the whole report as JSON")
    explain.set_defaults(run=run_explain)
    register_laws(subparsers)


def _transition(args: argparse.Namespace, schema: dict) -> tuple[dict, str, dict, str]:
    from lawsmith.laws.folder import check_schema
    from lawsmith.errors import UsageError

    if args.trace is not None:
        if args.step is None or args.state or args.next or args.action:
            raise UsageError("give TRACE --step K, or --state FILE --action A --next FILE")
        reader = open_trace(args.trace)
        check_schema(schema, reader.schema, args.trace)
        held = 0
        for held, transition in enumerate(reader.transitions(), start=1):
            if held - 1 == args.step:
                return (transition.state, transition.action, transition.next_state,
                        f"{args.trace} transition {args.step}")
        raise TraceError(f"no transition {args.step} (the trace holds {held})", path=args.trace)
    if not (args.state and args.next and args.action):
        raise UsageError("give TRACE --step K, or --state FILE --action A --next FILE")
    from lawsmith.envs.state import validate_state
    states = []
    for path in (args.state, args.next):
        try:
            with open(path) as handle:
                state = json.load(handle)
        except (OSError, ValueError) as error:
            raise TraceError(f"cannot read a state: {error}", path=path) from None
        try:
            validate_state(state, schema)
        except TraceError as error:
            raise error.located(path=path) from None
        states.append(state)
    if args.action not in schema["actions"]:
        raise UsageError(f"unknown action {args.action!r} (known: {', '.join(schema['actions'])})")
    return states[0], args.action, states[1], f"{args.state} --{args.action}-> {args.next}"


def run_explain(args: argparse.Namespace) -> int:
    from lawsmith.laws.explain import explain
    from lawsmith.laws.folder import load_model

    model, _ = load_model(args.model)
    state, action, next_state, where = _transition(args, model.schema)
    report = explain(model, state, action, next_state)
    if args.json:
        print(json.dumps({"model": args.model, "transition": where, **report}, indent=2))
        return 0
    print(f"{where}: action {action}")
    print(f"  log-probability {report['log_prob']:.4f}; {len(report['fired'])} laws fired on "
          f"{len(report['observables'])} observables; {len(report['unexplained'])} unexplained "
          f"changes ({report['unchanged_log_prob']:.4f} for what stayed unexplained and "
          f"unchanged)")
    rows = sorted(report["observables"], key=lambda o: o["log_prob"])
    shown = rows if args.top == 0 else rows[:args.top]
    for row in shown:
        print(f"\n  {row['observable']} = {_text(row['observed'])}   log-prob "
              f"{row['log_prob']:.4f}")
        combined = ", ".join(f"{_text(v)} {p:.3f}" for v, p in row["combined"])
        print(f"    combined: {combined}" + (f", other {row['rest']:.3g}" if row["rest"] > 5e-4
                                             else ""))
        for law in row["laws"]:
            said = ", ".join(f"{_text(v)} {p:.3f}" for v, p in law["predicts"])
            print(f"    {law['law']} (weight {law['weight']:.2f}): {said}")
    if len(shown) < len(rows):
        print(f"\n  ... {len(rows) - len(shown)} more observables (--top 0 lists all)")
    if report["unexplained"]:
        print("\n  changes no law predicted:")
        for item in report["unexplained"]:
            print(f"    {item['observable']}   log-prob {item['log_prob']:.4f}")
    return 0


def _text(value) -> str:
    return f"({value[0]}, {value[1]})" if isinstance(value, list) and len(value) == 2 else str(value)


LAWS_EXAMPLE = """examples:
  lawsmith laws models/learned runs/heldout.jsonl.gz                 # by share of the NLL
  lawsmith laws models/learned runs/heldout.jsonl.gz --sort wrong --flagged
  lawsmith laws models/learned runs/heldout.jsonl.gz --json"""
SORTS = {"nll": lambda r: -r["nll"], "firings": lambda r: -r["firings"],
         "wrong": lambda r: -r["wrong"], "name": lambda r: r["law"]}


def register_laws(subparsers: argparse._SubParsersAction) -> None:
    laws = subparsers.add_parser(
        "laws", help="per-law statistics of a model on a trace",
        description="One row per law: firings, right and wrong predictions (the law's most "
                    "probable value against the observed one), its share of the trace's NLL, "
                    "its fitted weight and parameters (± the posterior's sd where fitted with "
                    "--posterior), and the laws sharing an observable class with it. Flags laws "
                    "that never fired (never) and laws mostly wrong (wrong).",
        epilog=LAWS_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    laws.add_argument("model", metavar="MODEL_DIR")
    laws.add_argument("trace", metavar="TRACE")
    laws.add_argument("--sort", choices=SORTS, default="nll")
    laws.add_argument("--flagged", action="store_true", help="only flagged laws")
    laws.add_argument("--json", action="store_true", help="the rows as JSON")
    laws.set_defaults(run=run_laws)


def run_laws(args: argparse.Namespace) -> int:
    from lawsmith.laws.folder import check_schema, load_model
    from lawsmith.laws.law_stats import law_stats

    model, _ = load_model(args.model)
    reader = open_trace(args.trace)
    check_schema(model.schema, reader.schema, args.trace)
    transitions = reader.triples()
    if not transitions:
        raise TraceError("no transitions in the file", path=args.trace)
    rows = sorted(law_stats(model, transitions), key=SORTS[args.sort])
    if args.flagged:
        rows = [r for r in rows if r["never_fired"] or r["mostly_wrong"]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.model} on {args.trace}: {len(transitions)} transitions, "
          f"{len(model.law_names)} laws")
    width = max([len("law")] + [len(r["law"]) for r in rows])
    print("  (fired: firings, one per transition and object; right/wrong: predictions, one per "
          "effect of a firing)")
    print(f"  {'law':<{width}}  {'fired':>6}  {'right':>6}  {'wrong':>6}  {'NLL %':>6}  "
          f"{'weight':>6}  flags  values; shares observables with")
    for r in rows:
        flags = ("never" if r["never_fired"] else "") + ("wrong" if r["mostly_wrong"] else "")
        values = "; ".join(f"{p} {_param(v)}" for p, v in r["parameters"].items())
        shared = ", ".join(r["shares_with"][:4]) + (" ..." if len(r["shares_with"]) > 4 else "")
        weight = "" if r["weight"] is None else f"{r['weight']:.2f}"
        notes = "; ".join(part for part in (values, f"with {shared}" if shared else "") if part)
        print(f"  {r['law']:<{width}}  {r['firings']:>6}  {r['right']:>6}  {r['wrong']:>6}  "
              f"{100 * r['nll_share']:>6.1f}  {weight:>6}  {flags:<5}  {notes}")
    return 0


def _param(entry: dict) -> str:
    value, sd = entry["value"], entry["sd"]
    if isinstance(value, list):
        sds = sd if isinstance(sd, list) else [None] * len(value)
        return "(" + ", ".join(f"{v:.3f}" + (f"±{s:.3f}" if s is not None else "")
                               for v, s in zip(value, sds)) + ")"
    if value is None:
        return "?"
    return f"{value:.3f}" + (f"±{sd:.3f}" if sd is not None else "")
