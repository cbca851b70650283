"""Planning with a model: the Crafter score and its intervals, batched rollouts, strategy ranking
against the true world, MPC."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from envs.state import find_player
from envs.toy_world import ToyWorld
from experiments import planning
from experiments.models import LawModel, TrueModel
from experiments.stats import statistic_ci
from laws.model import WorldModel
from toy_laws import BERRY, facing_bush


@pytest.fixture(scope="module")
def true_model(crafter_world):
    from envs.crafter_world import CrafterWorld
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


def test_batched_rollouts_of_a_law_model_match_one_at_a_time():
    world = ToyWorld()
    model = WorldModel(BERRY, world.schema, {"parameters": {"berry_chance": 0.3}})
    starts = [facing_bush(world, k) for k in range(300)]
    policies = [planning.script("do", "do", "do")] * len(starts)
    calls = []
    batch_of = model.sample_batch
    model.sample_batch = lambda *args, **kw: calls.append(len(args[0])) or batch_of(*args, **kw)
    batched = planning.imagine_rollouts(LawModel(model, "berry", unexplained=False), starts,
                                        policies, 3, seed=1)
    single = planning.imagine_rollouts(Sequential(model), starts, policies, 3, seed=1)
    assert calls == [300, 300, 300]  # one batch per step, not one call per rollout
    berries = [[find_player(states[-1])["inventory"]["berry"] for states in run]
               for run in (batched, single)]
    assert all(len(states) == 3 for states in batched)
    for got in berries:  # 3 tries at 0.3: mean 0.9, standard error 0.8 / sqrt(300) = 0.046
        assert np.mean(got) == pytest.approx(0.9, abs=0.15)


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
    from experiments.models import NullModel

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
