"""Per-law statistics of a model on transitions: how often each law fired, how often its most
probable value was the observed one, its share of the NLL, its fitted values (with the posterior's
spread where `fit --posterior` stored one), and the laws it shares an observable class with.

A law *fires* once per (transition, object it is about); each firing predicts one or more
observables (one per effect). A prediction is *right* when the law's most probable value is the
observed one. The NLL of an observable a law predicted is split evenly among the laws predicting
it; the share is of the NLL of all predicted observables (unexplained changes are nobody's).

    rows = law_stats(model, transitions)   # one dict per law, in the model's order
"""

from __future__ import annotations

from typing import Sequence


from lawsmith.dsl import ast, parse
from lawsmith.laws import combine
from lawsmith.laws.model import WorldModel

MOSTLY_WRONG = 0.5    # flagged when at most this share of its predictions is right


def law_stats(model: WorldModel, transitions: Sequence[tuple[dict, str, dict]]) -> list[dict]:
    names = model.law_names
    fired = {name: set() for name in names}
    right = dict.fromkeys(names, 0)
    predictions = dict.fromkeys(names, 0)
    nll = dict.fromkeys(names, 0.0)
    classes: dict[str, set[str]] = {name: set() for name in names}
    eps = model.params["noise_floor"]
    probabilities = model.probability_tensor()
    start = 0   # the first transition of the current table
    for table in model.tables(transitions):
        scored = combine.scores(table, probabilities, model.weight_tensor(), eps,
                                global_weights=model.poe_world)
        change = model.change_tensor(table.classes)
        group_lp = combine.group_log_probs(table, scored, change).tolist()
        pair_p = combine.pair_probabilities(table, probabilities).tolist()
        best: dict[int, tuple[float, int]] = {}   # expert -> (prob, slot) of its top value
        for pair, (expert, slot) in enumerate(zip(table.pair_expert.tolist(),
                                                  table.pair_slot.tolist())):
            if expert not in best or pair_p[pair] > best[expert][0]:
                best[expert] = (pair_p[pair], slot)
        groups = table.expert_group.tolist()
        per_group: dict[int, int] = {}
        for group in groups:
            per_group[group] = per_group.get(group, 0) + 1
        observed = table.group_observed.tolist()
        transition_of = table.group_transition.tolist()
        class_of = table.group_class.tolist()
        for expert, group in enumerate(groups):
            law, obj = table.expert_firing[expert]
            fired[law].add((start + transition_of[group], obj))
            predictions[law] += 1
            right[law] += expert in best and best[expert][1] == observed[group] >= 0
            nll[law] -= group_lp[group] / per_group[group]
            classes[law].add(table.classes[class_of[group]])
        start += table.transitions
    total = sum(nll.values()) or 1.0
    params_of = _parameters(model)
    uncertainty = model.params.get("uncertainty", {})
    rows = []
    for name in names:
        shared = sorted(other for other in names if other != name and classes[name] & classes[other])
        rows.append({
            "law": name, "firings": len(fired[name]), "predictions": predictions[name],
            "right": right[name], "wrong": predictions[name] - right[name],
            "nll": nll[name], "nll_share": nll[name] / total,
            "weight": model.params["weights"].get(name),
            "parameters": {p: {"value": model.params["parameters"].get(p),
                               "sd": (uncertainty.get(p) or {}).get("sd")}
                           for p in params_of.get(name, ())},
            "observables": sorted(classes[name]), "shares_with": shared,
            "never_fired": not fired[name],
            "mostly_wrong": bool(predictions[name])
            and right[name] <= MOSTLY_WRONG * predictions[name]})
    return rows


def _parameters(model: WorldModel) -> dict[str, list[str]]:
    """The named parameters each law's effects use, each once."""
    return {law.name: list(dict.fromkeys(ast.parameter_names(law)))
            for law in parse(model.text).laws}
