"""The pinned opensimplex 0.3 generates the worlds that crafter's default opensimplex 0.4.5.1 does."""

from __future__ import annotations

import json
import pathlib

import pytest

from lawsmith.experiments.worldgen_hashes import world_hash

GOLDEN = pathlib.Path(__file__).parent.parent / "experiments/data/worldgen_hashes_opensimplex_0.4.5.1.json"


@pytest.mark.parametrize("seed", [0, 7, 19])
def test_worlds_match_opensimplex_04(seed):
    golden = json.loads(GOLDEN.read_text())
    assert world_hash(seed, golden["area"]) == golden["hashes"][str(seed)]
