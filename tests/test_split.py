"""The held-out split: whole episodes, or contiguous blocks of a single life; seeded."""

from __future__ import annotations

import pytest

from lawsmith.envs.recorder import RandomPolicy, record, record_lives
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.envs.trace import open_trace
from lawsmith.synth.fit import HELDOUT_BLOCKS, split


@pytest.fixture(scope="module")
def lives(tmp_path_factory) -> tuple[list, list[int]]:
    """A toy trace of 9 lives (40 steps each, the last shorter): triples and their episodes."""
    path = tmp_path_factory.mktemp("lives") / "lives.jsonl"
    assert record_lives(ToyWorld(), RandomPolicy(), str(path), 350, first_seed=3, steps=40) == 9
    return open_trace(path).triples_with_episodes()


@pytest.fixture(scope="module")
def life(tmp_path_factory) -> list:
    """A toy trace of one life of 300 steps."""
    path = tmp_path_factory.mktemp("life") / "life.jsonl"
    record(ToyWorld(), RandomPolicy(), str(path), steps=300, seed=4)
    return open_trace(path).triples()


def _indices(part: list, transitions: list) -> list[int]:
    position = {id(t): i for i, t in enumerate(transitions)}
    return sorted(position[id(t)] for t in part)


def test_the_reader_labels_each_triple_with_its_episode(lives):
    triples, episodes = lives
    assert len(triples) == len(episodes) == 350
    assert episodes == sorted(episodes) and set(episodes) == set(range(9))
    assert episodes.count(0) == 40 and episodes.count(8) == 30


@pytest.mark.parametrize("seed", range(6))
def test_no_episode_is_on_both_sides(lives, seed):
    triples, episodes = lives
    parts = split(triples, 0.2, seed, episodes)
    test = set(_indices(parts.test, triples))
    held = {episodes[i] for i in test}
    kept = {episodes[i] for i in range(len(triples)) if i not in test}
    assert held and kept and not held & kept
    assert len(parts.train) + len(parts.test) == len(triples)
    assert abs(len(parts.test) / len(triples) - 0.2) < 0.1   # whole episodes of 40: roughly
    assert parts.record["rule"] == "episodes"
    assert parts.record["heldout_episodes"] == sorted(held)
    assert parts.record["heldout_transitions"] == len(parts.test)


def test_a_single_life_gives_contiguous_blocks(life):
    parts = split(life, 0.2, 0)
    test = _indices(parts.test, life)
    runs = [[test[0]]]
    for index in test[1:]:
        if index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    assert 1 <= len(runs) <= HELDOUT_BLOCKS
    assert len(test) == 60
    assert parts.record["rule"] == "blocks"
    blocks = parts.record["heldout_blocks"]
    assert sum(stop - start for start, stop in blocks) == 60
    assert [i for start, stop in blocks for i in range(start, stop)] == test
    assert parts.train == [t for i, t in enumerate(life) if i not in set(test)]


def test_the_split_is_deterministic_per_seed(lives, life):
    triples, episodes = lives
    for data, labels in ((triples, episodes), (life, None)):
        first, again = split(data, 0.25, 7, labels), split(data, 0.25, 7, labels)
        assert first.test == again.test and first.record == again.record
        others = {tuple(_indices(split(data, 0.25, s, labels).test, data)) for s in range(8)}
        assert len(others) > 1


@pytest.mark.parametrize("heldout", [0.1, 0.3, 0.5])
def test_the_fraction_is_roughly_respected(heldout):
    sizes = [30, 70, 10, 50, 40, 90, 20, 60, 80, 50]     # ten episodes of unequal length
    labels = [e for e, size in enumerate(sizes) for _ in range(size)]
    transitions = list(range(len(labels)))
    for seed in range(5):
        share = len(split(transitions, heldout, seed, labels).test) / len(transitions)
        assert abs(share - heldout) <= max(sizes) / len(transitions) / 2 + 1e-9
    single = split(transitions, heldout, 0)
    assert abs(len(single.test) / len(transitions) - heldout) < 0.01


def test_edge_cases_keep_both_sides_sensible():
    assert split(list(range(50)), 0.0, 0).test == []
    assert split(list(range(50)), 0.0, 0, [i // 10 for i in range(50)]).test == []
    tiny = split(list(range(3)), 0.9, 0)
    assert tiny.train and tiny.test
    two = split(list(range(100)), 0.2, 0, [0] * 90 + [1] * 10)   # both lives far from 20
    assert two.test == list(range(90, 100))
    big = split(list(range(100)), 0.1, 1, [0] * 50 + [1] * 50)   # none close: one is held out
    assert len(big.test) == 50 and big.train
    with pytest.raises(ValueError):
        split(list(range(4)), 0.2, 0, [0, 1])
