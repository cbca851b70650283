"""PoE-World's activation of laws: every law an always-active expert.

In lawsmith a law whose precondition is false stays silent. PoE-World has no separate precondition:
each expert is a program with its own conditional logic that always speaks. `always_active(program)`
turns checked laws into such experts by moving each law's condition inside its effects: where the
condition is false, every outcome is the observable's current value (the expert predicts "no
change"), so the law's logic is kept and only its activation changes.

    law collect_wood when action == do and material(ahead) == tree then player.inventory.wood += 1
    # becomes, in effect:
    law collect_wood then player.inventory.wood += (if action == do and ... then 1 else 0)

`remove v` becomes "v exists = if C then false else true" and `spawn k at p` "a k appears at p =
if C then true else false". A `for each` law still runs once per object of its kind.
"""

from __future__ import annotations

import dataclasses

from lawsmith.dsl import ir


def always_active(program: ir.Program) -> ir.Program:
    """The same laws with their conditions inlined into their effects (see the module docstring)."""
    return dataclasses.replace(program, laws=tuple(_inline(law) for law in program.laws))


def _inline(law: ir.Law) -> ir.Law:
    condition = law.condition
    if (isinstance(condition, ir.Const) and condition.value is True) or law.cells:
        # A `for each cell` law stays conditional: always active it would be one expert per
        # cell of every state (4,096 on a 64 x 64 map).
        return law
    effects = tuple(dataclasses.replace(
        effect, outcomes=tuple(ir.Apply("if", (condition, outcome, _unchanged(effect, outcome)),
                                        outcome.type) for outcome in effect.outcomes))
        for effect in law.effects)
    return dataclasses.replace(law, condition=ir.Const(True, ir.BOOL), effects=effects)


def _unchanged(effect: ir.Effect, outcome: ir.Node) -> ir.Node:
    """The outcome expression that leaves the effect's observable as it is."""
    target = effect.target
    if isinstance(target, ir.ExistsTarget):
        return ir.Const(True, ir.BOOL)
    if isinstance(target, ir.SpawnTarget):
        return ir.Const(False, ir.BOOL)
    if isinstance(target, ir.CellTarget):
        return ir.Apply("material", (target.pos,), ir.MATERIAL)
    if effect.op != "=":   # += / -= : add nothing
        return ir.Const(0.0 if outcome.type == ir.FLOAT else 0, outcome.type)
    return ir.Field(target.var, target.attr, target.key, target.type)
