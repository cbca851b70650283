"""What changed between two consecutive states, as short labels a person can read in a histogram.

`changes(state, next_state, schema)` names each kind of change once, sorted, for example

    player.moved  player.turned  player.sleeping->true  player.inventory.wood+1
    player.achievements.collect_wood+1  cow.moved  cow.health-1  zombie.appeared
    arrow.disappeared  grid:tree->grass

Labels are built from the schema alone (no world-specific names), so they mean the same in every
world: objects are matched by `id`; an attribute of type `pos` gives `<kind>.moved`, `dir` gives
`<kind>.turned`, `bool` gives `<kind>.<attr>->true|false`, a number gives its signed change
(`<kind>.<attr>+1`), a `counts` attribute one label per changed key, `cells` gives
`<kind>.<attr>.changed`; a changed grid cell gives `grid:<old material>-><new material>`.
Globals (step, daylight) and the engine section are the passage of time, not changes.

Hidden counters (attributes the schema marks `"hidden": true`: hunger, thirst, cooldown, plant growth
...) are left out by default: some tick on every step, so they would swamp a histogram and make every
transition look new to an explorer, and their visible consequences (food-1, health-2, an arrow that
appears) are labelled anyway. `hidden=True` adds one coarse label per changed hidden attribute,
`<kind>.<attr>.changed`, without its amount.
"""

from __future__ import annotations

from lawsmith.envs.state import schema_code_names


def changes(state: dict, next_state: dict, schema: dict, hidden: bool = False) -> list[str]:
    """The distinct kinds of change from `state` to `next_state`, sorted."""
    labels: set[str] = set()
    before = {obj["id"]: obj for obj in state["objects"]}
    after = {obj["id"]: obj for obj in next_state["objects"]}
    for oid, old in before.items():
        new = after.get(oid)
        if new is None or new["kind"] != old["kind"]:
            labels.add(f"{old['kind']}.disappeared")
        else:
            labels.update(_object_changes(old, new, schema["kinds"][old["kind"]], hidden))
    for oid, new in after.items():
        old = before.get(oid)
        if old is None or old["kind"] != new["kind"]:
            labels.add(f"{new['kind']}.appeared")
    labels.update(_grid_changes(state["grid"], next_state["grid"], schema))
    return sorted(labels)


def _object_changes(old: dict, new: dict, attrs: dict, hidden: bool) -> list[str]:
    kind = old["kind"]
    labels = []
    for name, spec in attrs.items():
        before, after = old[name], new[name]
        if before == after:
            continue
        if spec.get("hidden"):
            if hidden:
                labels.append(f"{kind}.{name}.changed")
            continue
        kind_of = spec["type"]
        if kind_of == "pos":
            labels.append(f"{kind}.moved")
        elif kind_of == "dir":
            labels.append(f"{kind}.turned")
        elif kind_of == "bool":
            labels.append(f"{kind}.{name}->{'true' if after else 'false'}")
        elif kind_of in ("int", "float"):
            labels.append(f"{kind}.{name}{_signed(after - before)}")
        elif kind_of == "counts":
            for key, count in after.items():
                delta = count - before.get(key, 0)
                if delta:
                    labels.append(f"{kind}.{name}.{key}{_signed(delta)}")
        else:
            labels.append(f"{kind}.{name}.changed")
    return labels


def _grid_changes(grid: list[str], next_grid: list[str], schema: dict) -> set[str]:
    names = schema_code_names(schema)
    labels = set()
    for row, next_row in zip(grid, next_grid):
        if row != next_row:
            for code, next_code in zip(row, next_row):
                if code != next_code:
                    labels.add(f"grid:{names[code]}->{names[next_code]}")
    return labels


def _signed(delta: float) -> str:
    """`+1`, `-2`, `+0.5`: integers without a decimal point, floats rounded to 3 significant digits."""
    if isinstance(delta, float) and not delta.is_integer():
        return f"{delta:+.3g}"
    return f"{int(delta):+d}"
