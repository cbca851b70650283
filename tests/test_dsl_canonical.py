"""Canonical forms: laws equal up to ordering, renaming and rewriting are recognised as the same."""

from __future__ import annotations

import pathlib

import pytest
import sympy

from lawsmith.dsl import canonical_key, dedupe, parse, same_law, simplify_condition

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _law(text: str):
    return parse(text).laws[0]


@pytest.mark.parametrize("a, b", [
    ("law a when action == do and material(ahead) == tree then player.inventory.wood += 1",
     "law b when tree == material(ahead) and do == action then player.inventory.wood = "
     "player.inventory.wood + 1"),
    ("law a for each cow c when c.health + 1 > player.inventory.wood then c.health -= 2",
     "law b for each cow k when player.inventory.wood < 1 + k.health then k.health = k.health - 2"),
    ("law a when x.y > 0 and (x.z > 0 or x.y > 0) then x.w = 1",
     "law b when x.y > 0 then x.w = 1"),
    ("law a when not not (x.y == 1) then x.w = 1 x.v = 2",
     "law b when x.y == 1 then x.v = 2 x.w = 1"),
    ("law a then x.w += 1 with probability p ~ beta(1, 9) init 0.1",
     "law b then x.w += 1 with probability other ~ beta(1, 9) init 0.1"),
    ("law a for each cow c then c.pos = choose m {s: c.pos, l: moved(c.pos, left)}",
     "law b for each cow d then d.pos = choose n {l: moved(d.pos, left), s: d.pos}"),
    ("law a when exists(cow c where c.health > 1) then x.w = 1",
     "law b when exists(cow z where 1 < z.health) then x.w = 1"),
])
def test_same_laws(a, b):
    assert same_law(_law(a), _law(b))


@pytest.mark.parametrize("a, b", [
    ("law a when x.y > 0 then x.w = 1", "law b when x.y >= 0 then x.w = 1"),
    ("law a when x.y > 0 then x.w += 1", "law b when x.y > 0 then x.w += 2"),
    ("law a then x.w += 1 with probability 0.1", "law b then x.w += 1 with probability 0.2"),
    ("law a for each cow c then c.health = 1", "law b for each zombie c then c.health = 1"),
    ("law a when x.y > 0 or x.z > 0 then x.w = 1", "law b when x.y > 0 and x.z > 0 then x.w = 1"),
])
def test_different_laws(a, b):
    assert not same_law(_law(a), _law(b))


def test_dedupe_keeps_first_of_each():
    laws = parse("law a when x.y > 1 then x.w = 1\nlaw b when 1 < x.y then x.w = 1\n"
                 "law c then x.w = 2").laws
    assert [law.name for law in dedupe(laws)] == ["a", "c"]


def test_simplify_condition():
    condition = _law("law a when x.a and (x.b or x.a) and not not x.c then x.w = 1").condition
    assert simplify_condition(condition) == sympy.And(sympy.Symbol("x.a"), sympy.Symbol("x.c"))
    contradiction = _law("law a when x.y > 1 and not (1 < x.y) then x.w = 1").condition
    assert simplify_condition(contradiction) == sympy.false


def test_crafter_laws_are_all_different_and_fast():
    laws = parse((EXAMPLES / "crafter.law").read_text()).laws
    assert len({canonical_key(law) for law in laws}) == len(laws)
