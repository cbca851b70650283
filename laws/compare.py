"""Two world models side by side: which laws one has and the other lacks, which changed, which fitted
values moved, and (given transitions) where each is better, per observable class.

Laws are matched by what they say, not by name or place: the DSL's canonical form
(`dsl.canonical_key`: the same up to ordering, renaming and rewriting; parameters' `init` starting
values left out), so reordering or renaming a law is no change. A law of the same name whose
canonical form differs is *changed*. Fitted values (law weights, named parameters) are compared
for the laws both have.

    report = compare(model_a, model_b)                    # laws and values
    report = compare(model_a, model_b, transitions)       # and NLL per observable class
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from lawsmith.dsl import ast, canonical_key, format_law, parse
from lawsmith.laws.model import WorldModel

# Fitted values that moved by less than this are not reported.
TOLERANCE = 1e-3


def compare(a: WorldModel, b: WorldModel, transitions: Sequence[tuple[dict, str, dict]] = ()
            ) -> dict:
    """The differences of `b` from `a` (see the module docstring) as plain data."""
    laws_a, laws_b = _laws(a), _laws(b)
    # Laws are matched as a multiset: two laws of one canonical form (both learned to `always`,
    # say) pair with their own names first, then in file order, never twice.
    same = [n for n, (key, _) in laws_a.items() if n in laws_b and laws_b[n][0] == key]
    matched_a, matched_b = set(same), set(same)
    renamed, changed, removed, added = [], [], [], []
    for name, (key, _) in laws_a.items():
        if name in matched_a:
            continue
        partner = next((n for n, (k, _) in laws_b.items() if k == key and n not in matched_b),
                       None)
        if partner is not None:
            renamed.append([name, partner])
            matched_a.add(name)
            matched_b.add(partner)
    for name, (key, text) in laws_a.items():
        if name in matched_a:
            continue
        if name in laws_b and name not in matched_b:
            changed.append({"law": name, "a": text, "b": laws_b[name][1]})
            matched_b.add(name)
        else:
            removed.append({"law": name, "text": text})
    for name, (key, text) in laws_b.items():
        if name not in matched_b:
            added.append({"law": name, "text": text})
    report = {"same": same, "renamed": renamed, "changed": changed, "removed": removed,
              "added": added, "values": _values(a, b, same + [n for n, _ in renamed],
                                                dict(renamed))}
    if transitions:
        report["nll"] = _class_nll(a, b, transitions)
    return report


def _laws(model: WorldModel) -> dict[str, tuple[tuple, str]]:
    program = parse(model.text)
    return {law.name: (canonical_key(_without_init(law)), format_law(law))
            for law in program.laws}


def _without_init(law: ast.Law) -> ast.Law:
    """The law with its parameters' starting values dropped: they seed a fit, the fitted values
    are compared on their own (`_values`)."""
    effects = []
    for effect in law.effects:
        chance = getattr(effect, "chance", None)
        if chance is not None:
            effect = dataclasses.replace(effect, chance=dataclasses.replace(chance, init=None))
        if isinstance(effect, ast.Update) and isinstance(effect.value, ast.Choice):
            effect = dataclasses.replace(effect, value=dataclasses.replace(effect.value, init=None))
        effects.append(effect)
    return dataclasses.replace(law, effects=tuple(effects))


def _values(a: WorldModel, b: WorldModel, matched: list[str], renamed: dict[str, str]
            ) -> list[dict]:
    """Law weights and named parameters that moved, for the laws both models have."""
    moved = []
    for name in matched:
        other = renamed.get(name, name)
        wa, wb = a.params["weights"].get(name), b.params["weights"].get(other)
        if wa is not None and wb is not None and abs(wa - wb) > TOLERANCE:
            moved.append({"what": f"weight of {name}", "a": wa, "b": wb})
    params_a, params_b = a.params["parameters"], b.params["parameters"]
    for param in params_a:
        if param in params_b and _distance(params_a[param], params_b[param]) > TOLERANCE:
            moved.append({"what": f"parameter {param}", "a": params_a[param],
                          "b": params_b[param]})
    return moved


def _distance(x, y) -> float:
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return abs(x - y)
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        return max((abs(p - q) for p, q in zip(x, y)), default=0.0)
    return float("inf") if x != y else 0.0


def _class_nll(a: WorldModel, b: WorldModel, transitions: Sequence) -> dict:
    """NLL per transition of each model, overall and per observable class, and b - a."""
    n = len(transitions)
    per = []
    for model in (a, b):
        totals: dict[str, float] = {}
        for table in model.tables(transitions):
            for name, value in model.class_log_probs(table).items():
                totals[name] = totals.get(name, 0.0) + value
        per.append({name: -value / n for name, value in totals.items()})
    classes = list(dict.fromkeys(list(per[0]) + list(per[1])))
    rows = [{"class": c, "a": per[0].get(c, 0.0), "b": per[1].get(c, 0.0),
             "change": per[1].get(c, 0.0) - per[0].get(c, 0.0)} for c in classes]
    rows.sort(key=lambda row: (-abs(row["change"]), row["class"]))
    total_a, total_b = sum(per[0].values()), sum(per[1].values())
    return {"transitions": n, "a": total_a, "b": total_b, "change": total_b - total_a,
            "classes": rows}
