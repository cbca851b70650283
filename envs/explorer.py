"""The unguided explorer: one life, no reward, no goal, choices driven by counts and novelty.

The explorer sees the state as a person at the keyboard would: the thing in front of the player, what
the player holds and the materials right around it, and a local window of the map (9x7 cells, like
Crafter's view). It never reads the engine section or hidden attributes, and it knows no names: what
it reads of the player comes from the schema's types (the counts attributes keyed by the schema's
items are what the player holds, the bool attributes its flags), and which actions move it is learned.
Only the structural names of the trace format are used (`player`, `pos`, `facing`), so it makes the
same choices in a world whose names are all replaced (`envs.relabel`).

The idea, in five parts:
- **Contexts.** A context key is (thing faced: object kind or material, the player's bool flags, each
  held count in a small bucket 0 / 1 / 2-3 / 4+, the solid materials within one cell). Crafting and
  placing depend on exactly these (what you hold, what is next to you), so a new key is a new chance.
- **Count-based choice with learned novelty.** For each (key, action) the explorer keeps how often it
  tried it and the mean intrinsic reward it got: the novelty of the change labels (`envs.changes`)
  the action caused to the player, the grid or the thing faced, each label worth 1/sqrt(times this
  (action, label) pair was seen). It picks the non-moving action with the highest
  `mean reward + 1/sqrt(1 + tries)` (untried actions first, productive ones again: in Crafter,
  hitting a tree keeps paying wood until the count saturates).
- **Backing off.** An action not yet tried in this key is expected to pay what it paid facing the
  same thing in other keys, else what it paid anywhere: in Crafter, facing a zombie for the first
  time, `do` (which paid wood and water before) comes before `make_iron_sword`.
- **Startle.** A drop in one of the player's held counts larger than the commonest drop seen so far
  (over all held counts; a unit drop before any is seen) counts -1 against the action just taken, and
  the explorer walks away for a few steps; next to an object (a creature) it first turns to face it,
  if handling it is still new or still pays. The commonest drop is the slow tick of needs and the
  cost of crafting, which happen every few dozen steps; a hit is rarer and bigger. The reference is
  pooled over all counts, not kept per count, because the count a creature hits may never tick
  otherwise: its own commonest drop would soon be the hit itself. Nothing here knows which count is
  health or which creature bites.
- **Going somewhere new.** When no action here scores above a boredom threshold, it walks (breadth-first
  over free walkable cells inside the view) to face the visible thing least handled in the current
  held-count context; when everything in view is well handled, it walks on in a persistent random
  direction to reveal more of the map. `cautious=True` (the curious explorer's) comes to face a
  thing that is not walkable ground by walking in line toward it, and turns on the spot toward it
  (a move into it) only when a move was seen refused by that material or an object stands there: a
  material it never bumped into might be walked onto, and in one life a step onto a deadly one
  cannot be learned from. The plain explorer is not cautious (its lives, and the reports made from
  them, stay as they were); in Crafter it sometimes walks onto lava.

Movement is learned from experience: an action after which the player stood one unit step away, or
faced a new unit direction, is a move that way (the first such observation decides). Until then every
action is a candidate for the count-based choice, so the first contexts try them all. Everything is
deterministic given the seed and independent of the names: randomness comes from
`numpy.random.default_rng(seed)`, ties go to schema order, rewards are summed exactly (`math.fsum`, so
the order of the labels does not matter), and tables are only looked up, never iterated.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from lawsmith.envs.changes import changes
from lawsmith.envs.state import find_player, schema_code_names

UNIT_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def bucket(count: int) -> int:
    """Held counts as 0, 1, 2-3 or 4+: enough to tell 'have none / one / a few / many'."""
    return 0 if count <= 0 else 1 if count == 1 else 2 if count <= 3 else 3


class Explorer:
    """Count-based novelty explorer (see the module docstring). Implements `envs.recorder.Policy`."""

    name = "explorer"

    def __init__(self, view: tuple[int, int] = (9, 7), boredom: float = 0.75,
                 turn_prob: float = 0.1, flee_steps: int = 6, cautious: bool = False):
        self.view = view
        self.cautious = cautious   # face unknown non-walkable ground by stepping back (`_approach`)
        self.boredom = boredom
        self.turn_prob = turn_prob
        self.flee_steps = flee_steps

    def reset(self, seed: int, schema: dict) -> None:
        self._random = np.random.default_rng(seed)
        self._schema = schema
        self._names = schema_code_names(schema)
        self._material_order = {name: i for i, name in enumerate(schema["materials"])}
        self._walkable = frozenset(schema.get("walkable", ()))
        self._refused: set[str] = set()   # materials a move was seen not to enter
        self._items = list(schema["items"])
        visible = {name: spec for name, spec in schema["kinds"]["player"].items()
                   if not spec.get("hidden")}
        self._held = [name for name, spec in visible.items()
                      if spec["type"] == "counts" and spec["keys"] == "items"]
        self._flags = [name for name, spec in visible.items() if spec["type"] == "bool"]
        self._actions = list(schema["actions"])
        self._move_of: dict[str, tuple[int, int]] = {}   # action -> unit step, once learned
        self._moves: list[tuple[str, tuple[int, int]]] = []   # (action, step), schema order
        self._others = list(self._actions)                 # the count-based candidates
        self._tries: dict = collections.defaultdict(int)       # (key, action) -> tries
        self._reward: dict = collections.defaultdict(float)    # (key, action) -> mean reward
        self._thing_tries: dict = collections.defaultdict(int)     # (thing, action) -> tries
        self._thing_reward: dict = collections.defaultdict(float)  # (thing, action) -> mean reward
        self._action_tries: dict = collections.defaultdict(int)    # (None, action) -> tries
        self._action_reward: dict = collections.defaultdict(float)  # (None, action) -> mean reward
        self._handled: dict = collections.defaultdict(int)     # (thing, held) -> tries
        self._pairs: dict = collections.defaultdict(int)       # (action, label) -> times seen
        self._drops: collections.Counter = collections.Counter()   # drop size -> times seen
        self._heading: tuple[str, tuple[int, int]] | None = None
        self._last: tuple | None = None
        self._startled = 0
        self.bonus: dict[str, float] = {}   # action -> extra score, set by a wrapping policy

    # --- acting -----------------------------------------------------------------------------------

    def act(self, state: dict) -> str:
        player = find_player(state)
        things = {tuple(o["pos"]): o["kind"] for o in state["objects"] if o is not player}
        x, y = player["pos"]
        fx, fy = x + player["facing"][0], y + player["facing"][1]
        front = self._thing(state, things, fx, fy)
        held = tuple(bucket(player[name][item]) for name in self._held for item in self._items)
        key = (front, tuple(bool(player[name]) for name in self._flags), held,
               self._solid_nearby(state, x, y))
        self._last = (key, front, held)
        if self._startled and self._moves:
            self._startled -= 1
            return self._wander(state, things, (x, y))
        if (fx, fy) not in things:
            turn = self._face_creature(things, (x, y), held)
            if turn is not None:
                return turn
        noise = self._random.random(len(self._others)) * 1e-6
        scores = [self._expected(key, front, a) + 1 / math.sqrt(1 + self._tries[key, a])
                  + self.bonus.get(a, 0.0) + noise[i] for i, a in enumerate(self._others)]
        best = int(np.argmax(scores))
        if scores[best] >= self.boredom or not self._moves:
            return self._others[best]
        return self._go_somewhere(state, things, (x, y), tuple(player["facing"]), held)

    def observe(self, state: dict, action: str, next_state: dict) -> None:
        key, front, held = self._last
        before, after = find_player(state), find_player(next_state)
        self._learn_refusal(state, action, before, after)
        self._learn_move(action, before, after)
        terms = []
        own_motion = (f"{front}.moved", f"{front}.turned")
        for label in changes(state, next_state, self._schema):
            self._pairs[action, label] += 1
            if label.startswith(("player.", "grid:")) or (
                    label.startswith(f"{front}.") and label not in own_motion):
                terms.append(1 / math.sqrt(self._pairs[action, label]))
        if self._hurt(before, after):
            self._startled = self.flee_steps
            terms.append(-1.0)
        if action in self._move_of:
            return
        reward = math.fsum(terms)
        self._handled[front, held] += 1
        for table, tries, at in ((self._reward, self._tries, key),
                                 (self._thing_reward, self._thing_tries, front),
                                 (self._action_reward, self._action_tries, None)):
            tries[at, action] += 1
            table[at, action] += (reward - table[at, action]) / tries[at, action]

    # --- learning what the names mean ---------------------------------------------------------

    def _learn_refusal(self, state: dict, action: str, before: dict, after: dict) -> None:
        """A known move that left the player where it stood, into a cell with no object: that
        cell's material refuses the player."""
        step = self._move_of.get(action)
        if step is None or before["pos"] != after["pos"]:
            return
        cell = (before["pos"][0] + step[0], before["pos"][1] + step[1])
        if any(tuple(o["pos"]) == cell for o in state["objects"]):
            return
        grid = state["grid"]
        if 0 <= cell[1] < len(grid) and 0 <= cell[0] < len(grid[cell[1]]):
            self._refused.add(self._names[grid[cell[1]][cell[0]]])

    def _learn_move(self, action: str, before: dict, after: dict) -> None:
        """Record `action` as a move if the player now stands one unit step away or faces a new
        unit direction (blocked moves only turn it)."""
        if action in self._move_of:
            return
        moved = (after["pos"][0] - before["pos"][0], after["pos"][1] - before["pos"][1])
        facing = tuple(after["facing"])
        if moved in UNIT_STEPS:
            step = moved
        elif facing != tuple(before["facing"]) and facing in UNIT_STEPS:
            step = facing
        else:
            return
        self._move_of[action] = step
        self._moves = [(a, self._move_of[a]) for a in self._actions if a in self._move_of]
        self._others = [a for a in self._actions if a not in self._move_of]

    def _hurt(self, before: dict, after: dict) -> bool:
        """Whether a held count dropped by more than the commonest drop seen so far (a unit drop
        before any is seen; ties go to the smaller drop); then remember this step's drops."""
        drops = [before[name][item] - after[name][item]
                 for name in self._held for item in self._items]
        drops = [d for d in drops if d > 0]
        usual = min(self._drops, key=lambda d: (-self._drops[d], d)) if self._drops else 1
        self._drops.update(drops)
        return any(d > usual for d in drops)

    # --- helpers ------------------------------------------------------------------------------

    def _thing(self, state: dict, things: dict, x: int, y: int) -> str | None:
        """The object kind at (x, y), else its material name; None outside the grid."""
        if (x, y) in things:
            return things[(x, y)]
        grid = state["grid"]
        if 0 <= y < len(grid) and 0 <= x < len(grid[y]):
            return self._names[grid[y][x]]
        return None

    def _solid_nearby(self, state: dict, x: int, y: int) -> tuple[str, ...]:
        """The non-walkable materials within one cell (what crafting looks at), in schema order."""
        found = set()
        for ny in range(y - 1, y + 2):
            for nx in range(x - 1, x + 2):
                name = self._thing(state, {}, nx, ny)
                if name is not None and name not in self._walkable:
                    found.add(name)
        return tuple(sorted(found, key=self._material_order.__getitem__))

    def _expected(self, key: tuple, front: str | None, action: str) -> float:
        """Mean reward of `action` here, backing off to this thing, then to the action anywhere."""
        if self._tries[key, action]:
            return self._reward[key, action]
        if self._thing_tries[front, action]:
            return self._thing_reward[front, action]
        return self._action_reward[None, action]

    def _face_creature(self, things: dict, at: tuple[int, int], held: tuple) -> str | None:
        """A move that turns to an adjacent object worth handling (it still pays, or is new)."""
        for action, (dx, dy) in self._moves:
            kind = things.get((at[0] + dx, at[1] + dy))
            if kind is not None and (self._handled[kind, held] < len(self._others) or max(
                    self._thing_reward[kind, a] for a in self._others) > 0.05):
                return action
        return None

    def _approach(self, state: dict, things: dict, start: tuple[int, int],
                  step: tuple[int, int]) -> str | None:
        """The action that brings the player at `start` to face the cell `step` away: the move
        toward it when that is known to turn without stepping in (an object is there, or a
        material a move was refused by) or to step onto walkable ground; else the step back (the
        way back in then faces it), so the player never walks onto ground it has not learned is
        ground (one life: a step onto a deadly material cannot be learned from). None: no way."""
        cell = (start[0] + step[0], start[1] + step[1])
        move = next(a for a, s in self._moves if s == step)
        material = self._thing(state, things, *cell)
        if cell in things or material in self._walkable or material in self._refused:
            return move
        back = next((a for a, s in self._moves if s == (-step[0], -step[1])), None)
        if back is not None and self._free(state, things, (start[0] - step[0], start[1] - step[1])):
            return back
        return None

    def _free(self, state: dict, things: dict, cell: tuple[int, int]) -> bool:
        return cell not in things and self._thing(state, things, *cell) in self._walkable

    def _go_somewhere(self, state: dict, things: dict, start: tuple[int, int],
                      facing: tuple[int, int], held: tuple) -> str:
        """A move toward the least handled visible thing, or along a persistent random heading."""
        target = self._nearest_novel(state, things, start, facing, held)
        if target is not None:
            return target
        return self._wander(state, things, start)

    def _wander(self, state: dict, things: dict, start: tuple[int, int]) -> str:
        """A step along a persistent random heading, turning when blocked or by chance (only
        called once a move is known)."""
        turn = self._random.random() < self.turn_prob
        if self._heading is not None:
            step = self._heading[1]
            turn = turn or not self._free(state, things, (start[0] + step[0], start[1] + step[1]))
        if turn or self._heading is None:
            open_moves = [m for m in self._moves
                          if self._free(state, things, (start[0] + m[1][0], start[1] + m[1][1]))]
            choices = open_moves or self._moves
            self._heading = choices[int(self._random.integers(len(choices)))]
        return self._heading[0]

    def _nearest_novel(self, state: dict, things: dict, start: tuple[int, int],
                       facing: tuple[int, int], held: tuple) -> str | None:
        """First move of a shortest walk to face the visible thing handled least (None: all known).

        Breadth-first over free walkable cells inside the view; ties go to the nearer thing.
        """
        half_w, half_h = self.view[0] // 2, self.view[1] // 2
        first_move: dict = {start: None}
        queue = collections.deque([start])
        best = None   # (handled, distance, first move)
        distance = {start: 0}
        order = self._random.permutation(len(self._moves))
        while queue:
            cell = queue.popleft()
            for i in order:
                action, (dx, dy) = self._moves[i]
                nxt = (cell[0] + dx, cell[1] + dy)
                if abs(nxt[0] - start[0]) > half_w or abs(nxt[1] - start[1]) > half_h:
                    continue
                thing = self._thing(state, things, *nxt)
                if thing is None:
                    continue
                facing_it = cell == start and (dx, dy) == facing
                if not facing_it:
                    handled = self._handled[thing, held]
                    move = first_move[cell] or (self._approach(state, things, start, (dx, dy))
                                                if self.cautious else action)
                    if move is not None and handled < len(self._others) and (
                            best is None or (handled, distance[cell]) < best[:2]):
                        best = (handled, distance[cell], move)
                if nxt not in first_move and self._free(state, things, nxt):
                    first_move[nxt] = first_move[cell] or action
                    distance[nxt] = distance[cell] + 1
                    queue.append(nxt)
        return None if best is None else best[2]
