"""The prediction table built with tensors: the laws run on a batch of states at once
(`dsl.compile_torch`) and their outputs become a `laws.table.Table` without a Python loop over
transitions. It gives the same table as `laws.table.TableBuilder` (up to the order of groups, slots
and classes), which tests/test_table_torch.py checks; this one is what fitting uses on large traces.

Observables are coded as integers: `(slot << ID_BITS) | object_id` for an object's field or
existence, `(CELL << ID_BITS) | (y * W + x)` for a grid cell, `(SPAWN + kind) << ID_BITS | cell` for a
spawn, and a group's key is `(transition << CODE_BITS) | code`. Values are coded as int64: integers,
booleans and materials as themselves, floats by their bits, pairs as `(a + 2**15) << 16 | (b + 2**15)`.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from lawsmith.dsl import ir
from lawsmith.dsl.compile_torch import Batch, TorchLaws, encode_batch
from lawsmith.dsl.predictions import (cell_observable, exists_observable, field_observable,
                             spawn_observable)
from lawsmith.laws.observables import Observable, domain_size
from lawsmith.laws.params import ParamLayout
from lawsmith.laws.table import Table

ID_BITS = 24
CODE_BITS = 36


class ObservableCodes:
    """The observable slots of a schema: every (kind, attr, key) field, existence per kind, the grid
    and spawns per kind, with their class names and domain sizes."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.kinds = list(schema["kinds"])
        self.width, self.height = schema["grid"]["width"], schema["grid"]["height"]
        self.fields: list[tuple[str, str, str | None, str]] = []
        for kind, attrs in schema["kinds"].items():
            for attr, spec in attrs.items():
                if spec["type"] == "counts":
                    keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
                    self.fields += [(kind, attr, key, ir.INT) for key in keys]
                elif spec["type"] in (ir.INT, ir.FLOAT, ir.BOOL, ir.POS, ir.DIR):
                    self.fields.append((kind, attr, None, spec["type"]))
            if kind != "player":
                self.fields.append((kind, "exists", None, ir.BOOL))
        self.index = {(kind, attr, key): i for i, (kind, attr, key, _) in enumerate(self.fields)}
        self.cell = len(self.fields)
        self.spawn = self.cell + 1
        self.classes = ([f"{k}.{a}" + (f".{key}" if key else "") for k, a, key, _ in self.fields]
                        + ["grid"] + [f"spawn.{kind}" for kind in self.kinds])
        domains, log_others = [], []
        for kind, attr, key, _ in self.fields:
            what = "exists" if attr == "exists" else "field"
            size = domain_size(Observable("", what, kind, 0, attr, key), schema)
            domains.append(size)
            log_others.append(math.log(max(size - 1, 1)))
        domains.append(len(schema["materials"]))
        log_others.append(math.log(max(len(schema["materials"]) - 1, 1)))
        domains += [2] * len(self.kinds)
        log_others += [math.log(self.width * self.height)] * len(self.kinds)
        self.domain = torch.tensor(domains, dtype=torch.float64)
        self.log_others = torch.tensor(log_others, dtype=torch.float64)

    def class_of(self, codes: torch.Tensor) -> torch.Tensor:
        return codes >> ID_BITS


def pair_code(x, y):
    """The value code of a position or direction (ints or int64 tensors)."""
    return ((x + 2 ** 15) << 16) | (y + 2 ** 15)


def pair_of(code):
    """(x, y) of a pair's value code (the inverse of `pair_code`; ints or int64 tensors)."""
    return (code >> 16) - 2 ** 15, (code & 0xFFFF) - 2 ** 15


def value_codes(values, value_type: str) -> torch.Tensor:
    """int64 codes of values of one type (a tensor, or an (x, y) pair of tensors)."""
    if isinstance(values, tuple):
        return pair_code(values[0].to(torch.int64), values[1].to(torch.int64))
    if value_type == ir.FLOAT or values.dtype == torch.float64:
        return (values.to(torch.float64) + 0.0).view(torch.int64)   # + 0.0 makes -0.0 into 0.0
    return values.to(torch.int64)


def decode_value(code: int, value_type: str, materials: list[str]):
    """The plain value of a value code (the inverse of `value_codes`)."""
    if value_type in (ir.POS, ir.DIR):
        return pair_of(code)
    if value_type == ir.FLOAT:
        return float(torch.tensor([code], dtype=torch.int64).view(torch.float64)[0])
    if value_type == ir.BOOL:
        return bool(code)
    if value_type == ir.MATERIAL:
        return materials[code]
    return int(code)


def observable_of(code: int, codes: ObservableCodes) -> tuple[str, str]:
    """(observable name, value type) of an observable code."""
    slot, low = code >> ID_BITS, code & ((1 << ID_BITS) - 1)
    x, y = low % codes.width, low // codes.width
    if slot == codes.cell:
        return cell_observable(x, y), ir.MATERIAL
    if slot > codes.cell:
        return spawn_observable(codes.kinds[slot - codes.spawn], x, y), ir.BOOL
    kind, attr, key, value_type = codes.fields[slot]
    if attr == "exists":
        return exists_observable(kind, low), ir.BOOL
    return field_observable(kind, low, attr, key), value_type


def _keys(n: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    return (n << CODE_BITS) | codes


class _Objects:
    """Find objects of one kind in a batch by (transition, id)."""

    def __init__(self, batch: Batch, kind: str):
        table = batch.tables[kind]
        self.table = table
        rows = torch.arange(table.ids.shape[0], device=table.ids.device).unsqueeze(1)
        flat = (rows * max(table.ids.shape[1], 1) + torch.arange(table.ids.shape[1],
                                                                  device=table.ids.device))
        keys = (rows.expand_as(table.ids) << ID_BITS) | table.ids.clamp(min=0)
        keys, flat = keys[table.mask], flat[table.mask]
        self.keys, order = keys.sort()
        self.flat = flat[order]

    def find(self, n: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(found [Q] bool, flat index into [N, M] [Q])."""
        query = (n << ID_BITS) | ids
        if len(self.keys) == 0:
            return torch.zeros_like(query, dtype=torch.bool), torch.zeros_like(query)
        at = torch.searchsorted(self.keys, query).clamp(max=len(self.keys) - 1)
        return self.keys[at] == query, self.flat[at]

    def column(self, attr: str, key: str | None, value_type: str) -> torch.Tensor:
        """Value codes of a field, flattened to [N * M]."""
        column = self.table.fields[(attr, key)]
        if value_type in (ir.POS, ir.DIR):
            return value_codes((column[..., 0].reshape(-1), column[..., 1].reshape(-1)), value_type)
        return value_codes(column.reshape(-1), value_type)


class Transitions:
    """N transitions encoded for the batched laws: `before` (with actions) and `after` batches, and
    lookups of objects by (transition, id) in each."""

    def __init__(self, codes: ObservableCodes, states: Sequence[dict], actions: Sequence[str],
                 next_states: Sequence[dict], device: str | torch.device = "cpu"):
        schema = codes.schema
        self.codes = codes
        self.size = len(states)
        unique, index = _unique_states(list(states) + list(next_states))
        every = encode_batch(unique, None, schema, device)
        rows = torch.tensor(index, dtype=torch.int64, device=every.grid.device)
        action = torch.tensor([schema["actions"].index(a) for a in actions], dtype=torch.int64,
                              device=every.grid.device)
        self._index(every.select(rows[:len(states)], action), every.select(rows[len(states):]))

    @classmethod
    def of_batches(cls, codes: ObservableCodes, before: Batch, after: Batch) -> "Transitions":
        """Transitions already encoded: `before` (with its actions) and `after`, row by row."""
        data = cls.__new__(cls)
        data.codes, data.size = codes, before.size
        data._index(before, after)
        return data

    def _index(self, before: Batch, after: Batch) -> None:
        self.before, self.after = before, after
        self.player = self.before.tables["player"].ids[:, 0]
        self.objects_before = {kind: _Objects(self.before, kind) for kind in self.codes.kinds}
        self.objects_after = {kind: _Objects(self.after, kind) for kind in self.codes.kinds}

    def observed(self, n: torch.Tensor, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(next value code, observable still defined) of observables `code` in transitions `n`."""
        return _observed(n, code, self.codes, self.after, self.objects_before, self.objects_after)


def build_table(laws: TorchLaws, layout: ParamLayout, codes: ObservableCodes,
                states: Sequence[dict], actions: Sequence[str], next_states: Sequence[dict],
                device: str | torch.device = "cpu", spawn: dict | None = None) -> Table:
    """The prediction table of N transitions (see the module docstring). `spawn`: the typical
    attributes of a new object per kind (params["spawn"]); a new object's attribute that differs
    from it is an unexplained change, as in `laws.table.TableBuilder`."""
    return build_table_from(laws, layout, codes, Transitions(codes, states, actions, next_states,
                                                             device), spawn)


def build_table_from(laws: TorchLaws, layout: ParamLayout, codes: ObservableCodes,
                     data: Transitions, spawn: dict | None = None) -> Table:
    """The prediction table of transitions already encoded (see `build_table`)."""
    outputs = laws.predict(data.before)
    law_index = {law.name: i for i, law in enumerate(laws.program.laws)}
    constants: dict[float, int] = {1.0: 0}
    parts = []   # per effect: (n, code, expert indices, outcome codes [V, K], prob indices, old)
    experts = 0
    expert_laws = []
    for out in outputs:
        law = law_index[out.law.name]
        kind = codes.kinds[out.law.kind] if out.law.kind is not None else "player"
        for effect_out in out.effects:
            part = _effect_entries(effect_out, out, kind, data.player, codes, layout, constants)
            if part is None:
                continue
            n, code, outcomes, probs, old, objects = part
            parts.append((n, code, torch.arange(experts, experts + len(n), device=n.device),
                          outcomes, probs, old, objects))
            expert_laws.append(torch.full((len(n),), law, dtype=torch.int64, device=n.device))
            experts += len(n)
    return _assemble(parts, expert_laws, experts, constants, codes, data.before, data.after,
                     data.objects_before, data.objects_after, data.size, layout, spawn or {})


def _unique_states(states: list[dict]) -> tuple[list[dict], list[int]]:
    """Each distinct state object once (a trace's next state is the following state)."""
    seen: dict[int, int] = {}
    unique, index = [], []
    for state in states:
        key = id(state)
        if key not in seen:
            seen[key] = len(unique)
            unique.append(state)
        index.append(seen[key])
    return unique, index


def effect_rows(effect_out, out, kind: str, player: torch.Tensor, codes: ObservableCodes):
    """Where one effect applies and what it says there, coded: (where, observable codes [V],
    outcome value codes [V, K], old value codes [V]), or None where it applies nowhere.
    `where` indexes the law's mask ((n,) or (n, m)); `kind` is the law's bound kind."""
    target = effect_out.effect.target
    where = effect_out.valid.nonzero(as_tuple=True)
    if len(where[0]) == 0:
        return None
    n = batch_rows(out, where)
    object_ids = out.object_ids[where] if out.object_ids is not None else None
    if isinstance(target, ir.FieldTarget):
        owner = "player" if target.var == "player" else kind
        ids = player[n] if owner == "player" else object_ids
        code = (codes.index[(owner, target.attr, target.key)] << ID_BITS) | ids
        value_type = target.type
    elif isinstance(target, ir.ExistsTarget):
        code = (codes.index[(kind, "exists", None)] << ID_BITS) | object_ids
        value_type = ir.BOOL
    else:
        x, y = (t[where] for t in effect_out.cell)
        cell = y * codes.width + x
        if isinstance(target, ir.CellTarget):
            code, value_type = (codes.cell << ID_BITS) | cell, ir.MATERIAL
        else:
            code, value_type = ((codes.spawn + target.kind) << ID_BITS) | cell, ir.BOOL
    values = effect_out.values
    values = (tuple(v[where] for v in values) if isinstance(values, tuple) else values[where])
    old = effect_out.old
    old = tuple(o[where] for o in old) if isinstance(old, tuple) else old[where]
    return where, code, value_codes(values, value_type), value_codes(old, value_type)


def batch_rows(out, where: tuple) -> torch.Tensor:
    """The batch row of each index in `where` (a cell law's tensors cover `out.rows` only)."""
    return where[0] if out.rows is None else out.rows[where[0]]


def _effect_entries(effect_out, out, kind: str, player: torch.Tensor, codes: ObservableCodes,
                    layout: ParamLayout, constants: dict):
    rows = effect_rows(effect_out, out, kind, player, codes)
    if rows is None:
        return None
    where, code, outcomes, old_codes = rows
    effect = effect_out.effect
    count = len(effect.outcomes)
    if effect.labels:
        probs = [("param", layout.index(effect.param, k)) for k in range(count)]
    elif effect.param is not None or effect.prob is not None:
        outcomes = torch.stack([outcomes[:, 0], old_codes], 1)
        if effect.param is not None:
            probs = [("param", layout.index(effect.param)),
                     ("param", layout.index(effect.param, complement=True))]
        else:
            probs = [_constant(constants, effect.prob), _constant(constants, 1.0 - effect.prob)]
    else:
        outcomes, probs = outcomes[:, :1], [0]
    objects = (out.object_ids[where] if out.object_ids is not None
               else torch.full_like(where[0], -1))
    return batch_rows(out, where), code, outcomes, probs, old_codes, objects


def flat_entries(parts, offset: int, device) -> tuple[torch.Tensor, ...]:
    """(row, observable code, expert, value code, probability index) of every (expert, outcome),
    from per-effect parts (rows [V], codes [V], expert indices [V], outcome codes [V, K],
    K probabilities: a constant's index, or ("param", i) for entry `offset + i`)."""
    long = dict(dtype=torch.int64, device=device)
    columns: list[list[torch.Tensor]] = [[], [], [], [], []]
    for n, code, expert, outcomes, probs in parts:
        k = outcomes.shape[1]
        prob = torch.tensor([p if isinstance(p, int) else offset + p[1] for p in probs], **long)
        for column, values in zip(columns, (n.repeat_interleave(k), code.repeat_interleave(k),
                                            expert.repeat_interleave(k), outcomes.reshape(-1),
                                            prob.repeat(len(n)))):
            column.append(values)
    return tuple(torch.cat(c) if c else torch.zeros(0, **long) for c in columns)


def _constant(constants: dict, value: float) -> int:
    if value not in constants:
        constants[value] = len(constants)
    return constants[value]


def _assemble(parts, expert_laws, experts, constants, codes: ObservableCodes, encoded: Batch,
              after: Batch, objects_before: dict, objects_after: dict, transitions: int,
              layout: ParamLayout, spawn: dict) -> Table:
    device = encoded.grid.device
    long = dict(dtype=torch.int64, device=device)
    entry_n, entry_code, entry_expert, entry_value, entry_prob = flat_entries(
        [part[:5] for part in parts], len(constants), device)
    cat = (lambda xs: torch.cat(xs) if xs else torch.zeros(0, **long))
    expert_old, expert_object = cat([part[5] for part in parts]), cat([part[6] for part in parts])
    expert_law = cat(expert_laws)
    expert_n = torch.zeros(experts, **long).scatter_(0, entry_expert, entry_n)
    expert_code = torch.zeros(experts, **long).scatter_(0, entry_expert, entry_code)

    # Observed next values per expert; fields of objects that are gone are not predicted.
    observed, present = _observed(expert_n, expert_code, codes, after, objects_before,
                                  objects_after)
    keep_expert = present
    expert_map = torch.full((experts,), -1, **long)
    expert_map[keep_expert] = torch.arange(int(keep_expert.sum()), device=device)
    keep_entry = keep_expert[entry_expert]
    entry_expert = expert_map[entry_expert[keep_entry]]
    entry_n, entry_code = entry_n[keep_entry], entry_code[keep_entry]
    entry_value, entry_prob = entry_value[keep_entry], entry_prob[keep_entry]
    expert_n, expert_code = expert_n[keep_expert], expert_code[keep_expert]
    expert_law, expert_old = expert_law[keep_expert], expert_old[keep_expert]
    expert_object = expert_object[keep_expert]
    observed = observed[keep_expert]

    group_keys, expert_group = torch.unique(_keys(expert_n, expert_code), return_inverse=True)
    n_groups = len(group_keys)
    entry_group = expert_group[entry_expert]
    slot_rows, entry_slot = torch.unique(torch.stack([entry_group, entry_value], 1), dim=0,
                                         return_inverse=True)
    slot_group = slot_rows[:, 0]
    pair_rows, entry_pair = torch.unique(torch.stack([entry_expert, entry_slot], 1), dim=0,
                                         return_inverse=True)
    group_code = group_keys & ((1 << CODE_BITS) - 1)
    group_class = codes.class_of(group_code)
    group_observed_value = torch.zeros(n_groups, **long).scatter_(0, expert_group, observed)
    group_old = torch.zeros(n_groups, **long).scatter_(0, expert_group, expert_old)
    hit = entry_value == group_observed_value[entry_group]
    group_observed = torch.full((n_groups,), -1, **long)
    group_observed.scatter_(0, entry_group[hit], entry_slot[hit])
    slot_count = torch.zeros(n_groups, dtype=torch.float64, device=device).index_add_(
        0, slot_group, torch.ones(len(slot_group), dtype=torch.float64, device=device))

    changed_n, changed_code = _changes(codes, encoded, after, objects_before, objects_after)
    changed_keys = _keys(changed_n, changed_code)
    unexplained = ~torch.isin(changed_keys, group_keys)
    changed_n, changed_code = changed_n[unexplained], changed_code[unexplained]
    new_n, new_code, new_counts = _spawned_fields(codes, objects_before, objects_after, spawn,
                                                  transitions)
    changed_n, changed_code = torch.cat([changed_n, new_n]), torch.cat([changed_code, new_code])
    changed_class = codes.class_of(changed_code)
    stay = _stay_counts(codes, encoded, objects_after, transitions, group_keys >> CODE_BITS,
                        group_class, changed_n, changed_class, new_counts)
    stay_n, stay_class = stay.nonzero(as_tuple=True)
    log_others = codes.log_others.to(device)
    return Table(
        transitions=transitions, group_transition=group_keys >> CODE_BITS,
        group_class=group_class, group_domain=codes.domain.to(device)[group_class],
        group_slot_count=slot_count, group_observed=group_observed,
        group_unchanged=group_observed_value == group_old,
        group_log_others=log_others[group_class],
        slot_group=slot_group, expert_group=expert_group, expert_law=expert_law,
        pair_expert=pair_rows[:, 0], pair_slot=pair_rows[:, 1], entry_pair=entry_pair,
        entry_prob=entry_prob,
        constants=torch.tensor(sorted(constants, key=constants.get), dtype=torch.float64,
                               device=device),
        changed_transition=changed_n, changed_class=changed_class,
        changed_log_others=log_others[changed_class],
        changed_count=torch.ones(len(changed_n), dtype=torch.float64, device=device),
        stay_transition=stay_n, stay_class=stay_class, stay_count=stay[stay_n, stay_class],
        classes=list(codes.classes), group_names=[], changed_names=[], expert_firing=[],
        slot_values=[], group_code=group_code, slot_code=slot_rows[:, 1],
        expert_object=expert_object)


def _observed(n: torch.Tensor, code: torch.Tensor, codes: ObservableCodes, after: Batch,
              objects_before: dict, objects_after: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(observed value code, observable still defined) for each (transition, observable code)."""
    slot, low = code >> ID_BITS, code & ((1 << ID_BITS) - 1)
    value = torch.zeros_like(code)
    present = torch.ones_like(code, dtype=torch.bool)
    cells = slot == codes.cell
    if cells.any():
        grid = after.grid.reshape(len(after.grid), -1)
        value[cells] = grid[n[cells], low[cells]].to(torch.int64)
    for k, kind in enumerate(codes.kinds):
        spawns = slot == codes.spawn + k
        if spawns.any():
            new_keys = _new_object_cells(kind, codes, objects_before, objects_after)
            value[spawns] = torch.isin((n[spawns] << ID_BITS) | low[spawns], new_keys).to(
                torch.int64)
    for index in slot.unique().tolist():
        if index >= codes.cell:
            continue
        kind, attr, key, value_type = codes.fields[index]
        here = slot == index
        found, flat = objects_after[kind].find(n[here], low[here])
        if attr == "exists":
            value[here] = found.to(torch.int64)
            continue
        column = objects_after[kind].column(attr, key, value_type)
        value[here] = torch.where(found, column[flat] if len(column) else flat, 0)
        present[here] = found
    return value, present


def _new_object_cells(kind: str, codes: ObservableCodes, objects_before: dict,
                      objects_after: dict) -> torch.Tensor:
    """Keys (n << ID_BITS | cell) of objects of `kind` that appear in the next states."""
    after = objects_after[kind].table
    rows = torch.arange(after.ids.shape[0], device=after.ids.device).unsqueeze(1).expand_as(after.ids)
    n, ids = rows[after.mask], after.ids[after.mask]
    found, _ = objects_before[kind].find(n, ids)
    pos = after.fields[("pos", None)][after.mask]
    cell = pos[:, 1] * codes.width + pos[:, 0]
    return ((n << ID_BITS) | cell)[~found]


def _changes(codes: ObservableCodes, before: Batch, after: Batch, objects_before: dict,
             objects_after: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(transition, observable code) of every observable whose value changed."""
    ns, cs = [], []
    changed = (before.grid != after.grid).reshape(len(before.grid), -1).nonzero(as_tuple=True)
    ns.append(changed[0])
    cs.append((codes.cell << ID_BITS) | changed[1])
    for k, kind in enumerate(codes.kinds):
        table = objects_before[kind].table
        rows = torch.arange(table.ids.shape[0], device=table.ids.device).unsqueeze(1).expand_as(
            table.ids)
        n, ids = rows[table.mask], table.ids[table.mask]
        found, flat_after = objects_after[kind].find(n, ids)
        if kind != "player":
            gone = ~found
            ns.append(n[gone])
            cs.append((codes.index[(kind, "exists", None)] << ID_BITS) | ids[gone])
        n, ids, flat_after = n[found], ids[found], flat_after[found]
        _, flat_before = objects_before[kind].find(n, ids)
        for index, (field_kind, attr, key, value_type) in enumerate(codes.fields):
            if field_kind != kind or attr == "exists":
                continue
            old = objects_before[kind].column(attr, key, value_type)[flat_before]
            new = objects_after[kind].column(attr, key, value_type)[flat_after]
            moved = old != new
            ns.append(n[moved])
            cs.append((index << ID_BITS) | ids[moved])
        spawned = _new_object_cells(kind, codes, objects_before, objects_after)
        ns.append(spawned >> ID_BITS)
        cs.append(((codes.spawn + k) << ID_BITS) | (spawned & ((1 << ID_BITS) - 1)))
    return torch.cat(ns), torch.cat(cs)


def _spawned_fields(codes: ObservableCodes, objects_before: dict, objects_after: dict,
                    spawn: dict, transitions: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(transition, observable code) of new objects' attributes that differ from their kind's
    typical value, and [N, C] how many such attributes each transition has per class."""
    device = next(iter(objects_after.values())).table.ids.device
    counts = torch.zeros((transitions, len(codes.classes)), dtype=torch.float64, device=device)
    ns, cs = [torch.zeros(0, dtype=torch.int64, device=device)], [
        torch.zeros(0, dtype=torch.int64, device=device)]
    for kind, attrs in spawn.items():
        if kind not in objects_after:
            continue
        after = objects_after[kind].table
        rows = torch.arange(after.ids.shape[0], device=device).unsqueeze(1).expand_as(after.ids)
        n, ids = rows[after.mask], after.ids[after.mask]
        found, _ = objects_before[kind].find(n, ids)
        n, ids = n[~found], ids[~found]
        _, flat = objects_after[kind].find(n, ids)
        for attr, typical in attrs.items():
            index = codes.index.get((kind, attr, None))
            if index is None or codes.fields[index][3] == ir.POS:
                continue
            value_type = codes.fields[index][3]
            column = objects_after[kind].column(attr, None, value_type)[flat]
            if value_type == ir.DIR:
                expected = value_codes((torch.tensor([typical[0]]), torch.tensor([typical[1]])),
                                       value_type)
            else:
                dtype = torch.float64 if value_type == ir.FLOAT else torch.int64
                expected = value_codes(torch.tensor([typical], dtype=dtype), value_type)
            differs = column != expected.to(device)
            ns.append(n[differs])
            cs.append((index << ID_BITS) | ids[differs])
            counts[:, index].index_add_(0, n, torch.ones(len(n), dtype=torch.float64,
                                                         device=device))
    return torch.cat(ns), torch.cat(cs), counts


def _stay_counts(codes: ObservableCodes, before: Batch, objects_after: dict, transitions: int,
                 group_n: torch.Tensor, group_class: torch.Tensor, changed_n: torch.Tensor,
                 changed_class: torch.Tensor, new_counts: torch.Tensor) -> torch.Tensor:
    """[N, C]: unpredicted observables per class that kept their value (`new_counts`: new
    objects' attributes compared with their kind's typical value)."""
    device = before.grid.device
    classes = len(codes.classes)
    counts = new_counts.clone()
    for index, (kind, attr, key, _) in enumerate(codes.fields):
        table = before.tables[kind]
        number = table.mask.sum(1).to(torch.float64)
        if attr != "exists":
            rows = torch.arange(table.ids.shape[0], device=device).unsqueeze(1).expand_as(table.ids)
            found, _ = objects_after[kind].find(rows[table.mask], table.ids[table.mask])
            gone = torch.zeros(transitions, dtype=torch.float64, device=device).index_add_(
                0, rows[table.mask], (~found).to(torch.float64))
            number = number - gone
        counts[:, index] += number
    counts[:, codes.cell] = codes.width * codes.height
    for k, kind in enumerate(codes.kinds):
        counts[:, codes.spawn + k] = 0 if kind == "player" else 1   # the player never spawns
    flat = counts.view(-1)
    not_spawn = group_class < codes.spawn
    flat.index_add_(0, (group_n * classes + group_class)[not_spawn],
                    -torch.ones(int(not_spawn.sum()), dtype=torch.float64, device=device))
    not_spawn = changed_class < codes.spawn
    flat.index_add_(0, (changed_n * classes + changed_class)[not_spawn],
                    -torch.ones(int(not_spawn.sum()), dtype=torch.float64, device=device))
    spawned = changed_class >= codes.spawn
    counts[changed_n[spawned], changed_class[spawned]] = 0
    return counts.clamp(min=0)
