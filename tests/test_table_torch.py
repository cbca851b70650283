"""The two prediction-table builders (per transition in Python, batched in torch) agree exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lawsmith.envs.recorder import RandomPolicy, run_episode
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws import combine
from lawsmith.laws.model import WorldModel
from lawsmith.laws.table import compact
from lawsmith.laws.table_torch import build_table

SOME_VALUES = {"change": {"grid": 0.002, "cow.pos": 0.3, "player.hunger": 0.9,
                          "sheep.pos": 0.4, "player.pos": 0.05},
               "weights": {"move_left": 0.4, "turn_left": 2.0}}


def _episode(world, steps: int, seed: int, policy=None) -> list:
    collected = []
    previous = {}

    def keep(t, state, action, end):
        if previous:
            collected.append((previous["state"], previous["action"], state))
        previous.update(state=state, action=action)

    run_episode(world, policy or RandomPolicy(), steps, seed, None, keep)
    return collected


def _log_probs(model: WorldModel, table) -> torch.Tensor:
    return combine.transition_log_probs(table, model.probability_tensor(), model.weight_tensor(),
                                        model.change_tensor(table.classes),
                                        model.params["noise_floor"])


def _check_agreement(model: WorldModel, transitions: list) -> None:
    python = model.table(transitions)
    batched = build_table(model.compiled_torch, model.layout, model.codes,
                          [t[0] for t in transitions], [t[1] for t in transitions],
                          [t[2] for t in transitions])
    assert len(python.group_domain) == len(batched.group_domain)
    assert len(python.changed_class) == len(batched.changed_class)
    assert torch.allclose(_log_probs(model, python), _log_probs(model, batched), atol=1e-9, rtol=0)
    eps = model.params["noise_floor"]
    args = (model.probability_tensor(), model.weight_tensor(),
            model.change_tensor(python.classes), eps)
    assert float(combine.total_log_prob(compact(python, eps), *args)) == pytest.approx(
        float(_log_probs(model, python).sum()), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_toy_tables_agree(seed):
    world = ToyWorld()
    model = WorldModel(open("examples/toy.law").read(), world.schema, SOME_VALUES)
    _check_agreement(model, _episode(world, 300, seed))


def test_crafter_tables_agree(crafter_world):
    model = WorldModel(open("examples/crafter.law").read(), crafter_world.schema, SOME_VALUES)
    from lawsmith.envs.worlds import make_policy
    transitions = _episode(crafter_world, 150, 4, make_policy("explorer"))
    random = np.random.default_rng(0)
    # Independent pairs too (not a chain), which the batched builder encodes separately.
    shuffled = [transitions[i] for i in random.permutation(len(transitions))[:40]]
    _check_agreement(model, transitions + shuffled)
