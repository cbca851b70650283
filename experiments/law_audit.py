"""Audit a law file against a recorded trace of the real world: per law, how often it fired and how
often the true next value of an observable it predicts was not among the values it gives, and per
observable class how often a change happened that no law predicts.

A miss of a law that is exact for the rule it states is the cost of reading the state before the
step: Crafter updates the player, then every creature in turn, and the laws see none of the moves
made earlier in the same step (see examples/crafter.law's header).

    python experiments/law_audit.py TRACE [LAWS] [--markdown]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses

from lawsmith.dsl import compile_python, parse
from lawsmith.envs.trace import open_trace
from lawsmith.laws.observables import StateView, changed_observables, parse_observable


@dataclasses.dataclass
class Audit:
    transitions: int
    fired: collections.Counter        # law -> observables predicted (where the truth has a value)
    missed: collections.Counter       # law -> of those, truth not among the law's values
    unexplained: collections.Counter  # observable class -> changes no law predicted
    examples: dict                    # law -> first miss (step, action, observable, values, truth)


def audit(trace_path: str, laws_path: str = "examples/crafter.law") -> Audit:
    trace = open_trace(trace_path)
    schema = trace.schema
    with open(laws_path) as handle:
        laws = compile_python(parse(handle.read(), laws_path), schema)
    fired, missed, unexplained = collections.Counter(), collections.Counter(), collections.Counter()
    examples: dict = {}
    n = 0
    for state, action, next_state in trace.triples():
        n += 1
        before, after = StateView(state, schema), StateView(next_state, schema)
        predicted = set()
        for firing in laws.predict(state, action):
            for prediction in firing.predictions:
                predicted.add(prediction.observable)
                truth = after.value(parse_observable(prediction.observable), before)
                if truth is None:   # an object that is gone
                    continue
                fired[firing.law] += 1
                if truth not in prediction.values:
                    missed[firing.law] += 1
                    examples.setdefault(firing.law, (state["step"], action,
                                                     prediction.observable,
                                                     prediction.values, truth))
        for observable in changed_observables(before, after, schema):
            if observable.name not in predicted:
                unexplained[observable.group] += 1
    return Audit(n, fired, missed, unexplained, examples)


def markdown(result: Audit) -> str:
    lines = [f"Transitions: {result.transitions}.", "",
             "| law | predictions | truth outside the law's values | share |", "|---|---|---|---|"]
    for law, count in sorted(result.fired.items(), key=lambda kv: -result.missed[kv[0]]):
        miss = result.missed[law]
        lines.append(f"| {law} | {count} | {miss} | {miss / count:.4f} |")
    lines += ["", "Changes no law predicts, per observable class (per transition):", "",
              "| class | changes | per transition |", "|---|---|---|"]
    for group, count in result.unexplained.most_common():
        lines.append(f"| {group} | {count} | {count / max(result.transitions, 1):.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("laws", nargs="?", default="examples/crafter.law")
    args = parser.parse_args()
    print(markdown(audit(args.trace, args.laws)), end="")


if __name__ == "__main__":
    main()
