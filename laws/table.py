"""The prediction table: what the laws predict for a batch of transitions, flattened into tensors.

Preconditions and predicted *values* do not depend on the fitted parameters, only the probabilities
and weights do. So the laws are run once over the data, and everything the likelihood needs is kept
here; `laws.combine` then evaluates the likelihood for any parameters with a few tensor operations.

Layout (G groups, S slots, X experts, P (expert, slot) pairs, E entries):
- a **group** is one predicted observable of one transition; its **slots** are the distinct values
  some law gives it; the observed next value is one of the slots or in the rest of the domain;
- an **expert** is one firing law's prediction for a group (a law firing for two objects that predict
  the same observable makes two experts);
- an **entry** is one (value, probability) of an expert; entries of an expert with equal values share
  a pair, whose probability is their sum (a blocked move and staying put are the same value);
- **unexplained** observables are the ones no law predicts: changed ones are listed one by one,
  unchanged ones are counted per class.
Probabilities are indices into `cat([constants, layout.probabilities(params)])`; `constants[0]` is 1.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import torch

from lawsmith.dsl.predictions import Firing, field_observable
from lawsmith.laws.observables import (Observable, StateView, changed_observables, domain_size,
                              parse_observable, plain as _plain)
from lawsmith.laws.params import ParamLayout


@dataclasses.dataclass
class Table:
    """See the module docstring. Index tensors are int64; sizes/log-sizes float64."""
    transitions: int
    group_transition: torch.Tensor   # [G]
    group_class: torch.Tensor        # [G] index into classes
    group_domain: torch.Tensor       # [G] domain size
    group_slot_count: torch.Tensor   # [G] number of slots
    group_observed: torch.Tensor     # [G] slot index of the observed value, -1 if in the rest
    group_unchanged: torch.Tensor    # [G] bool: the observed value is the old one
    group_log_others: torch.Tensor   # [G] log(values an unexplained change picks from)
    slot_group: torch.Tensor         # [S]
    expert_group: torch.Tensor       # [X]
    expert_law: torch.Tensor         # [X]
    pair_expert: torch.Tensor        # [P]
    pair_slot: torch.Tensor          # [P]
    entry_pair: torch.Tensor         # [E]
    entry_prob: torch.Tensor         # [E]
    constants: torch.Tensor          # [K] fixed probabilities; constants[0] == 1
    changed_transition: torch.Tensor  # [U] unexplained changes
    changed_class: torch.Tensor      # [U]
    changed_log_others: torch.Tensor  # [U] log(number of values other than the old one)
    changed_count: torch.Tensor      # [U] how many changes an entry stands for (1; more if compacted)
    stay_transition: torch.Tensor    # [V] unexplained, unchanged: counts per (transition, class)
    stay_class: torch.Tensor         # [V]
    stay_count: torch.Tensor         # [V]
    classes: list[str]
    # Names and values for reading a table back (empty in tables built by laws.table_torch):
    group_names: list[str]           # observable name per group
    changed_names: list[str]         # observable name per unexplained change
    expert_firing: list[tuple[str, int | None]]  # (law, object id) per expert
    slot_values: list                # the value of each slot
    constant: float = 0.0            # log-probability of parts compacted away (see `compact`)
    # Coded observables and slot values (tables built by laws.table_torch; None otherwise):
    group_code: torch.Tensor | None = None   # [G]
    slot_code: torch.Tensor | None = None    # [S]
    # The object a `for each` law fired for, per expert (-1 for the player's laws; None in
    # compacted tables): sampling draws a categorical parameter once per (transition, object).
    expert_object: torch.Tensor | None = None  # [X]

    def to(self, device) -> "Table":
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device)
                                            for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})


class TableBuilder:
    """Accumulates transitions and their firings; `build()` makes the tensors."""

    def __init__(self, schema: dict, law_names: Sequence[str], layout: ParamLayout,
                 classes: Iterable[str] = (), spawn: dict | None = None):
        self.schema = schema
        # The typical attributes of a new object per kind (params["spawn"]): a new object's
        # attribute that differs from its kind's typical value is an unexplained change.
        self.spawn = {kind: {attr: value for attr, value in attrs.items()
                             if attr in schema["kinds"].get(kind, {})
                             and schema["kinds"][kind][attr]["type"] not in ("counts", "pos")}
                      for kind, attrs in (spawn or {}).items() if kind in schema["kinds"]}
        self.law_index = {name: i for i, name in enumerate(law_names)}
        self.layout = layout
        self.class_index: dict[str, int] = {}
        for name in classes:
            self._class(name)
        self._constants: dict[float, int] = {1.0: 0}
        self._spawn_others = math.log(schema["grid"]["width"] * schema["grid"]["height"])
        self._domain_cache: dict[str, int] = {}
        self._kind_classes = _kind_classes(schema)
        self.n = 0
        self._lists: dict[str, list] = {name: [] for name in (
            "group_transition", "group_class", "group_domain", "group_slot_count", "group_observed",
            "group_unchanged", "group_log_others",
            "slot_group", "expert_group", "expert_law", "pair_expert", "pair_slot", "entry_pair",
            "entry_prob", "changed_transition", "changed_class", "changed_log_others",
            "stay_transition", "stay_class", "stay_count")}
        self.group_names: list[str] = []
        self.changed_names: list[str] = []
        self.expert_firing: list[tuple[str, int | None]] = []
        self.slot_values: list = []

    def _class(self, name: str) -> int:
        index = self.class_index.get(name)
        if index is None:
            index = self.class_index[name] = len(self.class_index)
        return index

    def _constant(self, value: float) -> int:
        index = self._constants.get(value)
        if index is None:
            index = self._constants[value] = len(self._constants)
        return index

    def _domain(self, observable: Observable) -> int:
        size = self._domain_cache.get(observable.group)
        if size is None:
            size = self._domain_cache[observable.group] = domain_size(observable, self.schema)
        return size

    def _log_others(self, observable: Observable) -> float:
        """log(number of values an unexplained change picks from): the other values of the domain,
        or for a spawn, the cells it could appear on."""
        if observable.what == "spawn":
            return self._spawn_others
        return math.log(max(self._domain(observable) - 1, 1))

    def add(self, state: dict, next_state: dict, firings: Sequence[Firing]) -> None:
        """One transition (the action is already in the firings)."""
        L = self._lists
        n = self.n
        self.n += 1
        before, after = StateView(state, self.schema), StateView(next_state, self.schema)
        groups: dict[str, tuple[int, dict]] = {}    # observable -> (group index, value -> slot)
        observed: dict[str, object] = {}
        for firing in firings:
            law = self.law_index[firing.law]
            for prediction in firing.predictions:
                name = prediction.observable
                entry = groups.get(name)
                if entry is None:
                    observable = parse_observable(name)
                    value = after.value(observable, before)
                    if value is None:   # a field of an object that is gone: nothing to predict
                        continue
                    entry = groups[name] = (len(L["group_transition"]), {})
                    observed[name] = value
                    L["group_unchanged"].append(value == before.value(observable, before))
                    L["group_log_others"].append(self._log_others(observable))
                    L["group_transition"].append(n)
                    L["group_class"].append(self._class(observable.group))
                    L["group_domain"].append(self._domain(observable))
                    self.group_names.append(name)
                group, slots = entry
                expert = len(L["expert_group"])
                L["expert_group"].append(group)
                L["expert_law"].append(law)
                self.expert_firing.append((firing.law, firing.object_id))
                pairs: dict[int, int] = {}
                for k, value in enumerate(prediction.values):
                    slot = slots.get(value)
                    if slot is None:
                        slot = slots[value] = len(L["slot_group"])
                        L["slot_group"].append(group)
                        self.slot_values.append(value)
                    pair = pairs.get(slot)
                    if pair is None:
                        pair = pairs[slot] = len(L["pair_expert"])
                        L["pair_expert"].append(expert)
                        L["pair_slot"].append(slot)
                    L["entry_pair"].append(pair)
                    L["entry_prob"].append(self._probability(prediction, k))
        for name, (group, slots) in groups.items():
            L["group_slot_count"].append(len(slots))
            L["group_observed"].append(slots.get(observed[name], -1))
        self._unexplained(n, before, after, groups)

    def _probability(self, prediction, k: int) -> int | tuple[str, int]:
        """Index of a value's probability: a constant's index, or ('param', layout index)."""
        if prediction.kind == "point":
            return 0
        if prediction.kind == "categorical":
            return ("param", self.layout.index(prediction.param, k))
        if prediction.param is not None:
            return ("param", self.layout.index(prediction.param, complement=k == 1))
        return self._constant(prediction.prob if k == 0 else 1.0 - prediction.prob)

    def _unexplained(self, n: int, before: StateView, after: StateView, groups: dict) -> None:
        L = self._lists
        counts: dict[str, int] = {}
        gone = [obj for oid, obj in before.by_id.items() if oid not in after.by_id]
        for kind, number in _kinds(before.state["objects"]).items():
            for name in self._kind_classes[kind]:
                counts[name] = counts.get(name, 0) + number
        for obj in gone:   # fields of objects that are gone are not observed
            for name in self._kind_classes[obj["kind"]]:
                if not name.endswith(".exists"):
                    counts[name] -= 1
        counts["grid"] = self.schema["grid"]["width"] * self.schema["grid"]["height"]
        for kind in self.schema["kinds"]:
            if kind != "player":
                counts[f"spawn.{kind}"] = 1
        new_objects = [obj for oid, obj in after.by_id.items() if oid not in before.by_id]
        for obj in new_objects:
            for attr in self.spawn.get(obj["kind"], {}):
                group = f"{obj['kind']}.{attr}"
                counts[group] = counts.get(group, 0) + 1
        for name in groups:
            group = parse_observable(name).group
            if not group.startswith("spawn."):
                counts[group] -= 1
        for observable in self._spawned_fields(new_objects):
            counts[observable.group] -= 1
            L["changed_transition"].append(n)
            L["changed_class"].append(self._class(observable.group))
            L["changed_log_others"].append(self._log_others(observable))
            self.changed_names.append(observable.name)
        for observable in changed_observables(before, after, self.schema):
            if observable.name in groups:
                continue
            group = observable.group
            counts[group] = max(0, counts.get(group, 1) - 1)
            L["changed_transition"].append(n)
            L["changed_class"].append(self._class(group))
            L["changed_log_others"].append(self._log_others(observable))
            self.changed_names.append(observable.name)
        for name, count in counts.items():
            if count > 0:
                L["stay_transition"].append(n)
                L["stay_class"].append(self._class(name))
                L["stay_count"].append(count)

    def _spawned_fields(self, new_objects: list[dict]) -> Iterable[Observable]:
        """Attributes of new objects that differ from their kind's typical value."""
        for obj in new_objects:
            for attr, typical in self.spawn.get(obj["kind"], {}).items():
                if _plain(obj.get(attr)) != _plain(typical):
                    yield parse_observable(field_observable(obj["kind"], obj["id"], attr, None))

    def build(self) -> Table:
        L = self._lists
        constants = torch.tensor(sorted(self._constants, key=self._constants.get),
                                 dtype=torch.float64)
        offset = len(constants)
        entry_prob = [p if isinstance(p, int) else offset + p[1] for p in L["entry_prob"]]

        def long(name):
            return torch.tensor(L[name], dtype=torch.int64)

        def real(name):
            return torch.tensor(L[name], dtype=torch.float64)

        return Table(
            transitions=self.n, group_transition=long("group_transition"),
            group_class=long("group_class"), group_domain=real("group_domain"),
            group_slot_count=real("group_slot_count"), group_observed=long("group_observed"),
            group_unchanged=torch.tensor(L["group_unchanged"], dtype=torch.bool),
            group_log_others=real("group_log_others"),
            slot_group=long("slot_group"), expert_group=long("expert_group"),
            expert_law=long("expert_law"), pair_expert=long("pair_expert"),
            pair_slot=long("pair_slot"), entry_pair=long("entry_pair"),
            entry_prob=torch.tensor(entry_prob, dtype=torch.int64), constants=constants,
            changed_transition=long("changed_transition"), changed_class=long("changed_class"),
            changed_log_others=real("changed_log_others"),
            changed_count=torch.ones(len(L["changed_class"]), dtype=torch.float64),
            stay_transition=long("stay_transition"), stay_class=long("stay_class"),
            stay_count=real("stay_count"), classes=list(self.class_index),
            group_names=self.group_names, changed_names=self.changed_names,
            expert_firing=self.expert_firing, slot_values=self.slot_values,
            expert_object=torch.tensor([-1 if oid is None else oid
                                        for _, oid in self.expert_firing], dtype=torch.int64))


def _kinds(objects: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in objects:
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    return counts


def _kind_classes(schema: dict) -> dict[str, list[str]]:
    """Per kind, the observable classes one object of it contributes."""
    result = {}
    for kind, attrs in schema["kinds"].items():
        names = []
        for attr, spec in attrs.items():
            if spec["type"] == "counts":
                keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
                names += [f"{kind}.{attr}.{key}" for key in keys]
            else:
                names.append(f"{kind}.{attr}")
        if kind != "player":
            names.append(f"{kind}.exists")
        result[kind] = names
    return result


def compact(table: Table, eps: float, global_weights: bool = False) -> Table:
    """A smaller table with the same total log-likelihood for every parameter value (for fitting).

    Groups with one expert whose probabilities are all constants do not depend on any parameter
    (unless `global_weights`, where a lone expert's weight counts): their log-probability moves
    into `constant`. Unexplained changes and unchanged counts are summed
    per class. Per-transition results of the compacted table are meaningless; its total is exact.
    """
    n_groups = len(table.group_domain)
    device = table.group_domain.device
    experts = torch.zeros(n_groups, dtype=torch.int64, device=device).index_add_(
        0, table.expert_group, torch.ones_like(table.expert_group))
    pair_group = table.expert_group[table.pair_expert]
    entry_group = pair_group[table.entry_pair]
    uses_param = torch.zeros(n_groups, dtype=torch.bool, device=device)
    uses_param[entry_group[table.entry_prob >= len(table.constants)]] = True
    fixed = (experts == 1) & ~uses_param & (not global_weights)
    # A lone expert with constant probabilities: log((1 - eps) p(observed) + eps / D).
    observed = table.group_observed
    slot_hit = torch.zeros(len(table.slot_group), dtype=torch.float64, device=device).index_add_(
        0, table.pair_slot, torch.zeros(len(table.pair_expert), dtype=torch.float64, device=device).index_add_(
            0, table.entry_pair, table.constants[table.entry_prob.clamp(max=len(table.constants) - 1)]))
    p_observed = torch.where(observed >= 0, slot_hit[observed.clamp(min=0)],
                             torch.zeros(n_groups, dtype=torch.float64, device=device))
    fixed_log = torch.log((1 - eps) * p_observed + eps / table.group_domain)
    constant = table.constant + float(fixed_log[fixed].sum())

    keep = ~fixed
    kept = _kept_groups(table, keep)

    classes = len(table.classes)
    changed_count = torch.zeros(classes, dtype=torch.float64, device=device).index_add_(
        0, table.changed_class, table.changed_count)
    changed_others = torch.zeros(classes, dtype=torch.float64, device=device).index_add_(
        0, table.changed_class, table.changed_log_others)
    stay = torch.zeros(classes, dtype=torch.float64, device=device).index_add_(0, table.stay_class,
                                                                table.stay_count)
    every_class = torch.arange(classes, device=device)
    zeros = torch.zeros(classes, dtype=torch.int64, device=device)
    return Table(
        transitions=table.transitions, **kept, constants=table.constants,
        changed_transition=zeros, changed_class=every_class, changed_log_others=changed_others,
        changed_count=changed_count,
        stay_transition=zeros, stay_class=every_class, stay_count=stay,
        classes=list(table.classes), changed_names=[], constant=constant)


def select_groups(table: Table, keep: torch.Tensor) -> Table:
    """The groups `keep` ([G] bool) of a table, with their slots, experts and entries, and no
    unexplained changes: the log-likelihood of those observables alone (for comparing laws that
    only touch them, as the literal ablation does)."""
    device = table.group_domain.device
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    return Table(
        transitions=table.transitions, **_kept_groups(table, keep), constants=table.constants,
        changed_transition=empty, changed_class=empty,
        changed_log_others=torch.zeros(0, dtype=torch.float64, device=device),
        changed_count=torch.zeros(0, dtype=torch.float64, device=device),
        stay_transition=empty, stay_class=empty,
        stay_count=torch.zeros(0, dtype=torch.float64, device=device),
        classes=list(table.classes), changed_names=[])


def _kept_groups(table: Table, keep: torch.Tensor) -> dict:
    """The group, slot, expert, pair and entry fields of the groups `keep`, indices remapped."""
    device = table.group_domain.device
    n_groups = len(table.group_domain)
    observed = table.group_observed
    pair_group = table.expert_group[table.pair_expert]
    group_map = torch.full((n_groups,), -1, dtype=torch.int64, device=device)
    group_map[keep] = torch.arange(int(keep.sum()), device=device)
    keep_slot = keep[table.slot_group]
    slot_map = torch.full((len(table.slot_group),), -1, dtype=torch.int64, device=device)
    slot_map[keep_slot] = torch.arange(int(keep_slot.sum()), device=device)
    keep_expert = keep[table.expert_group]
    expert_map = torch.full((len(table.expert_group),), -1, dtype=torch.int64, device=device)
    expert_map[keep_expert] = torch.arange(int(keep_expert.sum()), device=device)
    keep_pair = keep[pair_group]
    pair_map = torch.full((len(table.pair_expert),), -1, dtype=torch.int64, device=device)
    pair_map[keep_pair] = torch.arange(int(keep_pair.sum()), device=device)
    keep_entry = keep_pair[table.entry_pair]
    new_observed = torch.where(observed >= 0, slot_map[observed.clamp(min=0)], observed)[keep]
    kept_groups = keep.nonzero().flatten().tolist()
    kept_slots = keep_slot.nonzero().flatten().tolist()
    kept_experts = keep_expert.nonzero().flatten().tolist()
    return dict(
        group_transition=table.group_transition[keep], group_class=table.group_class[keep],
        group_domain=table.group_domain[keep], group_slot_count=table.group_slot_count[keep],
        group_observed=new_observed, group_unchanged=table.group_unchanged[keep],
        group_log_others=table.group_log_others[keep],
        slot_group=group_map[table.slot_group[keep_slot]],
        expert_group=group_map[table.expert_group[keep_expert]],
        expert_law=table.expert_law[keep_expert],
        pair_expert=expert_map[table.pair_expert[keep_pair]],
        pair_slot=slot_map[table.pair_slot[keep_pair]],
        entry_pair=pair_map[table.entry_pair[keep_entry]],
        entry_prob=table.entry_prob[keep_entry],
        group_names=_pick(table.group_names, kept_groups),
        expert_firing=_pick(table.expert_firing, kept_experts),
        slot_values=_pick(table.slot_values, kept_slots))


def _pick(values: list, indices: list[int]) -> list:
    """The listed entries (tables built with tensors carry no names: empty stays empty)."""
    return [values[i] for i in indices] if values else []
