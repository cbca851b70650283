"""The batched simulator: a world model's laws stepping N states held as tensors.

    sim = Simulator(model, device="cpu")             # model: a laws.model.WorldModel
    states = sim.encode(list_of_plain_states)       # once, at the edge
    gen = torch.Generator(device="cpu").manual_seed(0)
    states = sim.step(states, actions, gen)          # actions: [N] action indices (or names)
    plain = sim.decode(states)                      # once, at the other edge

A batch of states (`SimStates`) is a flat struct of tensors (the same `dsl.compile_torch.Batch` the
laws are compiled for), with N states on one device:
- `batch.grid`     [N, H, W] int8, material index per cell (schema `materials` order);
- `batch.globals`  name -> [N] (int64 / float64 / bool), the schema's globals;
- `batch.tables[kind]`: objects padded to M_kind per state: `ids` [N, M] int64 (-1: free slot),
  `mask` [N, M] bool (alive), `fields[(attr, key)]` [N, M] or [N, M, 2] (positions, directions);
  the player is slot 0 of the `player` table;
- `step` [N] int64 and `next_id` [N] int64 (the id a spawned object gets);
- `start` [N] int64: which encoded state each row descends from (its `engine` section is kept in
  Python and written back by `decode`; the simulator never reads it).

One `step` runs every law once over the batch (`TorchLaws.predict`), gathers each effect's
outcomes as experts of an observable (object field, existence, grid cell, spawn), combines the
experts of each observable as the model does (`laws.combine.scores`: the weighted product of
experts with the noise floor), draws one value per observable with the torch generator, and writes
the values in with masked tensor writes: fields by (row, slot), cells by flat index, removals clear
the alive mask, spawns take free slots (the padding grows when a row has none left). Effects of one
law that use one categorical parameter for one object are drawn with one label, as
`WorldModel.sample` does (a zombie's step and the strike that depends on where it ends agree).
With `noise=True` (default, as `sample`) the noise floor's share of a prediction draws some other
value of the observable's domain (floats, whose domain is not enumerated, keep their value, as
planning did with `sample`); `unexplained=True` also changes each unpredicted grid cell, object
field and existence with its class's fitted change rate. The step counter rises by one and the
other globals follow the model's fitted clock (`laws.clock`).

Same model, same seed, same device, same inputs: the same rollout.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Sequence

import torch

from lawsmith.dsl import ir
from lawsmith.dsl.compile_torch import Batch, Table as ObjectTable, encode_batch
from lawsmith.laws import combine
from lawsmith.laws.clock import Clock
from lawsmith.laws.errors import ModelError
from lawsmith.laws.observables import DIRECTIONS, Observable, default_value, domain_size, domain_start
from lawsmith.laws.table_torch import (CODE_BITS, ID_BITS, Transitions, _Objects, _effect_entries, _keys,
                              batch_rows, build_table_from, effect_rows, flat_entries, pair_code,
                              pair_of)

# Bytes a simulator may plan to hold per step, as a share of the memory available (see `check_size`).
MEMORY_SHARE = 0.5


@dataclasses.dataclass
class SimStates:
    """N states as tensors (see the module docstring for the shapes)."""
    batch: Batch
    step: torch.Tensor
    next_id: torch.Tensor
    start: torch.Tensor
    engines: list[dict]

    @property
    def size(self) -> int:
        return self.batch.size

    @property
    def device(self) -> torch.device:
        return self.batch.grid.device

    def select(self, index: torch.Tensor) -> "SimStates":
        """The states at rows `index` (rows may repeat)."""
        return SimStates(self.batch.select(index), self.step[index], self.next_id[index],
                         self.start[index], self.engines)

    def replace(self, rows: torch.Tensor, other: "SimStates") -> "SimStates":
        """These states with rows `rows` [R] taken from `other` (R states, rows in order): how a
        vector of episodes resets the finished ones. Object tables are padded to the wider."""
        rows = rows.to(device=self.device, dtype=torch.int64)
        if len(rows) != other.size:
            raise ValueError(f"{len(rows)} rows but {other.size} states")
        mine, theirs = self.batch, other.batch
        tables = {}
        for kind, table in mine.tables.items():
            width = max(table.mask.shape[1], theirs.tables[kind].mask.shape[1])
            a, b = _widen(table, width), _widen(theirs.tables[kind], width)
            ids, mask = a.ids.clone(), a.mask.clone()
            ids[rows], mask[rows] = b.ids, b.mask
            fields = {}
            for f, column in a.fields.items():
                column = column.clone()
                column[rows] = b.fields[f]
                fields[f] = column
            tables[kind] = ObjectTable(ids, mask, fields)
        grid = mine.grid.clone()
        grid[rows] = theirs.grid
        globals_ = {}
        for name, values in mine.globals.items():
            values = values.clone()
            values[rows] = theirs.globals[name].to(values.dtype)
            globals_[name] = values
        step, next_id, start = self.step.clone(), self.next_id.clone(), self.start.clone()
        step[rows], next_id[rows] = other.step, other.next_id
        engines = self.engines
        if other.engines is engines:   # rows of the same encoded starts: nothing to add
            start[rows] = other.start
        else:
            start[rows] = other.start + len(engines)
            engines = engines + other.engines
        return SimStates(Batch(grid, mine.action, globals_, tables), step, next_id, start,
                         engines)

    def player(self, attr: str, key: str | None = None) -> torch.Tensor:
        """One player field over the batch: [N] (or [N, 2] for positions and directions)."""
        return self.batch.tables["player"].fields[(attr, key)][:, 0]


@dataclasses.dataclass
class _Draws:
    """What one step's laws predict, flattened (the same layout as `laws.table.Table`)."""
    constants: torch.Tensor
    entry_prob: torch.Tensor
    entry_pair: torch.Tensor
    pair_expert: torch.Tensor
    pair_slot: torch.Tensor
    expert_group: torch.Tensor
    expert_law: torch.Tensor
    slot_group: torch.Tensor
    group_domain: torch.Tensor
    group_slot_count: torch.Tensor


class Simulator:
    """A world model's laws compiled to step batches of tensor states."""

    def __init__(self, model, device: str | torch.device = "cpu", noise: bool = True,
                 unexplained: bool = False):
        self.model = model
        self.schema = model.schema
        self.device = torch.device(device)
        self.noise = noise
        self.unexplained = unexplained
        self.laws = model.compiled_torch
        self.codes = model.codes
        self.kinds = list(self.schema["kinds"])
        self.actions = list(self.schema["actions"])
        self.width, self.height = self.codes.width, self.codes.height
        self.materials = len(self.schema["materials"])
        self.layout = model.layout
        self.eps = model.params["noise_floor"]
        self.poe_world = model.poe_world
        dev = dict(device=self.device)
        self.probabilities = model.probability_tensor().to(**dev)
        self.weights = model.weight_tensor().to(**dev)
        self.domain = self.codes.domain.to(**dev)
        self.clock = Clock(model.params.get("clock"), list(self.schema.get("globals", {})),
                           self.device)
        # Categorical labels: flat probability index - base -> (parameter number, label).
        self.base = 2 * len(self.layout.bernoulli)
        owners = [(p, k) for p, (_, count) in enumerate(self.layout.categorical)
                  for k in range(count)]
        self.owner_param = torch.tensor([p for p, _ in owners] or [0], dtype=torch.int64, **dev)
        self.owner_label = torch.tensor([k for _, k in owners] or [0], dtype=torch.int64, **dev)
        most = max([count for _, count in self.layout.categorical] or [1])
        cdf = torch.ones((max(len(self.layout.categorical), 1), most), dtype=torch.float64, **dev)
        for p, (name, count) in enumerate(self.layout.categorical):
            values = torch.tensor(model.params["parameters"][name], dtype=torch.float64, **dev)
            cdf[p, :count] = (values / values.sum()).cumsum(0)
        self.label_cdf = cdf
        self._domains = self._class_domains()
        self._lone = self._lone_effects()
        self.spawn = model.params.get("spawn", {})

    # --- the edges -------------------------------------------------------------------------

    def encode(self, states: Sequence[dict]) -> SimStates:
        """Plain states (checked against the model's schema) as tensors on the device."""
        if not states:
            raise ModelError("no states to simulate")
        check_size(self, len(states), self.device)
        for index, state in enumerate(states):
            check_state(state, self.schema, f"states[{index}]")
        batch = encode_batch(states, None, self.schema, self.device)
        step = torch.tensor([s["step"] for s in states], dtype=torch.int64, device=self.device)
        next_id = torch.tensor([int(s.get("engine", {}).get("next_id", 0))
                                or 1 + max(o["id"] for o in s["objects"]) for s in states],
                               dtype=torch.int64, device=self.device)
        engines = [dict(s.get("engine", {})) for s in states]
        start = torch.arange(len(states), device=self.device)
        return SimStates(batch, step, next_id, start, engines)

    def repeat(self, states: Sequence[dict], n: int) -> SimStates:
        """`n` copies of each state, encoded once (rows i*n .. i*n+n-1 are copies of state i)."""
        one = self.encode(states)
        check_size(self, one.size * n, self.device)
        return one.select(torch.arange(one.size, device=self.device).repeat_interleave(n))

    def decode(self, states: SimStates) -> list[dict]:
        """The plain states (the inverse of `encode`; slots of removed objects are dropped)."""
        batch = states.batch.to("cpu")
        codes = list(self.schema["materials"].values())
        lookup = [c.encode("latin-1") for c in codes]
        grid = batch.grid.numpy()
        steps, next_ids = states.step.tolist(), states.next_id.tolist()
        starts = states.start.tolist()
        globals_ = {name: values.tolist() for name, values in batch.globals.items()}
        objects: list[list[dict]] = [[] for _ in range(states.size)]
        for kind in self.kinds:
            table = batch.tables[kind]
            columns = {f: c.tolist() for f, c in table.fields.items()}
            mask, ids = table.mask.tolist(), table.ids.tolist()
            attrs = self.schema["kinds"][kind]
            for n in range(states.size):
                for m, alive in enumerate(mask[n]):
                    if not alive:
                        continue
                    obj = {"id": ids[n][m], "kind": kind}
                    for attr, spec in attrs.items():
                        if spec["type"] == "counts":
                            keys = (self.schema["items"] if spec["keys"] == "items"
                                    else spec["keys"])
                            obj[attr] = {key: columns[(attr, key)][n][m] for key in keys}
                        elif (attr, None) in columns:
                            obj[attr] = columns[(attr, None)][n][m]
                        else:   # cells-typed attributes are not simulated
                            obj[attr] = []
                    objects[n].append(obj)
        table = bytes(range(256)).maketrans(bytes(range(len(codes))), b"".join(lookup))
        result = []
        for n in range(states.size):
            rows = [bytes(row.astype("uint8")).translate(table).decode("latin-1")
                    for row in grid[n]]
            state = {name: values[n] for name, values in globals_.items()}
            state["step"] = steps[n]
            state["grid"] = rows
            state["objects"] = sorted(objects[n], key=lambda o: o["id"])
            engine = dict(states.engines[starts[n]])
            if "next_id" in engine:
                engine["next_id"] = next_ids[n]
            if engine:
                state["engine"] = engine
            result.append(state)
        return result

    def action_indices(self, actions: Sequence[str] | torch.Tensor, n: int) -> torch.Tensor:
        """Action names or indices as [n] int64 on the device (unknown ones are an error)."""
        if isinstance(actions, torch.Tensor):
            index = actions.to(device=self.device, dtype=torch.int64).reshape(-1)
        else:
            index = []
            for i, action in enumerate(actions):
                if isinstance(action, str):
                    if action not in self.actions:
                        raise ModelError(f"unknown action {_short(action)!r} (known: "
                                         f"{', '.join(self.actions)})", field=f"actions[{i}]")
                    index.append(self.actions.index(action))
                elif isinstance(action, int) and not isinstance(action, bool):
                    index.append(action)
                else:
                    raise ModelError("expected an action name or index", field=f"actions[{i}]")
            index = torch.tensor(index, dtype=torch.int64, device=self.device)
        if index.shape != (n,):
            raise ModelError(f"expected {n} actions, got {index.numel()}", field="actions")
        bad = (index < 0) | (index >= len(self.actions))
        if bool(bad.any()):
            i = int(bad.nonzero()[0])
            raise ModelError(f"unknown action id {int(index[i])} (there are {len(self.actions)} "
                             "actions)", field=f"actions[{i}]")
        return index

    # --- one step --------------------------------------------------------------------------

    def step(self, states: SimStates, actions, generator: torch.Generator | None = None
             ) -> SimStates:
        """The next states of all N states under `actions` ([N] indices or names)."""
        action = self.action_indices(actions, states.size)
        batch = Batch(states.batch.grid, action, states.batch.globals, states.batch.tables)
        outputs = self.laws.predict(batch)
        player = batch.tables["player"].ids[:, 0]
        constants: dict[float, int] = {1.0: 0}
        ns, codes, experts_of, outcomes, probs, olds, objects, laws = [], [], [], [], [], [], [], []
        lone: list[tuple] = []   # (rows, codes, new value, old value, P(new)) of lone effects
        experts = 0
        for law_index, out in enumerate(outputs):
            kind = self.kinds[out.law.kind] if out.law.kind is not None else "player"
            for effect_index, effect_out in enumerate(out.effects):
                single = self._lone[law_index][effect_index]
                if single is not None:
                    rows = effect_rows(effect_out, out, kind, player, self.codes)
                    if rows is not None:
                        where, code, values, old = rows
                        lone.append((batch_rows(out, where), code, values[:, 0], old, single))
                    continue
                part = _effect_entries(effect_out, out, kind, player, self.codes, self.layout,
                                       constants)
                if part is None:
                    continue
                n, code, values, prob, old, obj = part
                ns.append(n)
                codes.append(code)
                outcomes.append(values)
                probs.append(prob)
                olds.append(old)
                objects.append(obj)
                laws.append(law_index)
                experts_of.append(torch.arange(experts, experts + len(n), device=self.device))
                experts += len(n)
        new = _clone(states)
        writes = []
        if experts:
            writes.append(self._draw(batch, constants, ns, codes, experts_of, outcomes, probs,
                                     olds, objects, laws, experts, generator))
        if lone:
            writes.append(self._draw_lone(lone, generator))
        if writes:
            self._write(new, batch, *(torch.cat(parts) for parts in zip(*writes)))
        ns = ns + [part[0] for part in lone]
        codes = codes + [part[1] for part in lone]
        if self.unexplained:
            self._unexplained(new, ns, codes, generator)
        new.step = states.step + 1
        globals_ = dict(new.batch.globals)
        if "step" in globals_:
            globals_["step"] = new.step.to(globals_["step"].dtype)
        for name, values in self.clock.at(new.step).items():
            if name in globals_:
                globals_[name] = values.to(globals_[name].dtype)
        new.batch = Batch(new.batch.grid, new.batch.action, globals_, new.batch.tables)
        return new

    def _lone_effects(self) -> list[list[torch.Tensor | None]]:
        """Per law and effect: P(its outcome) as a 0-dim tensor when each of its predictions is
        alone on its observable (no other effect targets that class, and one firing cannot
        predict one observable twice), and it is deterministic or a Bernoulli; else None. Such
        predictions are drawn one by one, without grouping experts."""
        def class_of(law: ir.Law, target) -> int:
            kind = self.kinds[law.kind] if law.kind is not None else "player"
            if isinstance(target, ir.FieldTarget):
                owner = "player" if target.var == "player" else kind
                return self.codes.index[(owner, target.attr, target.key)]
            if isinstance(target, ir.ExistsTarget):
                return self.codes.index[(kind, "exists", None)]
            if isinstance(target, ir.CellTarget):
                return self.codes.cell
            return self.codes.spawn + target.kind

        laws = self.laws.program.laws
        if self.poe_world:   # PoE-World weighs every expert, alone or not
            return [[None] * len(law.effects) for law in laws]
        targets = collections.Counter(class_of(law, e.target) for law in laws for e in law.effects)
        result = []
        for law in laws:
            row = []
            for effect in law.effects:
                target = effect.target
                once = False
                if law.kind is None and not law.cells:   # one firing a state
                    once = True
                elif law.kind is not None:   # one firing per object: its own fields
                    once = isinstance(target, (ir.FieldTarget, ir.ExistsTarget)) and (
                        getattr(target, "var", None) == law.var)
                elif law.cells:   # one firing per cell: that cell
                    once = (isinstance(target, (ir.CellTarget, ir.SpawnTarget))
                            and target.pos == ir.Field(law.var, "pos", None, ir.POS))
                if effect.labels or not once or targets[class_of(law, target)] != 1:
                    row.append(None)
                    continue
                if effect.param is not None:
                    chance = self.probabilities[self.layout.index(effect.param)]
                else:
                    chance = torch.tensor(1.0 if effect.prob is None else effect.prob,
                                          dtype=torch.float64, device=self.device)
                row.append(chance)
            result.append(row)
        return result

    def _draw_lone(self, lone: list[tuple], generator) -> tuple:
        """Draws of predictions alone on their observables: with the lone expert's weight of 1,
        P(value) = (1 - eps) p(value) + eps / D exactly, and the rest of the domain shares eps."""
        rows = torch.cat([part[0] for part in lone])
        code = torch.cat([part[1] for part in lone])
        value = torch.cat([part[2] for part in lone])
        old = torch.cat([part[3] for part in lone])
        chance = torch.cat([part[4].expand(len(part[0])) for part in lone])
        group_class = self.codes.class_of(code)
        domain = self.domain[group_class]
        same = value == old
        p_new = (1 - self.eps) * torch.where(same, torch.ones_like(chance), chance) + self.eps / domain
        p_old = torch.where(same, torch.zeros_like(chance),
                            (1 - self.eps) * (1 - chance) + self.eps / domain)
        u = torch.rand(len(rows), generator=generator, dtype=torch.float64, device=self.device)
        if not self.noise:
            u = u * (p_new + p_old)
        drawn = torch.where(u < p_new, value, old)
        rest = (u >= p_new + p_old).nonzero().flatten()
        if len(rest):
            # Some other value: the named ones are (new, old).
            slot_group = torch.arange(len(rest), device=self.device).repeat_interleave(2)
            slot_value = torch.stack([value[rest], old[rest]], 1).reshape(-1)
            drawn[rest] = self._other_values(torch.arange(len(rest), device=self.device),
                                             group_class[rest], slot_group, slot_value, old[rest],
                                             generator)
        changed = drawn != old
        return rows[changed], code[changed], group_class[changed], drawn[changed]

    def _draw(self, batch: Batch, constants, ns, codes, experts_of, outcomes, probs, olds,
              objects, laws, experts, generator) -> tuple:
        """(rows, observable codes, classes, drawn value codes) of every predicted observable
        whose experts are combined as a product."""
        dev = self.device
        long = dict(dtype=torch.int64, device=dev)
        offset = len(constants)
        entry_n, entry_code, entry_expert, entry_value, entry_prob = flat_entries(
            list(zip(ns, codes, experts_of, outcomes, probs)), offset, dev)
        expert_law = torch.cat([torch.full((len(n),), law, **long) for n, law in zip(ns, laws)])
        expert_n = torch.cat(ns)
        expert_code = torch.cat(codes)
        expert_old = torch.cat(olds)
        expert_object = torch.cat(objects)

        group_keys, expert_group = torch.unique(_keys(expert_n, expert_code), return_inverse=True)
        groups = len(group_keys)
        entry_group = expert_group[entry_expert]
        # Unique (group, value) and (expert, slot) rows through one int64 key each (values are
        # ranked first: a value code may use all 64 bits).
        values, value_rank = torch.unique(entry_value, return_inverse=True)
        slot_keys, entry_slot = torch.unique(entry_group * len(values) + value_rank,
                                             return_inverse=True)
        slot_group, slot_value = slot_keys // len(values), values[slot_keys % len(values)]
        pair_keys, entry_pair = torch.unique(entry_expert * len(slot_keys) + entry_slot,
                                             return_inverse=True)
        pair_rows = torch.stack([pair_keys // len(slot_keys), pair_keys % len(slot_keys)], 1)
        group_code = group_keys & ((1 << CODE_BITS) - 1)
        group_n = group_keys >> CODE_BITS
        group_class = self.codes.class_of(group_code)
        slot_count = torch.bincount(slot_group, minlength=groups).to(torch.float64)
        constant_values = torch.tensor(sorted(constants, key=constants.get), dtype=torch.float64,
                                       device=dev)
        draws = _Draws(constant_values, entry_prob, entry_pair, pair_rows[:, 0], pair_rows[:, 1],
                       expert_group, expert_law, slot_group, self.domain[group_class], slot_count)
        scored = combine.scores(draws, self.probabilities, self.weights, self.eps,
                                global_weights=self.poe_world)
        slot_p = torch.exp(scored.score - scored.log_z[slot_group])
        group_old = torch.zeros(groups, **long).scatter_(0, expert_group, expert_old)

        # Inverse-CDF draw over each group's slots (slots are sorted by group).
        u = torch.rand(groups, generator=generator, dtype=torch.float64, device=dev)
        if not self.noise:   # the named values only, renormalised
            named = torch.zeros(groups, dtype=torch.float64, device=dev).index_add_(
                0, slot_group, slot_p)
            u = u * named
        cum = slot_p.cumsum(0)
        first = torch.full((groups,), len(slot_group), **long).scatter_reduce(
            0, slot_group, torch.arange(len(slot_group), **long), "amin")
        before_group = cum[first] - slot_p[first]
        within = cum - before_group[slot_group]
        hit = within > u[slot_group]
        chosen = torch.full((groups,), len(slot_group), **long).scatter_reduce(
            0, slot_group[hit], torch.arange(len(slot_group), **long)[hit], "amin")
        drawn = slot_value[chosen.clamp(max=len(slot_group) - 1)]
        rest = chosen >= len(slot_group)
        if bool(rest.any()):
            drawn = drawn.clone()
            drawn[rest] = self._other_values(rest.nonzero().flatten(), group_class, slot_group,
                                             slot_value, group_old, generator)

        # Coupled categorical draws: one label per (row, parameter, object).
        self._coupled(drawn, expert_group, expert_n, expert_object, entry_expert, entry_prob,
                      entry_slot, offset, slot_value, groups, generator)
        return group_n, group_code, group_class, drawn

    def _coupled(self, drawn, expert_group, expert_n, expert_object, entry_expert, entry_prob,
                 entry_slot, offset, slot_value, groups, generator) -> None:
        """Groups predicted by one expert alone through one categorical parameter take the value of
        a label drawn once per (row, parameter, object), except with the noise floor's chance."""
        if not self.layout.categorical:
            return
        dev = self.device
        long = dict(dtype=torch.int64, device=dev)
        experts = len(expert_group)
        label_index = entry_prob - offset - self.base
        categorical = label_index >= 0
        param = torch.where(categorical, self.owner_param[label_index.clamp(min=0)],
                            torch.full_like(label_index, -1))
        # An expert qualifies when every entry is a label of one categorical parameter.
        low = torch.full((experts,), 1 << 30, **long).scatter_reduce(0, entry_expert, param,
                                                                       "amin")
        high = torch.full((experts,), -2, **long).scatter_reduce(0, entry_expert, param, "amax")
        alone = torch.bincount(expert_group, minlength=groups)[expert_group] == 1
        qualified = (low == high) & (low >= 0) & alone
        if not bool(qualified.any()):
            return
        keep = torch.rand(experts, generator=generator, dtype=torch.float64, device=dev) >= (
            self.eps if self.noise else 0.0)
        qualified &= keep
        which = qualified.nonzero().flatten()
        if len(which) == 0:
            return
        p = low[which]
        params = len(self.layout.categorical)
        keys = ((expert_n[which] * params + p) << ID_BITS) | (expert_object[which] + 1)
        unique_keys, key_of = torch.unique(keys, return_inverse=True)
        u = torch.rand(len(unique_keys), generator=generator, dtype=torch.float64, device=dev)
        cdf = self.label_cdf[(unique_keys >> ID_BITS) % params]
        labels = (cdf <= u.unsqueeze(1)).sum(1).clamp(max=cdf.shape[1] - 1)
        label = labels[key_of]
        # The slot of the entry of expert `which[i]` with that label.
        entries = categorical & qualified[entry_expert]
        entry_label = self.owner_label[label_index.clamp(min=0)]
        slot_of = torch.full((experts, self.label_cdf.shape[1]), -1, **long)
        slot_of[entry_expert[entries], entry_label[entries]] = entry_slot[entries]
        slots = slot_of[which, label]
        found = slots >= 0
        drawn[expert_group[which[found]]] = slot_value[slots[found]]

    # --- the domain of an observable -----------------------------------------------------------

    def _class_domains(self) -> list[tuple[str, int, int]]:
        """Per observable class: (value type, lowest value, domain size) for drawing values."""
        result = []
        for kind, attr, key, value_type in self.codes.fields:
            if attr == "exists":
                result.append((ir.BOOL, 0, 2))
                continue
            observable = Observable("", "field", kind, 0, attr, key)
            result.append((value_type, domain_start(observable, self.schema),
                           domain_size(observable, self.schema)))
        result.append((ir.MATERIAL, 0, self.materials))
        result += [(ir.BOOL, 0, 2)] * len(self.kinds)
        return result

    def _other_values(self, rest: torch.Tensor, group_class, slot_group, slot_value, group_old,
                      generator) -> torch.Tensor:
        """For groups `rest` whose draw fell in the noise floor: a value of the domain no law named,
        uniformly (a float keeps its old value)."""
        values = group_old[rest].clone()
        classes = group_class[rest]
        for c in classes.unique().tolist():
            value_type, low, size = self._domains[c]
            here = rest[classes == c]
            if value_type == ir.FLOAT:
                continue
            named = [_index_of(slot_value[slot_group == g], value_type, low, self.width)
                     for g in here.tolist()]
            out = []
            for g, indices in zip(here.tolist(), named):
                indices = sorted({i for i in indices.tolist() if 0 <= i < size})
                free = size - len(indices)
                if free <= 0:
                    out.append(int(group_old[g]))
                    continue
                r = int(torch.randint(free, (1,), generator=generator, device=self.device))
                for i in indices:
                    r += i <= r
                out.append(_code_of(r, value_type, low, self.width))
            values[classes == c] = torch.tensor(out, dtype=torch.int64, device=self.device)
        return values

    # --- writing -------------------------------------------------------------------------------

    def _write(self, new: SimStates, batch: Batch, group_n, group_code, group_class,
               drawn) -> None:
        """Write drawn value codes into the (cloned) tensors of `new`."""
        codes = self.codes
        low = group_code & ((1 << ID_BITS) - 1)
        cells = group_class == codes.cell
        if bool(cells.any()):
            flat = new.batch.grid.view(-1)
            flat[group_n[cells] * (self.width * self.height) + low[cells]] = drawn[cells].to(
                flat.dtype)
        objects: dict[str, _Objects] = {}   # per kind, built once
        for c in group_class[group_class < codes.cell].unique().tolist():
            kind, attr, key, value_type = codes.fields[c]
            here = group_class == c
            table = new.batch.tables[kind]
            if kind not in objects:
                objects[kind] = _Objects(batch, kind)
            found, flat = objects[kind].find(group_n[here], low[here])
            flat, value = flat[found], drawn[here][found]
            if attr == "exists":
                gone = flat[value == 0]
                table.mask.view(-1)[gone] = False
                table.ids.view(-1)[gone] = -1
                continue
            column = table.fields[(attr, key)]
            if value_type in (ir.POS, ir.DIR):
                pairs = column.view(-1, 2)
                pairs[flat, 0], pairs[flat, 1] = pair_of(value)
            elif value_type == ir.FLOAT:
                column.view(-1)[flat] = value.view(torch.float64)
            else:
                column.view(-1)[flat] = value.to(column.dtype)
        for k in range(len(self.kinds)):
            here = (group_class == codes.spawn + k) & (drawn == 1)
            if bool(here.any()) and self.kinds[k] != "player":
                self._spawn(new, self.kinds[k], group_n[here], low[here])

    def _spawn(self, new: SimStates, kind: str, rows: torch.Tensor, cells: torch.Tensor) -> None:
        """New objects of `kind` at `cells` of `rows`, in free slots (grown when needed)."""
        dev = self.device
        order = torch.argsort(rows * (self.width * self.height) + cells)
        rows, cells = rows[order], cells[order]
        counts = torch.bincount(rows, minlength=new.size)
        first = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(rows), device=dev) - first[rows]
        table = new.batch.tables[kind]
        free = ~table.mask
        short = int((counts - free.sum(1)).max())
        if short > 0:
            table = _grow(table, short)
            new.batch.tables[kind] = table
            free = ~table.mask
        m = table.mask.shape[1]
        free_rank = free.to(torch.int64).cumsum(1) - 1
        slot_of = torch.full((new.size, m), -1, dtype=torch.int64, device=dev)
        r, c = free.nonzero(as_tuple=True)
        slot_of[r, free_rank[r, c]] = c
        slots = slot_of[rows, rank]
        flat = rows * m + slots
        table.mask.view(-1)[flat] = True
        table.ids.view(-1)[flat] = new.next_id[rows] + rank
        new.next_id = new.next_id + counts
        typical = self.spawn.get(kind, {})
        for (attr, key), column in table.fields.items():
            spec = self.schema["kinds"][kind][attr]
            if attr == "pos":
                pairs = column.view(-1, 2)
                pairs[flat, 0] = cells % self.width
                pairs[flat, 1] = cells // self.width
                continue
            value = typical.get(attr)
            if key is not None:
                value = value.get(key) if isinstance(value, dict) else None
            if value is None:
                value = default_value(spec, self.schema)
                value = value[key] if key is not None else value
            if spec["type"] in ("pos", "dir"):
                column.view(-1, 2)[flat] = torch.tensor(list(value), dtype=column.dtype,
                                                        device=dev)
            else:
                column.view(-1)[flat] = torch.tensor(value, dtype=column.dtype, device=dev)

    # --- unexplained changes ------------------------------------------------------------------

    def _unexplained(self, new: SimStates, ns, codes, generator) -> None:
        """Each observable no law predicted changes with its class's rate q to another value of
        its domain (grid cells, bounded integer and boolean fields, existence)."""
        dev = self.device
        predicted = _keys(torch.cat(ns), torch.cat(codes)) if ns else torch.zeros(0, dtype=torch.int64, device=dev)
        change = self.model.change_tensor(self.codes.classes).tolist()   # q per class
        n_cells = self.width * self.height
        q = change[self.codes.cell]
        hit = torch.rand((new.size, n_cells), generator=generator, device=dev) < q
        rows, cells = hit.nonzero(as_tuple=True)
        keep = ~torch.isin(_keys(rows, (self.codes.cell << ID_BITS) | cells), predicted)
        rows, cells = rows[keep], cells[keep]
        if len(rows):
            flat = new.batch.grid.view(-1)
            old_values = flat[rows * n_cells + cells].to(torch.int64)
            shift = torch.randint(1, self.materials, (len(rows),), generator=generator,
                                  device=dev)
            flat[rows * n_cells + cells] = ((old_values + shift) % self.materials).to(flat.dtype)
        for index, (kind, attr, key, _) in enumerate(self.codes.fields):
            q = change[index]
            table = new.batch.tables[kind]
            hit = (torch.rand(table.mask.shape, generator=generator, device=dev) < q) & table.mask
            if attr == "exists" and kind == "player":
                continue
            rows, slots = hit.nonzero(as_tuple=True)
            if len(rows) == 0:
                continue
            ids = table.ids[rows, slots]
            keep = ~torch.isin(_keys(rows, (index << ID_BITS) | ids), predicted)
            rows, slots = rows[keep], slots[keep]
            if attr == "exists":
                table.mask[rows, slots] = False
                table.ids[rows, slots] = -1
                continue
            value_type, low, size = self._domains[index]
            if value_type in (ir.FLOAT, ir.POS, ir.DIR) or size < 2:
                continue
            column = table.fields[(attr, key)]
            old_values = column[rows, slots].to(torch.int64) - low
            shift = torch.randint(1, size, (len(rows),), generator=generator, device=dev)
            column[rows, slots] = ((old_values + shift) % size + low).to(column.dtype)


def check_state(state, schema: dict, where: str) -> None:
    """A plain state has what the simulator reads, in the model's schema (else a ModelError)."""
    if not isinstance(state, dict):
        raise ModelError("expected a state object", field=where)
    for name in ("step", "grid", "objects"):
        if name not in state:
            raise ModelError(f"missing '{name}'", field=where)
    if not isinstance(state["step"], int) or isinstance(state["step"], bool) or state["step"] < 0:
        raise ModelError("expected a step number of at least 0", field=f"{where}.step")
    width, height = schema["grid"]["width"], schema["grid"]["height"]
    grid = state["grid"]
    if (not isinstance(grid, list) or len(grid) != height
            or any(not isinstance(row, str) or len(row) != width for row in grid)):
        raise ModelError(f"expected {height} rows of {width} cells (the model's grid)",
                         field=f"{where}.grid")
    codes = set(schema["materials"].values())
    for y, row in enumerate(grid):
        if not set(row) <= codes:
            bad = sorted(set(row) - codes)[0]
            raise ModelError(f"unknown material code {bad!r}", field=f"{where}.grid[{y}]")
    for name, spec in schema.get("globals", {}).items():
        if spec.get("type") in ("int", "float", "bool") and name not in state:
            raise ModelError(f"missing global '{name}'", field=where)
    objects = state["objects"]
    if not isinstance(objects, list):
        raise ModelError("expected a list of objects", field=f"{where}.objects")
    players = 0
    for i, obj in enumerate(objects):
        at = f"{where}.objects[{i}]"
        if not isinstance(obj, dict) or obj.get("kind") not in schema["kinds"]:
            kind = obj.get("kind") if isinstance(obj, dict) else None
            raise ModelError(f"unknown kind {_short(kind)!r} (the model's kinds: "
                             f"{', '.join(schema['kinds'])})", field=at)
        if not isinstance(obj.get("id"), int) or not 0 <= obj["id"] < 2 ** ID_BITS:
            raise ModelError(f"expected an id from 0 to {2 ** ID_BITS - 1}", field=f"{at}.id")
        players += obj["kind"] == "player"
        for attr, spec in schema["kinds"][obj["kind"]].items():
            if attr not in obj:
                raise ModelError(f"missing attribute '{attr}'", field=at)
            if spec["type"] == "counts":
                keys = schema["items"] if spec["keys"] == "items" else spec["keys"]
                if not isinstance(obj[attr], dict) or any(k not in obj[attr] for k in keys):
                    raise ModelError("expected every key of the schema", field=f"{at}.{attr}")
            elif spec["type"] in ("pos", "dir") and (not isinstance(obj[attr], (list, tuple))
                                                   or len(obj[attr]) != 2):
                raise ModelError("expected an [x, y] pair", field=f"{at}.{attr}")
    if players != 1:
        raise ModelError(f"expected one player, found {players}", field=f"{where}.objects")


def bytes_per_state(sim: Simulator) -> int:
    """A rough upper bound of the memory one state takes during a step (the grid, its copies and
    per-material area tables the laws build, and the objects' tables)."""
    cells = sim.width * sim.height
    return cells * 48 + 4096 * len(sim.kinds) + 64 * len(sim.model.law_names) * 16


def available_memory(device: torch.device) -> int:
    """Bytes free for tensors on the device (CPU: MemAvailable of /proc/meminfo, when readable)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def check_size(sim: Simulator, n: int, device: torch.device) -> None:
    """A batch of `n` states must fit in memory; an error before any work when it cannot."""
    if n < 1:
        raise ModelError(f"expected at least 1 state, got {n}", field="n")
    need = n * bytes_per_state(sim)
    have = available_memory(device)
    if need > MEMORY_SHARE * have:
        most = int(MEMORY_SHARE * have // bytes_per_state(sim))
        raise ModelError(f"{n:,} states need about {need / 2 ** 30:.1f} GiB for one step, more than "
                         f"half the {have / 2 ** 30:.1f} GiB free on {device}; at most about "
                         f"{most:,} fit", field="n")


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device that exists here (an error naming it, not a torch traceback, otherwise)."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ModelError(f"unknown device {_short(str(device))!r} (try cpu or cuda)",
                         field="device") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA was asked for but this machine has no CUDA device", field="device")
    if resolved.type not in ("cpu", "cuda"):
        raise ModelError(f"unsupported device {resolved.type!r} (cpu or cuda)", field="device")
    return resolved


def log_prob(sim: Simulator, before: SimStates, actions, after: SimStates) -> torch.Tensor:
    """log P(after | before, actions) per row, from tensor states (the batched counterpart of
    `WorldModel.log_prob(...).total`). [N]"""
    action = sim.action_indices(actions, before.size)
    data = Transitions.of_batches(sim.codes, Batch(before.batch.grid, action, before.batch.globals,
                                                   before.batch.tables), after.batch)
    table = build_table_from(sim.laws, sim.layout, sim.codes, data, spawn=sim.spawn)
    return sim.model.log_prob_table(table.to("cpu")).to(sim.device)


def _index_of(values: torch.Tensor, value_type: str, low: int, width: int) -> torch.Tensor:
    """Domain indices of value codes (see `_code_of`)."""
    if value_type == ir.POS:
        x, y = pair_of(values)
        return y * width + x
    if value_type == ir.DIR:   # the order of DIRECTIONS
        x, y = pair_of(values)
        return torch.where(x != 0, (x + 1) // 2, torch.where(y != 0, 2 + (y + 1) // 2, 4))
    if value_type == ir.FLOAT:
        return values.view(torch.float64).to(torch.int64) - low
    return values - low


def _code_of(index: int, value_type: str, low: int, width: int) -> int:
    """The value code of domain index `index` (the order of `laws.observables.domain_values`)."""
    if value_type == ir.POS:
        return pair_code(index % width, index // width)
    if value_type == ir.DIR:
        return pair_code(*DIRECTIONS[index])
    return low + index


def _grow(table: ObjectTable, extra: int) -> ObjectTable:
    """The table with `extra` free slots more per row."""
    n = table.ids.shape[0]
    dev = table.ids.device

    def pad(tensor, fill):
        shape = (n, extra) + tuple(tensor.shape[2:])
        return torch.cat([tensor, torch.full(shape, fill, dtype=tensor.dtype, device=dev)], 1)

    return ObjectTable(pad(table.ids, -1), pad(table.mask, False),
                       {f: pad(c, 0) for f, c in table.fields.items()})


def _widen(table: ObjectTable, width: int) -> ObjectTable:
    extra = width - table.mask.shape[1]
    return table if extra <= 0 else _grow(table, extra)


def _clone(states: SimStates) -> SimStates:
    batch = states.batch
    tables = {k: ObjectTable(t.ids.clone(), t.mask.clone(),
                             {f: c.clone() for f, c in t.fields.items()})
              for k, t in batch.tables.items()}
    return SimStates(Batch(batch.grid.clone(), batch.action, dict(batch.globals), tables),
                     states.step, states.next_id.clone(), states.start, states.engines)


def _short(text, limit: int = 60) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."
