"""The Python and torch back ends agree exactly, on random toy states and on recorded traces."""

from __future__ import annotations

import copy
import pathlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lawsmith.dsl import compile_python, compile_torch, encode_batch, parse
from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.recorder import RandomPolicy, record
from lawsmith.envs.toy_world import ACTIONS, MATERIALS, ToyWorld, toy_schema
from lawsmith.envs.trace import open_trace

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"

# Laws that use every construct of the language, for the toy schema.
EXERCISE = """
law everything_at_once
  when action == do and not (kind_at(ahead) != none or material(ahead) == wall)
   and (player.inventory.berry * 2 - player.inventory.drink >= -3 or step < 5)
  then player.inventory.berry += min(abs(player.inventory.meat - 4), max(1, step - 100))
       material(ahead) = if material(ahead) == bush then grass else material(ahead)
law counting
  when count(sheep s where s.health > 1 and dist(s.pos, player.pos) <= 4) >= 1
   and near(player.pos, water, 2)
  then player.inventory.drink -= 1 with probability 0.25
       spawn sheep at ahead with probability born ~ beta(2, 5)
law crowd
  for each sheep s
  when exists(sheep t where t.pos != s.pos and kind_at(moved(t.pos, t.facing)) == none
              and (t.pos + t.facing).x > s.pos.y - 3)
  then s.pos = choose sheep_step {stay: s.pos, left: moved(s.pos, left), back: moved(s.pos, -s.facing)}
       s.health = if free(s.pos + up) then s.health else 1
       remove s with probability gone init 0.2
law edge "Cells outside the grid: the effect is left out."
  when player.pos.x <= 1
  then material(player.pos + left + left) = water
"""

SCHEMA = toy_schema()
SIZE = SCHEMA["grid"]["width"]


def _agree(program, schema, states, actions) -> int:
    python = compile_python(program, schema)
    torch_laws = compile_torch(program, schema)
    batch = encode_batch(states, actions, schema)
    decoded = torch_laws.decode(batch, torch_laws.predict(batch))
    expected = [python.predict(s, a) for s, a in zip(states, actions)]
    for i, (want, got) in enumerate(zip(expected, decoded)):
        assert got == want, f"state {i}, action {actions[i]}"
    return sum(len(f) for f in expected)


@st.composite
def toy_states(draw):
    codes = list(MATERIALS.values())
    grid = ["".join(draw(st.sampled_from(codes)) for _ in range(SIZE)) for _ in range(SIZE)]
    cells = draw(st.lists(st.tuples(st.integers(0, SIZE - 1), st.integers(0, SIZE - 1)),
                          min_size=1, max_size=5, unique=True))
    direction = st.sampled_from([[-1, 0], [1, 0], [0, -1], [0, 1]])
    items = {k: draw(st.integers(0, 9)) for k in ("berry", "drink", "meat")}
    objects = [{"id": 1, "kind": "player", "pos": list(cells[0]), "facing": draw(direction),
                "inventory": items}]
    for i, cell in enumerate(cells[1:]):
        objects.append({"id": 2 + i, "kind": "sheep", "pos": list(cell), "facing": draw(direction),
                        "health": draw(st.integers(1, 2))})
    state = {"step": draw(st.integers(0, 300)), "grid": grid, "objects": objects,
             "engine": {"seed": 0, "next_id": 2 + len(cells)}}
    return state, draw(st.sampled_from(ACTIONS))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(toy_states(), min_size=1, max_size=12))
def test_back_ends_agree_on_random_toy_states(pairs):
    program = parse((EXAMPLES / "toy.law").read_text() + EXERCISE)
    states, actions = zip(*pairs)
    _agree(program, SCHEMA, list(states), list(actions))


@pytest.fixture(scope="module")
def toy_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.jsonl.gz"
    record(ToyWorld(), RandomPolicy(), path, steps=300, seed=4)
    return open_trace(path)


@pytest.fixture(scope="module")
def crafter_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("crafter") / "crafter.jsonl.gz"
    record(CrafterWorld(), RandomPolicy(), path, steps=150, seed=1)
    return open_trace(path)


def test_back_ends_agree_on_a_toy_trace(toy_trace):
    transitions = list(toy_trace.transitions())
    program = parse((EXAMPLES / "toy.law").read_text() + EXERCISE)
    fired = _agree(program, toy_trace.schema, [t.state for t in transitions],
                   [t.action for t in transitions])
    assert fired > len(transitions)


def test_back_ends_agree_on_a_crafter_trace(crafter_trace):
    transitions = list(crafter_trace.transitions())
    program = parse((EXAMPLES / "crafter.law").read_text())
    fired = _agree(program, crafter_trace.schema, [t.state for t in transitions],
                   [t.action for t in transitions])
    assert fired > len(transitions)


def test_predictions_name_observables_and_parameters(toy_trace):
    program = parse((EXAMPLES / "toy.law").read_text())
    laws = compile_python(program, toy_trace.schema)
    state = next(iter(toy_trace.transitions())).state
    sheep = next(o for o in state["objects"] if o["kind"] == "sheep")
    player = next(o for o in state["objects"] if o["kind"] == "player")
    # Face a bush from a grass cell: the berry law fires with its parameter.
    grid = [list(row) for row in state["grid"]]
    x, y = player["pos"]
    grid[y + 1][x] = "b"
    player = {**player, "facing": [0, 1]}
    objects = [player] + [o for o in state["objects"] if o["kind"] != "player"
                          and o["pos"] != [x, y + 1]]
    state = {**state, "grid": ["".join(r) for r in grid], "objects": objects}
    firings = {f.law: f for f in laws.predict(state, "do")}
    berry = firings["pick_berry"].predictions[0]
    assert berry.observable == "player.inventory.berry"
    assert berry.kind == "bernoulli" and berry.param == "berry_chance"
    assert berry.values == (min(9, player["inventory"]["berry"] + 1), player["inventory"]["berry"])
    walk = [f for f in laws.predict(state, "noop") if f.law == "sheep_walk"]
    assert {f.object_id for f in walk} == {o["id"] for o in objects if o["kind"] == "sheep"}
    assert walk[0].predictions[0].observable.startswith("sheep[")
    assert sheep is not None


def test_caps_apply(toy_trace):
    program = parse("law a then player.inventory.drink += 100\nlaw b then player.inventory.meat -= 5")
    state = next(iter(toy_trace.transitions())).state
    firings = compile_python(program, toy_trace.schema).predict(state, "noop")
    assert firings[0].predictions[0].values == (9,)
    assert firings[1].predictions[0].values == (0,)


def test_back_ends_agree_on_mutated_crafter_states(crafter_trace):
    """Recorded Crafter states with random inventories, a random material ahead and random actions,
    so that every law of crafter.law (crafting, placing, mining...) gets to fire."""
    schema = crafter_trace.schema
    rng = random.Random(0)
    codes = list(schema["materials"].values())
    states, actions = [], []
    for transition in list(crafter_trace.transitions())[:60]:
        for _ in range(8):
            state = copy.deepcopy(transition.state)
            player = next(o for o in state["objects"] if o["kind"] == "player")
            player["inventory"] = {k: rng.randint(0, 9) for k in player["inventory"]}
            player["sleeping"] = rng.random() < 0.2
            grid = [list(row) for row in state["grid"]]
            x, y = player["pos"]
            ahead = (player["facing"][0], player["facing"][1])
            for (dx, dy), choices in [(ahead, codes), ((-1, -1), ["t", "."]), ((1, 1), ["f", "."])]:
                if 0 <= y + dy < len(grid) and 0 <= x + dx < len(grid[0]):
                    grid[y + dy][x + dx] = rng.choice(choices)
            state["grid"] = ["".join(row) for row in grid]
            _add_creatures(state, rng)
            states.append(state)
            actions.append(rng.choice(["do"] * 8 + schema["actions"]))
    program = parse((EXAMPLES / "crafter.law").read_text())
    python = compile_python(program, schema)
    fired = {f.law for s, a in zip(states, actions) for f in python.predict(s, a)}
    assert _agree(program, schema, states, actions) > len(states)
    missing = sorted({law.name for law in program.laws} - fired)
    assert len(fired) >= len(program.laws) - 4, missing


CREATURES = {"cow": {"health": (1, 3)}, "zombie": {"health": (1, 5), "cooldown": (0, 5)},
             "skeleton": {"health": (1, 3), "reload": (0, 4)}, "plant": {"health": (1, 1),
                                                                          "grown": (0, 400)},
             "arrow": {}}


def _add_creatures(state: dict, rng: random.Random) -> None:
    """Up to four creatures of random kinds within 5 cells of the player (hits, chases, strikes,
    arrows in flight), often one ahead, on cells without an object, with random attributes."""
    player = next(o for o in state["objects"] if o["kind"] == "player")
    taken = {tuple(o["pos"]) for o in state["objects"]}
    height, width = len(state["grid"]), len(state["grid"][0])
    next_id = state["engine"]["next_id"]
    for k in range(rng.randint(0, 4)):
        x, y = player["pos"][0] + rng.randint(-5, 5), player["pos"][1] + rng.randint(-5, 5)
        if k == 0 and rng.random() < 0.5:   # one ahead, to be hit
            x, y = player["pos"][0] + player["facing"][0], player["pos"][1] + player["facing"][1]
        if (x, y) in taken or not (0 <= x < width and 0 <= y < height):
            continue
        kind = rng.choice(list(CREATURES))
        record = {"id": next_id, "kind": kind, "pos": [x, y]}
        record.update({attr: rng.randint(*bounds) for attr, bounds in CREATURES[kind].items()})
        if kind == "arrow":
            record["facing"] = rng.choice([[-1, 0], [1, 0], [0, -1], [0, 1]])
        state["objects"].append(record)
        taken.add((x, y))
        next_id += 1
    state["engine"]["next_id"] = next_id


def test_toward_is_crafters():
    """`toward` / `toward_short` give crafter.objects.Object.toward with long_axis True / False."""
    import types

    import numpy as np
    from crafter import objects

    from lawsmith.dsl.compile_py import _toward
    for dx in range(-3, 4):
        for dy in range(-3, 4):
            me = types.SimpleNamespace(pos=np.array((5, 5)))
            for long_axis in (True, False):
                real = objects.Object.toward(me, np.array((5 + dx, 5 + dy)), long_axis)
                assert _toward((5, 5), (5 + dx, 5 + dy), long_axis) == tuple(int(v) for v in real)


def test_back_ends_agree_on_cell_laws(crafter_trace):
    """`for each cell` laws: the cell-free conditions first, then every cell, on both back ends."""
    schema = crafter_trace.schema
    program = parse("""
law appears
  for each cell c
  when mod(step, 3) == 0
   and material(c.pos) == grass
   and kind_at(c.pos) == none
   and dist(c.pos, player.pos) >= 4
   and count(cow o where o.pos.x - mod(o.pos.x, 12) == c.pos.x - mod(c.pos.x, 12)) < 2
  then spawn cow at c.pos with probability appear init 0.01

law paves
  for each cell c
  when action == noop and dist(c.pos, player.pos) <= 1 and not material(c.pos) == water
  then material(c.pos) = path
""")
    transitions = list(crafter_trace.transitions())[:12]
    states = [t.state for t in transitions]
    actions = ["noop" if i % 2 else "do" for i in range(len(states))]
    fired = _agree(program, schema, states, actions)
    assert fired > len(states)   # both laws fire, on several cells
