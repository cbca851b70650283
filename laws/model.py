"""A world model: checked laws plus their fitted values, as a probabilistic simulator.

    model = WorldModel(law_text, schema, params)
    model.log_prob(state, action, next_state)   # total and a breakdown per observable
    model.sample(state, action, seed)           # a next state
    model.log_prob_batch(transitions)           # [N] tensor, the same numbers, batched

`params` (what `params.json` of a model folder holds, see `laws.folder`):
    {"weights": {law: w}, "parameters": {name: p or [p_1..p_K]}, "change": {class: q},
     "spawn": {kind: {attr: value}}, "noise_floor": eps}
Missing entries take defaults (weight 1, the law text's initial values, q = DEFAULT_CHANGE).

Globals (`step`, Crafter's `daylight`) are the world's clock, not predicted: `log_prob` does not score
them; `sample` advances `step` by one and sets the others from the fitted clock
(`params["clock"]`, see `laws.clock`; without one they keep their values).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from lawsmith.dsl.activation import always_active
from lawsmith.dsl.check import resolve
from lawsmith.dsl.errors import DslError
from lawsmith.dsl.compile_py import compile_python
from lawsmith.dsl.compile_torch import compile_torch
from lawsmith.dsl.predictions import cell_observable, exists_observable, field_observable
from lawsmith.dsl.parse import parse
from lawsmith.laws import combine
from lawsmith.laws.clock import Clock
from lawsmith.laws.errors import ModelError
from lawsmith.laws.observables import StateView, default_value, domain_values, parse_observable
from lawsmith.laws.params import ParamLayout
from lawsmith.laws.table import Table, TableBuilder
from lawsmith.laws.table_torch import ObservableCodes

DEFAULT_CHANGE = 0.01
TABLE_CHUNK = 2000   # transitions per prediction table in `tables`


@dataclasses.dataclass(frozen=True)
class Term:
    """One observable's share of a log-probability, and the laws that predicted it."""
    observable: str
    log_prob: float
    laws: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class LogProb:
    """log P(next_state | state, action): the total, predicted observables one by one, unexplained
    changes one by one, and unexplained unchanged observables summed per class."""
    total: float
    predicted: tuple[Term, ...]
    unexplained: tuple[Term, ...]
    unchanged: dict[str, float]


class WorldModel:
    """Laws (DSL text, checked against `schema`) with fitted parameters."""

    def __init__(self, text: str, schema: dict, params: dict | None = None,
                 filename: str | None = None, poe_world: bool = False):
        self.text = text
        self.schema = schema
        # PoE-World inference (the evaluation's baseline): every law an always-active expert with
        # its condition inside its effects, every expert weighted (dsl.activation, laws.combine).
        self.poe_world = poe_world
        program = parse(text, filename)
        try:
            self.program = resolve(program, schema)
        except DslError as error:   # the checker does not know the file: say it, as `check` does
            if filename is None:
                raise
            raise error.with_filename(filename) from None
        if poe_world:
            self.program = always_active(self.program)
        self.law_names = [law.name for law in self.program.laws]
        self.layout = ParamLayout.of(self.program)
        self.compiled = compile_python(self.program, schema)
        self.compiled_torch = compile_torch(self.program, schema)
        self.codes = ObservableCodes(schema)
        self.params = self._complete(params or {})
        self._clock = Clock(self.params.get("clock"), list(schema.get("globals", {})))

    def _complete(self, params: dict) -> dict:
        """Fitted values where given (checked), defaults for the rest; stale entries are dropped."""
        values = self.layout.initial_values()
        for name, value in params.get("parameters", {}).items():
            if name in values:
                values[name] = _checked_probability(value, values[name], f"parameters.{name}")
        weights = {name: 1.0 for name in self.law_names}
        for name, value in params.get("weights", {}).items():
            if name in weights:
                if not _is_number(value) or not 0 <= value <= 1e3:
                    raise ModelError("expected a weight in [0, 1000]", field=f"weights.{name}")
                weights[name] = float(value)
        for name, value in params.get("change", {}).items():
            if not _is_number(value) or not 0 < value < 1:
                raise ModelError("expected a probability in (0, 1)", field=f"change.{name}")
        noise = params.get("noise_floor", combine.NOISE_FLOOR)
        if not _is_number(noise) or not 0 < noise < 1:
            raise ModelError("expected a probability in (0, 1)", field="noise_floor")
        clock = params.get("clock")
        if clock is not None:
            _check_clock(clock)
        return {"weights": weights, "parameters": values,
                "change": dict(params.get("change", {})), "spawn": dict(params.get("spawn", {})),
                "noise_floor": float(noise),
                **({"uncertainty": params["uncertainty"]} if "uncertainty" in params else {}),
                **({"clock": clock} if clock is not None else {})}

    # --- tensors of the current values ------------------------------------------------------

    def weight_tensor(self) -> torch.Tensor:
        return torch.tensor([self.params["weights"][n] for n in self.law_names], dtype=torch.float64)

    def probability_tensor(self) -> torch.Tensor:
        return self.layout.probabilities({k: torch.tensor(v, dtype=torch.float64)
                                          for k, v in self.params["parameters"].items()})

    def change_tensor(self, classes: Sequence[str]) -> torch.Tensor:
        change = self.params["change"]
        return torch.tensor([change.get(c, DEFAULT_CHANGE) for c in classes], dtype=torch.float64)

    # --- tables -----------------------------------------------------------------------------

    def table(self, transitions: Sequence[tuple[dict, str, dict]]) -> Table:
        """The prediction table of (state, action, next_state) triples."""
        builder = TableBuilder(self.schema, self.law_names, self.layout, self.params["change"],
                               spawn=self.params["spawn"])
        for state, action, next_state in transitions:
            builder.add(state, next_state, self.compiled.predict(state, action))
        return builder.build()

    def tables(self, transitions: Sequence[tuple[dict, str, dict]], chunk: int = TABLE_CHUNK
               ) -> Iterator[Table]:
        """Prediction tables (`table`) of the transitions, `chunk` at a time (memory stays
        bounded on long traces)."""
        for start in range(0, len(transitions), chunk):
            yield self.table(transitions[start:start + chunk])

    def log_prob_table(self, table: Table) -> torch.Tensor:
        return combine.transition_log_probs(table, self.probability_tensor(), self.weight_tensor(),
                                            self.change_tensor(table.classes),
                                            self.params["noise_floor"],
                                            global_weights=self.poe_world)

    def class_log_probs(self, table: Table) -> dict[str, float]:
        """Total log-probability per observable class over a table (what `score` reports)."""
        change = self.change_tensor(table.classes)
        scored = combine.scores(table, self.probability_tensor(), self.weight_tensor(),
                                self.params["noise_floor"], global_weights=self.poe_world)
        totals = torch.zeros(len(table.classes), dtype=torch.float64)
        totals.index_add_(0, table.group_class, combine.group_log_probs(table, scored, change))
        changed, stayed = combine.unexplained_log_probs(table, change)
        totals.index_add_(0, table.changed_class, changed)
        totals.index_add_(0, table.stay_class, stayed)
        return dict(zip(table.classes, totals.tolist()))

    def log_prob_batch(self, transitions: Sequence[tuple[dict, str, dict]]) -> torch.Tensor:
        """log P(next_state | state, action) for each triple. [N]"""
        return self.log_prob_table(self.table(transitions))

    # --- one transition ---------------------------------------------------------------------

    def log_prob(self, state: dict, action: str, next_state: dict) -> LogProb:
        """log P(next_state | state, action), with the observables and laws behind it."""
        table = self.table([(state, action, next_state)])
        eps = self.params["noise_floor"]
        scored = combine.scores(table, self.probability_tensor(), self.weight_tensor(), eps,
                                global_weights=self.poe_world)
        change = self.change_tensor(table.classes)
        groups = combine.group_log_probs(table, scored, change).tolist()
        changed, stayed = combine.unexplained_log_probs(table, change)
        laws_of: dict[int, list[str]] = {}
        for expert, group in enumerate(table.expert_group.tolist()):
            laws_of.setdefault(group, []).append(table.expert_firing[expert][0])
        predicted = tuple(Term(name, value, tuple(laws_of[g]))
                          for g, (name, value) in enumerate(zip(table.group_names, groups)))
        unexplained = tuple(Term(name, value, ())
                            for name, value in zip(table.changed_names, changed.tolist()))
        unchanged: dict[str, float] = {}
        for c, value in zip(table.stay_class.tolist(), stayed.tolist()):
            unchanged[table.classes[c]] = unchanged.get(table.classes[c], 0.0) + value
        total = sum(groups) + sum(changed.tolist()) + sum(unchanged.values())
        return LogProb(total, predicted, unexplained, unchanged)

    def sample(self, state: dict, action: str, seed: int = 0, unexplained: bool = True) -> dict:
        """A next state drawn from the model (`unexplained=False`: no unexplained changes)."""
        rng = np.random.default_rng(seed)
        table = self.table([(state, action, state)])
        (outcome,) = self._draw(table, table.group_names, table.slot_values, rng)
        if unexplained:
            outcome.update(self._unexplained_changes(StateView(state, self.schema),
                                                     set(table.group_names), rng))
        return self._apply(state, outcome)

    def sample_batch(self, states: Sequence[dict], actions: Sequence[str], seed: int = 0,
                     unexplained: bool = False) -> list[dict]:
        """A next state for each (state, action), drawn by the batched simulator
        (`laws.simulator`) in one step: the same model as `sample`, other draws for one seed."""
        from lawsmith.laws.simulator import Simulator   # it builds on this module's tables
        simulator = Simulator(self, unexplained=unexplained)
        generator = torch.Generator().manual_seed(seed)
        return simulator.decode(simulator.step(simulator.encode(states), list(actions),
                                               generator))

    def _draw(self, table: Table, names: list[str], values: list,
              rng: np.random.Generator) -> list[dict[str, Any]]:
        """Per transition of `table`, a value drawn for every predicted observable: one of the
        values the laws name, or (with the noise floor's mass) any other value of the domain."""
        scored = combine.scores(table, self.probability_tensor(), self.weight_tensor(),
                                self.params["noise_floor"], global_weights=self.poe_world)
        slot_p = torch.exp(scored.score - scored.log_z[table.slot_group]).tolist()
        slots_of: dict[int, list[int]] = {}
        for slot, group in enumerate(table.slot_group.tolist()):
            slots_of.setdefault(group, []).append(slot)
        outcomes: list[dict[str, Any]] = [{} for _ in range(table.transitions)]
        coupled = self._coupled_groups(table)
        labels: dict[tuple, int] = {}   # (transition, parameter, object) -> the label drawn
        eps = self.params["noise_floor"]
        for group, transition in enumerate(table.group_transition.tolist()):
            slots, name = slots_of[group], names[group]
            if group in coupled and rng.random() >= eps:
                param, obj, slot_of_label = coupled[group]
                key = (transition, param, obj)
                if key not in labels:
                    p = np.asarray(self.params["parameters"][param], dtype=float)
                    labels[key] = int(rng.choice(len(p), p=p / p.sum()))
                outcomes[transition][name] = values[slot_of_label[labels[key]]]
                continue
            probs = np.array([slot_p[s] for s in slots] + [0.0])
            probs[-1] = max(0.0, 1.0 - probs.sum())
            choice = rng.choice(len(probs), p=probs / probs.sum())
            if choice < len(slots):
                outcomes[transition][name] = values[slots[choice]]
            else:
                taken = {values[s] for s in slots}
                outcomes[transition][name] = self._other_value(name, taken, rng)
        return outcomes

    def _coupled_groups(self, table: Table) -> dict[int, tuple[str, int, dict[int, int]]]:
        """Groups predicted by one law alone through a categorical parameter: group -> (parameter,
        object, label -> slot). Effects of one transition that use the same parameter for the
        same object (a zombie's step, and the strike that depends on where it ends) are drawn
        with one label, so a rollout stays consistent; each observable's marginal is unchanged."""
        if table.expert_object is None:
            return {}
        experts_of: dict[int, list[int]] = {}
        for expert, group in enumerate(table.expert_group.tolist()):
            experts_of.setdefault(group, []).append(expert)
        base = len(table.constants) + 2 * len(self.layout.bernoulli)
        owner: list[tuple[str, int]] = [(name, k) for name, count in self.layout.categorical
                                        for k in range(count)]
        entries_of: dict[int, list[tuple[int, int]]] = {}   # expert -> [(prob index, slot)]
        pair_expert, pair_slot = table.pair_expert.tolist(), table.pair_slot.tolist()
        for pair, prob in zip(table.entry_pair.tolist(), table.entry_prob.tolist()):
            entries_of.setdefault(pair_expert[pair], []).append((prob, pair_slot[pair]))
        objects = table.expert_object.tolist()
        coupled = {}
        for group, experts in experts_of.items():
            if len(experts) != 1:
                continue
            entries = entries_of.get(experts[0], [])
            if not entries or any(prob < base for prob, _ in entries):
                continue
            params = {owner[prob - base][0] for prob, _ in entries}
            if len(params) != 1:
                continue
            slot_of_label = {owner[prob - base][1]: slot for prob, slot in entries}
            coupled[group] = (params.pop(), objects[experts[0]], slot_of_label)
        return coupled

    def _other_value(self, name: str, taken: set, rng: np.random.Generator) -> Any:
        others = [v for v in domain_values(parse_observable(name), self.schema) if v not in taken]
        return others[rng.integers(len(others))] if others else None

    def _unexplained_changes(self, before: StateView, predicted: set[str],
                             rng: np.random.Generator) -> dict[str, Any]:
        """Unpredicted observables that change anyway (each with its class's q)."""
        changes: dict[str, Any] = {}
        change = self.params["change"]
        width, height = self.schema["grid"]["width"], self.schema["grid"]["height"]
        q = change.get("grid", DEFAULT_CHANGE)
        for index in rng.choice(width * height, size=rng.binomial(width * height, q), replace=False):
            name = cell_observable(index % width, index // width)
            if name not in predicted:
                changes[name] = self._other_value(name, {before.value(parse_observable(name))}, rng)
        for obj in before.state["objects"]:
            kind, oid = obj["kind"], obj["id"]
            for attr, spec in self.schema["kinds"][kind].items():
                keys = ([None] if spec["type"] != "counts" else
                        list(self.schema["items"] if spec["keys"] == "items" else spec["keys"]))
                for key in keys:
                    group = f"{kind}.{attr}" + (f".{key}" if key else "")
                    if rng.random() < change.get(group, DEFAULT_CHANGE):
                        name = field_observable(kind, oid, attr, key)
                        if name not in predicted:
                            old = before.value(parse_observable(name))
                            changes[name] = self._other_value(name, {old}, rng)
            exists = exists_observable(kind, oid)
            if kind != "player" and exists not in predicted:
                if rng.random() < change.get(f"{kind}.exists", DEFAULT_CHANGE):
                    changes[exists] = False
        return {k: v for k, v in changes.items() if v is not None}

    def _apply(self, state: dict, outcome: dict[str, Any]) -> dict:
        """The state with sampled observable values written in."""
        new = copy.deepcopy(state)
        new["step"] = state["step"] + 1
        for name, value in self._clock.at(torch.tensor([new["step"]])).items():
            if name in new:
                new[name] = float(value[0])
        by_id = {obj["id"]: obj for obj in new["objects"]}
        player = next(obj for obj in new["objects"] if obj["kind"] == "player")
        grid = None
        removed, spawns = set(), []
        codes = self.schema["materials"]
        for name, value in outcome.items():
            observable = parse_observable(name)
            if observable.what == "cell":
                grid = grid or [list(row) for row in new["grid"]]
                x, y = observable.cell
                grid[y][x] = codes[value]
            elif observable.what == "spawn":
                if value:
                    spawns.append(observable)
            elif observable.what == "exists":
                if not value:
                    removed.add(observable.object_id)
            else:
                obj = player if observable.kind == "player" else by_id[observable.object_id]
                value = list(value) if isinstance(value, tuple) else value
                if observable.key is None:
                    obj[observable.attr] = value
                else:
                    obj[observable.attr][observable.key] = value
        if grid is not None:
            new["grid"] = ["".join(row) for row in grid]
        new["objects"] = [obj for obj in new["objects"] if obj["id"] not in removed]
        for observable in spawns:
            new["objects"].append(self._spawned(new, observable))
        return new

    def _spawned(self, state: dict, observable) -> dict:
        """A new object: the fitted typical attributes of its kind, else the schema's defaults."""
        engine = state.get("engine", {})
        next_id = engine.get("next_id", 1 + max(obj["id"] for obj in state["objects"]))
        if "next_id" in engine:
            engine["next_id"] = next_id + 1
        obj = {"id": next_id, "kind": observable.kind, "pos": list(observable.cell)}
        typical = self.params["spawn"].get(observable.kind, {})
        for attr, spec in self.schema["kinds"][observable.kind].items():
            if attr != "pos":
                obj[attr] = (copy.deepcopy(typical[attr]) if attr in typical
                             else default_value(spec, self.schema))
        return obj


def _check_clock(clock: Any) -> None:
    """`params.json`'s clock (see `laws.clock`): a period (or null) and a list of numbers per global."""
    if not isinstance(clock, dict) or not isinstance(clock.get("values"), dict):
        raise ModelError("expected {\"period\": P or null, \"values\": {global: [numbers]}}",
                         field="clock")
    period = clock.get("period")
    if period is not None and (not isinstance(period, int) or isinstance(period, bool)
                               or period < 1):
        raise ModelError("expected a whole number of steps of at least 1, or null",
                         field="clock.period")
    for name, values in clock["values"].items():
        if (not isinstance(values, list) or not values
                or not all(_is_number(v) for v in values)
                or (period is not None and len(values) != period)):
            raise ModelError("expected a non-empty list of numbers"
                             + (f" ({period}, one per step of the period)" if period else ""),
                             field=f"clock.values.{name}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _checked_probability(value: Any, like: Any, field: str) -> Any:
    """A Bernoulli probability, or a categorical's list of the same length summing to 1."""
    if isinstance(like, list):
        if (not isinstance(value, list) or len(value) != len(like)
                or not all(_is_number(v) and 0 <= v <= 1 for v in value)
                or abs(sum(value) - 1) > 1e-6):
            raise ModelError(f"expected {len(like)} probabilities summing to 1", field=field)
        return [float(v) for v in value]
    if not _is_number(value) or not 0 <= value <= 1:
        raise ModelError("expected a probability in [0, 1]", field=field)
    return float(value)
