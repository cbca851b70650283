"""The coverage trace: valid states, real transitions, ranges kept, driven by the schema alone."""

import ast
import pathlib

from lawsmith.envs.crafter_world import CrafterWorld, transition
from lawsmith.envs.state import find_player
from lawsmith.envs.toy_world import ToyWorld
from lawsmith.envs.trace import open_trace
from lawsmith.experiments import coverage_trace
from lawsmith.experiments.scenarios import scenarios

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _check(world, path, count, real):
    stats = coverage_trace.write_coverage(world, path, count, seed=0)
    reader = open_trace(path)                       # validates every state against the schema
    assert reader.is_transitions and reader.schema == world.schema
    triples = reader.triples()
    assert len(triples) == count
    assert stats["perturbed"] > 0 and stats["unperturbed"] > 0
    for state, action, next_state in triples:
        assert real(state, action) == next_state
        for name, spec in world.schema["kinds"]["player"].items():
            if spec["type"] == "counts" and spec["keys"] == "items":
                for key, value in find_player(state)[name].items():
                    item = world.schema["items"][key]
                    assert item["min"] <= value <= item["max"]
    return triples, stats


def test_crafter_coverage_trace(tmp_path):
    world = CrafterWorld()
    triples, stats = _check(world, tmp_path / "c.jsonl.gz", 40, transition)
    assert any(key.startswith("add ") for key in stats) and stats["inventory"] > 0
    # never a scenario state of the evaluation (those are built on the world of seed 0)
    grids = {"".join(case.state["grid"]) for case in scenarios(world, 0)}
    assert not any("".join(state["grid"]) in grids for state, _, _ in triples)


def test_toy_coverage_trace(tmp_path):
    # the same code on another schema: nothing in it knows Crafter
    world = ToyWorld()
    _, stats = _check(world, tmp_path / "t.jsonl", 40, ToyWorld().transition)
    assert stats["add sheep"] > 0


def test_no_crafter_names_in_the_code():
    # no string in the code (docstrings aside) names a Crafter item, material, kind or attribute
    schema = CrafterWorld().schema
    names = (set(schema["items"]) | set(schema["materials"]) | set(schema["kinds"])) - {"player"}
    toy = ToyWorld().schema
    names |= {name for attrs in schema["kinds"].values() for name in attrs} - {
        name for attrs in toy["kinds"].values() for name in attrs}   # hunger, grown, ...
    tree = ast.parse(pathlib.Path(coverage_trace.__file__).read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr)}
    words = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            words |= set(node.value.replace("_", " ").replace(",", " ").split())
            words.add(node.value)
    assert not words & names


def test_seed_range_is_its_own():
    from lawsmith.experiments.evaluate import EVAL_SEED_BASE
    source = (ROOT / "experiments" / "learn_crafter.py").read_text()
    bases = [node.value.value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
             and any(getattr(t, "id", "").endswith("SEED_BASE") for t in node.targets)]
    assert bases and EVAL_SEED_BASE not in bases
    # a run uses at most SEEDS_PER_RUN lives from SEED_BASE + seed * SEEDS_PER_RUN: far above the
    # others (which use at most a few thousand lives each)
    assert coverage_trace.SEED_BASE >= max(bases + [EVAL_SEED_BASE]) + 100_000
