"""Pyro fitting: known probabilities are recovered, posteriors, pruning, and the CLI around it."""

from __future__ import annotations

import copy
import json

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import BERRY_PROB, ToyWorld
from lawsmith.laws.folder import load_model
from lawsmith.laws.model import WorldModel
from lawsmith.cli import main
from lawsmith.synth.fit import FitConfig, build_tables, fit, prune
from toy_laws import BERRY, facing_bush


def _bush_transitions(count: int) -> list:
    """`count` toy transitions of the player hitting a bush (fresh randomness each)."""
    world = ToyWorld()
    transitions = []
    for seed in range(count):
        state = facing_bush(world, seed)
        state["step"] = seed % 97
        transitions.append((state, "do", world.transition(state, "do")))
    return transitions


def test_toy_probability_recovered_within_003_on_10000_transitions():
    transitions = _bush_transitions(10_000)
    model = WorldModel(BERRY.replace("init 0.3", "init 0.5"), ToyWorld().schema)
    result = fit(model, transitions, FitConfig(steps=200, learning_rate=0.1))
    assert abs(result.params["parameters"]["berry_chance"] - BERRY_PROB) < 0.03


def test_lbfgs_reaches_the_same_map_as_adam():
    transitions = _bush_transitions(2000)
    model = WorldModel(BERRY.replace("init 0.3", "init 0.5"), ToyWorld().schema)
    adam = fit(model, transitions, FitConfig(steps=300, learning_rate=0.1))
    lbfgs = fit(model, transitions, FitConfig(steps=100, optimizer="lbfgs"))
    assert lbfgs.params["parameters"]["berry_chance"] == pytest.approx(
        adam.params["parameters"]["berry_chance"], abs=0.01)
    assert lbfgs.train_nll <= adam.train_nll + 1e-4
    assert lbfgs.steps < 100


def test_weights_only_fit_keeps_the_law_text_values():
    transitions = _bush_transitions(500)
    model = WorldModel(BERRY.replace("init 0.3", "init 0.5"), ToyWorld().schema)
    result = fit(model, transitions, FitConfig(fit_laws=False, optimizer="lbfgs"))
    assert result.params["parameters"]["berry_chance"] == pytest.approx(0.5)


def test_posterior_reports_uncertainty():
    transitions = _bush_transitions(400)
    model = WorldModel(BERRY, ToyWorld().schema)
    result = fit(model, transitions, FitConfig(steps=150, learning_rate=0.1, posterior=True))
    value = result.params["parameters"]["berry_chance"]
    spread = result.params["uncertainty"]["berry_chance"]
    low, high = spread["interval_90"]
    assert low < value < high
    # Binomial standard error with 400 trials at ~0.3 is ~0.023.
    assert 0.01 < spread["sd"] < 0.05


def test_prune_drops_a_law_that_only_hurts():
    world = ToyWorld()
    transitions = _bush_transitions(300)
    wrong = BERRY + """
law wrong_drink
  when action == do
  then player.inventory.drink += 1
"""
    model = WorldModel(wrong, world.schema)
    result = fit(model, transitions, FitConfig(steps=100, learning_rate=0.1))
    fitted = WorldModel(wrong, world.schema, result.params)
    dropped, report = prune(fitted, build_tables(fitted, transitions[:100], 1000))
    assert dropped == ["wrong_drink"]
    assert report["heldout_nll_after"] < report["heldout_nll_before"]


@pytest.fixture(scope="module")
def grass_trace(tmp_path_factory) -> str:
    """A real-Crafter transitions file: 1,500 hits on grass, each with fresh randomness."""
    world = CrafterWorld()
    start = world.reset(2)
    player = find_player(start)
    x, y = player["pos"]
    player["facing"] = [0, 1]
    grid = [list(row) for row in start["grid"]]
    grid[y + 1][x] = world.schema["materials"]["grass"]
    start["grid"] = ["".join(row) for row in grid]
    start["objects"] = [o for o in start["objects"]
                        if o["kind"] == "player" or abs(o["pos"][0] - x) + abs(o["pos"][1] - y) > 20]
    path = tmp_path_factory.mktemp("grass") / "grass.jsonl"
    lines = [{"format": "lawsmith-transitions", "version": 1, "world": "crafter"}]
    for seed in range(1500):
        state = copy.deepcopy(start)
        state["engine"]["seed"] = seed
        lines.append({"state": state, "action": "do", "next_state": world.transition(state, "do")})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_crafter_sapling_probability_near_a_tenth(grass_trace, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["fit", "--laws", "examples/crafter.law", grass_trace, "-o", str(out),
                 "--steps", "150", "--lr", "0.1"]) == 0
    model, manifest = load_model(out)
    assert abs(model.params["parameters"]["sapling_chance"] - 0.1) < 0.03
    assert manifest["data"]["transitions"] == 1500 and "heldout_nll" in manifest["fit"]
    assert "sapling_chance" in capsys.readouterr().out


def test_refit_warm_starts_and_keeps_hand_edits(tmp_path, capsys):
    trace = tmp_path / "toy.jsonl.gz"
    assert main(["explore", "--world", "toy", "--steps", "400", "--seed", "1", "-o",
                 str(trace)]) == 0
    folder = tmp_path / "m"
    assert main(["fit", "--laws", "examples/toy.law", str(trace), "-o", str(folder)]) == 0
    first, _ = load_model(folder)
    laws = folder / "laws.law"
    laws.write_text(laws.read_text() + "\nlaw noop_stays\n  when action == noop\n"
                    "  then player.facing = player.facing\n")
    assert main(["fit", str(folder), str(trace), "--steps", "20"]) == 0
    second, _ = load_model(folder)
    assert "noop_stays" in second.law_names
    for name, value in first.params["parameters"].items():
        assert second.params["parameters"][name] == pytest.approx(value, abs=0.02)
    assert main(["score", str(folder), str(trace)]) == 0
    assert "NLL per transition" in capsys.readouterr().out
    assert main(["show", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "# fitted: weight" in shown and "law noop_stays" in shown
    assert f"# made by: lawsmith fit {folder} {trace} --steps 20 (commit " in shown


def test_the_manifest_records_the_split_and_its_provenance(tmp_path):
    trace = tmp_path / "lives.jsonl"
    assert main(["explore", "--world", "toy", "--transitions", "300", "--steps", "50",
                 "-o", str(trace)]) == 0
    folder = tmp_path / "m"
    assert main(["fit", "--laws", "examples/toy.law", str(trace), "-o", str(folder),
                 "--steps", "5", "--prune"]) == 0
    _, manifest = load_model(folder)
    held = manifest["fit"]["split"]
    assert held["rule"] == "episodes" and held["episodes"] == 6
    assert len(held["heldout_episodes"]) == 1 and held["heldout_transitions"] == 50
    made = manifest["provenance"]
    assert made["command"] == (f"lawsmith fit --laws examples/toy.law {trace} -o {folder} "
                               "--steps 5 --prune")
    assert isinstance(made["commit"], str) and made["commit"]


def test_provenance_without_the_cli_and_without_git(tmp_path, monkeypatch):
    from lawsmith.laws.folder import save_model, source_commit

    monkeypatch.setattr("sys.argv", ["experiments/x.py", "--fast"])
    save_model(tmp_path / "m", WorldModel(BERRY, ToyWorld().schema), {})
    _, manifest = load_model(tmp_path / "m")
    assert manifest["provenance"]["command"] == "experiments/x.py --fast"
    assert source_commit(tmp_path) == "unknown"                # not a git checkout
    monkeypatch.setenv("PATH", "")                             # no git at all
    assert source_commit.__wrapped__() == "unknown"            # (uncached, on the source tree)


def test_bad_inputs_exit_2_and_overwrite_nothing(tmp_path, capsys):
    trace = tmp_path / "toy.jsonl"
    assert main(["explore", "--world", "toy", "--steps", "50", "-o", str(trace)]) == 0
    bad_laws = tmp_path / "bad.law"
    bad_laws.write_text("law oops\n  when action == fly\n  then player.facing = left\n")
    assert main(["fit", "--laws", str(bad_laws), str(trace), "-o", str(tmp_path / "m")]) == 2
    assert "fly" in capsys.readouterr().err and not (tmp_path / "m").exists()
    folder = tmp_path / "good"
    assert main(["fit", "--laws", "examples/toy.law", str(trace), "-o", str(folder),
                 "--steps", "5"]) == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    crafter_trace = tmp_path / "crafter.jsonl"
    assert main(["explore", "--world", "crafter", "--steps", "5", "--policy", "random",
                 "-o", str(crafter_trace)]) == 0
    assert main(["fit", str(folder), str(crafter_trace)]) == 2
    assert "schema differs" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "nowhere"), str(trace)]) == 2
    assert main(["fit", "--laws", "examples/toy.law", str(trace)]) == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_same_seed_same_fit():
    transitions = _bush_transitions(300)
    model = WorldModel(BERRY, ToyWorld().schema)
    first, second = (fit(model, transitions, FitConfig(steps=40, seed=3)) for _ in range(2))
    assert first.params == second.params


def test_trace_without_transitions_exits_2(tmp_path, capsys):
    path = tmp_path / "empty.jsonl"
    path.write_text(json.dumps({"format": "lawsmith-transitions", "version": 1, "world": "toy"}) + "\n")
    assert main(["fit", "--laws", "examples/toy.law", str(path), "-o", str(tmp_path / "m")]) == 2
    assert "no transitions" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_show_text_parses_back_when_fitted_values_do_not_round_to_one():
    from lawsmith.dsl import format_law, parse
    from lawsmith.envs.toy_world import toy_schema
    from lawsmith.laws.model import WorldModel
    from lawsmith.cmd_model import _with_fitted_init

    text = 'law turn "turn" then player.facing = choose p_turn {l: left, r: right, u: up}\n'
    (law,) = parse(text).laws
    shown = format_law(_with_fitted_init(law, {"p_turn": [0.33333, 0.33333, 0.33334]}))
    assert "init (0.3334, 0.3333, 0.3333)" in shown
    WorldModel(shown, toy_schema())   # checks: the init sums to 1
