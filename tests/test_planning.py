"""Planning with a model: the Crafter score and its intervals, batched rollouts, strategy ranking
against the true world, MPC."""

from __future__ import annotations

import copy
import math
import pathlib

import numpy as np
import pytest

from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.experiments import planning
from lawsmith.experiments.models import LawModel, TrueModel
from lawsmith.experiments.stats import statistic_ci
from lawsmith.laws.model import WorldModel
from lawsmith.laws.simulator import Simulator
from toy_laws import BERRY, facing_bush


@pytest.fixture(scope="module")
def true_model(crafter_world):
    from lawsmith.envs.crafter_world import CrafterWorld
    return TrueModel(CrafterWorld())


@pytest.fixture(scope="module")
def cases(crafter_world):
    return planning.situations(crafter_world, seed=1)


def test_crafter_score_known_values():
    assert planning.crafter_score([0.0] * 22) == 0.0
    assert planning.crafter_score([100.0] * 22) == pytest.approx(100.0)
    rates = [0.0] * 20 + [100.0, 50.0]
    expected = math.exp((math.log(101) + math.log(51)) / 22) - 1
    assert planning.crafter_score(rates) == pytest.approx(expected)


def test_pair_order_and_tau():
    assert planning.order([1.0, 0.0, 0.9], tie=0.2) == [1, 0, -1]
    assert planning.kendall_tau_b([1, 1, 1], [1, 1, 1]) == 1.0
    assert planning.kendall_tau_b([1, -1], [-1, 1]) == -1.0
    assert math.isnan(planning.kendall_tau_b([0, 0], [1, 0]))


def test_bootstrap_interval_on_hand_made_numbers():
    assert statistic_ci(np.full(20, 3.0)) == [3.0, 3.0]
    low, high = statistic_ci(np.array([0.0, 1.0] * 10))
    half = 1.96 * math.sqrt(0.25 / 20)  # the normal interval of a mean of 20 fair coin flips
    assert low == pytest.approx(0.5 - half, abs=0.05)
    assert high == pytest.approx(0.5 + half, abs=0.05)
    assert statistic_ci(np.array([0.0, 1.0] * 10)) == [low, high]  # seeded


def test_score_interval_and_paired_gain():
    table = np.zeros((20, 22))
    table[:10, 0] = 1.0  # one achievement unlocked in half of the episodes
    assert planning.score_of(table) == pytest.approx(planning.crafter_score([50.0] + [0.0] * 21))
    low, high = statistic_ci(table, planning.score_of)
    assert low < planning.score_of(table) < high
    assert statistic_ci(np.ones((20, 22)), planning.score_of) == pytest.approx(
        [100.0, 100.0])
    agent, baseline = {"unlocked": [["a", "b"], ["a"]] * 10}, {"unlocked": [["a"], []] * 10}
    assert planning.gain_ci95(agent, baseline) == [1.0, 1.0]


class Sequential:
    """A law model seen only through `sample` (so `imagine` steps it one transition at a time)."""

    def __init__(self, model: WorldModel):
        self.model_only = model

    def sample(self, state, action, seed):
        return self.model_only.sample(state, action, seed, unexplained=False)


@pytest.fixture()
def step_sizes(monkeypatch):
    """The batch size of every `Simulator.step` call made during the test."""
    sizes = []
    step = Simulator.step

    def counted(self, states, actions, generator=None):
        sizes.append(states.size)
        return step(self, states, actions, generator)

    monkeypatch.setattr(Simulator, "step", counted)
    return sizes


@pytest.fixture(scope="module")
def crafter_laws(crafter_world):
    """The hand-written Crafter laws, unfitted, as planning's law model."""
    text = open(pathlib.Path(__file__).parent.parent / "examples" / "crafter.law").read()
    return LawModel(WorldModel(text, crafter_world.schema), "handwritten", unexplained=False)


def test_simulated_rollouts_of_a_law_model_match_one_at_a_time(step_sizes):
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema, {"parameters": {"berry_chance": 0.3}})
    starts = [facing_bush(world, k) for k in range(300)]
    policies = [planning.script("do", "do", "do")] * len(starts)
    law_model = LawModel(model, "berry", unexplained=False)
    batched = planning.imagine_rollouts(law_model, starts, policies, 3, seed=1)
    assert step_sizes == [300, 300, 300]  # one simulator step per imagined step, not per rollout
    ends = planning.imagine_ends(law_model, starts, policies, 3, seed=1)
    assert step_sizes[3:] == [300, 300, 300]
    single = planning.imagine_rollouts(Sequential(model), starts, policies, 3, seed=1)
    assert len(step_sizes) == 6  # `sample` is not the simulator
    berries = [[find_player(states[-1])["inventory"]["berry"] for states in run]
               for run in (batched, single)]
    berries.append([find_player(end)["inventory"]["berry"] for end in ends])
    assert all(len(states) == 3 for states in batched)
    for got in berries:  # 3 tries at 0.3: mean 0.9, standard error 0.8 / sqrt(300) = 0.046
        assert np.mean(got) == pytest.approx(0.9, abs=0.15)
    again = planning.imagine_ends(law_model, starts, policies, 3, seed=1)
    other = planning.imagine_ends(law_model, starts, policies, 3, seed=2)
    assert again == ends and other != ends  # seeded


def test_mpc_plan_of_a_law_model_steps_all_rollouts_at_once(crafter_laws, crafter_world,
                                                            crafter_start, step_sizes):
    assert planning.ROLLOUTS >= 256
    plans = [planning.plan(crafter_laws, crafter_start, crafter_world.actions,
                           np.random.default_rng(3), horizon=2) for _ in range(2)]
    # one step of all the decision's rollouts per imagined step
    assert step_sizes == [planning.ROLLOUTS] * 2 * 2
    assert plans[0] == plans[1] and len(plans[0]) == 2  # deterministic for a seed
    assert set(plans[0]) <= set(crafter_world.actions)


def test_tensor_objective_matches_the_objective_of_states(crafter_laws, crafter_start):
    def changed(state, health=None, **achievements):
        state = copy.deepcopy(state)
        player = find_player(state)
        player["achievements"].update(achievements)
        if health is not None:
            player["inventory"]["health"] = health
        return state

    now = changed(crafter_start, collect_wood=1)
    health = find_player(now)["inventory"]["health"]
    later = changed(now, collect_sapling=1)
    trajectories = [
        [now, now, now],                                      # nothing new
        [now, later, changed(later, health - 2)],             # one achievement, health lost
        [now, changed(later, 0), changed(later, 5, place_table=1)],  # dies at step 1
        [later, later, changed(later, health + 1, eat_cow=2)],  # two achievements, health gained
        [changed(now, 0)] * 3,                                # dies at once
    ]
    sim = planning.simulator_of(crafter_laws)
    objective = planning.TensorObjective(now, sim.repeat([now], len(trajectories)))
    for t in range(3):
        objective.add(sim.encode([states[t] for states in trajectories]), t)
    expected = [planning.objective(now, states) for states in trajectories]
    assert objective.values().tolist() == pytest.approx(expected)
    assert expected[1] == pytest.approx(planning.DISCOUNT - 2 * planning.HEALTH_WEIGHT)


def test_strategy_ranking_of_a_law_model_mixes_scripts_and_closed_loop(crafter_laws,
                                                                       crafter_world, cases,
                                                                       step_sizes):
    (fight,) = [c for c in cases if c.name == "zombie_fight"]  # two hunts and a script
    scores = planning.strategy_scores(crafter_laws, fight, trials=3, seed=1)
    assert len(step_sizes) <= fight.steps and set(step_sizes) == {9}
    assert [len(s) for s in scores] == [3, 3, 3]
    assert scores[2] == [0.0, 0.0, 0.0]  # walking away defeats nothing
    assert scores == planning.strategy_scores(crafter_laws, fight, trials=3, seed=1)


def test_situations_load_and_strategies_are_valid(crafter_world, cases):
    assert len(cases) >= 4 and all(len(c.strategies) >= 2 for c in cases)
    for case in cases:
        for strategy in case.strategies:
            state = planning.start_of(case, strategy)
            crafter_world.load(state)
            assert strategy.policy(state, 0) in crafter_world.actions


def test_true_world_agrees_with_itself(crafter_world, true_model, cases):
    rows = planning.rank_strategies(true_model, true_model, crafter_world, trials=2, seed=1,
                                    cases=[c for c in cases if c.name in ("mine_stone", "drink")])
    assert all(row["agree"] for row in rows)
    mine = rows[0]
    assert mine["true"] == [1.0, 0.0]  # a pickaxe first gives stone; digging bare does not


def test_objective_counts_new_achievements_and_death(crafter_start):
    later = copy.deepcopy(crafter_start)
    find_player(later)["achievements"]["collect_wood"] = 1
    assert planning.objective(crafter_start, [crafter_start, later]) == pytest.approx(
        planning.DISCOUNT)
    dead = copy.deepcopy(later)
    find_player(dead)["inventory"]["health"] = 0
    assert planning.objective(crafter_start, [dead]) == pytest.approx(1 - planning.DEATH_COST)


def test_action_sequences_are_runs_from_the_first_action():
    rng = np.random.default_rng(0)
    actions = ["a", "b", "c"]
    for _ in range(20):
        sequence = planning.action_sequence("b", actions, horizon=7, max_run=3, rng=rng)
        assert len(sequence) == 7 and sequence[0] == "b" and set(sequence) <= set(actions)
    assert planning.action_sequence("a", actions, 5, 1, rng)[0] == "a"


def test_mpc_with_true_model_acts_and_is_deterministic(crafter_world, crafter_start, true_model):
    sequence = planning.plan(true_model, crafter_start, crafter_world.actions,
                             np.random.default_rng(0), horizon=3, rollouts=17)
    assert len(sequence) == 3 and set(sequence) <= set(crafter_world.actions)
    runs = [planning.mpc_episodes(true_model, crafter_world, steps=5, seed=5, horizon=3,
                                  rollouts=17, replan=2, starts=[crafter_start])
            for _ in range(2)]
    assert runs[0]["steps"] == 5 and runs[0]["episodes"] == 1
    assert set(runs[0]["actions"][0]) <= set(crafter_world.actions)
    assert runs[0]["actions"] == runs[1]["actions"]
    assert runs[0]["score"] == runs[1]["score"]


def test_imagine_keeps_attributes_a_model_left_without_value(crafter_start):
    class Blank:
        def sample(self, state, action, seed):
            after = copy.deepcopy(state)
            find_player(after)["thirst"] = None
            find_player(after)["achievements"]["wake_up"] = None
            return after

    (after,) = planning.imagine(Blank(), [crafter_start], ["noop"], 0)
    after, before = find_player(after), find_player(crafter_start)
    assert after["thirst"] == before["thirst"]
    assert after["achievements"]["wake_up"] == before["achievements"]["wake_up"]


def test_evaluate_reports_intervals_and_seconds(crafter_world, capsys):
    from lawsmith.experiments.models import NullModel

    result = planning.evaluate([NullModel(crafter_world.schema)], crafter_world, trials=2,
                               episodes=2, steps=4, horizon=2, rollouts=17, replan=2)
    agents = result["agents"]
    assert list(agents) == ["random", "MPC Null", "MPC True"]
    for agent in agents.values():
        assert agent["episodes"] == 2
        low, high = agent["unlocked_ci95"]
        assert low <= agent["unlocked_mean"] <= high
        assert agent["score_ci95"][0] <= agent["score"] <= agent["score_ci95"][1]
    assert "gain_ci95" in agents["MPC True"] and "gain_ci95" not in agents["random"]
    assert set(result["seconds"]) == {"ranking Null", "random", "MPC Null", "MPC True"}
    assert all(len(row["true_ci95"]) == len(row["strategies"]) for row in result["ranking"]["Null"])
    planning.print_ranking("Null", result["ranking"]["Null"])
    planning.print_mpc(agents, 4)
    assert "unlocked/ep" in capsys.readouterr().out
