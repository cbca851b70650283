"""Episodes over the batched simulator: reward, termination and truncation of N rollouts at once.

    spec = EpisodeSpec()                         # the schema conventions below
    episodes = spec.bind(model.schema)           # checked against the schema once
    reward = episodes.reward(before, after)      # [N] float32 (SimStates before / after a step)
    dead = episodes.terminated(before, after)    # [N] bool
    cut = episodes.truncated(steps)              # [N] bool, `steps` counted from each reset

Conventions (nothing here knows a particular world; every default comes from the schema):
- reward: by default the number of keys of the player's counts attribute named `achievements`
  that went from 0 to more than 0 in the step (Crafter's achievement reward). `reward="other"`
  names another counts attribute of the player; `reward=None` gives 0 always; a callable
  `reward(before, after) -> [N] tensor` replaces the rule.
- terminated: by default when the player's health is at most 0 after the step, the health being
  the player's int/float attribute named `health` or else the first counts attribute of the player
  with a key named `health` (Crafter: `player.inventory.health`). `health="attr"` or
  `health="attr.key"` names another; `health=None` never terminates; a callable
  `terminated(before, after) -> [N] bool tensor` replaces the rule.
- A default name the schema does not have means "no such signal" (reward 0, never terminated); a
  name given explicitly that the schema does not have is a ModelError.
- truncated: when `max_steps` steps have passed since the episode's reset (None: never).

Start states are plain JSON states, held by whoever runs the episodes (`laws.gym_env`):
`check_starts` checks a list of them, `sample_starts` draws start indices uniformly with a
seeded numpy generator.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import torch

from lawsmith.laws.errors import ModelError

DEFAULT_REWARD = "achievements"
DEFAULT_HEALTH = "health"
DEFAULT_MAX_STEPS = 10000
PLAYER = "player"

Rule = Callable[[object, object], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class EpisodeSpec:
    """How rollouts are scored and when they end (see the module docstring)."""
    reward: str | Rule | None = DEFAULT_REWARD
    health: str | Rule | None = DEFAULT_HEALTH
    max_steps: int | None = DEFAULT_MAX_STEPS

    def bind(self, schema: dict) -> "Episodes":
        """The spec checked against a schema, ready to evaluate tensors."""
        if self.max_steps is not None and (isinstance(self.max_steps, bool)
                                           or not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ModelError(f"max_steps must be a positive integer or None, got "
                             f"{self.max_steps!r}", field="max_steps")
        return Episodes(self, schema)


class Episodes:
    """An `EpisodeSpec` bound to a schema."""

    def __init__(self, spec: EpisodeSpec, schema: dict):
        self.spec = spec
        self.schema = schema
        player = schema.get("kinds", {}).get(PLAYER, {})
        self.achievement_fields = _achievement_fields(spec.reward, player, schema)
        self.health_field = _health_field(spec.health, player, schema)
        self.max_steps = spec.max_steps

    @property
    def achievements(self) -> list[str]:
        """The keys whose first unlock the default reward counts ([] without such an attribute)."""
        return [key for _, key in self.achievement_fields]

    def reward(self, before, after) -> torch.Tensor:
        """[N] float32: the reward of each row's step from `before` to `after` (SimStates)."""
        if callable(self.spec.reward):
            return _as_tensor(self.spec.reward(before, after), after, torch.float32, "reward")
        if not self.achievement_fields:
            return torch.zeros(after.size, dtype=torch.float32, device=after.device)
        return self.unlocked(before, after).sum(1).to(torch.float32)

    def unlocked(self, before, after) -> torch.Tensor:
        """[N, K] bool: which of the K achievement keys went from 0 to more than 0."""
        if not self.achievement_fields:
            return torch.zeros((after.size, 0), dtype=torch.bool, device=after.device)
        old = torch.stack([before.player(a, k) for a, k in self.achievement_fields], 1)
        new = torch.stack([after.player(a, k) for a, k in self.achievement_fields], 1)
        return (old <= 0) & (new > 0)

    def health(self, states) -> torch.Tensor | None:
        """[N] the player's health (None when the spec has no health field)."""
        if self.health_field is None:
            return None
        return states.player(*self.health_field)

    def terminated(self, before, after) -> torch.Tensor:
        """[N] bool: the rows whose player the model has just killed."""
        if callable(self.spec.health):
            return _as_tensor(self.spec.health(before, after), after, torch.bool, "terminated")
        if self.health_field is None:
            return torch.zeros(after.size, dtype=torch.bool, device=after.device)
        return self.health(after) <= 0

    def truncated(self, steps: torch.Tensor) -> torch.Tensor:
        """[N] bool: the rows that reached the step limit (`steps` since each reset)."""
        if self.max_steps is None:
            return torch.zeros(steps.shape, dtype=torch.bool, device=steps.device)
        return steps >= self.max_steps


def sample_starts(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """`n` start indices drawn uniformly from `count` start states."""
    if count < 1:
        raise ModelError("no start states", field="starts")
    return rng.integers(0, count, size=n)


def check_starts(starts: Sequence[dict]) -> list[dict]:
    """The start states as a list (an error for none or for something not a state)."""
    if isinstance(starts, dict):
        starts = [starts]
    starts = list(starts)
    if not starts:
        raise ModelError("no start states", field="starts")
    for index, state in enumerate(starts):
        if not isinstance(state, dict):
            raise ModelError("expected a state (a JSON object)", field=f"starts[{index}]")
    return starts


def _achievement_fields(reward, player: dict, schema: dict) -> list[tuple[str, str]]:
    if reward is None or callable(reward):
        return []
    if not isinstance(reward, str):
        raise ModelError("reward must be a counts attribute name, None or a callable",
                         field="reward")
    spec = player.get(reward)
    if spec is None:
        if reward == DEFAULT_REWARD:
            return []
        raise ModelError(f"the player has no attribute {reward!r}", field="reward")
    if spec["type"] != "counts":
        raise ModelError(f"player.{reward} is a {spec['type']}, not counts", field="reward")
    return [(reward, key) for key in _keys(spec, schema)]


def _health_field(health, player: dict, schema: dict) -> tuple[str, str | None] | None:
    if health is None or callable(health):
        return None
    if not isinstance(health, str):
        raise ModelError("health must be a field name, None or a callable", field="health")
    attr, _, key = health.partition(".")
    spec = player.get(attr)
    if key:
        if spec is not None and spec["type"] == "counts" and key in _keys(spec, schema):
            return attr, key
        raise ModelError(f"the player has no counts key {health!r}", field="health")
    if spec is not None and spec["type"] in ("int", "float", "bool"):
        return attr, None
    for name, other in player.items():
        if other["type"] == "counts" and attr in _keys(other, schema):
            return name, attr
    if health == DEFAULT_HEALTH:
        return None
    raise ModelError(f"the player has no numeric field or counts key {health!r}", field="health")


def _keys(spec: dict, schema: dict) -> list[str]:
    return list(schema["items"]) if spec["keys"] == "items" else list(spec["keys"])


def _as_tensor(value, like, dtype, what: str) -> torch.Tensor:
    value = torch.as_tensor(value, device=like.device).to(dtype).reshape(-1)
    if value.shape != (like.size,):
        raise ModelError(f"the {what} rule gave {value.numel()} values for {like.size} states",
                         field=what)
    return value
