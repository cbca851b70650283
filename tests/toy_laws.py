"""Laws and states on the toy world shared by the model and fitting tests."""

from __future__ import annotations

from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import ToyWorld

BERRY = """
law pick_berry
  when action == do and material(ahead) == bush
  then player.inventory.berry += 1 with probability berry_chance init 0.3
"""


def facing_bush(world: ToyWorld, seed: int = 0) -> dict:
    """A toy state with the player at (3, 3) facing a bush at (4, 3), no sheep, engine seed `seed`."""
    state = world.reset(0)
    grid = [list(row) for row in state["grid"]]
    grid[3][3], grid[3][4] = ".", "b"
    state["grid"] = ["".join(row) for row in grid]
    state["objects"] = [find_player(state)]
    state["objects"][0].update(pos=[3, 3], facing=[1, 0])
    state["engine"]["seed"] = seed
    return state
