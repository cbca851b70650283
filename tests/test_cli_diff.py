"""`lawsmith diff`: two model folders fitted on a real Crafter trace, compared by what their laws say."""

from __future__ import annotations

import json

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.recorder import record
from lawsmith.cli import main

A = """
law drink "drinking" when action == do and material(ahead) == water
  then player.inventory.drink += 1 with probability p_drink init 0.9
law wood "wood" when action == do and material(ahead) == tree then player.inventory.wood += 1
law asleep "sleep" when action == sleep then player.sleeping = true
"""
# Reordered, `drink` renamed, `asleep` changed, one law added.
B = """
law wood "wood" when action == do and material(ahead) == tree then player.inventory.wood += 1
law drinking_water "drinking" when action == do and material(ahead) == water
  then player.inventory.drink += 1 with probability p_drink init 0.5
law asleep "sleep" when action == sleep and player.inventory.energy < 9
  then player.sleeping = true
law thirst "thirst" when player.thirst >= 20 then player.thirst -= 20
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diff")
    trace = folder / "crafter.jsonl.gz"
    record(CrafterWorld(), Explorer(), str(trace), 150, seed=2)
    dirs = []
    for name, text in (("a", A), ("b", B)):
        laws = folder / f"{name}.law"
        laws.write_text(text)
        assert main(["fit", "--laws", str(laws), str(trace), "-o", str(folder / name),
                     "--steps", "30"]) == 0
        dirs.append(str(folder / name))
    return dirs, str(trace)


def test_diff_matches_laws_by_what_they_say(models, capsys):
    (a, b), trace = models
    capsys.readouterr()
    assert main(["diff", a, b, trace]) == 0
    out = capsys.readouterr().out
    assert "same 1, renamed 1, changed 1, removed 0, added 1" in out
    assert "drink -> drinking_water" in out
    assert "+ law thirst" in out and "A law asleep" in out and "B law asleep" in out
    assert "NLL per transition on" in out and "player.thirst" in out


def test_diff_json_and_itself(models, capsys):
    (a, b), trace = models
    capsys.readouterr()
    assert main(["diff", a, a, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["same"] == ["drink", "wood", "asleep"] and not report["values"]
    assert not (report["added"] or report["removed"] or report["changed"] or report["renamed"])
    assert main(["diff", a, b, trace, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nll"]["transitions"] == 150
    assert report["nll"]["change"] == pytest.approx(report["nll"]["b"] - report["nll"]["a"])


def test_diff_of_a_missing_folder_exits_2(models, tmp_path, capsys):
    (a, _), _ = models
    assert main(["diff", a, str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_laws_of_one_canonical_form_pair_with_their_own_names():
    """Two laws that say the same thing (a learner's `always` twice) are matched as a multiset:
    each with its own name, not crosswise."""
    from lawsmith.laws.compare import compare
    from lawsmith.laws.model import WorldModel
    schema = CrafterWorld().schema
    text = ("law first\n  when action == noop\n  then player.facing = left\n\n"
            "law second\n  when action == noop\n  then player.facing = left\n")
    report = compare(WorldModel(text, schema), WorldModel(text, schema))
    assert report["same"] == ["first", "second"] and report["renamed"] == []
    swapped = text.replace("law first", "law third")
    report = compare(WorldModel(text, schema), WorldModel(swapped, schema))
    assert report["same"] == ["second"] and report["renamed"] == [["first", "third"]]
    assert report["added"] == [] and report["removed"] == []
