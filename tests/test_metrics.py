"""Ranking and fidelity metrics on hand-made cases."""

from __future__ import annotations

import math

import pytest

from lawsmith.experiments.metrics import fidelity, json_patch, leaves, patch_iou, rank_truth


def test_rank_counts_ties_against_the_model():
    assert rank_truth([-1.0, -2.0, -3.0]).rank == 1
    assert rank_truth([-2.0, -1.0, -3.0]).rank == 2
    assert rank_truth([0.0, 0.0, 0.0]).rank == 3  # all alike: the truth comes last
    assert rank_truth([-3.0, -1.0, -3.0], truth=2).rank == 3
    assert rank_truth([float("nan"), -50.0]).rank == 2


def test_rank_at_1_mrr_and_normalised_recall():
    first, middle, last = rank_truth([0, -1, -2, -3, -4]), rank_truth([-2, 0, -1, -3, -4]), \
        rank_truth([-9, 0, -1, -3, -4])
    assert (first.top1, first.reciprocal, first.recall) == (1.0, 1.0, 1.0)
    assert (middle.top1, middle.reciprocal, middle.recall) == (0.0, 1 / 3, 0.5)
    assert (last.rank, last.recall) == (5, 0.0)
    assert rank_truth([-1.0]).recall == 1.0


def test_json_patch_ops():
    a = {"grid": [["."], ["#"]], "objects": [{"id": 1, "pos": [2, 3]}, {"id": 4, "health": 3}]}
    b = {"grid": [["_"], ["#"]], "objects": [{"id": 1, "pos": [2, 4]}, {"id": 7, "health": 1}],
         "extra": True}
    assert json_patch(a, b) == [
        {"op": "replace", "path": "/grid/0/0", "value": "_"},
        {"op": "remove", "path": "/objects/4"},
        {"op": "replace", "path": "/objects/1/pos/1", "value": 4},
        {"op": "add", "path": "/objects/7", "value": {"id": 7, "health": 1}},
        {"op": "add", "path": "/extra", "value": True}]
    assert json_patch(a, a) == []
    assert json_patch({"x": 1}, {"x": 1.0}) == []  # JSON numbers compare by value
    assert json_patch({"x": 1}, {"x": True}) == [{"op": "replace", "path": "/x", "value": True}]
    assert json_patch([1, 2, 3], [1]) == [{"op": "remove", "path": "/2"},
                                         {"op": "remove", "path": "/1"}]
    assert json_patch({"a/b": 1}, {"a/b": 2})[0]["path"] == "/a~1b"


def _state(cells: str, pos=(0, 0), health=9) -> dict:
    return {"grid": [cells], "objects": [{"id": 1, "kind": "player", "pos": list(pos),
                                          "health": health}]}


def test_fidelity_counts_ops_normalises_by_true_leaves_and_iou():
    state = _state("..")
    truth = _state("._", pos=(1, 0))          # two changes: a cell and the x position
    sample = _state("._", pos=(0, 0), health=8)  # one right, one missed, one wrong
    close = fidelity(state, sample, truth)
    assert close.edit_distance == 2  # pos x and health
    assert leaves({"grid": [list("._")], "objects": truth["objects"]}) == 7
    assert close.normalised == pytest.approx(2 / 7)
    assert close.patch_iou == pytest.approx(1 / 3)  # {cell} of {cell, x, health}
    assert fidelity(state, truth, truth).patch_iou == 1.0
    assert patch_iou(state, state, state) == 1.0  # nothing changes, rightly predicted
    assert patch_iou(state, state, truth) == 0.0
    assert math.isclose(fidelity(state, truth, truth).normalised, 0.0)
