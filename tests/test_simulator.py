"""The batched simulator (laws.simulator) against the model it compiles and the world it models."""

from __future__ import annotations

import collections
import copy
import math

import numpy as np
import pytest
import torch

from lawsmith.envs.crafter_world import transition
from lawsmith.envs.state import find_player, validate_state
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.clock import Clock, fit_clock
from lawsmith.laws.errors import ModelError
from lawsmith.laws.model import WorldModel
from lawsmith.laws.observables import StateView, changed_observables
from lawsmith.laws.simulator import Simulator, log_prob, resolve_device
from toy_laws import BERRY, facing_bush

CRAFTER_LAWS = open("examples/crafter.law").read()
TOY_LAWS = open("examples/toy.law").read()
# Two proportions differ "beyond chance" when further apart than Z standard errors (with
# ~100 comparisons per test, a false alarm has probability below 1e-3; the seeds are fixed).
Z = 4.5


@pytest.fixture(scope="module")
def crafter_model(crafter_world):
    return WorldModel(CRAFTER_LAWS, crafter_world.schema)


def _random_walk(start: dict, steps: int, actions: list[str], seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    triples, state = [], start
    for _ in range(steps):
        action = actions[int(rng.integers(len(actions)))]
        after = transition(state, action)
        triples.append((state, action, after))
        state = after
    return triples


def test_encode_decode_round_trip(crafter_world, crafter_start, crafter_model):
    sim = Simulator(crafter_model)
    triples = _random_walk(crafter_start, 12, crafter_world.schema["actions"], 0)
    states = [crafter_start] + [t[2] for t in triples]
    assert sim.decode(sim.encode(states)) == states


def test_batched_log_prob_equals_the_model(crafter_world, crafter_start, crafter_model):
    """log P(next | state, action) from tensor states is `WorldModel.log_prob(...).total`."""
    triples = _random_walk(crafter_start, 40, crafter_world.schema["actions"], 1)
    sim = Simulator(crafter_model)
    before = sim.encode([t[0] for t in triples])
    after = sim.encode([t[2] for t in triples])
    batched = log_prob(sim, before, [t[1] for t in triples], after)
    single = torch.tensor([crafter_model.log_prob(*t).total for t in triples], dtype=torch.float64)
    assert torch.allclose(batched, single, rtol=1e-9, atol=1e-6)
    toy = ToyWorld()
    model = WorldModel(TOY_LAWS, toy.schema, {"parameters": {"berry_chance": 0.3}})
    sim = Simulator(model)
    triples = _random_walk_toy(toy, 60)
    batched = log_prob(sim, sim.encode([t[0] for t in triples]), [t[1] for t in triples],
                       sim.encode([t[2] for t in triples]))
    single = torch.tensor([model.log_prob(*t).total for t in triples], dtype=torch.float64)
    assert torch.allclose(batched, single, rtol=1e-9, atol=1e-6)


def _random_walk_toy(world: ToyWorld, steps: int) -> list[tuple]:
    rng = np.random.default_rng(5)
    state, triples = world.reset(4), []
    for _ in range(steps):
        action = world.schema["actions"][int(rng.integers(len(world.schema["actions"])))]
        after = world.transition(state, action)
        triples.append((state, action, after))
        state = after
    return triples


def _changes(before: dict, after: dict, schema: dict) -> set[tuple]:
    """(observable, new value) of every change from `before` to `after` (spawns by cell)."""
    old, new = StateView(before, schema), StateView(after, schema)
    return {(o.name, repr(new.value(o, old))) for o in changed_observables(old, new, schema)}


def _same_distribution(a: list[set], b: list[set]) -> list[str]:
    """Every (observable, value) whose frequency differs between the draws `a` and `b` by more
    than Z standard errors of the difference (an empty list: they agree)."""
    count_a = collections.Counter(x for s in a for x in s)
    count_b = collections.Counter(x for s in b for x in s)
    bad = []
    for key in set(count_a) | set(count_b):
        p, q = count_a[key] / len(a), count_b[key] / len(b)
        pooled = (count_a[key] + count_b[key]) / (len(a) + len(b))
        se = math.sqrt(max(pooled * (1 - pooled), 1 / (len(a) + len(b))) * (1 / len(a) + 1 / len(b)))
        if abs(p - q) > Z * se:
            bad.append(f"{key}: {p:.3f} vs {q:.3f}")
    return bad


def test_batched_sampling_matches_sample_in_distribution(crafter_world, crafter_start,
                                                         crafter_model):
    """From one Crafter state (cows and zombies about, a tree ahead after a few moves), 600
    `sample` draws and 3,000 simulator draws give every change with the same frequency (the noise
    floor included; unexplained changes are off in both)."""
    state = crafter_start
    for action in ["move_left", "move_left", "do"]:
        state = transition(state, action)
    sim = Simulator(crafter_model)
    for action in ["noop", "do", "move_up"]:
        single = [_changes(state, crafter_model.sample(state, action, seed=k, unexplained=False),
                           crafter_world.schema)
                  for k in range(600)]
        generator = torch.Generator().manual_seed(7)
        drawn = sim.decode(sim.step(sim.repeat([state], 3000), [action] * 3000, generator))
        batched = [_changes(state, after, crafter_world.schema) for after in drawn]
        assert any(single), "the state must have something stochastic"
        assert _same_distribution(single, batched) == []
    for sampled in drawn[:10]:
        validate_state(sampled, crafter_world.schema)


def test_same_seed_same_rollout_and_inputs_unchanged(crafter_start, crafter_model):
    sim = Simulator(crafter_model)
    runs = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(3)
        states = sim.repeat([crafter_start], 16)
        encoded = sim.decode(states)
        for t in range(12):
            actions = torch.randint(len(crafter_model.schema["actions"]), (16,), generator=generator)
            states = sim.step(states, actions, generator)
        assert sim.decode(sim.repeat([crafter_start], 16)) == encoded
        runs.append(sim.decode(states))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]   # rows draw independently


def test_spawns_take_free_slots_and_removals_free_them():
    world = ToyWorld()
    laws = """
law lamb "A sheep appears on every free grass cell ahead of the player when it waits."
  when action == noop and material(ahead) == grass and kind_at(ahead) == none
  then spawn sheep at ahead

law eaten "Doing at a sheep removes it."
  for each sheep s
  when action == do and s.pos == ahead
  then remove s
"""
    model = WorldModel(laws, world.schema)
    sim = Simulator(model, noise=False)
    state = facing_bush(world)
    grid = [list(row) for row in state["grid"]]
    grid[3][4] = "."
    state["grid"] = ["".join(row) for row in grid]
    states = sim.encode([state, state])
    states = sim.step(states, ["noop", "do"])
    plain = sim.decode(states)
    lambs = [o for o in plain[0]["objects"] if o["kind"] == "sheep"]
    assert [o["pos"] for o in lambs] == [[4, 3]] and not any(
        o["kind"] == "sheep" for o in plain[1]["objects"])
    assert lambs[0]["id"] == state["engine"].get("next_id", 1 + max(o["id"] for o in state["objects"]))
    assert plain[0]["engine"].get("next_id", lambs[0]["id"] + 1) == lambs[0]["id"] + 1
    validate_state(plain[0], world.schema)
    states = sim.step(states, ["do", "noop"])
    plain = sim.decode(states)
    assert not any(o["kind"] == "sheep" for o in plain[0]["objects"])
    assert [o["pos"] for o in plain[1]["objects"] if o["kind"] == "sheep"] == [[4, 3]]


def test_clock_advances_daylight(crafter_world):
    """The fitted clock finds Crafter's daylight period (300 steps) from two lives and the
    simulator's globals follow it."""
    start = crafter_world.reset(2)
    states, state = [], start
    for _ in range(330):
        states.append(state)
        state = transition(state, "noop")
    clock = fit_clock(states, crafter_world.schema)
    assert clock["period"] == 300
    truth = Clock(clock, ["daylight"])
    assert abs(truth.value("daylight", 301) - states[1]["daylight"]) < 1e-9
    model = WorldModel(CRAFTER_LAWS, crafter_world.schema, {"clock": clock})
    sim = Simulator(model)
    after = sim.decode(sim.step(sim.encode([states[100]]), ["noop"]))[0]
    assert after["step"] == 101 and abs(after["daylight"] - states[101]["daylight"]) < 1e-9
    assert abs(model.sample(states[100], "noop")["daylight"] - states[101]["daylight"]) < 1e-9


def test_bad_input_is_refused_before_any_work(crafter_start, crafter_model):
    sim = Simulator(crafter_model)
    states = sim.encode([crafter_start])
    with pytest.raises(ModelError, match="unknown action 'fly'"):
        sim.step(states, ["fly"])
    with pytest.raises(ModelError, match="unknown action id 99"):
        sim.step(states, torch.tensor([99]))
    with pytest.raises(ModelError, match="expected 1 actions"):
        sim.step(states, ["noop", "noop"])
    broken = copy.deepcopy(crafter_start)
    broken["grid"] = broken["grid"][:10]
    with pytest.raises(ModelError, match="rows"):
        sim.encode([broken])
    broken = copy.deepcopy(crafter_start)
    broken["objects"].append({"id": 999, "kind": "dragon", "pos": [1, 1]})
    with pytest.raises(ModelError, match="unknown kind 'dragon'"):
        sim.encode([broken])
    broken = copy.deepcopy(crafter_start)
    del find_player(broken)["inventory"]["wood"]
    with pytest.raises(ModelError, match="every key"):
        sim.encode([broken])
    with pytest.raises(ModelError, match="at most about"):
        sim.repeat([crafter_start], 10 ** 9)
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA"):
            resolve_device("cuda")


@pytest.mark.slow
def test_random_policy_achievements_match_the_real_game(crafter_world):
    """crafter.law (its written-in values, no fitting; the daylight clock read from the real
    rollouts) against real Crafter: 256 random-policy rollouts of 100 steps from the same 8 start
    states each. For every achievement the unlock rates agree within Z standard errors, and the
    mean number of achievements per rollout within 0.25 (measured: see the issue-12 note)."""
    starts = [crafter_world.reset(100 + s) for s in range(8)]
    actions = crafter_world.schema["actions"]
    rollouts, steps = 256, 100
    rng = np.random.default_rng(0)
    plans = rng.integers(len(actions), size=(rollouts, steps))
    real, seen = [], []
    for r in range(rollouts):
        state = starts[r % len(starts)]
        for t in range(steps):
            state = transition(state, actions[int(plans[r, t])])
            seen.append(state)
            if find_player(state)["inventory"]["health"] <= 0:
                break
        real.append({k for k, v in find_player(state)["achievements"].items() if v > 0})
    model = WorldModel(CRAFTER_LAWS, crafter_world.schema,
                       {"clock": fit_clock(starts + seen, crafter_world.schema)})
    sim = Simulator(model)
    states = sim.encode([starts[r % len(starts)] for r in range(rollouts)])
    generator = torch.Generator().manual_seed(0)
    alive = torch.ones(rollouts, dtype=torch.bool)
    keys = list(crafter_world.schema["kinds"]["player"]["achievements"]["keys"])
    unlocked = torch.zeros((rollouts, len(keys)), dtype=torch.bool)
    for t in range(steps):
        states = sim.step(states, torch.tensor(plans[:, t]), generator)
        now = torch.stack([states.player("achievements", k) > 0 for k in keys], 1)
        unlocked |= now & alive.unsqueeze(1)
        alive &= states.player("inventory", "health") > 0
    imagined = [{k for k, u in zip(keys, row) if u} for row in unlocked.tolist()]
    for key in keys:   # shown with `pytest -s`
        p, q = np.mean([key in s for s in real]), np.mean([key in s for s in imagined])
        if p or q:
            print(f"{key:20s} real {p:.3f}  simulated {q:.3f}")
    print(f"achievements per rollout: real {np.mean([len(s) for s in real]):.2f}, "
          f"simulated {np.mean([len(s) for s in imagined]):.2f}")
    assert _same_distribution(real, imagined) == []
    assert abs(np.mean([len(s) for s in real]) - np.mean([len(s) for s in imagined])) < 0.25
