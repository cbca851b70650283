"""`lawsmith explore` and `lawsmith trace info`: output, exit codes, nothing partial on bad input."""

from __future__ import annotations

import pytest

from lawsmith.cli import main


def test_explore_then_info(tmp_path, capsys):
    out = tmp_path / "toy.jsonl.gz"
    assert main(["explore", "--world", "toy", "--steps", "60", "--seed", "2", "--policy", "random",
                 "-o", str(out)]) == 0
    assert "60 steps" in capsys.readouterr().out
    assert main(["trace", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "transitions 60" in text and "episodes    1" in text
    assert "player.moved" in text or "player.turned" in text


def test_bad_rules_file_exits_2_and_writes_nothing(tmp_path, capsys):
    rules = tmp_path / "bad.yaml"
    rules.write_text("make:\n  wood_pickaxe: {uses: {wod: 3}, nearby: [table], gives: 1}\n")
    out = tmp_path / "out.jsonl"
    assert main(["explore", "--world", "crafter", "--rules", str(rules), "--steps", "5",
                 "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"{rules}:2: make.wood_pickaxe.uses.wod: unknown item 'wod'" in error
    assert list(tmp_path.iterdir()) == [rules]


def test_info_on_a_broken_file_exits_2(tmp_path, capsys):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"format": "lawsmith-trace", "version": 1, "world": "toy"}\n{"episode": 0,\n')
    assert main(["trace", "info", str(path)]) == 2
    assert f"{path}:2: not valid JSON" in capsys.readouterr().err


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["explore", "--steps", "-3", "-o", "x.jsonl"])
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["explore", "--world", "mars", "-o", "x.jsonl"])
    assert caught.value.code == 2


def test_explore_several_lives(tmp_path, capsys):
    out = tmp_path / "lives.jsonl"
    assert main(["explore", "--world", "toy", "--transitions", "250", "--steps", "100",
                 "-o", str(out)]) == 0
    assert "250 transitions over 3 lives" in capsys.readouterr().out
    assert main(["trace", "info", str(out)]) == 0
    assert "episodes    3" in capsys.readouterr().out


def test_explore_relabelled_then_info(tmp_path, capsys):
    out = tmp_path / "opaque.jsonl"
    assert main(["explore", "--world", "toy", "--relabel", "7", "--steps", "30", "-o",
                 str(out)]) == 0
    assert "relabelled with seed 7" in capsys.readouterr().out
    assert main(["trace", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "world toy relabelled with seed 7" in text and "transitions 30" in text
    assert "move_" not in text and "inventory" not in text and "player.moved" in text


def test_explore_curious_on_crafter(tmp_path, capsys):
    out = tmp_path / "curious.jsonl"
    assert main(["explore", "--world", "crafter", "--policy", "curious", "--steps", "120",
                 "--seed", "3", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "policy curious" in text
    assert main(["trace", "info", str(out)]) == 0
    assert "recorder    policy curious" in capsys.readouterr().out
