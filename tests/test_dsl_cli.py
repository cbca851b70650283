"""`lawsmith check` and `lawsmith fmt`."""

from __future__ import annotations

import pathlib

import pytest

from lawsmith.envs.recorder import RandomPolicy, record
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.cli import main

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def toy_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "toy.jsonl.gz"
    record(ToyWorld(), RandomPolicy(), path, steps=20, seed=1)
    return str(path)


def test_check_ok(toy_trace, capsys):
    assert main(["check", str(EXAMPLES / "toy.law"), "--schema", toy_trace]) == 0
    assert "9 laws check" in capsys.readouterr().out


def test_check_a_model_folder_with_its_manifest_schema(tmp_path, capsys):
    """`check MODEL_DIR` (or its laws.law) needs no trace: the manifest holds the schema."""
    from lawsmith.laws.folder import save_model
    from lawsmith.laws.model import WorldModel

    world = ToyWorld()
    folder = tmp_path / "model"
    save_model(folder, WorldModel((EXAMPLES / "toy.law").read_text(), world.schema),
               {"world": "toy", "schema": world.schema})
    assert main(["check", str(folder)]) == 0
    assert "9 laws check" in capsys.readouterr().out
    laws = folder / "laws.law"
    laws.write_text(laws.read_text() + "\nlaw extra then player.inventory.bery += 1\n")
    assert main(["check", str(laws)]) == 2
    assert "did you mean 'berry'" in capsys.readouterr().err
    loose = tmp_path / "loose.law"
    loose.write_text("law a then player.inventory.berry += 1\n")
    assert main(["check", str(loose)]) == 2
    assert "not in a model folder: give --schema TRACE" in capsys.readouterr().err


def test_check_reports_each_problem(toy_trace, tmp_path, capsys):
    laws = tmp_path / "bad.law"
    laws.write_text("law a then player.inventory.bery += 1\nlaw b for each cow c then c.x = 1\n")
    assert main(["check", str(laws), "--schema", toy_trace]) == 2
    err = capsys.readouterr().err
    assert f"{laws}:1:29" in err and "did you mean 'berry'" in err
    assert "unknown kind 'cow'" in err and "2 problem(s)" in err


def test_check_syntax_error_exits_2(toy_trace, tmp_path, capsys):
    laws = tmp_path / "bad.law"
    laws.write_text("law a when then\n")
    assert main(["check", str(laws), "--schema", toy_trace]) == 2
    assert "bad.law:1:12" in capsys.readouterr().err


def test_check_missing_file_exits_2(toy_trace, tmp_path):
    assert main(["check", str(tmp_path / "none.law"), "--schema", toy_trace]) == 2


def test_fmt_rewrites_and_check_reports(tmp_path, capsys):
    laws = tmp_path / "messy.law"
    laws.write_text("# keep me\nlaw a   when action==do then player.facing=left # and me\n")
    assert main(["fmt", "--check", str(laws)]) == 1
    assert main(["fmt", str(laws)]) == 0
    text = laws.read_text()
    assert text == ("# keep me\n# and me\nlaw a\n  when action == do\n"
                    "  then player.facing = left\n")
    assert main(["fmt", "--check", str(laws)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["messy.law"]


def test_fmt_leaves_a_bad_file_alone(tmp_path):
    laws = tmp_path / "bad.law"
    laws.write_text("law a then (\n")
    assert main(["fmt", str(laws)]) == 2
    assert laws.read_text() == "law a then (\n"


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["fmt", "--help"])
    assert "example:" in capsys.readouterr().out
