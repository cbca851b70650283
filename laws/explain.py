"""One transition explained: which laws fired, what each predicted for each observable it governs, the
combined distribution (`laws.combine`'s weighted product of experts with the noise floor), the
observed value and its log-probability; then the changes no law predicted.

    report = explain(model, state, action, next_state)
    report["observables"][0] == {"observable": "player.inventory.wood", "observed": 3,
                                 "log_prob": -0.01, "laws": [{"law": "wood_tree", "weight": 1.0,
                                 "predicts": [[3, 1.0]]}], "combined": [[3, 0.99], ...],
                                 "rest": 0.01}
"""

from __future__ import annotations

import math

from lawsmith.laws import combine
from lawsmith.laws.model import WorldModel

# Values listed per combined distribution (the rest is summed).
TOP = 5


def explain(model: WorldModel, state: dict, action: str, next_state: dict) -> dict:
    """The report for one transition (see the module docstring); plain data."""
    table = model.table([(state, action, next_state)])
    eps = model.params["noise_floor"]
    probabilities = model.probability_tensor()
    scored = combine.scores(table, probabilities, model.weight_tensor(), eps,
                            global_weights=model.poe_world)
    change = model.change_tensor(table.classes)
    group_lp = combine.group_log_probs(table, scored, change).tolist()
    weights = combine.expert_weights(table, model.weight_tensor(),
                                     global_weights=model.poe_world).tolist()
    pair_p = combine.pair_probabilities(table, probabilities).tolist()
    slots_of: dict[int, list[int]] = {}
    for slot, group in enumerate(table.slot_group.tolist()):
        slots_of.setdefault(group, []).append(slot)
    pairs_of: dict[int, list[int]] = {}
    for pair, expert in enumerate(table.pair_expert.tolist()):
        pairs_of.setdefault(expert, []).append(pair)
    experts_of: dict[int, list[int]] = {}
    for expert, group in enumerate(table.expert_group.tolist()):
        experts_of.setdefault(group, []).append(expert)
    observables = []
    for g, name in enumerate(table.group_names):
        log_z = float(scored.log_z[g])
        slots = slots_of.get(g, [])
        combined = sorted(((_plain(table.slot_values[s]), math.exp(float(scored.score[s]) - log_z))
                           for s in slots), key=lambda pair: -pair[1])
        observed_slot = int(table.group_observed[g])
        laws = []
        for expert in experts_of.get(g, []):
            law, obj = table.expert_firing[expert]
            predicts = [[_plain(table.slot_values[int(table.pair_slot[p])]), pair_p[p]]
                        for p in pairs_of.get(expert, [])]
            laws.append({"law": law, "object": obj, "weight": weights[expert],
                         "predicts": predicts})
        observables.append({
            "observable": name,
            "observed": (_plain(table.slot_values[observed_slot]) if observed_slot >= 0
                         else "(a value no law named)"),
            "log_prob": group_lp[g], "laws": laws, "combined": [list(c) for c in combined[:TOP]],
            "rest": max(0.0, 1.0 - sum(p for _, p in combined[:TOP]))})
    changed, stayed = combine.unexplained_log_probs(table, change)
    unexplained = [{"observable": name, "log_prob": value}
                   for name, value in zip(table.changed_names, changed.tolist())]
    unchanged = float(stayed.sum())
    total = sum(group_lp) + sum(u["log_prob"] for u in unexplained) + unchanged
    fired = list(dict.fromkeys(law["law"] for o in observables for law in o["laws"]))
    return {"action": action, "log_prob": total, "fired": fired, "observables": observables,
            "unexplained": unexplained, "unchanged_log_prob": unchanged}


def _plain(value):
    """A slot value as JSON can hold it (positions and directions are tuples)."""
    return list(value) if isinstance(value, tuple) else value
