"""Bad command-line values are one-line usage errors (exit 2) before any work, and nothing is
overwritten."""

from __future__ import annotations

import pytest

from lawsmith.cli import main

BAD = [
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--lr", "nan"], "finite number > 0"),
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--lr", "-1"], "finite number > 0"),
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--steps", "-5"], "positive integer"),
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--seed", "-1"], "integer from 0 to"),
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--device", "bogus"], "unknown device"),
    (["fit", "--laws", "x.law", "t.jsonl", "-o", "m", "--heldout", "1.5"], "share in [0, 1)"),
    (["learn", "t.jsonl", "-o", "m", "--seed", "-1"], "integer from 0 to"),
    (["learn", "t.jsonl", "-o", "m", "--rounds", "0"], "positive integer"),
    (["explore", "--transitions", "99999999999999999999", "-o", "x.jsonl"], "up to 10,000,000"),
    (["explore", "--seed", "-3", "-o", "x.jsonl"], "integer from 0 to"),
    (["simulate", "m", "--device", "tpu"], "device"),
    (["explore", "--seed", "1" * 5000, "-o", "x.jsonl"], "expected an integer"),
]


@pytest.mark.parametrize("argv, message", BAD)
def test_bad_values_exit_2_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert message in error[-1] and len(error[-1]) < 300


def test_cuda_where_there_is_none(capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit):
        main(["simulate", "m", "--device", "cuda"])
    assert "no CUDA device" in capsys.readouterr().err


def test_fit_never_overwrites_a_model_or_a_file(tmp_path, capsys):
    trace = tmp_path / "toy.jsonl"
    assert main(["explore", "--world", "toy", "--steps", "40", "-o", str(trace)]) == 0
    laws = tmp_path / "a.law"
    laws.write_text('law drink "d" when action == do and material(ahead) == water\n'
                    '  then player.inventory.drink += 1\n')
    out = tmp_path / "m"
    assert main(["fit", "--laws", str(laws), str(trace), "-o", str(out), "--steps", "5"]) == 0
    before = (out / "params.json").read_bytes()
    capsys.readouterr()
    assert main(["fit", "--laws", str(laws), str(trace), "-o", str(out), "--steps", "5"]) == 2
    assert "already holds a model" in capsys.readouterr().err
    assert (out / "params.json").read_bytes() == before
    assert main(["fit", "--laws", str(laws), str(trace), "-o", str(trace), "--steps", "5"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["learn", str(trace), "-o", str(laws)]) == 2
    assert "is a file" in capsys.readouterr().err
