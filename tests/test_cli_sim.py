"""`lawsmith simulate`: batched random rollouts of a model folder, throughput and a summary."""

from __future__ import annotations

import pytest

from lawsmith.envs.toy_world import ToyWorld
from lawsmith.laws.folder import save_model
from lawsmith.laws.model import WorldModel
from lawsmith.cli import main


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory) -> str:
    # The hand-written toy laws at their init values (no fit needed to simulate).
    folder = tmp_path_factory.mktemp("models") / "toy"
    model = WorldModel(open("examples/toy.law").read(), ToyWorld().schema)
    save_model(folder, model, {"world": "toy"})
    return str(folder)


@pytest.fixture(scope="module")
def crafter_folder(tmp_path_factory, crafter_world) -> str:
    folder = tmp_path_factory.mktemp("models") / "crafter"
    model = WorldModel(open("examples/crafter.law").read(), crafter_world.schema)
    save_model(folder, model, {"world": "crafter"})
    return str(folder)


def test_simulate_prints_throughput_and_a_summary(toy_folder, capsys):
    assert main(["simulate", toy_folder, "--n", "16", "--steps", "10", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "simulated 16 rollouts x 10 steps" in out
    assert "state-steps/s" in out and "160 state-steps" in out and "device cpu" in out
    assert "none end early" in out          # the toy world has no health
    assert "achievements  none" in out      # ... and no achievements


def test_simulate_summarises_crafter_achievements_and_deaths(crafter_folder, capsys):
    assert main(["simulate", crafter_folder, "--n", "4", "--steps", "3", "--start-seeds", "1",
                 "--no-noise"]) == 0
    out = capsys.readouterr().out
    assert "state-steps/s" in out and "noise off" in out and "1 start states" in out
    assert "deaths        0 of 4" in out and "mean episode length 3.0 steps" in out
    assert "unlocked per rollout (95% interval" in out and "of 22" in out


def test_simulate_starts_from_a_trace(toy_folder, tmp_path, capsys):
    trace = tmp_path / "toy.jsonl"
    assert main(["explore", "--world", "toy", "--steps", "5", "--seed", "2", "-o",
                 str(trace)]) == 0
    capsys.readouterr()
    assert main(["simulate", toy_folder, "--n", "2", "--steps", "2", "--starts",
                 str(trace)]) == 0
    assert "1 start states" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--device", "bogus"], "unknown device"),
    (["--n", "0"], "--n must be at least 1"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--n", "1000000000000"], "at most about"),
    (["--starts", "missing.jsonl"], "no such file"),
])
def test_bad_input_exits_2_in_one_line(toy_folder, arguments, message, capsys):
    assert _exit_code(["simulate", toy_folder, *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]   # the parser prints its usage first
    assert message in err and err.startswith("lawsmith simulate: error")


def _exit_code(argv: list[str]) -> int:
    """main's exit code, whether the parser (SystemExit) or the command reports the error."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code


def test_missing_model_exits_2(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "lawsmith simulate models/crafter --n 1024" in out and "--no-noise" in out


def test_cuda_without_a_cuda_device_exits_2(toy_folder, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert _exit_code(["simulate", toy_folder, "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
