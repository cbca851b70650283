"""The curious explorer: one life with the learner in the loop, choosing by looking ahead in its own model.

It wraps the unguided explorer (`envs.explorer.Explorer`: count-based novelty over contexts, learned
moves, startle) and adds what a model of the world buys:

- **Learning rounds.** At the steps `CuriousConfig.learn_at` the offline learner (`synth.learn`) runs
  on the life so far, warm-started from the previous round's model; a long life is subsampled to
  `learn_cap` transitions, rare (action, thing faced, held counts changed) events all kept. The
  fitted model is compiled once into a batched simulator (`laws.simulator`). Learning rounds are
  not part of the trace.
- **A one-step look every step.** All actions, `samples` draws each, in one simulator call from the
  current state. Two numbers per action come out: the health it is predicted to cost, and how much
  the draws disagree about its outcome (the player's fields, the grid, what objects hold and how
  many there are; not where creatures wander). Disagreement is the model's own uncertainty (the
  fitted chances of its laws): it is added to the explorer's novelty score of that action.
- **Survival.** When some draw of the look loses health, every action is rolled out, repeated for
  `horizon` steps, `samples` times; an action is scored by the health it ends with (a predicted
  death counts as the worst). The explorer's own choice stands unless another action ends better by
  more than `tolerance` of the health range; so it flees, fights or stops sleeping when its model
  says that pays.
- **Needs.** A held count is a need when it has dropped by itself (nothing gained for it, nothing
  placed or taken ahead); those the model's laws connect to health (a condition of a law on
  health, or of a law on such an attribute, and so on) come first, the rest after (their harm may
  come too late for the laws to have seen it). A need below `urgency` of the highest value seen is
  served: by an (action, thing faced) pair that raised it before (at least `min_rate` of its tries)
  or that a law says raises it (`action == A` and the thing ahead), walking to the nearest such
  thing remembered; else by the action that turned on the flags under which it rose (the
  explorer's own bool attributes). With no way known it looks for one: each action that has given
  something before, once on each thing seen (an action that makes a faced creature's field drop
  is repeated while it does), then new ground, then every action.
- **Refuge.** While a kind that hurts was in view within `calm` steps, or a rest (a flag that
  incapacitates) is due, it plans (`synth.refuge`) the fewest moves and cell changes it has seen
  actions make (dig a wall, place one) that leave it in a pocket of at most `refuge_room` cells
  closed all round, one of whose walls a known change opens again; in the pocket it rests, serves
  needs that can be served there and otherwise stays, and once calm and rested it opens a wall.
  While calm it keeps `walls` walls' worth of what the cheapest known wall is built of.

Its explorer is cautious (`Explorer(cautious=True)`): it never steps onto ground it has not
learned is ground. A move that would only turn it toward a non-walkable cell is made when a move
was seen refused by that material or a thing stands there; else it steps back and comes in facing
it (one life: a step onto a deadly material cannot be learned from).

It is told one fact about the world: which attribute is its health (`health`, `attr` or
`attr.item`, e.g. `inventory.health`; None: no survival part). It reads no other names, no reward
and no thresholds of a world: ranges come from what it saw, names from the schema and the laws, and
ties go to schema order, so a relabelled world (`envs.relabel`) gets the same choices. Randomness is
the explorer's numpy generator and the simulator's torch generator, both seeded by `reset`.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import tempfile
import time
from typing import Iterator, Sequence

import numpy as np
import torch

from lawsmith.dsl import ir
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.state import find_player
from lawsmith.laws.model import WorldModel
from lawsmith.laws.simulator import Simulator
from lawsmith.synth.fit import split
from lawsmith.synth.learn import LearnConfig, learn
from lawsmith.synth.offline import OfflineProposer
from lawsmith.synth.refuge import Change, plan_refuge


@dataclasses.dataclass(frozen=True)
class CuriousConfig:
    learn_at: tuple[int, ...] = (100, 250, 500, 1000, 2000, 4000, 7000)   # steps at which the learner runs
    learn_cap: int = 2500      # most transitions one learning round sees
    learn_rounds: int = 3      # learner rounds per learning round (synth.learn.LearnConfig.rounds)
    fit_steps: int = 150       # Pyro steps per fit
    samples: int = 4           # model draws per action in the look and the rollouts
    horizon: int = 5           # steps of a survival rollout
    info_weight: float = 0.5   # novelty bonus per unit of predicted disagreement (in [0, 1])
    urgency: float = 0.35      # a need is urgent at or below this share of its highest value seen
    tolerance: float = 0.05    # share of the health range another action must win by
    min_rate: float = 0.2      # raises per try for an (action, thing) pair to count as a way
    rare: int = 20             # events seen fewer times are all kept when subsampling
    patience: int = 100        # most steps one need is served before it is reconsidered
    walk_cells: int = 4096     # most cells one walk over the remembered map visits
    shelter_every: int = 10    # steps between recomputing the safest ground while threatened
    refuge_reach: int = 1      # the harm around a cell is summed over this many views' extent
    walls: int = 4             # walls' worth of building stuff kept in hand while calm
    calm: int = 15             # steps with no harmful kind in view before a refuge is left
    refuge_room: int = 6       # most cells of ground a refuge may hold
    refuge_depth: int = 14     # most actions in a refuge plan
    refuge_nodes: int = 20_000  # most states one refuge search visits
    refuge_every: int = 10     # steps between searches for a refuge while none is found
    parts: tuple[str, ...] = ("survive", "needs", "fight", "refuge", "shelter")


class CuriousExplorer:
    """The explorer with the learner in the loop (see the module docstring); a `Policy`."""

    name = "curious"

    def __init__(self, health: str | None = None, config: CuriousConfig | None = None,
                 device: str = "cpu"):
        self.health = health
        self.config = config or CuriousConfig()
        self.device = device

    # --- the Policy protocol ----------------------------------------------------------------------

    def reset(self, seed: int, schema: dict) -> None:
        self.base = Explorer(cautious=True)
        self.base.reset(seed, schema)
        self._schema = schema
        self._generator = torch.Generator().manual_seed(seed)
        self._vital = _field(self.health, schema) if self.health else None
        self._held = [(name, item) for name in self.base._held for item in self.base._items
                      if (name, item) != self._vital]
        self._flags = list(self.base._flags)
        self._actions = list(schema["actions"])
        self._thing_order = {name: i for i, name in enumerate(
            list(schema["materials"]) + list(schema["kinds"]))}
        self._transitions: list[tuple[dict, str, dict]] = []
        self._events: list[tuple] = []              # per transition, its event key
        self._event_counts: collections.Counter = collections.Counter()
        self._highest: dict[tuple, float] = {}      # held count -> highest value seen
        self._self_drops: collections.Counter = collections.Counter()   # held count -> drops
        self._raised: collections.Counter = collections.Counter()  # (count, action, thing)
        self._tried: collections.Counter = collections.Counter()   # (action, thing)
        self._raised_in: collections.Counter = collections.Counter()   # (count, flags)
        self._steps_in: collections.Counter = collections.Counter()    # flags
        self._turned_on: collections.Counter = collections.Counter()   # (flag, action)
        self._hurt_by: collections.Counter = collections.Counter()     # kind -> hurt beside it
        self._beside: collections.Counter = collections.Counter()      # kind -> steps beside it
        self._kills: collections.Counter = collections.Counter()   # (kind, action) -> vanished
        self._hurt_steps = 0                                       # steps health fell
        self._move_tries: collections.Counter = collections.Counter()  # (flag, on) -> moves
        self._moves_made: collections.Counter = collections.Counter()  # (flag, on) -> it moved
        self._faced_drops: collections.Counter = collections.Counter()  # (kind, field, action)
        self._fields: dict[str, dict] = {}   # kind -> its numeric fields, in the order seen
        self._model: WorldModel | None = None
        self._sim: Simulator | None = None
        self._related: set[tuple] | None = None     # attributes the laws tie to health
        self._law_ways: dict[tuple, list[tuple[str, str]]] = {}
        self._ticking: set[tuple] = set()           # counts a law lowers whatever the action
        self._next_round = 0
        self._front: str | None = None
        self._names = self.base._names                  # grid code -> material name
        self._map: dict[tuple[int, int], str] = {}       # cell -> material last seen there
        self._kind_at: dict[tuple[int, int], str] = {}   # cell -> kind last seen there
        self._things: dict[tuple[int, int], str] = {}    # cell -> kind, this step
        self._state: dict | None = None                  # the state being acted on
        self._serving: tuple | None = None              # the need being served, till it is full
        self._cells_seen: collections.Counter = collections.Counter()  # material -> cell-steps
        self._stood_on: collections.Counter = collections.Counter()    # (kind, material) -> seen
        self._threatened_at = -10**9                    # last step a harmful kind was in view
        self._refuge: tuple[int, int] | None = None     # the safest ground found, while threatened
        self._refuge_at = -10**9
        self._serving_since = 0
        self._changes: dict[tuple, tuple] = {}      # (action, before, after) -> cost, last seen
        self._change_fails: collections.Counter = collections.Counter()   # (action, before)
        self._moving_kinds: set[str] = set()        # kinds seen to change position
        self._plan: list[tuple[str, tuple, tuple]] = []   # refuge plan being followed
        self._expect: tuple | None = None    # (position, facing) the last planned step ends at
        self._planned_at = -10**9
        self.rounds: list[dict] = []                # one record per learning round
        self.modes: collections.Counter = collections.Counter()   # how each choice was made

    def act(self, state: dict) -> str:
        config = self.config
        if (self._next_round < len(config.learn_at)
                and len(self._transitions) >= config.learn_at[self._next_round]):
            self._next_round += 1
            self._learn()
        player = find_player(state)
        self._remember(state, player)
        look = self._look(state, player) if self._sim is not None else None
        self.base.bonus = {} if look is None else {
            a: config.info_weight * look["disagreement"][i] for i, a in enumerate(self._actions)}
        enclosed = "refuge" in config.parts and self._in_refuge(state, player)
        for flag in self._flags:
            if self._incapacitates(flag) and not enclosed:
                # Not for novelty's sake: only a need may turn it on (`_set_flags`).
                for action in self._actions:
                    if self._turned_on[flag, action]:
                        self.base.bonus[action] = self.base.bonus.get(action, 0.0) - 10.0
        chosen = self.base.act(state)
        self._front = self.base._last[1]
        fight = self._fight(state, player) if "fight" in config.parts else None
        if fight is not None and fight != chosen:
            self.modes["fight"] += 1
            return fight
        refuge = (self._refuge_action(state, player, chosen, enclosed)
                  if "refuge" in config.parts else None)
        if refuge is not None:
            if refuge != chosen:
                self.modes["refuge"] += 1
            return refuge
        shelter = self._shelter(state, player, chosen) if "shelter" in config.parts else None
        if shelter is not None and shelter != chosen:
            self.modes["shelter"] += 1
            return shelter
        if look is not None and look["danger"] and "survive" in config.parts:
            action = self._survive(state, player, chosen)
            if action != chosen:
                self.modes["survive"] += 1
                return action
        need = self._serve_needs(state, player) if "needs" in config.parts else None
        if need is not None and need != chosen:
            self.modes["need"] += 1
            return need
        stock = self._stock_walls(player) if "refuge" in config.parts else None
        if stock is not None and stock != chosen:
            self.modes["stock"] += 1
            return stock
        self.modes["explore"] += 1
        return chosen

    def observe(self, state: dict, action: str, next_state: dict) -> None:
        self.base.observe(state, action, next_state)
        self._transitions.append((state, action, next_state))
        before, after = find_player(state), find_player(next_state)
        flags = tuple(bool(before[f]) for f in self._flags)
        front = self._front
        moved = action in self.base._move_of
        deltas = {c: after[c[0]][c[1]] - before[c[0]][c[1]] for c in self._held}
        fx, fy = before["pos"][0] + before["facing"][0], before["pos"][1] + before["facing"][1]
        ahead_before, ahead_after = _cell(state, fx, fy), _cell(next_state, fx, fy)
        kinds_ahead = _kinds_at(state, fx, fy)
        grid_ahead = (ahead_before != ahead_after   # or a thing placed or taken ahead
                      or kinds_ahead != _kinds_at(next_state, fx, fy))
        # A drop with nothing gained for it (no other count up, the cell ahead unchanged) is a
        # count running down by itself, not a price paid.
        traded = grid_ahead or any(d > 0 for d in deltas.values())
        for count, delta in deltas.items():
            old = before[count[0]][count[1]]
            self._highest[count] = max(self._highest.get(count, old), old, old + delta)
            if delta > 0:
                self._raised[count, action, front] += 1
                self._raised_in[count, flags] += 1
            elif delta < 0 and not traded:
                self._self_drops[count] += 1
        self._tried[action, front] += 1
        self._steps_in[flags] += 1
        for i, flag in enumerate(self._flags):
            if not flags[i] and after[flag]:
                self._turned_on[flag, action] += 1
        if moved:
            went = before["pos"] != after["pos"] or before["facing"] != after["facing"]
            for i, flag in enumerate(self._flags):
                self._move_tries[flag, flags[i]] += 1
                self._moves_made[flag, flags[i]] += went
        if self._vital is not None:
            x, y = before["pos"]
            # Beside before or after the step: a creature may step up and strike in one step.
            beside = {o["kind"] for o in state["objects"] + next_state["objects"]
                      if o is not before and o is not after
                      and max(abs(o["pos"][0] - x), abs(o["pos"][1] - y)) == 1}
            # A hit: health fell by more than the commonest drop of any held count (the slow
            # tick of needs, the explorer's startle reference).
            drops = self.base._drops
            usual = min(drops, key=lambda d: (-drops[d], d)) if drops else 1
            hurt = self._vital_of(before) - self._vital_of(after) > usual
            self._hurt_steps += hurt
            for kind in beside:
                self._beside[kind] += 1
                self._hurt_by[kind] += hurt
        later = {(o["kind"], o.get("id")): o for o in next_state["objects"]}
        for obj in state["objects"]:
            if obj is before or tuple(obj["pos"]) != (fx, fy):
                continue
            after_obj = later.get((obj["kind"], obj.get("id")))
            if after_obj is None:
                self._kills[obj["kind"], action] += 1   # it vanished while faced
            for k, v in obj.items():
                if k not in ("id", "kind", "pos", "facing") and isinstance(v, (int, float)):
                    self._fields.setdefault(obj["kind"], {})[k] = None
                    if after_obj is None or after_obj.get(k, v) < v:
                        self._faced_drops[obj["kind"], k, action] += 1
        if not moved and ahead_before is not None and not kinds_ahead:
            names, held = self._names, {c: before[c[0]][c[1]] for c in self._held}
            if ahead_after != ahead_before:
                cost = tuple((c, d) for c, d in deltas.items() if d)
                self._changes[action, names[ahead_before], names[ahead_after]] = cost
                self._change_fails[action, names[ahead_before]] = 0
            elif any(a == action and b == names[ahead_before]
                     and Change(a, b, after_, cost).affordable(held)
                     for (a, b, after_), cost in self._changes.items()):
                # Failed though what it used up was held: count it (it may need more than that).
                self._change_fails[action, names[ahead_before]] += 1
        ids = {o.get("id"): o for o in state["objects"] if o.get("id") is not None}
        for obj in next_state["objects"]:
            old_obj = ids.get(obj.get("id"))
            if old_obj is not None and old_obj is not before and old_obj["pos"] != obj["pos"]:
                self._moving_kinds.add(obj["kind"])
        event = (action, front, tuple(c for c, d in deltas.items() if d))
        self._events.append(event)
        self._event_counts[event] += 1

    # --- learning ---------------------------------------------------------------------------------

    def _learn(self) -> None:
        """One learning round on the life so far, warm-started from the last model."""
        began = time.perf_counter()
        data = self._subsample()
        config = LearnConfig(rounds=self.config.learn_rounds, fit_steps=self.config.fit_steps,
                             device=self.device)
        train = split(data, config.heldout, config.seed).train
        if len(train) < 2 or len(data) - len(train) < 1:
            return
        with tempfile.TemporaryDirectory(prefix="lawsmith-curious-") as folder:
            model, history = learn(data, self._schema, OfflineProposer(train, self._schema),
                                   folder, config, {}, start=self._model,
                                   command="curious explorer (in memory)")
        self._model = model
        self._sim = Simulator(model, device=self.device)
        self._related = self._related_to_health(model)
        self._law_ways = {count: law_ways(model, count, self._schema) for count in self._held}
        self._ticking = ticking(model, self._held)
        self.rounds.append({"step": len(self._transitions), "transitions": len(data),
                            "laws": len(model.law_names),
                            "heldout_nll": history[-1]["heldout_nll"],
                            "seconds": round(time.perf_counter() - began, 1)})

    def _subsample(self) -> list[tuple[dict, str, dict]]:
        """At most `learn_cap` transitions: every rare event, the rest evenly spaced over the life."""
        cap, n = self.config.learn_cap, len(self._transitions)
        if n <= cap:
            return list(self._transitions)
        rare = [i for i in range(n) if self._event_counts[self._events[i]] < self.config.rare]
        rare = rare[-cap // 2:]
        rest = [i for i in range(n) if self._event_counts[self._events[i]] >= self.config.rare]
        room = cap - len(rare)
        stride = max(1, math.ceil(len(rest) / room)) if room > 0 else len(rest) + 1
        chosen = sorted(set(rare) | set(rest[::stride][:max(room, 0)]))
        return [self._transitions[i] for i in chosen]

    def _related_to_health(self, model: WorldModel) -> set[tuple] | None:
        """Player attributes the laws tie to health: read in a condition of a law that writes
        health, or of a law that writes such an attribute, and so on."""
        if self._vital is None:
            return None
        reads: dict[tuple, set[tuple]] = collections.defaultdict(set)
        for law in model.program.laws:
            targets = [_target(e) for e in law.effects]
            mentioned = _player_fields(law.condition)
            for target in targets:
                if target is not None:
                    reads[target] |= mentioned
        if not reads.get(self._vital):
            return None   # no law on health yet: every need may matter
        related, frontier = set(), [self._vital]
        while frontier:
            field = frontier.pop()
            for other in reads.get(field, ()):
                if other not in related and other != self._vital:
                    related.add(other)
                    frontier.append(other)
        return related

    # --- looking ahead in the model ---------------------------------------------------------------

    def _vital_of(self, player: dict) -> float:
        attr, key = self._vital
        return float(player[attr] if key is None else player[attr][key])

    def _every_action(self, state: dict):
        """`samples` copies of the state per action as simulator rows, and each row's action
        (row r takes action r mod the number of actions)."""
        n_actions = len(self._actions)
        states = self._sim.repeat([state], n_actions * self.config.samples)
        return states, torch.arange(n_actions).repeat(self.config.samples)

    def _look(self, state: dict, player: dict) -> dict:
        """Every action `samples` times, one step: its health cost and the draws' disagreement."""
        k, n_actions = self.config.samples, len(self._actions)
        states, actions = self._every_action(state)
        after = self._sim.step(states, actions, self._generator)
        disagreement = [0.0] * n_actions
        signature = _signature(after).view(k, n_actions)
        for a in range(n_actions):
            _, counts = torch.unique(signature[:, a], return_counts=True)
            disagreement[a] = 1.0 - float(counts.max()) / k
        danger = False
        if self._vital is not None:
            now = self._vital_of(player)
            danger = bool((after.player(*self._vital).double() < now).any())
        return {"disagreement": disagreement, "danger": danger}

    def _survive(self, state: dict, player: dict, chosen: str) -> str:
        """The action whose repeated rollouts keep the most health (the explorer's choice unless
        another wins by more than the tolerance)."""
        k, n_actions = self.config.samples, len(self._actions)
        states, actions = self._every_action(state)
        alive = torch.ones(n_actions * k, dtype=torch.bool)
        for _ in range(self.config.horizon):
            states = self._sim.step(states, actions, self._generator)
            alive &= states.player(*self._vital).double() > 0
        end = states.player(*self._vital).double()
        highest = max(self._highest.get(self._vital, 0.0), self._vital_of(player), 1.0)
        score = torch.where(alive, end, torch.full_like(end, -highest)).view(k, n_actions).mean(0)
        best = int(torch.argmax(score))   # ties: the first in schema order
        mine = self._actions.index(chosen)
        if float(score[best]) > float(score[mine]) + self.config.tolerance * highest:
            return self._actions[best]
        return chosen

    def _incapacitates(self, flag: str) -> bool:
        """Whether moves, tried at least 3 times with the flag on, did something less than half
        as often as with it off (asleep, one cannot act)."""
        on, off = self._move_tries[flag, True], self._move_tries[flag, False]
        if on < 3 or not off:
            return False
        return self._moves_made[flag, True] / on < 0.5 * self._moves_made[flag, False] / off

    # --- fighting back -------------------------------------------------------------------------

    def _harmful(self, kind: str) -> bool:
        """Hits (drops of health bigger than the commonest drop) came beside this kind on more
        than twice the share of steps they came overall, and at least half as often as beside
        the worst kind (a bystander is not blamed)."""
        if not self._hurt_by[kind]:
            return False
        rate = {k: self._hurt_by[k] / max(1, self._beside[k]) for k in self._thing_order
                if self._hurt_by[k]}
        steps = max(1, len(self._transitions))
        return (rate[kind] > 2 * self._hurt_steps / steps
                and rate[kind] >= 0.5 * max(rate.values()))

    def _fight(self, state: dict, player: dict) -> str | None:
        """Straight beside a kind that hurts: face it and use the action that makes things vanish
        (`_attack`)."""
        if self._vital is None or not self.base._moves:
            return None
        x, y = player["pos"]
        near = {(o["pos"][0] - x, o["pos"][1] - y): o["kind"] for o in state["objects"]
                if o is not player and max(abs(o["pos"][0] - x), abs(o["pos"][1] - y)) == 1
                and self._harmful(o["kind"])}
        if not near:
            return None
        for action, step in self.base._moves:
            kind = near.get(step)
            if kind is None:
                continue
            if not self.base._others:
                return None
            attack = self._attack(kind)
            if tuple(player["facing"]) == step:
                return attack
            return action   # a move into an occupied cell turns to face it
        # One diagonal step away: no step of ours makes it straight beside and faced at once
        # (a move faces where it goes), so let it come.
        return None

    def _attack(self, kind: str) -> str:
        """The action (not a move) after which faced things of `kind` (else of any kind) vanished
        most often; before any did, the one that made a field of faced things drop more often than
        the other actions did facing the same kinds (a cooldown ticks whatever one does); with
        no such evidence, the one tried least facing `kind`."""
        others = self.base._others
        for kinds in ((kind,), tuple(self._thing_order)):
            kills = [(sum(self._kills[k, a] for k in kinds), -i) for i, a in enumerate(others)]
            best = max(kills)
            if best[0] > 0:
                return others[-best[1]]
        rates = {}   # (kind, field) -> drops per try facing it, over all actions
        for k in self._thing_order:
            tries = sum(self._tried[b, k] for b in others)
            for f in self._fields.get(k, ()):
                rates[k, f] = sum(self._faced_drops[k, f, b] for b in others) / max(1, tries)
        excess = []
        for i, a in enumerate(others):
            most = 0.0
            for (k, f), rate in rates.items():
                most = max(most, self._faced_drops[k, f, a] - rate * self._tried[a, k])
            excess.append((round(most, 9), -i))
        best = max(excess)
        if best[0] > 0:
            return others[-best[1]]
        return min(others, key=lambda a: (self._tried[a, kind], others.index(a)))

    # --- refuge: a closed pocket of ground ----------------------------------------------------

    def _known_changes(self) -> list[Change]:
        """The cell changes seen, but those that failed the last 3 times they were tried."""
        return [Change(action, before, after, cost)
                for (action, before, after), cost in self._changes.items()
                if self._change_fails[action, before] < 3]

    def _still_things(self) -> set[tuple[int, int]]:
        """Cells held by things of kinds never seen to move (they wall a pocket)."""
        return {cell for cell, kind in self._things.items() if kind not in self._moving_kinds}

    def _in_refuge(self, state: dict, player: dict) -> bool:
        if not self.base._moves or not self._map:
            return False
        plan = plan_refuge(self._map.get, tuple(player["pos"]), tuple(player["facing"]),
                           self.base._moves, self.base._walkable, self._still_things(),
                           set(self._things), self._known_changes(), self._held_now(player),
                           depth=0, room=self.config.refuge_room)
        return plan == []

    def _held_now(self, player: dict) -> dict[tuple, int]:
        return {count: player[count[0]][count[1]] for count in self._held}

    def _rest_need(self, player: dict) -> str | None:
        """The action that turns on a flag that incapacitates, when an urgent need is served by it
        (no other way to raise it known): rest, which is safe only in a refuge."""
        for count in self._needs(player):
            if self._ways(count):
                continue
            action = self._set_flags(player, count)
            if action is not None and any(self._turned_on[f, action] and self._incapacitates(f)
                                          for f in self._flags):
                return action
        return None

    def _refuge_action(self, state: dict, player: dict, chosen: str,
                       enclosed: bool) -> str | None:
        """While a harmful kind was in view within `calm` steps, or a rest is due: walk, dig and
        build into a refuge (`synth.refuge`), then stay in it (resting if due); once calm and
        rested, open a wall and go (`enclosed`: it stands in one now). None: nothing to do here
        (or no refuge found)."""
        if self._vital is None or not self.base._moves:
            return None
        now = len(self._transitions)
        threatened = now - self._threatened_at <= self.config.calm
        rest = self._rest_need(player)
        if enclosed:
            self._plan = []
            if rest is not None:
                return rest
            # Needs are served from inside when a way is there (walls keep the walks in).
            need = self._serve_needs(state, player) if "needs" in self.config.parts else None
            if need is not None and not self._opening(player, need):
                return need
            if threatened:
                opens = self._opening(player, chosen)
                if chosen in self.base._move_of or opens:
                    return self._stay()
                return chosen
            return self._leave(state, player)
        if not threatened and rest is None:
            self._plan = []
            return None
        pos, facing = tuple(player["pos"]), tuple(player["facing"])
        if not self._plan or self._plan_broken(pos, facing):
            self._plan = []
            if now - self._planned_at < self.config.refuge_every:
                return None
            self._planned_at = now
            plan = plan_refuge(self._map.get, pos, facing, self.base._moves,
                               self.base._walkable, self._still_things(), set(self._things),
                               self._known_changes(), self._held_now(player),
                               depth=self.config.refuge_depth, max_nodes=self.config.refuge_nodes,
                               room=self.config.refuge_room)
            if not plan:
                return None
            self._plan = plan
        action, pos_after, facing_after = self._plan.pop(0)
        self._expect = (pos_after, facing_after)
        return action

    def _stock_walls(self, player: dict) -> str | None:
        """While calm: keep what the cheapest known wall is built of (a change to a material
        that is not walkable, paid in held counts) at `walls` walls' worth, by a way known to
        raise it."""
        if len(self._transitions) - self._threatened_at <= self.config.calm:
            return None
        builds = [c for c in self._known_changes()
                  if c.after not in self.base._walkable and any(d < 0 for _, d in c.cost)]
        if not builds:
            return None
        cheapest = min(builds, key=lambda c: (sum(-d for _, d in c.cost if d < 0), c.action))
        held = self._held_now(player)
        for count, delta in cheapest.cost:
            if delta < 0 and held.get(count, 0) < -delta * self.config.walls:
                ways = self._ways(count)
                if self._front in ways:
                    return min(ways[self._front], key=self._actions.index)
                return self._walk_to(player, set(ways))
        return None

    def _plan_broken(self, pos, facing) -> bool:
        """The last planned step did not end where the plan said (a thing in the way, a change
        that failed)."""
        return self._expect != (pos, facing)

    def _opening(self, player: dict, action: str) -> bool:
        """Whether `action` would change the cell ahead into walkable ground."""
        x, y = player["pos"]
        ahead = self._map.get((x + player["facing"][0], y + player["facing"][1]))
        return any(c.action == action and c.before == ahead and c.after in self.base._walkable
                   for c in self._known_changes())

    def _stay(self) -> str | None:
        """The action whose outcomes paid least (it changes least)."""
        others = self.base._others
        return min(others, key=lambda a: (self.base._action_reward[None, a],
                                          others.index(a))) if others else None

    def _leave(self, state: dict, player: dict) -> str | None:
        """Out of a refuge: face a wall a known change opens (a move toward a wall only turns)
        and change it."""
        x, y = player["pos"]
        held = self._held_now(player)
        changes = self._known_changes()
        for action, (dx, dy) in self.base._moves:
            wall = self._map.get((x + dx, y + dy))
            for change in changes:
                if (change.before == wall and change.after in self.base._walkable
                        and change.affordable(held)):
                    if tuple(player["facing"]) == (dx, dy):
                        return change.action
                    return action
        return None

    # --- sheltering ------------------------------------------------------------------------------

    def _shelter(self, state: dict, player: dict, chosen: str) -> str | None:
        """While kinds that hurt are about (seen within `patience` steps): do not turn on a flag
        (asleep, a creature hits harder), and walk to the ground where such kinds were seen
        least: each material's rate of harmful kinds standing on it per cell seen, summed over a
        window of `refuge_reach` views around each remembered cell."""
        now = len(self._transitions)
        if now - self._threatened_at > self.config.patience or not self.base._moves:
            self._refuge = None
            return None
        if self._refuge is None or now - self._refuge_at >= self.config.shelter_every:
            self._refuge, self._refuge_at = self._safest(player), now
        start = tuple(player["pos"])
        if self._refuge is not None and self._refuge != start:
            step = self._walk_to_cell(player, self._refuge)
            if step is not None:
                return step
        at_refuge = self._refuge == start
        if at_refuge and (chosen in self.base._move_of
                          or any(self._turned_on[f, chosen] for f in self._flags)):
            return self._stay()   # awake
        return None

    def _safest(self, player: dict) -> tuple[int, int] | None:
        """The reachable remembered cell with the least harm around it (ties: the nearest)."""
        if not self._map:
            return None
        harmful = [k for k in self._thing_order if self._harmful(k)]
        rate = {m: sum(self._stood_on[k, m] for k in harmful) / n
                for m, n in self._cells_seen.items() if n}
        worst = max(rate.values(), default=0.0)
        grid = np.full((self._height, self._width), worst)   # never seen: as bad as the worst
        for (cx, cy), material in self._map.items():
            grid[cy, cx] = rate.get(material, worst)
        reach = self.config.refuge_reach
        half_w, half_h = reach * (self.base.view[0] // 2), reach * (self.base.view[1] // 2)
        padded = np.pad(grid, ((half_h + 1, half_h), (half_w + 1, half_w)), constant_values=worst)
        total = padded.cumsum(0).cumsum(1)
        h, w = 2 * half_h + 1, 2 * half_w + 1
        window = (total[h:, w:] - total[:-h, w:] - total[h:, :-w] + total[:-h, :-w])
        best, found = None, None
        for cell, distance in self._reachable(player).items():
            score = (round(float(window[cell[1], cell[0]]), 9), distance)
            if best is None or score < best:
                best, found = score, cell
        return found

    def _reachable(self, player: dict) -> dict[tuple[int, int], int]:
        """Walking distance to each remembered walkable cell with no object seen on it."""
        return {cell: distance for cell, _, distance in self._walks(player)}

    def _walk_to_cell(self, player: dict, goal: tuple[int, int]) -> str | None:
        """The first move of a shortest remembered walk to stand on `goal`."""
        return next((move for cell, move, _ in self._walks(player) if cell == goal), None)

    # --- needs ------------------------------------------------------------------------------------

    def _needs(self, player: dict) -> list[tuple]:
        """Urgent needs, most urgent first (ties: schema order); the one being served stays first
        until it is back at its highest value seen or `patience` steps have passed."""
        urgent = []
        for order, count in enumerate(self._held):
            if not self._self_drops[count] and count not in self._ticking:
                continue
            # The laws may not tie a count to health yet (its harm comes late): it is still a
            # need, after those they do tie.
            unrelated = self._related is not None and count not in self._related
            highest = self._highest.get(count, 0.0)
            value = player[count[0]][count[1]]
            if highest > 0 and value <= self.config.urgency * highest:
                urgent.append((unrelated, value / highest, order, count))
        needs = [count for *_, count in sorted(urgent)]
        serving = self._serving
        if serving is not None:
            full = player[serving[0]][serving[1]] >= self._highest.get(serving, 0.0)
            if full or len(self._transitions) - self._serving_since > self.config.patience:
                self._serving = serving = None
        if serving is None and needs:
            self._serving, self._serving_since = needs[0], len(self._transitions)
        elif serving is not None and serving not in needs:
            needs.insert(0, serving)
        return needs

    def _serve_needs(self, state: dict, player: dict) -> str | None:
        for count in self._needs(player):
            action = self._serve(state, player, count)
            if action is not None:
                return action
        return None

    def _serve(self, state: dict, player: dict, count: tuple) -> str | None:
        """An action toward raising `count`: use a way here, walk to one seen (in view or
        remembered), or set the flags it rose under."""
        ways = self._ways(count)
        if self._front in ways:
            return min(ways[self._front], key=self._actions.index)
        if not ways:
            return self._find_way(player)
        step = self._walk_to(player, set(ways))
        if step is not None:
            return step
        action = self._set_flags(player, count)
        value, highest = player[count[0]][count[1]], self._highest.get(count, 0.0)
        if action is None and self.base._moves and value <= self.config.urgency * highest / 2:
            # Very low and no way seen (or none known yet): reveal new ground, the nearest edge
            # of the remembered map first, else along a heading.
            action = self._to_frontier(player)
            if action is None:
                action = self.base._wander(state, self._things, tuple(player["pos"]))
        return action

    def _ways(self, count: tuple) -> dict[str, set[str]]:
        """thing -> the actions that raised `count` facing it (at least `min_rate` of their tries)
        or that a law says raise it."""
        ways: dict[str, set[str]] = collections.defaultdict(set)
        for (c, action, thing), raised in self._raised.items():
            if c == count and thing is not None and raised >= self.config.min_rate * max(
                    1, self._tried[action, thing]):
                ways[thing].add(action)
        for action, thing in self._law_ways.get(count, ()):
            ways[thing].add(action)
        return ways

    def _find_way(self, player: dict) -> str | None:
        """No way to raise a need known yet: try each action once on each thing (whatever is
        held: the explorer's own novelty counts a thing new again with every change of what is
        held), the one faced first, else walk to the nearest thing not yet tried with every
        action. An action that made a field of the faced kind drop is repeated while it does
        (a creature may take several blows before it gives anything)."""
        others, front = self.base._others, self._front
        if front is not None and others:
            for action in others:
                if not self._kills[front, action] and any(
                        self._faced_drops[front, f, action] for f in self._fields.get(front, ())):
                    return action
        # Actions that have raised some count before are tried first (one that gave something
        # may give more); ties in schema order.
        gains = collections.Counter()
        for (_, action, _), raised in self._raised.items():
            gains[action] += raised
        ranked = sorted(others, key=lambda a: (-gains[a], others.index(a)))
        gainful = [a for a in ranked if gains[a]] or ranked
        known = set(self._map.values()) | set(self._kind_at.values())
        # Tiers: the actions that gave something, on things seen; new ground; then every action.
        for actions in (gainful, None, ranked):
            if actions is None:
                step = self._to_frontier(player)
            else:
                if front is not None:
                    untried = [a for a in actions if not self._tried[a, front]]
                    if untried:
                        return untried[0]
                fresh = {thing for thing in known
                         if any(not self._tried[a, thing] for a in actions)}
                step = self._walk_to(player, fresh)
            if step is not None:
                return step
        return None

    def _to_frontier(self, player: dict) -> str | None:
        """The first move of a shortest walk over the remembered map to a cell next to one
        never seen."""
        for (x, y), move, _ in self._walks(player):
            if move is not None and any(
                    (x + dx, y + dy) not in self._map for _, (dx, dy) in self.base._moves
                    if 0 <= x + dx < self._width and 0 <= y + dy < self._height):
                return move
        return None

    def _set_flags(self, player: dict, count: tuple) -> str | None:
        """The action that turns on the flags under which `count` rose most often per step."""
        best = None
        for flags, steps in self._steps_in.items():
            rate = self._raised_in[count, flags] / steps
            if rate >= self.config.min_rate and (best is None or rate > best[0]):
                best = (rate, flags)
        if best is None:
            return None
        for i, flag in enumerate(self._flags):
            if best[1][i] and not player[flag]:
                setters = [(n, -self._actions.index(a)) for (f, a), n in self._turned_on.items()
                           if f == flag]
                if setters:
                    return self._actions[-max(setters)[1]]
        return None

    def _remember(self, state: dict, player: dict) -> None:
        """Note the materials and objects in view (the map the walks plan on)."""
        half_w, half_h = self.base.view[0] // 2, self.base.view[1] // 2
        x, y = player["pos"]
        grid = state["grid"]
        self._height, self._width = len(grid), len(grid[0])
        for cy in range(max(0, y - half_h), min(len(grid), y + half_h + 1)):
            row = grid[cy]
            for cx in range(max(0, x - half_w), min(len(row), x + half_w + 1)):
                material = self._map[cx, cy] = self._names[row[cx]]
                self._cells_seen[material] += 1
                self._kind_at.pop((cx, cy), None)
        self._state = state
        # Every object but the player by cell, this step (what the moves and walks step around).
        self._things = {tuple(o["pos"]): o["kind"] for o in state["objects"] if o is not player}
        for obj in state["objects"]:
            ox, oy = obj["pos"]
            if obj is not player and abs(ox - x) <= half_w and abs(oy - y) <= half_h:
                self._kind_at[ox, oy] = obj["kind"]
                self._stood_on[obj["kind"], self._map.get((ox, oy))] += 1
                if self._harmful(obj["kind"]):
                    self._threatened_at = len(self._transitions)

    def _walk_to(self, player: dict, targets: set[str]) -> str | None:
        """The first move of a shortest walk over the remembered map to face one of `targets`
        (a material or kind last seen there); from where it stands, the move that turns to it."""
        if not targets:
            return None
        for (x, y), move, _ in self._walks(player):
            for action, (dx, dy) in self.base._moves:
                if (self._kind_at.get((x + dx, y + dy))
                        or self._map.get((x + dx, y + dy))) in targets:
                    turn = move or self.base._approach(
                        self._state, self._things, (x, y), (dx, dy))
                    if turn is not None:
                        return turn
        return None

    def _walks(self, player: dict) -> Iterator[tuple[tuple[int, int], str | None, int]]:
        """(cell, first move, distance) of each cell reachable over the remembered map (walkable
        cells with no object seen on them), nearest first; at most `walk_cells` cells."""
        moves, walkable = self.base._moves, self.base._walkable
        start = tuple(player["pos"])
        first: dict = {start: None}
        distance = {start: 0}
        queue = collections.deque([start])
        yield start, None, 0
        while queue and len(first) < self.config.walk_cells:
            cell = queue.popleft()
            for action, (dx, dy) in moves:
                nxt = (cell[0] + dx, cell[1] + dy)
                if (nxt not in first and nxt not in self._kind_at
                        and self._map.get(nxt) in walkable):
                    first[nxt] = first[cell] or action
                    distance[nxt] = distance[cell] + 1
                    queue.append(nxt)
                    yield nxt, first[nxt], distance[nxt]


def _kinds_at(state: dict, x: int, y: int) -> list[str]:
    return sorted(o["kind"] for o in state["objects"] if tuple(o["pos"]) == (x, y))


def _cell(state: dict, x: int, y: int) -> str | None:
    grid = state["grid"]
    return grid[y][x] if 0 <= y < len(grid) and 0 <= x < len(grid[y]) else None


# --- reading the model ----------------------------------------------------------------------------

def _field(name: str, schema: dict) -> tuple[str, str | None]:
    """`attr` or `attr.key` of the player, checked against the schema."""
    attr, _, key = name.partition(".")
    spec = schema["kinds"]["player"].get(attr)
    if spec is None or (key and spec["type"] != "counts"):
        raise ValueError(f"the player has no field {name!r}")
    return attr, key or None


def _player_fields(node) -> set[tuple]:
    """Every player field (attr, key) read anywhere in the resolved expression `node`."""
    found, stack = set(), [node]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Field):
            if node.var == "player":
                found.add((node.attr, node.key))
        elif isinstance(node, ir.Apply):
            stack.extend(node.args)
        elif isinstance(node, (ir.Quantify, )):
            stack.append(node.where)
        elif isinstance(node, ir.Named):
            stack.append(node.value)
        elif isinstance(node, ir.Component):
            stack.append(node.operand)
    return found


def _target(effect: ir.Effect) -> tuple[str, str | None] | None:
    target = effect.target
    if isinstance(target, ir.FieldTarget) and target.var == "player":
        return target.attr, target.key
    return None


def _conjuncts(node) -> list:
    """`dsl.ir.conjuncts`, seeing through `let` names too (a hand-written condition may be one)."""
    while isinstance(node, ir.Named):
        node = node.value
    if isinstance(node, ir.Apply) and node.op == "and":
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [node]


def _ahead(node) -> bool:
    """Whether `node` is the cell ahead of the player (player.pos + player.facing)."""
    while isinstance(node, ir.Named):
        node = node.value
    return (isinstance(node, ir.Apply) and node.op == "pos+dir"
            and isinstance(node.args[0], ir.Field) and node.args[0].var == "player"
            and node.args[0].attr == "pos" and isinstance(node.args[1], ir.Field)
            and node.args[1].var == "player" and node.args[1].attr == "facing")


def _action_of(part, schema: dict) -> str | None:
    if (isinstance(part, ir.Apply) and part.op == "==" and isinstance(part.args[0], ir.Action)
            and isinstance(part.args[1], ir.Const)):
        return schema["actions"][part.args[1].value]
    return None


def law_ways(model: WorldModel, count: tuple, schema: dict) -> list[tuple[str, str]]:
    """(action, thing ahead) pairs that a law raising `count` names in its condition:
    `action == A` with `material(ahead) == M`, or a law over kind K with `v.pos == ahead`."""
    materials, kinds = list(schema["materials"]), list(schema["kinds"])
    ways = []
    for law in model.program.laws:
        if not any(_target(e) == count and _raises(e) for e in law.effects):
            continue
        action, thing = None, None
        for part in _conjuncts(law.condition):
            action = _action_of(part, schema) or action
            if not (isinstance(part, ir.Apply) and part.op == "=="):
                continue
            left, right = part.args
            if (isinstance(left, ir.Apply) and left.op == "material" and _ahead(left.args[0])
                    and isinstance(right, ir.Const)):
                thing = materials[right.value]
            elif (law.kind is not None and isinstance(left, ir.Field) and left.var == law.var
                  and left.attr == "pos" and _ahead(right)):
                thing = kinds[law.kind]
        if action is not None and thing is not None:
            ways.append((action, thing))
    return ways


def ticking(model: WorldModel, counts: Sequence[tuple]) -> set[tuple]:
    """The counts some law lowers with no `action == ...` in its condition (they run down by
    themselves)."""
    found = set()
    for law in model.program.laws:
        if any(_action_of(p, model.schema) is not None for p in _conjuncts(law.condition)):
            continue
        for effect in law.effects:
            if effect.op == "-=" and _target(effect) in counts:
                found.add(_target(effect))
    return found


def _raises(effect: ir.Effect) -> bool:
    return (effect.op == "+=" and len(effect.outcomes) == 1
            and isinstance(effect.outcomes[0], ir.Const) and effect.outcomes[0].value > 0)


# Fixed weights that fold a state into one number per row (the same in every process).
_WEIGHTS: dict[tuple, torch.Tensor] = {}


def _weights(shape: tuple) -> torch.Tensor:
    if shape not in _WEIGHTS:
        rng = np.random.default_rng(len(shape) * 1000 + sum(shape))
        _WEIGHTS[shape] = torch.from_numpy(rng.random(shape) + 0.5)
    return _WEIGHTS[shape]


def _signature(states) -> torch.Tensor:
    """[N] one number per state from the player's fields, the grid, and per kind the number of
    objects and their fields' sums (not positions: creatures wander whatever the action)."""
    batch = states.batch
    grid = batch.grid.double()
    total = (grid * _weights(tuple(grid.shape[1:]))).sum((1, 2))
    for kind_index, (kind, table) in enumerate(batch.tables.items()):
        mask = table.mask.double()
        parts = [mask.sum(1)]
        for (attr, key), column in table.fields.items():
            if column.dim() == 3:   # positions and directions
                if kind == "player":
                    parts.append((column[:, 0].double() * torch.tensor([1.0, 7.0])).sum(1))
                continue
            values = column.double()
            parts.append(values[:, 0] if kind == "player" else (values * mask).sum(1))
        stacked = torch.stack(parts, 1)
        total = total + (stacked * _weights((kind_index + 1, stacked.shape[1]))[kind_index]).sum(1)
    return total
