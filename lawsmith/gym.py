"""Gymnasium entry points: `lawsmith/Laws-v0`, a model folder (or WorldModel) as an environment.

    import gymnasium, lawsmith                           # importing lawsmith registers the id
    env = gymnasium.make("lawsmith/Laws-v0", model="models/crafter", max_steps=1000)
    envs = gymnasium.make_vec("lawsmith/Laws-v0", num_envs=64,
                              vectorization_mode="vector_entry_point", model="models/crafter")

(`gymnasium.make("lawsmith:lawsmith/Laws-v0", ...)` imports lawsmith itself. Gymnasium 1.x has
no plugin entry points, so registration happens on `import lawsmith`.)

Start states (`starts=`): a trace or transitions file (the first state of each episode), a list
of plain states, or one state; without it, when the model's world is known (the manifest's
"world", `world=`, or a schema equal to a known world's default schema), that world's
`reset(seed)` for `start_seeds` (default seeds 0..7), generated once per process.
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Any, Sequence

from lawsmith import ENV_ID   # registered on `import lawsmith` (lawsmith/__init__.py)

DEFAULT_START_SEEDS = 8


def make_env(model, starts=None, *, world: str | None = None,
             start_seeds: int | Sequence[int] = DEFAULT_START_SEEDS, reward: Any = "achievements",
             health: Any = "health", max_steps: int | None = 10000, episode=None,
             device: str = "cpu", noise: bool = True, unexplained: bool = False,
             render_mode: str | None = None, max_objects: int | dict = 32, hidden: bool = True,
             cell_pixels: int = 8):
    """A `laws.gym_env.LawsEnv` for a model folder or WorldModel (see the module docstring)."""
    from lawsmith.laws.gym_env import LawsEnv
    loaded, chosen, spec = _prepare(model, starts, world, start_seeds, reward, health, max_steps,
                                    episode)
    return LawsEnv(loaded, chosen, spec, device=device, noise=noise, unexplained=unexplained,
                   render_mode=render_mode, max_objects=max_objects, hidden=hidden,
                   cell_pixels=cell_pixels)


def make_vector_env(num_envs: int = 1, model=None, starts=None, *, world: str | None = None,
                    start_seeds: int | Sequence[int] = DEFAULT_START_SEEDS,
                    reward: Any = "achievements", health: Any = "health",
                    max_steps: int | None = 10000, max_episode_steps: int | None = None,
                    episode=None, device: str = "cpu", noise: bool = True,
                    unexplained: bool = False, render_mode: str | None = None,
                    max_objects: int | dict = 32, hidden: bool = True, cell_pixels: int = 8,
                    autoreset_mode: Any = "NextStep"):
    """A `laws.gym_env.LawsVectorEnv` of `num_envs` rows (`max_episode_steps`, as gymnasium's
    make_vec passes it, is the same as `max_steps`)."""
    from lawsmith.laws.errors import ModelError
    from lawsmith.laws.gym_env import LawsVectorEnv
    if model is None:
        raise ModelError("give model= (a model folder or a WorldModel)", field="model")
    if max_episode_steps is not None:
        max_steps = max_episode_steps
    loaded, chosen, spec = _prepare(model, starts, world, start_seeds, reward, health, max_steps,
                                    episode)
    return LawsVectorEnv(num_envs, loaded, chosen, spec, device=device, noise=noise,
                         unexplained=unexplained, render_mode=render_mode,
                         max_objects=max_objects, hidden=hidden, cell_pixels=cell_pixels,
                         autoreset_mode=autoreset_mode)


def _prepare(model, starts, world, start_seeds, reward, health, max_steps, episode):
    from lawsmith.laws.episodes import EpisodeSpec
    loaded, manifest = load(model)
    chosen = start_states(loaded, starts, world or manifest.get("world"), start_seeds)
    spec = episode or EpisodeSpec(reward=reward, health=health, max_steps=max_steps)
    return loaded, chosen, spec


def load(model) -> tuple[Any, dict]:
    """A WorldModel and its manifest ({} for a WorldModel given as such)."""
    from lawsmith.laws.errors import ModelError
    from lawsmith.laws.folder import load_model
    from lawsmith.laws.model import WorldModel
    if isinstance(model, WorldModel):
        return model, {}
    if isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise ModelError(f"model must be a model folder or a WorldModel, got {type(model).__name__}",
                     field="model")


def start_states(model, starts=None, world: str | None = None,
                 start_seeds: int | Sequence[int] = DEFAULT_START_SEEDS) -> list[dict]:
    """The plain states episodes start from (see the module docstring)."""
    from lawsmith.laws.errors import ModelError
    if isinstance(starts, (str, os.PathLike)):
        return trace_starts(starts, model.schema)
    if isinstance(starts, dict):
        return [starts]
    if starts is not None:
        return list(starts)
    name = world or _known_world(model.schema)
    if name is None:
        raise ModelError("no start states: give starts= (a trace or states), or world= for a "
                         "model whose world lawsmith knows", field="starts")
    seeds = tuple(range(start_seeds)) if isinstance(start_seeds, int) else tuple(start_seeds)
    if not seeds:
        raise ModelError("start_seeds names no seeds", field="start_seeds")
    from lawsmith.envs.worlds import WORLDS
    from lawsmith.laws.folder import check_schema
    if name not in WORLDS:
        raise ModelError(f"no start states: the world {name!r} is not one lawsmith knows "
                         f"({', '.join(WORLDS)}); give starts=", field="starts")
    schema, states = world_starts(name, seeds)
    check_schema(model.schema, schema, f"world {name}")
    return list(states)


def trace_starts(path: str | os.PathLike, schema: dict | None = None) -> list[dict]:
    """The first state of each episode of a trace (a transitions file: its first state)."""
    from lawsmith.envs.errors import TraceError
    from lawsmith.envs.trace import open_trace
    from lawsmith.laws.folder import check_schema
    path = str(path)
    if not pathlib.Path(path).is_file():
        raise TraceError("no such file", path=path)
    reader = open_trace(path)
    if schema is not None:
        check_schema(schema, reader.schema, path)
    if reader.is_transitions:
        first = next(reader.transitions(), None)
        states = [first.state] if first is not None else []
    else:
        states, seen = [], set()
        for step in reader.steps():
            if step.episode not in seen:
                seen.add(step.episode)
                states.append(step.state)
    if not states:
        raise TraceError("no states in the file", path=path)
    return states


@functools.lru_cache(maxsize=8)
def world_starts(name: str, seeds: tuple[int, ...]) -> tuple[dict, tuple[dict, ...]]:
    """A known world's schema and its reset states for `seeds`, made once per process."""
    from lawsmith.envs.worlds import make_world
    world = make_world(name)
    return world.schema, tuple(world.reset(seed) for seed in seeds)


def _known_world(schema: dict) -> str | None:
    """The known world whose default schema this is, if any."""
    from lawsmith.envs.worlds import WORLDS, default_schema
    for name in WORLDS:
        if default_schema(name) == schema:
            return name
    return None
