"""The relabelled world: names round-trip, the explorer cannot tell it from the original, law text maps
back."""

import re
from pathlib import Path

import pytest

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.errors import TraceError
from lawsmith.envs.explorer import Explorer
from lawsmith.envs.recorder import record, run_episode
from lawsmith.envs.relabel import (CLASSES, RelabelledWorld, relabel_mapping, relabel_schema, relabel_state,
                          unrelabel_schema, unrelabel_state, unrelabel_text)
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.envs.trace import open_trace


@pytest.fixture(scope="module")
def crafter():
    return CrafterWorld()


def _law_words() -> set[str]:
    """The reserved words and constants of the law language (quoted in the grammar)."""
    grammar = (Path(__file__).parent.parent / "dsl" / "grammar.lark").read_text()
    return set(re.findall(r'"([a-z_]+)"', grammar)) | {"left", "right", "up", "down"}


def test_mapping_is_opaque_unique_and_seeded(crafter):
    mapping = relabel_mapping(crafter.schema, 7)
    assert mapping == relabel_mapping(crafter.schema, 7)
    assert mapping != relabel_mapping(crafter.schema, 8)
    opaque = [new for cls in CLASSES for new in mapping[cls].values()]
    assert len(opaque) == len(set(opaque))
    assert all(re.fullmatch(r"q[a-z0-9]{6}", name) and "q" not in name[1:] for name in opaque)
    assert not set(opaque) & _law_words()
    assert "player" not in mapping["kinds"] and "pos" not in mapping["attributes"]
    assert "facing" not in mapping["attributes"] and "step" not in mapping["globals"]
    assert set(mapping["globals"]) == {"daylight"}


def test_state_and_schema_round_trip(crafter):
    world = RelabelledWorld(crafter, 7)
    schema, mapping = world.schema, world.mapping
    assert unrelabel_schema(schema, mapping) == crafter.schema
    assert relabel_schema(crafter.schema, mapping) == schema
    # Order and codes are kept; only names change.
    assert list(schema["materials"].values()) == list(crafter.schema["materials"].values())
    assert [mapping["actions"][a] for a in crafter.schema["actions"]] == schema["actions"]
    state = crafter.reset(3)
    for action in ("do", "move_left", "noop"):
        state, _ = crafter.step(action)
    relabelled = relabel_state(state, mapping)
    assert unrelabel_state(relabelled, mapping) == state
    text = str(relabelled)
    for name in ("inventory", "wood", "zombie", "daylight", "hunger", "achievements", "sleeping"):
        assert f"'{name}'" not in text
    assert relabelled["engine"] == state["engine"]
    world.load(relabelled)
    assert world.export() == relabelled


def test_relabelled_world_steps_and_errors(crafter):
    world = RelabelledWorld(ToyWorld(), 3)
    start = world.reset(1)
    after = world.transition(start, world.actions[-1])
    assert unrelabel_state(after, world.mapping) == ToyWorld().transition(
        unrelabel_state(start, world.mapping), "do")
    with pytest.raises(TraceError, match="unknown action 'do'"):
        world.step("do")


def _choices(world, seed, steps):
    """The explorer's states and actions over one life."""
    lines = []
    run_episode(world, Explorer(), steps, seed,
                on_step=lambda t, state, action, end: lines.append((state, action, end)))
    return lines


@pytest.mark.parametrize("make, steps", [(CrafterWorld, 300), (ToyWorld, 300)])
def test_explorer_makes_the_same_choices_relabelled(make, steps, crafter):
    original = crafter if make is CrafterWorld else make()
    plain = _choices(original, 5, steps)
    relabelled_world = RelabelledWorld(original, 7)
    relabelled = _choices(relabelled_world, 5, steps)
    mapping = relabelled_world.mapping
    back = {new: old for old, new in mapping["actions"].items()}
    assert len(plain) == len(relabelled)
    for t, ((state, action, end), (r_state, r_action, r_end)) in enumerate(zip(plain, relabelled)):
        assert (action, end) == (back.get(r_action), r_end), f"step {t}"
        assert unrelabel_state(r_state, mapping) == state, f"step {t}"


def test_recorded_relabelled_trace_reads_back(tmp_path):
    world = RelabelledWorld(ToyWorld(), 7)
    path = tmp_path / "r.jsonl"
    record(world, Explorer(), str(path), 40, seed=2)
    reader = open_trace(path)
    assert reader.header["world"] == "toy" and reader.header["config"]["relabel"] == 7
    assert reader.schema == world.schema
    triples = reader.triples()
    assert len(triples) == 40 and all(a in world.actions for _, a, _ in triples)


def test_unrelabel_text(crafter):
    mapping = relabel_mapping(crafter.schema, 7)
    m, i, a, k, at = (mapping[c] for c in ("materials", "items", "actions", "kinds", "attributes"))
    law = (f'law {i["wood"]}_{m["tree"]} "x"\n'
           f'  when action == {a["do"]} and material(ahead) == {m["tree"]}\n'
           f'  then player.{at["inventory"]}.{i["wood"]} += 1\n'
           f'law hit for each {k["zombie"]} z when z.{at["health"]} < 2 then remove z\n')
    assert unrelabel_text(law, mapping) == (
        'law wood_tree "x"\n'
        '  when action == do and material(ahead) == tree\n'
        '  then player.inventory.wood += 1\n'
        'law hit for each zombie z when z.health < 2 then remove z\n')
    assert unrelabel_text("quick qualms", mapping) == "quick qualms"


def _learned_text(world, tmp_path, name: str, steps: int, rounds: int) -> str:
    from lawsmith.synth.fit import split
    from lawsmith.synth.learn import LearnConfig, learn
    from lawsmith.synth.offline import OfflineProposer
    path = tmp_path / f"{name}.jsonl.gz"
    record(world, Explorer(), str(path), steps=steps, seed=4)
    reader = open_trace(path)
    transitions, episodes = reader.triples_with_episodes()
    config = LearnConfig(rounds=rounds, fit_steps=60)
    train = split(transitions, config.heldout, config.seed, episodes).train
    model, _ = learn(transitions, reader.schema, OfflineProposer(train, reader.schema),
                     str(tmp_path / f"{name}-model"), config, {}, episodes=episodes)
    return model.text


@pytest.mark.parametrize("make, steps, rounds", [(ToyWorld, 600, 2), (CrafterWorld, 250, 1)])
def test_the_learner_learns_the_same_laws_in_a_relabelled_world(make, steps, rounds, tmp_path):
    """Explorer and learner on a world and on its relabelled twin: after mapping the names back the
    two law files are the same text (names, thresholds, probabilities, order)."""
    world = make()
    relabelled = RelabelledWorld(make(), 11)
    original = _learned_text(world, tmp_path, "original", steps, rounds)
    twin = _learned_text(relabelled, tmp_path, "twin", steps, rounds)
    assert original.count("\nlaw ") >= 3
    assert any(name in twin for name in relabelled.mapping["actions"].values())
    # The printer wraps long conditions by width, and opaque names are longer: compare the texts
    # in one layout.
    from lawsmith.dsl import format_program, parse
    assert format_program(parse(unrelabel_text(twin, relabelled.mapping))) == original
