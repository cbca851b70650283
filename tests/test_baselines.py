"""The evaluation's baselines: PoE-World inference (always-active experts, global weights) and no
parameter inference, and where they find a model's training data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lawsmith.dsl import compile_python, compile_torch, encode_batch, parse, resolve
from lawsmith.dsl.activation import always_active
from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.experiments.baselines import BaselineDataError, no_inference, poe_world, training_trace
from lawsmith.laws.model import WorldModel
from toy_laws import BERRY, facing_bush

LAWS = BERRY + """
law cut_bush
  when action == do and material(ahead) == bush and player.inventory.berry >= 2
  then material(ahead) = grass

law hit_sheep
  for each sheep s
  when action == do and s.pos == player.pos + player.facing
  then s.health -= 1

law sheep_eaten
  for each sheep s
  when action == do and s.pos == player.pos + player.facing and s.health <= 1
  then remove s
"""


def _predictions(program, schema, state, action):
    return {(f.law, f.object_id): f.predictions
            for f in compile_python(program, schema).predict(state, action)}


def test_always_active_keeps_the_value_where_the_condition_is_false():
    world = ToyWorld()
    state = facing_bush(world)
    program = always_active(resolve(parse(LAWS), world.schema))
    # `move_left`: no law's condition holds, yet every law speaks, predicting no change.
    fired = _predictions(program, world.schema, state, "move_left")
    player = find_player(state)
    (berry,) = fired[("pick_berry", None)]
    assert berry.observable == "player.inventory.berry"
    assert set(berry.values) == {player["inventory"]["berry"]}
    (cell,) = fired[("cut_bush", None)]
    assert cell.observable == "grid[4,3]" and cell.values == ("bush",)
    # Where the condition holds, the law predicts what it says.
    state["objects"][0]["inventory"]["berry"] = 2
    fired = _predictions(program, world.schema, state, "do")
    assert fired[("cut_bush", None)][0].values == ("grass",)
    assert fired[("pick_berry", None)][0].values == (3, 2)


def test_always_active_object_laws_speak_for_every_object_and_back_ends_agree():
    world = ToyWorld()
    state = world.reset(1)
    sheep = [o for o in state["objects"] if o["kind"] == "sheep"]
    assert sheep
    program = always_active(resolve(parse(LAWS), world.schema))
    fired = _predictions(program, world.schema, state, "noop")
    for s in sheep:
        (health,) = fired[("hit_sheep", s["id"])]
        assert health.values == (s["health"],)
        (exists,) = fired[("sheep_eaten", s["id"])]
        assert exists.values == (True,)
    torch_laws = compile_torch(program, world.schema)
    batch = encode_batch([state, facing_bush(world)], ["noop", "do"], world.schema)
    decoded = torch_laws.decode(batch, torch_laws.predict(batch))
    for decoded_state, (s, a) in zip(decoded, [(state, "noop"), (facing_bush(world), "do")]):
        assert decoded_state == compile_python(program, world.schema).predict(s, a)


def test_global_weights_temper_a_lone_expert():
    world = ToyWorld()
    state = facing_bush(world)
    after = world.transition(state, "do")
    find_player(after)["inventory"]["berry"] = find_player(state)["inventory"]["berry"] + 1
    ours = WorldModel(BERRY, world.schema, {"weights": {"pick_berry": 0.3}})
    poe = WorldModel(BERRY, world.schema, {"weights": {"pick_berry": 0.3}}, poe_world=True)
    plain = WorldModel(BERRY, world.schema)
    # In lawsmith a lone law speaks for itself: its weight does not matter.
    assert ours.log_prob(state, "do", after).total == pytest.approx(
        plain.log_prob(state, "do", after).total)
    # In PoE-World every expert is weighted, alone or not.
    assert poe.log_prob(state, "do", after).total != pytest.approx(
        plain.log_prob(state, "do", after).total)
    # Batched and one-by-one agree in PoE-World mode too.
    assert float(poe.log_prob_batch([(state, "do", after)])[0]) == pytest.approx(
        poe.log_prob(state, "do", after).total)


def _trace(world, steps=400, seed=0):
    """A random walk in the toy world, as (state, action, next_state) triples."""
    rng = np.random.default_rng(seed)
    transitions, state = [], world.reset(seed)
    for _ in range(steps):
        action = world.schema["actions"][int(rng.integers(len(world.schema["actions"])))]
        transitions.append((state, action, world.transition(state, action)))
        state = transitions[-1][2]
    return transitions


def test_poe_world_fits_weights_only_and_no_inference_fits_nothing():
    world = ToyWorld()
    data = _trace(world)
    model = WorldModel(LAWS, world.schema)
    poe = poe_world(model, data, seed=0)
    assert poe.poe_world
    assert poe.params["parameters"]["berry_chance"] == pytest.approx(0.3)   # the text's value
    assert any(abs(w - 1.0) > 1e-3 for w in poe.params["weights"].values())
    plain = no_inference(model, data)
    assert not plain.poe_world
    assert set(plain.params["weights"].values()) == {1.0}
    assert plain.params["parameters"]["berry_chance"] == pytest.approx(0.3)
    assert plain.params["change"]   # change rates from the data


def test_training_trace_from_the_manifest_or_the_flag(tmp_path):
    from lawsmith.laws.folder import file_sha256
    trace = tmp_path / "t.jsonl"
    trace.write_text("x\n")
    manifest = {"data": {"trace": str(trace), "sha256": file_sha256(trace)}}
    assert training_trace(tmp_path, manifest) == str(trace)
    trace.write_text("changed\n")
    with pytest.raises(BaselineDataError, match="--baseline-trace"):
        training_trace(tmp_path, manifest)
    assert training_trace(tmp_path, manifest, given="other.jsonl") == "other.jsonl"
    with pytest.raises(BaselineDataError, match="names no training trace"):
        training_trace(tmp_path, json.loads("{}"))
