"""Gymnasium environments over world models (laws/gym_env.py, laws/episodes.py, lawsmith/gym.py)."""

from __future__ import annotations

import copy
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import lawsmith  # noqa: F401  (registers lawsmith/Laws-v0)
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.episodes import EpisodeSpec
from lawsmith.laws.errors import ModelError
from lawsmith.laws.gym_env import LawsEnv, LawsVectorEnv
from lawsmith.laws.model import WorldModel
from lawsmith.cli import main
from lawsmith.gym import trace_starts


@pytest.fixture(autouse=True)
def _quiet_unbounded_boxes():
    # The float boxes are unbounded on purpose (every value is inside); gymnasium warns about it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space m.*infinity.*")
        yield


@pytest.fixture(scope="module")
def toy_model() -> WorldModel:
    return WorldModel(open("examples/toy.law").read(), ToyWorld().schema)


@pytest.fixture(scope="module")
def crafter_model(crafter_world) -> WorldModel:
    return WorldModel(open("examples/crafter.law").read(), crafter_world.schema)


@pytest.fixture(scope="module")
def toy_trace(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("toy") / "toy.jsonl.gz"
    assert main(["explore", "--world", "toy", "--steps", "400", "--seed", "5", "--policy",
                 "random", "-o", str(path)]) == 0
    return str(path)


@pytest.fixture(scope="module")
def learned_folder(toy_trace, tmp_path_factory) -> str:
    # A genuinely learned model: one round of the offline learner on a 400-step toy trace
    # (about 10 s), not a fit of the hand-written laws.
    out = tmp_path_factory.mktemp("learned") / "model"
    assert main(["learn", toy_trace, "-o", str(out), "--rounds", "1"]) == 0
    return str(out)


def test_check_env_passes_for_the_hand_written_crafter_laws(crafter_model, crafter_start):
    env = gymnasium.make("lawsmith/Laws-v0", model=crafter_model, starts=[crafter_start],
                         render_mode="rgb_array")
    check_env(env.unwrapped)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    fields = env.unwrapped.player_fields
    assert fields[:4] == ["pos.x", "pos.y", "facing.dx", "facing.dy"]
    assert obs["player"][fields.index("inventory.health")] == 9
    assert "achievements.collect_wood" in fields
    assert env.unwrapped.object_fields["zombie"][:3] == ["alive", "pos.x", "pos.y"]
    assert env.action_space.n == len(crafter_model.schema["actions"])
    frame = env.render()
    assert frame.shape == (64 * 8, 64 * 8, 3) and frame.dtype == np.uint8


def test_check_env_passes_for_a_learned_model_folder(learned_folder):
    # No starts given: the manifest names the toy world, reset for seeds 0..7.
    env = gymnasium.make("lawsmith/Laws-v0", model=learned_folder)
    check_env(env.unwrapped)
    assert env.unwrapped.simulator.model.text.startswith("law ")
    assert env.unwrapped._core.starts.size == 8
    world = ToyWorld()
    _, info = env.reset(seed=1)
    assert env.unwrapped.state()["grid"] == world.reset(info["start"])["grid"]


def test_a_thousand_random_steps_of_the_vector_env_stay_in_the_space(toy_model):
    envs = gymnasium.make_vec("lawsmith/Laws-v0", num_envs=8,
                              vectorization_mode="vector_entry_point", model=toy_model,
                              max_steps=30)
    assert isinstance(envs.unwrapped, LawsVectorEnv)
    obs, _ = envs.reset(seed=0)
    envs.action_space.seed(0)
    assert envs.observation_space.contains(obs)
    truncated_at = []
    for t in range(125):
        obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs), t
        for row in range(8):
            one = {key: value[row] for key, value in obs.items()}
            assert envs.single_observation_space.contains(one)
        assert reward.shape == (8,) and not terminated.any()   # the toy world has no health
        if truncated.any():
            assert truncated.all()
            truncated_at.append(t + 1)
    # 30 steps, then the next step resets (next-step autoreset): episodes of 31 calls.
    assert truncated_at == [30, 61, 92, 123]


def test_same_seed_same_episode(learned_folder):
    def run(seed: int) -> list[dict]:
        env = gymnasium.make("lawsmith/Laws-v0", model=learned_folder)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        seen = [obs]
        for _ in range(40):
            seen.append(env.step(env.action_space.sample())[0])
        return seen

    first, again = run(3), run(3)
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other = run(4)
    assert any(not np.array_equal(a[k], b[k]) for a, b in zip(first, other) for k in a)

    def vector(seed: int):
        envs = gymnasium.make_vec("lawsmith/Laws-v0", num_envs=4,
                                  vectorization_mode="vector_entry_point", model=learned_folder)
        obs, _ = envs.reset(seed=seed)
        actions = np.random.default_rng(0).integers(0, 6, size=(20, 4))
        return [obs] + [envs.step(a)[0] for a in actions]

    for a, b in zip(vector(5), vector(5)):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def _lava_start(state: dict) -> dict:
    """The state with lava just left of the player."""
    state = copy.deepcopy(state)
    x, y = state["objects"][0]["pos"]
    row = list(state["grid"][y])
    row[x - 1] = "!"
    state["grid"][y] = "".join(row)
    return state


def test_stepping_into_lava_terminates_and_the_vector_env_resets(crafter_model, crafter_start):
    start = _lava_start(crafter_start)
    env = LawsEnv(crafter_model, [start], noise=False)
    obs, _ = env.reset(seed=0)
    health = env.player_fields.index("inventory.health")
    assert obs["player"][health] == 9
    left = env.actions.index("move_left")
    obs, reward, terminated, truncated, _ = env.step(left)
    assert terminated and not truncated and obs["player"][health] == 0

    envs = LawsVectorEnv(2, crafter_model, [start], noise=False)
    envs.reset(seed=0)
    noop = envs.actions.index("noop")
    obs, reward, terminated, truncated, _ = envs.step(np.array([left, noop]))
    assert terminated.tolist() == [True, False]
    obs, reward, terminated, truncated, _ = envs.step(np.array([noop, noop]))
    assert not terminated.any() and reward.tolist() == [0.0, 0.0]
    assert obs["player"][0, health] == 9 and envs.unwrapped._steps.tolist() == [0, 2]


def test_same_step_autoreset_reports_the_final_observation(crafter_model, crafter_start):
    start = _lava_start(crafter_start)
    envs = LawsVectorEnv(2, crafter_model, [start], noise=False, autoreset_mode="SameStep")
    envs.reset(seed=0)
    left, noop = envs.actions.index("move_left"), envs.actions.index("noop")
    obs, _, terminated, _, infos = envs.step(np.array([left, noop]))
    health = envs.player_fields.index("inventory.health")
    assert terminated.tolist() == [True, False] and infos["_final_obs"].tolist() == [True, False]
    assert infos["final_obs"]["player"][0, health] == 0 and obs["player"][0, health] == 9


def test_achievement_reward_counts_first_unlocks(crafter_model, crafter_start):
    env = LawsEnv(crafter_model, [crafter_start], noise=False)
    env.reset(seed=0)
    before = env._states
    after = copy.deepcopy(env.state())
    after["objects"][0]["achievements"]["collect_wood"] = 1
    after["objects"][0]["achievements"]["wake_up"] = 2
    encoded = env.simulator.encode([after])
    assert env.episodes.reward(before, encoded).tolist() == [2.0]
    assert env.episodes.reward(encoded, encoded).tolist() == [0.0]
    assert env.episodes.health_field == ("inventory", "health")
    none = EpisodeSpec(reward=None, health=None).bind(crafter_model.schema)
    assert none.reward(before, encoded).tolist() == [0.0]
    assert none.terminated(before, encoded).tolist() == [False]


def test_episode_conventions_on_a_world_without_health_or_achievements(toy_model):
    schema = toy_model.schema
    episodes = EpisodeSpec().bind(schema)   # defaults the schema lacks: no such signal
    assert episodes.achievements == [] and episodes.health_field is None
    with pytest.raises(ModelError, match="no attribute"):
        EpisodeSpec(reward="trophies").bind(schema)
    with pytest.raises(ModelError, match="health"):
        EpisodeSpec(health="inventory.vigour").bind(schema)
    with pytest.raises(ModelError, match="max_steps"):
        EpisodeSpec(max_steps=0).bind(schema)
    # Another counts attribute as the reward, a counts key as health, a callable rule.
    assert EpisodeSpec(reward="inventory").bind(schema).achievements == ["berry", "drink", "meat"]
    assert EpisodeSpec(health="inventory.drink").bind(schema).health_field == ("inventory",
                                                                              "drink")
    world = ToyWorld()
    env = LawsEnv(toy_model, [world.reset(0)], EpisodeSpec(
        reward=lambda before, after: after.player("pos")[:, 0].float(),
        health=lambda before, after: after.step >= 3, max_steps=None))
    obs, _ = env.reset(seed=0)
    results = [env.step(0) for _ in range(3)]
    assert results[0][1] == obs["player"][0] and [r[2] for r in results] == [False, False, True]
    assert not any(r[3] for r in results)


def test_objects_nearest_the_player_first_and_capped(toy_model):
    world = ToyWorld()
    state = world.reset(0)   # player (4, 4); sheep at (5, 2) and (3, 1)
    env = LawsEnv(toy_model, [state], max_objects=1)
    obs, _ = env.reset(seed=0)
    assert obs["sheep"].shape == (1, 6)
    assert obs["sheep"][0].tolist() == [1.0, 5.0, 2.0, 0.0, 1.0, 2.0]
    wide = LawsEnv(toy_model, [state], max_objects={"sheep": 4}, hidden=False)
    obs, _ = wide.reset(seed=0)
    assert obs["sheep"][:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert obs["sheep"][1, 1:3].tolist() == [3.0, 1.0] and not obs["sheep"][2:].any()
    assert obs["grid"].dtype == np.int8 and obs["globals"].tolist() == [0.0]
    assert wide.global_fields == ["step"]


def test_starts_from_a_trace_are_each_episodes_first_state(toy_model, toy_trace):
    starts = trace_starts(toy_trace, toy_model.schema)
    assert len(starts) == 1 and starts[0]["step"] == 0
    env = gymnasium.make("lawsmith/Laws-v0", model=toy_model, starts=toy_trace)
    env.reset(seed=0)
    assert env.unwrapped.state()["grid"] == starts[0]["grid"]


def test_bad_inputs_are_model_errors(toy_model, tmp_path):
    state = ToyWorld().reset(0)
    with pytest.raises(ModelError, match="unknown device"):
        LawsEnv(toy_model, [state], device="bogus")
    with pytest.raises(ModelError, match="no start states"):
        LawsEnv(toy_model, [])
    with pytest.raises(ModelError, match="render mode"):
        LawsEnv(toy_model, [state], render_mode="human")
    with pytest.raises(ModelError, match="num_envs"):
        LawsVectorEnv(0, toy_model, [state])
    with pytest.raises(ModelError, match="not a model folder"):
        gymnasium.make("lawsmith/Laws-v0", model=str(tmp_path / "missing"))
    env = LawsEnv(toy_model, [state])
    env.reset(seed=0)
    with pytest.raises(ModelError, match="action"):
        env.step(99)
    bad = copy.deepcopy(state)
    bad["grid"][0] = "?" * 8
    with pytest.raises(ModelError):
        LawsEnv(toy_model, [bad])
    assert torch.equal(env._core.starts.step, torch.tensor([0]))
