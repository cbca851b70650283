"""Crafter rules as data: the package's own `data.yaml`, or a variant file in the same shape.

A variant file may hold any of the top-level sections of crafter's `data.yaml`. List sections
(`actions`, `materials`, `walkable`, `achievements`) replace the default list; map sections (`items`,
`collect`, `place`, `make`) are merged entry by entry, and an entry set to `null` removes it. The merged
rules are checked for consistency (every item, material and action named must exist) and errors name
the file, line and field.
"""

from __future__ import annotations

import contextlib
import difflib
import copy
import pathlib
from typing import Any, Iterator

import crafter.constants
import ruamel.yaml

from lawsmith.envs.errors import TraceError

LIST_SECTIONS = ("actions", "materials", "walkable", "achievements")
MAP_SECTIONS = ("items", "collect", "place", "make")
SECTIONS = LIST_SECTIONS + MAP_SECTIONS
# Object types crafter's Player._place can create; anything else must be a material.
PLACEABLE_OBJECTS = ("plant", "fence")
# Items and achievements crafter's code names directly (objects.py), whatever the data says.
CODE_ITEMS = ("health", "food", "drink", "energy", "wood_sword", "stone_sword", "iron_sword")
CODE_ACHIEVEMENTS = ("defeat_zombie", "defeat_skeleton", "eat_cow", "eat_plant", "wake_up")
# Materials crafter's world generator writes.
WORLDGEN_MATERIALS = ("water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron",
                      "diamond")

DEFAULT_RULES: dict = {key: copy.deepcopy(getattr(crafter.constants, key)) for key in SECTIONS}


def load_rules(path: str | pathlib.Path | None) -> dict:
    """The default rules, or the default merged with the variant file at `path` (checked)."""
    if path is None:
        return copy.deepcopy(DEFAULT_RULES)
    path = str(path)
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise TraceError(f"cannot read rules file: {error.strerror}", path=path) from None
    except UnicodeDecodeError:
        raise TraceError("not UTF-8 text", path=path) from None
    try:
        document = ruamel.yaml.YAML(typ="rt").load(text)
    except ruamel.yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise TraceError(f"not valid YAML: {getattr(error, 'problem', error)}", path=path,
                         line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise TraceError("not valid YAML here: nested too deeply", path=path) from None
    except ValueError as error:   # an integer of more than 4,300 digits
        raise TraceError(f"not valid YAML here: {str(error).split(';')[0]}", path=path) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise TraceError("expected a mapping of rule sections", path=path, line=1)
    rules = copy.deepcopy(DEFAULT_RULES)
    for key, value in document.items():
        line = _line_of(document, key)
        if key not in SECTIONS:
            raise TraceError(f"unknown section '{key}' (known: {', '.join(SECTIONS)})", path=path,
                             line=line, field=str(key))
        if key in LIST_SECTIONS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TraceError("expected a list of names", path=path, line=line, field=key)
            rules[key] = list(value)
        else:
            if not isinstance(value, dict):
                raise TraceError("expected a mapping", path=path, line=line, field=key)
            for name, entry in value.items():
                if entry is None:
                    rules[key].pop(name, None)
                else:
                    rules[key][name] = _plain(entry)
    try:
        check_rules(rules)
    except TraceError as error:
        raise TraceError(error.message, path=path, line=_line_of_field(document, error.field),
                         field=error.field) from None
    return rules


def check_rules(rules: dict) -> None:
    """Raise TraceError (with a dotted field) unless the rules are consistent."""
    items, materials = rules["items"], rules["materials"]
    achievements = set(rules["achievements"])

    def need(ok: bool, field: str, message: str) -> None:
        if not ok:
            raise TraceError(message, field=field)

    def names(field: str, value: Any, known: Any, what: str) -> None:
        need(isinstance(value, list), field, f"expected a list of {what}s")
        for i, name in enumerate(value):
            need(name in known, f"{field}[{i}]", f"unknown {what} '{name}'{_suggest(name, known)}")

    def counts(field: str, value: Any) -> None:
        need(isinstance(value, dict), field, "expected a mapping of item: count")
        for name, amount in value.items():
            need(name in items, f"{field}.{name}", f"unknown item '{name}'{_suggest(name, items)}")
            need(isinstance(amount, int) and amount >= 0, f"{field}.{name}",
                 "expected a non-negative integer")

    for name in CODE_ITEMS:
        need(name in items, f"items.{name}", f"crafter's code needs the item '{name}'")
    for name, info in items.items():
        need(isinstance(info, dict) and set(info) == {"max", "initial"}, f"items.{name}",
             "expected {max: int, initial: int}")
        need(all(isinstance(v, int) for v in info.values()) and 0 <= info["initial"] <= info["max"],
             f"items.{name}", "expected integers with 0 <= initial <= max")
    for name in WORLDGEN_MATERIALS:
        need(name in materials, "materials", f"the world generator needs the material '{name}'")
    names("walkable", rules["walkable"], materials, "material")
    for name, info in rules["collect"].items():
        field = f"collect.{name}"
        need(name in materials, field, f"unknown material '{name}'{_suggest(name, materials)}")
        need(isinstance(info, dict), field, "expected a mapping")
        extra = set(info) - {"require", "receive", "leaves", "probability"}
        need(not extra, field, f"unknown key '{sorted(extra)[0] if extra else ''}'")
        counts(f"{field}.require", info.get("require", {}))
        counts(f"{field}.receive", info.get("receive", {}))
        need(info.get("leaves") in materials, f"{field}.leaves",
             f"unknown material '{info.get('leaves')}'{_suggest(str(info.get('leaves')), materials)}")
        probability = info.get("probability", 1)
        need(isinstance(probability, (int, float)) and 0 <= probability <= 1,
             f"{field}.probability", "expected a probability in [0, 1]")
        for item in info.get("receive", {}):
            need(f"collect_{item}" in achievements, f"{field}.receive.{item}",
                 f"the achievements must include 'collect_{item}'")
    for name, info in rules["place"].items():
        field = f"place.{name}"
        need(isinstance(info, dict) and {"uses", "where", "type"} <= set(info), field,
             "expected {uses, where, type}")
        counts(f"{field}.uses", info["uses"])
        names(f"{field}.where", info["where"], materials, "material")
        need(info["type"] in ("material", "object"), f"{field}.type", "expected material or object")
        if info["type"] == "material":
            need(name in materials, field, f"placing a material needs '{name}' among the materials")
        else:
            need(name in PLACEABLE_OBJECTS, field,
                 f"crafter can place only these objects: {', '.join(PLACEABLE_OBJECTS)}")
        need(f"place_{name}" in achievements, field,
             f"the achievements must include 'place_{name}'")
    for name, info in rules["make"].items():
        field = f"make.{name}"
        need(name in items, field, f"unknown item '{name}'{_suggest(name, items)}")
        need(isinstance(info, dict) and {"uses", "nearby", "gives"} <= set(info), field,
             "expected {uses, nearby, gives}")
        counts(f"{field}.uses", info["uses"])
        names(f"{field}.nearby", info["nearby"], materials, "material")
        need(isinstance(info["gives"], int) and info["gives"] >= 0, f"{field}.gives",
             "expected a non-negative integer")
        need(f"make_{name}" in achievements, field, f"the achievements must include 'make_{name}'")
    for name in CODE_ACHIEVEMENTS:
        need(name in achievements, "achievements", f"crafter's code needs the achievement '{name}'")
    fixed = {"noop", "move_left", "move_right", "move_up", "move_down", "do", "sleep"}
    for i, action in enumerate(rules["actions"]):
        ok = (action in fixed
              or (action.startswith("place_") and action[6:] in rules["place"])
              or (action.startswith("make_") and action[5:] in rules["make"]))
        need(ok, f"actions[{i}]", f"action '{action}' has no rule (a move, do, sleep, noop, "
             "place_<place entry> or make_<make entry>)")


@contextlib.contextmanager
def applied(rules: dict) -> Iterator[None]:
    """Make crafter's module-level rule constants these rules for the duration (then restore)."""
    saved = {key: getattr(crafter.constants, key) for key in SECTIONS}
    for key in SECTIONS:
        setattr(crafter.constants, key, rules[key])
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(crafter.constants, key, value)


def _plain(value: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _line_of(node: Any, key: Any) -> int | None:
    try:
        return node.lc.key(key)[0] + 1 if isinstance(node, dict) else node.lc.item(key)[0] + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def _line_of_field(document: Any, field: str | None) -> int | None:
    """The line of the deepest part of a dotted field path that the variant file itself holds."""
    if not field:
        return None
    node, line = document, None
    for part in field.replace("[", ".[").split("."):
        key: Any = int(part[1:-1]) if part.startswith("[") else part
        try:
            found = _line_of(node, key)
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
        line = found if found is not None else line
    return line


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
