"""Fitting on a CUDA device gives the CPU's answer (skipped where torch sees no GPU)."""

from __future__ import annotations

import pytest
import torch

from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.model import WorldModel
from lawsmith.synth.fit import FitConfig, fit
from toy_laws import BERRY, facing_bush

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_cuda_fit_matches_cpu():
    world = ToyWorld()
    transitions = []
    for seed in range(2000):
        state = facing_bush(world, seed)
        transitions.append((state, "do", world.transition(state, "do")))
    model = WorldModel(BERRY, world.schema)
    results = [fit(model, transitions, FitConfig(steps=100, learning_rate=0.1, device=device))
               for device in ("cpu", "cuda")]
    cpu, gpu = (r.params["parameters"]["berry_chance"] for r in results)
    assert gpu == pytest.approx(cpu, abs=1e-4)
