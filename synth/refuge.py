"""Planning a refuge: the fewest actions that leave the player in a small pocket of ground, closed
all round, that no walking creature can enter, from what the explorer has seen the world do.

A creature that walks reaches the player over walkable ground. The player cannot turn toward a free
cell without stepping into it (a move into a free cell moves), so a single cell cannot be closed
from inside: the last wall is placed facing out of a pocket of two or more cells, having stepped
back across it. The planner searches over moves and the cell changes the explorer has seen actions
make (`Change`: an action turned the cell ahead from one material into another, at some cost in
held counts). It is told no names: materials, actions and costs come from the explorer's records.

A refuge counts only with a way out: a change must turn one of its walls back into walkable ground
(else the refuge is a tomb).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Change:
    """`action` facing `before` turned it into `after`; `cost`: the held counts it changed (count
    -> delta; negative: used up)."""
    action: str
    before: str
    after: str
    cost: tuple[tuple[tuple, int], ...]

    def affordable(self, held: dict[tuple, int]) -> bool:
        """Whether what it uses up is held."""
        return all(held.get(c, 0) + d >= 0 for c, d in self.cost)


Cell = tuple[int, int]


def plan_refuge(material: Callable[[Cell], str | None], start: Cell, facing: Cell,
                moves: list[tuple[str, Cell]], walkable: frozenset, blocked: set[Cell],
                occupied: set[Cell], changes: list[Change], held: dict[tuple, int],
                radius: int = 4, depth: int = 12, max_nodes: int = 20_000, room: int = 3
                ) -> list[tuple[str, Cell, Cell]] | None:
    """The shortest plan [(action, position after, facing after)] to a refuge (the ground the player
    can walk to is at most `room` cells, closed all round, and a known change opens a wall again);
    [] when `start` is one already; None when none is found within `depth` actions, `radius` cells
    of `start` and `max_nodes` states.

    `material(cell)`: the material last seen there (None: never seen); `blocked`: cells held by
    things that stay put; `occupied`: cells with any thing now (no move into them, no change on them).
    """
    counts = sorted({c for change in changes for c, _ in change.cost})
    steps = [step for _, step in moves]
    undo = {(c.before, c.after) for c in changes}

    def material_now(cell, changed):
        return changed.get(cell, material(cell))

    def is_refuge(pos, changed, budget):
        """Whether the ground the player can walk to from `pos` is at most `room` cells, all seen,
        and one of its walls can be opened again."""
        look = lambda cell: material_now(cell, changed)
        region, frontier, walls = {pos}, [pos], set()
        while frontier:
            cell = frontier.pop()
            for dx, dy in steps:
                side = (cell[0] + dx, cell[1] + dy)
                if side in region or side in walls:
                    continue
                m = look(side)
                if m is None:
                    return False   # never seen: anything may come from there
                if m in walkable and side not in blocked:
                    region.add(side)
                    if len(region) > room:
                        return False
                    frontier.append(side)
                else:
                    walls.add(side)
        for wall in walls:
            for change in changes:
                if change.before == look(wall) and change.after in walkable and affordable(
                        change, budget):
                    return True
        return False

    def affordable(change, budget):
        return change.affordable(dict(zip(counts, budget)))

    budget0 = tuple(int(held.get(c, 0)) for c in counts)
    start_state = (start, facing, frozenset(), budget0)
    if is_refuge(start, {}, budget0):
        return []
    parent: dict = {start_state: None}
    queue = collections.deque([(start_state, 0)])
    while queue and len(parent) < max_nodes:
        state, d = queue.popleft()
        if d >= depth:
            continue
        pos, face, changed_items, budget = state
        changed = dict(changed_items)
        successors = []
        for action, step in moves:
            target = (pos[0] + step[0], pos[1] + step[1])
            m = material_now(target, changed)
            free = m in walkable and target not in occupied and target not in blocked
            new_pos = target if free else pos
            if max(abs(new_pos[0] - start[0]), abs(new_pos[1] - start[1])) > radius:
                continue
            successors.append((action, (new_pos, step, changed_items, budget)))
        ahead = (pos[0] + face[0], pos[1] + face[1])
        if ahead not in occupied and ahead not in blocked:
            m = material_now(ahead, changed)
            for change in changes:
                if change.before != m or not affordable(change, budget):
                    continue
                if (change.after, change.before) in undo and ahead in changed:
                    continue   # undoing the plan's own change gains nothing
                have = dict(zip(counts, budget))
                for c, delta in change.cost:
                    have[c] += delta
                new_changed = dict(changed)
                new_changed[ahead] = change.after
                successors.append((change.action, (pos, face, frozenset(new_changed.items()),
                                                   tuple(have[c] for c in counts))))
        for action, nxt in successors:
            if nxt in parent:
                continue
            parent[nxt] = (state, action)
            if is_refuge(nxt[0], dict(nxt[2]), nxt[3]):
                plan = []
                while parent[nxt] is not None:
                    before, act = parent[nxt]
                    plan.append((act, nxt[0], nxt[1]))
                    nxt = before
                return plan[::-1]
            queue.append((nxt, d + 1))
    return None
