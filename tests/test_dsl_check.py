"""Checking laws against world schemas: unknown names with suggestions, types, probabilities, duplicates."""

from __future__ import annotations

import pathlib

import pytest

from lawsmith.dsl import DslError, check, ir, parse, resolve
from lawsmith.envs.crafter_world import crafter_schema
from lawsmith.envs.rules import load_rules
from lawsmith.envs.toy_world import toy_schema

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def crafter():
    return crafter_schema(load_rules(None))


def test_examples_check(crafter):
    assert check(parse((EXAMPLES / "crafter.law").read_text()), crafter) == []
    assert check(parse((EXAMPLES / "toy.law").read_text()), toy_schema()) == []


def _errors(text: str, schema) -> list[str]:
    return [str(e) for e in check(parse(text), schema)]


@pytest.mark.parametrize("text, message", [
    ("law a when action == dp then player.facing = left", "unknown action 'dp'"),
    ("law a when material(ahead) == tre then player.facing = left", "did you mean 'tree'"),
    ("law a then player.inventory.wod += 1", "did you mean 'wood'"),
    ("law a for each cwo c then c.health = 1", "did you mean 'cow'"),
    ("law a for each cow c then c.helth = 1", "did you mean 'health'"),
    ("law a then player.facing = lft", "did you mean 'left'"),
    ("law a when matrial(ahead) == tree then player.facing = left", "did you mean 'material'"),
    ("law a when material(ahead) == 3 then player.facing = left", "mixes a material and an int"),
    ("law a then material(ahead) = none", "a cell cannot be set to none"),
    ("law a then material(ahead) = choose p {x: grass, y: none}", "a cell cannot be set to none"),
    ("law a when player.inventory.wood then player.facing = left", "expected a bool"),
    ("law a then player.inventory.wood += tree", "expected an int"),
    ("law a then player.inventory.wood += 1.5", "expected an int"),
    ("law a then player.facing += 1", "'+=' needs a number"),
    ("law a then player.inventory.wood += 1 with probability 1.5", "outside [0, 1]"),
    ("law a then player.inventory.wood += 1 with probability p ~ beta(0, 1)", "positive"),
    ("law a then player.inventory.wood += 1 with probability p init 2", "outside [0, 1]"),
    ("law a for each cow c then c.pos = choose m {a: c.pos, b: c.pos} init (0.5, 0.6)",
     "sums to 1.1"),
    ("law a for each cow c then c.pos = choose m {a: c.pos, a: c.pos}", "repeats a label"),
    ("law a for each cow c then c.pos = choose m {a: c.pos} ~ dirichlet(1, 1)", "has 1 outcomes"),
    ("law a then player.inventory.wood = 1 player.inventory.wood += 2", "twice"),
    ("law a for each player p then p.facing = left player.facing = right", "twice"),
    ("law a then remove player", "own object"),
    ("law a then spawn player at ahead", "cannot spawn a player"),
    ("law a then player.pos.x = 1", "cannot write"),
    ("law a for each cow player then player.pos = ahead", "already a name"),
    ("law a when near(player.pos, table, player.inventory.wood) then player.facing = left",
     "radius"),
    ("law a when player then player.facing = left", "is an object"),
    ("law a when ahead < ahead then player.facing = left", "compares numbers"),
    ("law a then player.achievements = 1", "is a counts"),
    ("law a then player.facing = left\nlaw a then player.facing = right", "comes earlier"),
    ("law a then player.inventory.wood += 1 with probability p\n"
     "law b for each cow c then c.pos = choose p {x: c.pos}", "used earlier as a bernoulli"),
])
def test_problems_are_reported_with_a_hint(text, message, crafter):
    errors = _errors(text, crafter)
    assert errors, text
    assert any(message in e for e in errors), errors


def test_errors_carry_the_line_and_a_caret(crafter):
    error = check(parse("law a\n  when action == do\n  then player.inventory.wod += 1"), crafter)[0]
    assert (error.line, error.column) == (3, 25)
    assert error.source_line.strip() == "then player.inventory.wod += 1"
    assert str(error).rstrip().endswith("^")


def test_every_law_is_checked(crafter):
    text = "law a then x.y = 1\nlaw b then player.facing = left\nlaw c then z.w = 2"
    assert len(check(parse(text), crafter)) == 2


def test_resolve_raises_and_lists_parameters(crafter):
    with pytest.raises(DslError):
        resolve(parse("law a then x.y = 1"), crafter)
    program = resolve(parse((EXAMPLES / "crafter.law").read_text()), crafter)
    params = program.parameters
    assert params["sapling_chance"].kind == "bernoulli"
    assert params["sapling_chance"].prior == (1, 9) and params["sapling_chance"].init == (0.1,)
    assert params["cow_step"].labels == ("stay", "left", "right", "up", "down")


def test_constants_resolve_by_context(crafter):
    # `stone` is a material and an item: the comparison says which.
    assert check(parse("law a when material(ahead) == stone and player.inventory.stone > 0 "
                       "then material(ahead) = path"), crafter) == []


@pytest.mark.parametrize("text, message", [
    ("let tired = c.health > 0\nlaw a for each cow c when tired then c.health = 1", "unknown name 'c'"),
    ("let stone = 1\nlaw a then player.facing = left", "'stone' is already a name here"),
    ("let a = 1\nlet a = 2\nlaw b then player.facing = left", "'a' is already a name here"),
    ("let x = y + 1\nlet y = 1\nlaw b then player.facing = left", "unknown name 'y'"),
    ("let hp = 1\nlaw b for each cow hp then hp.health = 1", "'hp' is already a name here"),
    ("law a when mod(step, player.inventory.wood) == 0 then player.facing = left",
     "mod's divisor must be a whole number written out"),
    ("law a when mod(step, 0) == 0 then player.facing = left",
     "mod's divisor must be a whole number written out"),
    ("law a then player.facing = toward(player.pos, 3)", "expected a pos"),
])
def test_definitions_and_new_functions_are_checked(crafter, text, message):
    errors = _errors(text, crafter)
    assert errors and message in errors[0], errors


def test_a_definition_is_its_expression(crafter):
    """A law using a `let` resolves to the same typed form as the law with the expression written in."""
    named = resolve(parse("let rested = player.inventory.energy >= 9 and not player.sleeping\n"
                          "law a when rested then player.facing = left"), crafter)
    written = resolve(parse("law a when player.inventory.energy >= 9 and not player.sleeping "
                            "then player.facing = left"), crafter)
    (law,), (plain,) = named.laws, written.laws
    assert law.condition == ir.Named("rested", plain.condition, "bool")


@pytest.mark.parametrize("text, message", [
    ("law a for each cell c then c.pos = ahead", "a cell's position is fixed"),
    ("law a for each cell c then remove c", "a cell cannot be removed"),
    ("law a for each cell c when c.health > 0 then spawn cow at c.pos", "a cell has no attribute"),
    ("law a when exists(cell d where material(d.pos) == grass) then player.facing = left",
     "unknown kind 'cell'"),
])
def test_cell_laws_are_checked(crafter, text, message):
    errors = _errors(text, crafter)
    assert errors and message in errors[0], errors


def test_a_cell_law_checks(crafter):
    assert _errors("law a for each cell c when material(c.pos) == grass and mod(step, 10) == 0 "
                   "then spawn cow at c.pos with probability 0.01", crafter) == []
