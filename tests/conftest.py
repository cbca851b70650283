"""Shared fixtures: worlds are costly to reset (Crafter ~0.2 s), so tests share them."""

from __future__ import annotations

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.toy_world import ToyWorld


@pytest.fixture(scope="session")
def crafter_world() -> CrafterWorld:
    return CrafterWorld()


@pytest.fixture(scope="session")
def crafter_start(crafter_world) -> dict:
    """The state of a fresh Crafter world for seed 1."""
    return crafter_world.reset(1)


@pytest.fixture()
def toy_world() -> ToyWorld:
    return ToyWorld()
