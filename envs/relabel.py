"""A relabelled world: the same rules, every name replaced by an opaque one.

What it is for: a learner or explorer that works on `RelabelledWorld(world, seed)` as well as on
`world` cannot be leaning on what the names mean (`tree`, `wood`, `do`, `zombie`, `health`). Only the
names change; the dynamics, the material codes in the grid, and the ORDER of every list and dict of the
schema and the states stay the same, so anything that breaks ties by schema order behaves identically.

Renamed, each class in its own table (`relabel_mapping`): materials, items, actions, kinds, attribute
names, the keys of counts attributes that are not keyed by the items (Crafter's achievements) and
globals. Kept: the names the trace format and the law language give a meaning of their own, the kind
`player`, the attributes `pos` and `facing` (`ahead` is `player.pos + player.facing`), the global
`step` (every state has it), the record fields `id` and `kind`, and the engine section (world-private
bookkeeping: its field names are not schema names and its values hold no names; it is passed through
as it is).

An opaque name is `q` and six random characters from `a-z0-9` without `q` (from `random.Random(seed)`),
distinct from every other opaque name and from every name in the schema. No keyword, constant or
function of the law language starts with `q`, so an opaque name is always a free identifier; and since
`q` only ever starts one, an opaque name cannot appear inside another or across two joined ones, which
is what makes `unrelabel_text` (plain substring replacement) safe, also inside `wood_tree`-style
identifiers built by joining names with `_`.
"""

from __future__ import annotations

import random
import re

from lawsmith.envs.errors import TraceError
from lawsmith.envs.schema import validate_schema
from lawsmith.envs.state import validate_state

CLASSES = ("materials", "items", "actions", "kinds", "attributes", "keys", "globals")
# Names with a meaning of their own in the trace format or the law language: never renamed.
STRUCTURAL = {"kinds": frozenset({"player"}), "attributes": frozenset({"pos", "facing"}),
              "globals": frozenset({"step"})}
SCHEMA_FIELDS = ("grid", "materials", "walkable", "actions", "items", "kinds", "globals", "engine")
_ALPHABET = "abcdefghijklmnoprstuvwxyz0123456789"   # no `q`: it only starts an opaque name
_LENGTH = 6


def _schema_names(schema: dict) -> dict[str, list[str]]:
    """The original names of each class, in schema order (first appearance)."""
    attributes: dict[str, None] = {}
    keys: dict[str, None] = {}
    for attrs in schema["kinds"].values():
        for name, spec in attrs.items():
            attributes.setdefault(name)
            if spec.get("type") == "counts" and spec.get("keys") != "items":
                for key in spec["keys"]:
                    keys.setdefault(key)
    return {"materials": list(schema["materials"]), "items": list(schema["items"]),
            "actions": list(schema["actions"]), "kinds": list(schema["kinds"]),
            "attributes": list(attributes), "keys": list(keys),
            "globals": list(schema.get("globals", {}))}


def relabel_mapping(schema: dict, seed: int) -> dict:
    """Opaque names for `schema`'s names, the same for the same schema and seed.

    Returns `{class: {original: opaque}}` for the classes in CLASSES (structural names left out: they
    map to themselves), plus `"item_counts"`: the `kind.attribute` paths (original names) of counts
    attributes keyed by the items, whose keys are renamed as items rather than as `keys`.
    """
    validate_schema(schema)
    unknown = [field for field in schema if field not in SCHEMA_FIELDS]
    if unknown:
        raise TraceError(f"cannot relabel schema field '{unknown[0]}' (known: "
                         f"{', '.join(SCHEMA_FIELDS)})", field=f"schema.{unknown[0]}")
    names = _schema_names(schema)
    taken = {name for group in names.values() for name in group}
    rng = random.Random(seed)
    mapping: dict = {}
    for cls in CLASSES:
        table = mapping[cls] = {}
        for name in names[cls]:
            if name in STRUCTURAL.get(cls, ()):
                continue
            opaque = _fresh(rng, taken)
            taken.add(opaque)
            table[name] = opaque
    mapping["item_counts"] = [f"{kind}.{name}" for kind, attrs in schema["kinds"].items()
                              for name, spec in attrs.items()
                              if spec.get("type") == "counts" and spec.get("keys") == "items"]
    return mapping


def _fresh(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "q" + "".join(rng.choice(_ALPHABET) for _ in range(_LENGTH))
        if name not in taken:
            return name


def invert_mapping(mapping: dict) -> dict:
    """The mapping the other way (opaque -> original), in the same shape: unrelabelling with it is
    relabelling. `item_counts` is rewritten in opaque names."""
    inverse = {cls: {new: old for old, new in mapping[cls].items()} for cls in CLASSES}
    inverse["item_counts"] = [_path(path, mapping) for path in mapping["item_counts"]]
    return inverse


def _path(path: str, mapping: dict) -> str:
    kind, name = path.split(".", 1)
    return f"{_name(mapping, 'kinds', kind)}.{_name(mapping, 'attributes', name)}"


def _health_name(health: str | None, mapping: dict) -> str | None:
    """The world's health field (`attr` or `attr.item`) in relabelled names."""
    if health is None:
        return None
    attr, _, item = health.partition(".")
    renamed = _name(mapping, "attributes", attr)
    return f"{renamed}.{_name(mapping, 'items', item)}" if item else renamed


def _name(mapping: dict, cls: str, name: str) -> str:
    """`name` renamed as a member of `cls`; a structural name stays; anything else is an error."""
    table = mapping[cls]
    if name in table:
        return table[name]
    if name in STRUCTURAL.get(cls, ()):
        return name
    singular = {"materials": "material", "items": "item", "actions": "action", "kinds": "kind",
                "attributes": "attribute", "keys": "counts key", "globals": "global"}[cls]
    raise TraceError(f"unknown {singular} '{name}' (not in the relabelled schema)")


# --- schemas and states -------------------------------------------------------------------------

def relabel_schema(schema: dict, mapping: dict) -> dict:
    """`schema` with every name renamed by `mapping` (order, codes, types and ranges unchanged).

    With `invert_mapping(mapping)` it maps a relabelled schema back."""
    out: dict = {}
    for field, value in schema.items():
        if field == "materials":
            value = {_name(mapping, "materials", m): code for m, code in value.items()}
        elif field == "walkable":
            value = [_name(mapping, "materials", m) for m in value]
        elif field == "actions":
            value = [_name(mapping, "actions", a) for a in value]
        elif field == "items":
            value = {_name(mapping, "items", i): dict(spec) for i, spec in value.items()}
        elif field == "kinds":
            value = {_name(mapping, "kinds", kind): {
                _name(mapping, "attributes", name): _relabel_spec(spec, mapping)
                for name, spec in attrs.items()} for kind, attrs in value.items()}
        elif field == "globals":
            value = {_name(mapping, "globals", g): dict(spec) for g, spec in value.items()}
        elif field in ("grid", "engine"):
            value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
        else:
            raise TraceError(f"cannot relabel schema field '{field}'", field=f"schema.{field}")
        out[field] = value
    return out


def unrelabel_schema(schema: dict, mapping: dict) -> dict:
    """A relabelled schema back in the original names."""
    return relabel_schema(schema, invert_mapping(mapping))


def _relabel_spec(spec: dict, mapping: dict) -> dict:
    spec = dict(spec)
    if spec.get("type") == "counts" and spec.get("keys") != "items":
        spec["keys"] = [_name(mapping, "keys", key) for key in spec["keys"]]
    return spec


def relabel_state(state: dict, mapping: dict) -> dict:
    """`state` (in-memory form) in opaque names: a fresh copy; the grid and engine values are
    unchanged (material codes are not names)."""
    item_counts = set(mapping["item_counts"])
    out: dict = {}
    for field, value in state.items():
        if field == "objects":
            value = [_relabel_object(obj, mapping, item_counts) for obj in value]
        elif field == "grid":
            value = list(value)
        elif field == "engine":
            value = _copy(value)
        elif field != "step":
            field = _name(mapping, "globals", field)
        out[field] = value
    return out


def unrelabel_state(state: dict, mapping: dict) -> dict:
    """A relabelled state back in the original names."""
    return relabel_state(state, invert_mapping(mapping))


def _relabel_object(obj: dict, mapping: dict, item_counts: set[str]) -> dict:
    kind = obj["kind"]
    out: dict = {}
    for name, value in obj.items():
        if name == "kind":
            value = _name(mapping, "kinds", value)
        elif name != "id":
            if isinstance(value, dict):      # a counts attribute
                cls = "items" if f"{kind}.{name}" in item_counts else "keys"
                value = {_name(mapping, cls, key): count for key, count in value.items()}
            else:
                value = _copy(value)
            name = _name(mapping, "attributes", name)
        out[name] = value
    return out


def _copy(value):
    """A deep copy of plain JSON data (lists and dicts), fast for the small values of a state."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def unrelabel_text(text: str, mapping: dict) -> str:
    """`text` (law text, a law name, a change label, any text) with every opaque name of `mapping`
    replaced by its original, also inside longer identifiers (`qab12cd_qxy98zz` -> `wood_tree`)."""
    back = {new: old for cls in CLASSES for old, new in mapping[cls].items()}
    if not back:
        return text
    pattern = re.compile("|".join(re.escape(n) for n in sorted(back, key=len, reverse=True)))
    return pattern.sub(lambda match: back[match.group(0)], text)


# --- the world ------------------------------------------------------------------------------------

class RelabelledWorld:
    """`world` (any world of envs/worlds.py) seen through opaque names; the rules are unchanged.

    States, actions and the schema are renamed on the way out and back on the way in. `name`,
    `rules` and `config()` are the wrapped world's (`config` adds `"relabel": seed`), so a trace
    header records how to rebuild it: the inner world from `world`/`config`/`rules` (in original
    names), then `relabel_mapping(its schema, seed)`. Readers use the header's schema, which is the
    relabelled one.
    """

    def __init__(self, world, seed: int):
        self.world = world
        self.seed = seed
        self.name = world.name
        self.rules = getattr(world, "rules", None)
        self.mapping = relabel_mapping(world.schema, seed)
        self._inverse = invert_mapping(self.mapping)
        self.schema = relabel_schema(world.schema, self.mapping)
        self.actions: list[str] = list(self.schema["actions"])
        self.health = _health_name(getattr(world, "health", None), self.mapping)
        if hasattr(world, "render"):
            self.render = world.render

    def config(self) -> dict:
        """The wrapped world's config and the relabel seed."""
        return {**self.world.config(), "relabel": self.seed}

    def reset(self, seed: int) -> dict:
        return relabel_state(self.world.reset(seed), self.mapping)

    def step(self, action: str) -> tuple[dict, str | None]:
        if action not in self._inverse["actions"]:
            raise TraceError(f"unknown action '{action}' (known: {', '.join(self.actions)})",
                             field="action")
        state, end = self.world.step(self._inverse["actions"][action])
        return relabel_state(state, self.mapping), end

    def transition(self, state: dict, action: str) -> dict:
        """The next state after `action` in the relabelled `state`; `state` is not modified."""
        self.load(state)
        return self.step(action)[0]

    def export(self) -> dict:
        return relabel_state(self.world.export(), self.mapping)

    def load(self, state: dict, validate: bool = True) -> None:
        """Load a relabelled state (validated against the relabelled schema, so errors name what
        the caller wrote)."""
        if validate:
            validate_state(state, self.schema)
        self.world.load(relabel_state(state, self._inverse), validate=False)
