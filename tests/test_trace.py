"""The trajectory format: round trips, determinism, and bad input located by file, line and field."""

from __future__ import annotations

import copy
import gzip
import json

import pytest

from lawsmith.envs.errors import TraceError
from lawsmith.envs.recorder import RandomPolicy, record
from lawsmith.envs.state import decode_row, decode_state, encode_row, encode_state
from lawsmith.envs.toy_world import ToyWorld, toy_schema
from lawsmith.envs.trace import TraceWriter, make_header, open_trace


@pytest.mark.parametrize("row", ["", "a", "aa", "aaa", "~~~~~~~~~~~~..T", "ab" * 10, "x" * 64])
def test_row_encoding_round_trips(row):
    assert decode_row(encode_row(row)) == row


def test_state_encoding_round_trips(crafter_start):
    encoded = encode_state(crafter_start)
    assert isinstance(encoded["objects"], dict)
    assert decode_state(json.loads(json.dumps(encoded))) == crafter_start


def _record_toy(path, steps=50, seed=0) -> None:
    record(ToyWorld(), RandomPolicy(), str(path), steps=steps, seed=seed)


@pytest.mark.parametrize("name", ["t.jsonl", "t.jsonl.gz"])
def test_record_and_read_back(tmp_path, name):
    path = tmp_path / name
    _record_toy(path)
    reader = open_trace(path)
    assert reader.header["world"] == "toy" and reader.schema == toy_schema()
    steps = list(reader.steps())
    assert len(steps) == 51 and steps[-1].action is None and steps[-1].end == "steps"
    transitions = list(reader.transitions())
    assert len(transitions) == 50
    world = ToyWorld()
    for tr in transitions:
        assert world.transition(tr.state, tr.action) == tr.next_state


def test_same_run_same_bytes_gzip(tmp_path):
    _record_toy(tmp_path / "a.jsonl.gz", seed=4)
    _record_toy(tmp_path / "b.jsonl.gz", seed=4)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_transitions_form_with_default_schema(tmp_path):
    world = ToyWorld()
    state = world.reset(1)
    after = world.transition(state, "do")
    path = tmp_path / "hand.jsonl"
    lines = [{"format": "lawsmith-transitions", "version": 1, "world": "toy"},
             {"state": state, "action": "do", "next_state": after}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (transition,) = open_trace(path).transitions()
    assert transition.next_state == after and transition.action == "do"


def test_writer_leaves_nothing_when_interrupted(tmp_path):
    path = tmp_path / "out.jsonl.gz"
    with pytest.raises(RuntimeError):
        with TraceWriter(path, make_header("toy", toy_schema())) as writer:
            writer.write_step(0, 0, ToyWorld().reset(0), "noop")
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


# --- bad input ------------------------------------------------------------------------------

@pytest.fixture()
def good_lines(tmp_path) -> list[dict]:
    path = tmp_path / "good.jsonl"
    _record_toy(path, steps=5)
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(tmp_path, lines, name="bad.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


def _error(path) -> TraceError:
    with pytest.raises(TraceError) as caught:
        list(open_trace(path).transitions())
    return caught.value


def test_malformed_json_line(tmp_path, good_lines):
    lines = [*good_lines[:3], '{"episode": 0, "t": 2, "action":', *good_lines[4:]]
    error = _error(_write(tmp_path, lines))
    assert error.line == 4 and "not valid JSON" in error.message and "bad.jsonl:4" in str(error)


def test_missing_field(tmp_path, good_lines):
    del good_lines[2]["state"]["step"]
    error = _error(_write(tmp_path, good_lines))
    assert (error.line, error.field) == (3, "state.step")


def test_mistyped_field(tmp_path, good_lines):
    good_lines[2]["state"]["objects"]["player"]["pos"][0] = ["2", 3]
    error = _error(_write(tmp_path, good_lines))
    assert (error.line, error.field) == (3, "state.objects[0].pos")
    assert "expected [x, y]" in error.message


def test_unknown_kind(tmp_path, good_lines):
    good_lines[3]["state"]["objects"]["wolf"] = {"id": [99], "pos": [[1, 1]]}
    error = _error(_write(tmp_path, good_lines))
    assert error.line == 4 and error.field.endswith(".kind") and "unknown kind 'wolf'" in error.message


def test_unknown_material(tmp_path, good_lines):
    good_lines[1]["state"]["grid"][2] = "#..?...#"
    error = _error(_write(tmp_path, good_lines))
    assert (error.line, error.field) == (2, "state.grid[2]") and "'?'" in error.message


def test_unknown_action(tmp_path, good_lines):
    good_lines[2]["action"] = "fly"
    error = _error(_write(tmp_path, good_lines))
    assert (error.line, error.field) == (3, "action") and "unknown action 'fly'" in error.message


def test_value_out_of_range(tmp_path, good_lines):
    good_lines[2]["state"]["objects"]["player"]["inventory"][0]["berry"] = 42
    error = _error(_write(tmp_path, good_lines))
    assert error.field == "state.objects[0].inventory.berry" and "outside [0, 9]" in error.message


def test_truncated_gzip(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    _record_toy(path, steps=300)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = _error(path)
    assert "truncated" in error.message and error.path == str(path) and error.line is not None


def test_not_gzip_but_named_gz(tmp_path, good_lines):
    path = _write(tmp_path, good_lines, name="plain.jsonl.gz")
    assert "gzip" in _error(path).message


def test_bad_header(tmp_path, good_lines):
    header = copy.deepcopy(good_lines[0])
    header["version"] = 7
    assert _error(_write(tmp_path, [header, *good_lines[1:]])).field == "version"
    assert _error(_write(tmp_path, [{"hello": 1}])).field == "format"
    (tmp_path / "empty.jsonl").write_text("")
    assert "empty file" in _error(tmp_path / "empty.jsonl").message


def test_episode_must_end_before_the_next(tmp_path, good_lines):
    good_lines[3]["episode"] = 1
    error = _error(_write(tmp_path, good_lines))
    assert (error.line, error.field) == (4, "episode")


def test_gzip_is_detected_by_extension(tmp_path, good_lines):
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(json.dumps(x) + "\n" for x in good_lines))
    assert len(list(open_trace(path).transitions())) == 5


def test_record_lives_fills_one_trace_with_several_episodes(tmp_path):
    from lawsmith.envs.recorder import record_lives
    path = tmp_path / "lives.jsonl"
    assert record_lives(ToyWorld(), RandomPolicy(), str(path), 250, steps=100) == 3
    reader = open_trace(path)
    assert len(list(reader.transitions())) == 250
    assert [s.episode for s in reader.steps() if s.end] == [0, 1, 2]


def test_a_huge_bad_value_is_not_echoed_whole(tmp_path):
    path = tmp_path / "t.jsonl"
    record(ToyWorld(), RandomPolicy(), str(path), 5, seed=0)
    lines = path.read_text().splitlines()
    step = json.loads(lines[2])
    step["action"] = "x" * 1_000_000
    lines[2] = json.dumps(step)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError) as caught:
        open_trace(path).triples()
    text = str(caught.value)
    assert f"{path}:3" in text and "unknown action" in text
    assert len(text) < 1000 and "characters left out" in text
