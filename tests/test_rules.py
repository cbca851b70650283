"""Rules variants: merging, and errors that name the file, line and field."""

from __future__ import annotations

import pytest

from lawsmith.envs.errors import TraceError
from lawsmith.envs.rules import DEFAULT_RULES, load_rules


def test_default_rules_are_crafters():
    rules = load_rules(None)
    assert rules == DEFAULT_RULES
    assert rules["collect"]["grass"]["probability"] == 0.1


def test_variant_merges_entry_by_entry(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("make:\n  wood_sword: null\n  wood_pickaxe: {uses: {wood: 3}, nearby: [table], "
                    "gives: 1}\nactions: [noop, move_left, move_right, move_up, move_down, do]\n")
    rules = load_rules(path)
    assert rules["make"]["wood_pickaxe"]["uses"] == {"wood": 3}
    assert "wood_sword" not in rules["make"] and "stone_sword" in rules["make"]
    assert len(rules["actions"]) == 6


@pytest.mark.parametrize("text, line, field, words", [
    ("make:\n  wood_pickaxe: {uses: {wod: 3}, nearby: [table], gives: 1}\n", 2,
     "make.wood_pickaxe.uses.wod", "did you mean 'wood'"),
    ("place:\n  table:\n    uses: {wood: 1}\n    where: [grass, snd]\n    type: material\n", 4,
     "place.table.where[1]", "unknown material 'snd'"),
    ("collect:\n  tree:\n    require: {}\n    receive: {wood: 1}\n    leaves: grass\n"
     "    probability: 1.5\n", 6, "collect.tree.probability", "probability in [0, 1]"),
    ("colect:\n  tree: {}\n", 1, "colect", "unknown section"),
    ("make:\n  wood_sword: null\n", None, "actions[14]", "has no rule"),
    ("make: [1, 2\n", 2, None, "not valid YAML"),  # YAML notices at the end of the stream
])
def test_bad_variant(tmp_path, text, line, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TraceError) as caught:
        load_rules(path)
    error = caught.value
    assert error.path == str(path) and error.field == field and words in error.message
    if line is not None:
        assert error.line == line


def test_missing_rules_file(tmp_path):
    with pytest.raises(TraceError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")
