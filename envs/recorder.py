"""Recording a trace: a policy acts in a world, and every step goes to a trajectory file."""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from lawsmith.envs.trace import TraceWriter, make_header


class Policy(Protocol):
    """What the recorder drives. Policies see only the state (no reward, no goal)."""

    name: str

    def reset(self, seed: int, schema: dict) -> None: ...

    def act(self, state: dict) -> str: ...

    def observe(self, state: dict, action: str, next_state: dict) -> None: ...


class RandomPolicy:
    """Uniformly random actions (the baseline the explorer is measured against)."""

    name = "random"

    def reset(self, seed: int, schema: dict) -> None:
        self._random = np.random.default_rng(seed)
        self._actions = list(schema["actions"])

    def act(self, state: dict) -> str:
        return self._actions[int(self._random.integers(len(self._actions)))]

    def observe(self, state: dict, action: str, next_state: dict) -> None:
        pass


def run_episode(world, policy: Policy, steps: int, seed: int, start: dict | None = None,
                on_step: Callable[[int, dict, str | None, str | None], None] | None = None) -> int:
    """One life: act from `start` (or a fresh world for `seed`) until death or `steps` actions.

    `on_step(t, state, action, end)` is called for every state, the last with action None and
    `end` 'dead' or 'steps'. Returns the number of actions taken.
    """
    if start is None:
        state = world.reset(seed)
    else:
        world.load(start)
        state = world.export()
    policy.reset(seed, world.schema)
    for t in range(steps):
        action = policy.act(state)
        if on_step:
            on_step(t, state, action, None)
        next_state, end = world.step(action)
        policy.observe(state, action, next_state)
        state = next_state
        if end:
            if on_step:
                on_step(t + 1, state, None, end)
            return t + 1
    if on_step:
        on_step(steps, state, None, "steps")
    return steps


def record(world, policy: Policy, path: str, steps: int, seed: int, start: dict | None = None,
           progress: Callable[[int], None] | None = None,
           on_step: Callable[[int, dict, str | None, str | None], None] | None = None) -> int:
    """Record one episode to `path` (atomically); the same arguments give the same bytes.
    `on_step` is called as in `run_episode`, after each line is written."""
    header = make_header(world.name, world.schema, config={**world.config(), "seed": seed},
                         rules=getattr(world, "rules", None),
                         recorder={"policy": policy.name, "steps": steps})
    with TraceWriter(path, header) as writer:
        def write(t: int, state: dict, action: str | None, end: str | None) -> None:
            writer.write_step(0, t, state, action, end)
            if on_step:
                on_step(t, state, action, end)
            if progress and action is not None:
                progress(t + 1)
        return run_episode(world, policy, steps, seed, start, write)


def record_lives(world, policy: Policy, path: str, transitions: int, first_seed: int = 0,
                 steps: int = 2000) -> int:
    """Record lives (seeds first_seed, first_seed + 1, ...) into one trace until it holds
    `transitions` transitions; each life ends at death or `steps` actions. Returns the lives."""
    header = make_header(world.name, world.schema, config={**world.config(), "seed": first_seed},
                         rules=getattr(world, "rules", None),
                         recorder={"policy": policy.name, "transitions": transitions})
    with TraceWriter(path, header) as writer:
        collected, episode = 0, 0
        while collected < transitions:
            def write(t: int, state: dict, action: str | None, end: str | None,
                      episode: int = episode) -> None:
                writer.write_step(episode, t, state, action, end)
            collected += run_episode(world, policy, min(steps, transitions - collected),
                                     first_seed + episode, None, write)
            episode += 1
    return episode
