"""`lawsmith explain` (one transition of a real Crafter trace through a fitted model, law by law) and
`lawsmith laws` (per-law statistics)."""

from __future__ import annotations

import json

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.recorder import record
from lawsmith.envs.trace import open_trace
from lawsmith.laws.folder import load_model
from lawsmith.cli import main

LAWS = """
law wood "wood" when action == do and material(ahead) == tree
  then player.inventory.wood += 1 with probability p_wood init 0.9
law thirst "thirst" when not player.sleeping then player.thirst += 1
law asleep "sleep" when action == sleep then player.sleeping = true
law never "never" when action == make_iron_sword and player.inventory.iron >= 5
  then player.inventory.iron_sword += 1
"""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain")
    trace = folder / "crafter.jsonl.gz"
    record(CrafterWorld(), Explorer(), str(trace), 120, seed=4)
    laws = folder / "small.law"
    laws.write_text(LAWS)
    assert main(["fit", "--laws", str(laws), str(trace), "-o", str(folder / "m"),
                 "--steps", "30"]) == 0
    return str(folder / "m"), str(trace)


def test_explain_a_step_agrees_with_log_prob(fitted, capsys):
    model_dir, trace = fitted
    capsys.readouterr()
    assert main(["explain", model_dir, trace, "--step", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    state, action, next_state = open_trace(trace).triples()[3]
    model, _ = load_model(model_dir)
    assert report["action"] == action
    assert report["log_prob"] == pytest.approx(model.log_prob(state, action, next_state).total)
    thirst = next(o for o in report["observables"] if o["observable"] == "player.thirst")
    assert [law["law"] for law in thirst["laws"]] == ["thirst"]
    assert sum(p for _, p in thirst["combined"]) + thirst["rest"] == pytest.approx(1.0)
    assert main(["explain", model_dir, trace, "--step", "3"]) == 0
    out = capsys.readouterr().out
    assert f"transition 3: action {action}" in out and "thirst (weight" in out


def test_explain_state_files(fitted, tmp_path, capsys):
    model_dir, trace = fitted
    state, action, next_state = open_trace(trace).triples()[0]
    paths = []
    for name, value in (("s.json", state), ("t.json", next_state)):
        (tmp_path / name).write_text(json.dumps(value))
        paths.append(str(tmp_path / name))
    capsys.readouterr()
    assert main(["explain", model_dir, "--state", paths[0], "--action", action,
                 "--next", paths[1]]) == 0
    assert "log-probability" in capsys.readouterr().out


def test_explain_bad_requests_exit_2(fitted, capsys):
    model_dir, trace = fitted
    assert main(["explain", model_dir, trace, "--step", "999"]) == 2
    assert "no transition 999 (the trace holds 120)" in capsys.readouterr().err
    assert main(["explain", model_dir, trace]) == 2
    assert "--step K" in capsys.readouterr().err


def test_laws_statistics(fitted, capsys):
    model_dir, trace = fitted
    capsys.readouterr()
    assert main(["laws", model_dir, trace, "--json"]) == 0
    rows = {row["law"]: row for row in json.loads(capsys.readouterr().out)}
    transitions = open_trace(trace).triples()
    awake = sum(1 for s, _, _ in transitions
                if not next(o for o in s["objects"] if o["kind"] == "player")["sleeping"])
    assert rows["thirst"]["firings"] == awake
    assert rows["thirst"]["right"] + rows["thirst"]["wrong"] == awake
    assert rows["never"]["never_fired"] and rows["never"]["firings"] == 0
    assert not rows["thirst"]["never_fired"]
    assert sum(row["nll_share"] for row in rows.values()) == pytest.approx(1.0)
    assert "p_wood" in rows["wood"]["parameters"]
    assert main(["laws", model_dir, trace, "--flagged", "--sort", "name"]) == 0
    out = capsys.readouterr().out
    assert "never" in out and "thirst " not in out
