"""The worlds lawsmith knows by name, and how to make them."""

from __future__ import annotations

from lawsmith.envs.errors import TraceError

WORLDS = ("crafter", "toy")


def make_world(name: str, rules_path: str | None = None):
    """A live world by name; `rules_path` is a Crafter rules variant (YAML)."""
    if name == "crafter":
        from lawsmith.envs.crafter_world import CrafterWorld
        from lawsmith.envs.rules import load_rules
        return CrafterWorld(load_rules(rules_path))
    if rules_path is not None:
        raise TraceError(f"the {name} world takes no rules file", field="rules")
    if name == "toy":
        from lawsmith.envs.toy_world import ToyWorld
        return ToyWorld()
    raise TraceError(f"unknown world '{name}' (known: {', '.join(WORLDS)})", field="world")


def default_schema(name: str) -> dict:
    """The schema of a known world under its default rules."""
    if name == "crafter":
        from lawsmith.envs.crafter_world import crafter_schema
        from lawsmith.envs.rules import DEFAULT_RULES
        return crafter_schema(DEFAULT_RULES)
    if name == "toy":
        from lawsmith.envs.toy_world import toy_schema
        return toy_schema()
    raise TraceError(f"unknown world '{name}' and no schema given (known: {', '.join(WORLDS)})")


# "curious" (synth/curious.py: the explorer with the learner in the loop) sits above envs/, so the
# CLI builds it; make_policy knows the two that need nothing but the schema.
POLICIES = ("explorer", "random", "curious")


def make_policy(name: str):
    """An unguided policy by name: the novelty-seeking explorer or the uniform random baseline."""
    if name == "explorer":
        from lawsmith.envs.explorer import Explorer
        return Explorer()
    if name == "random":
        from lawsmith.envs.recorder import RandomPolicy
        return RandomPolicy()
    if name == "curious":
        raise TraceError("the curious policy learns as it goes: build it with "
                         "lawsmith.synth.curious.CuriousExplorer(health=world.health)", field="policy")
    raise TraceError(f"unknown policy '{name}' (known: {', '.join(POLICIES)})", field="policy")
