"""Distractors and the protocol loop: distractors are valid and wrong; the True model ranks the
truth first where Null and Random do worse; success and failure rows stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from lawsmith.experiments.distractors import distractors
from lawsmith.experiments.models import NullModel, RandomModel, TrueModel, comparable
from lawsmith.experiments.protocol import evaluate_model, mrr_by_scenario, overall, summarise
from lawsmith.experiments.scenarios import scenarios, with_seed

PICKED = ("collect_stone", "craft_wooden_pickaxe", "zombie_defeat", "wake_up")


@pytest.fixture(scope="module")
def built(crafter_world):
    return scenarios(crafter_world, seed=0)


def test_distractors_are_valid_distinct_and_wrong(built, crafter_world):
    labels = set()
    for index, scenario in enumerate(built):
        state = with_seed(scenario.state, index)
        truth = crafter_world.transition(state, scenario.action)
        found = distractors(state, scenario.action, truth, crafter_world.schema,
                            np.random.default_rng(index), crafter_world.rules)
        forms = [comparable(candidate) for _, candidate in found]
        assert len(found) >= 5
        assert comparable(truth) not in forms
        assert all(forms.count(form) == 1 for form in forms)
        for _, candidate in found:
            crafter_world.load(candidate)  # validates
        labels |= {label.split(":")[0].rstrip("+-0123456789") for label, _ in found}
    assert labels >= {"health", "shift", "vanish", "survive", "player_health", "inventory",
                      "collect", "craft", "place", "move", "sleeping"}


def test_illegal_mechanics_appear_in_failing_variants(built, crafter_world):
    def labels(name):
        scenario = next(s for s in built if s.name == name and s.variant == "failure")
        truth = crafter_world.transition(scenario.state, scenario.action)
        return [label for label, _ in distractors(scenario.state, scenario.action, truth,
                                                  crafter_world.schema, np.random.default_rng(0),
                                                  crafter_world.rules)]
    assert "collect:stone" in labels("collect_stone")  # mined without a pickaxe
    assert "craft:wood_pickaxe" in labels("craft_wooden_pickaxe")  # crafted without a table
    assert "place:table" in labels("place_table")  # placed with too little wood


def test_true_model_ranks_the_truth_first_and_beats_null_and_random(built, crafter_world):
    picked = [s for s in built if s.name in PICKED]
    mrr = {}
    for model in (TrueModel(crafter_world, samples=16), NullModel(crafter_world.schema),
                  RandomModel(crafter_world.schema)):
        rows = evaluate_model(model, picked, crafter_world, trials=2, seed=0)
        assert len(rows) == len(picked) * 2
        mrr[model.name] = np.mean([row["mrr"] for row in rows])
        if model.name == "True":
            assert all(row["rank"] == 1 for row in rows)
            assert all(row["iou"] == 1.0 for row in rows)
    assert mrr["True"] == 1.0 and mrr["Null"] < 0.8 and mrr["Random"] < 0.8


def test_rows_keep_variants_apart_and_summarise(built, crafter_world):
    picked = [s for s in built if s.name == "collect_wood"]
    model = NullModel(crafter_world.schema)
    rows = evaluate_model(model, picked, crafter_world, trials=3, seed=1)
    assert [(r["variant"], r["trial"]) for r in rows] == [
        ("success", 0), ("success", 1), ("success", 2), ("failure", 0), ("failure", 1),
        ("failure", 2)]
    assert rows == evaluate_model(model, picked, crafter_world, trials=3, seed=1)  # deterministic
    table = summarise(rows)
    assert [(e["scenario"], e["variant"], e["trials"]) for e in table] == [
        ("collect_wood", "success", 3), ("collect_wood", "failure", 3)]
    success = table[0]
    assert success["mrr_mean"] == pytest.approx(np.mean([r["mrr"] for r in rows[:3]]))
    assert success["sample_shows_mechanic_mean"] == 0.0  # Null predicts no wood
    assert mrr_by_scenario(rows) == {"collect_wood": {"success": success["mrr_mean"],
                                                      "failure": table[1]["mrr_mean"]}}
    assert overall(rows)["failure"]["rank1"] == pytest.approx(table[1]["rank1_mean"])
