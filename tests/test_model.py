"""The world model: product-of-experts normalisation, log_prob vs batch, sampling, model folders."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from lawsmith.envs.state import find_player, validate_state
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.errors import ModelError
from lawsmith.laws.folder import load_model, save_model
from lawsmith.laws.model import WorldModel
from toy_laws import BERRY, facing_bush

# Two laws that disagree about the facing after move_left: a product of experts decides.
FACING = """
law turn_left
  when action == move_left
  then player.facing = left

law turn_maybe
  when action == move_left
  then player.facing = choose turn { l: left, r: right, u: up } init (0.5, 0.3, 0.2)
"""


def test_product_of_experts_is_normalised_over_the_domain():
    world = ToyWorld()
    model = WorldModel(FACING, world.schema, {"weights": {"turn_left": 0.7, "turn_maybe": 1.6}})
    state = world.reset(3)
    total, per_value = 0.0, {}
    for facing in [[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]]:
        after = world.transition(state, "move_left")
        find_player(after)["facing"] = facing
        terms = {t.observable: t for t in model.log_prob(state, "move_left", after).predicted}
        term = terms["player.facing"]
        assert set(term.laws) == {"turn_left", "turn_maybe"}
        per_value[tuple(facing)] = math.exp(term.log_prob)
        total += per_value[tuple(facing)]
    assert total == pytest.approx(1.0, abs=1e-9)
    assert max(per_value, key=per_value.get) == (-1, 0)


def test_batch_and_single_log_probs_agree():
    world = ToyWorld()
    model = WorldModel(BERRY + FACING, world.schema)
    state = world.reset(1)
    random = np.random.default_rng(0)
    transitions = []
    for _ in range(40):
        action = world.actions[int(random.integers(len(world.actions)))]
        after = world.transition(state, action)
        transitions.append((state, action, after))
        state = after
    batch = model.log_prob_batch(transitions)
    single = [model.log_prob(*t).total for t in transitions]
    assert torch.allclose(batch, torch.tensor(single, dtype=torch.float64), atol=1e-9)


def test_law_mask_turns_a_prediction_into_an_unexplained_one():
    from lawsmith.laws import combine
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema)
    state = facing_bush(world)
    table = model.table([(state, "do", world.transition(state, "do"))])
    args = (table, model.probability_tensor(), model.weight_tensor(),
            model.change_tensor(table.classes))
    without = combine.transition_log_probs(*args, law_mask=torch.tensor([False]))
    bare = WorldModel("", world.schema)
    expected = bare.log_prob(state, "do", world.transition(state, "do")).total
    assert float(without) == pytest.approx(expected, abs=1e-9)


def test_sample_follows_the_fitted_probability_and_seed():
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema, {"parameters": {"berry_chance": 0.3}})
    state = facing_bush(world)
    berries = [find_player(model.sample(state, "do", seed=s, unexplained=False))["inventory"]["berry"]
               for s in range(2000)]
    assert abs(np.mean(berries) - 0.3) < 0.04
    assert model.sample(state, "do", seed=5) == model.sample(state, "do", seed=5)
    sampled = model.sample(state, "do", seed=1, unexplained=False)
    assert sampled["step"] == state["step"] + 1 and sampled["grid"] == state["grid"]


def test_model_folder_round_trip(tmp_path):
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema, {"parameters": {"berry_chance": 0.25},
                                             "change": {"grid": 0.001}})
    save_model(tmp_path / "m", model, {"fit": {"train_nll": 1.5}})
    loaded, manifest = load_model(tmp_path / "m")
    assert loaded.params == model.params and loaded.text.strip() == model.text.strip()
    assert manifest["fit"]["train_nll"] == 1.5 and manifest["schema"] == world.schema


def test_broken_model_folders_give_model_errors(tmp_path):
    world = ToyWorld()
    save_model(tmp_path / "m", WorldModel(BERRY, world.schema), {})
    params = tmp_path / "m" / "params.json"
    good = params.read_text()
    params.write_text("{not json")
    with pytest.raises(ModelError, match="corrupt JSON") as caught:
        load_model(tmp_path / "m")
    assert caught.value.path.endswith("params.json")
    values = json.loads(good)
    values["parameters"]["berry_chance"] = 1.7
    params.write_text(json.dumps(values))
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / "m")
    assert caught.value.field == "parameters.berry_chance"
    (tmp_path / "m" / "manifest.json").unlink()
    with pytest.raises(ModelError, match="missing file"):
        load_model(tmp_path / "m")


def test_failed_save_leaves_the_old_folder(tmp_path):
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema)
    save_model(tmp_path / "m", model, {"fit": {"train_nll": 1.0}})
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    broken = copy.copy(model)
    broken.params = {**model.params, "noise_floor": float("nan")}
    with pytest.raises(ModelError, match="non-finite"):
        save_model(tmp_path / "m", broken, {})
    after = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    assert after == before


def test_sample_batch_draws_from_the_same_model():
    world = ToyWorld()
    model = WorldModel(BERRY + FACING, world.schema, {"parameters": {"berry_chance": 0.3}})
    states = [facing_bush(world, seed) for seed in range(2000)]
    batch = model.sample_batch(states, ["do"] * len(states), seed=3)
    assert abs(np.mean([find_player(s)["inventory"]["berry"] for s in batch]) - 0.3) < 0.04
    for sampled in batch[:20]:
        validate_state(sampled, world.schema)
    start = world.reset(2)
    moved = model.sample_batch([start, start], ["move_left", "noop"], seed=0)
    single = model.sample(start, "move_left", seed=0, unexplained=False)
    assert find_player(moved[0])["facing"] == find_player(single)["facing"] == [-1, 0]
    assert moved[1]["objects"] == start["objects"] and moved[1]["step"] == start["step"] + 1
    assert model.sample_batch(states[:50], ["do"] * 50, seed=9) == model.sample_batch(
        states[:50], ["do"] * 50, seed=9)


# A sheep's step and its facing drawn with one parameter in two laws: a rollout must keep them
# consistent (the facing says which way it went), while each marginal is the parameter's.
STEP_AND_FACE = """
law sheep_steps
  for each sheep s
  then s.pos = choose sheep_way { east: s.pos + right, south: s.pos + down } init (0.3, 0.7)

law sheep_faces
  for each sheep s
  then s.facing = choose sheep_way { east: right, south: down }
"""


def test_effects_sharing_a_parameter_are_drawn_together():
    world = ToyWorld()
    model = WorldModel(STEP_AND_FACE, world.schema)
    state = world.reset(3)
    sheep = [o for o in state["objects"] if o["kind"] == "sheep"]
    assert sheep
    single = [model.sample(state, "noop", seed=s, unexplained=False) for s in range(300)]
    batched = model.sample_batch([state] * 300, ["noop"] * 300, seed=1)
    east = []
    for sample in single + batched:
        for old in sheep:
            new = next(o for o in sample["objects"] if o["id"] == old["id"])
            went_east = new["pos"] == [old["pos"][0] + 1, old["pos"][1]]
            faces_east = new["facing"] == [1, 0]
            # the noise floor (eps) may draw either one afresh, rarely
            east.append((went_east, faces_east))
    agree = np.mean([a == b for a, b in east])
    assert agree > 0.98, agree
    assert abs(np.mean([a for a, _ in east]) - 0.3) < 0.06
