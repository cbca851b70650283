"""The world schema's format, declared once (pydantic) and checked wherever a schema is read: a
trace header, a model folder's manifest. docs/trace-format.md describes the same fields and
limits; `validate_schema` raises a TraceError naming the first bad field (`schema.kinds.cow.health.min`).

Limits (a schema beyond them is refused before any work): grid sides 1..MAX_GRID_SIDE, at most
MAX_NAMES materials, actions, items, kinds, attributes or counts keys each, names of at most
MAX_NAME_LENGTH characters that the law language can spell (ASCII letters, digits and `_`, not
starting with a digit, not one of its keywords), numbers finite and within +-MAX_MAGNITUDE.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from lawsmith.envs.errors import TraceError

MAX_GRID_SIDE = 4096
MAX_NAMES = 4096
MAX_NAME_LENGTH = 64
MAX_MAGNITUDE = 2 ** 53   # integers beyond this lose precision as floats, and torch holds int64
# The law language's keywords (dsl/grammar.lark; tests/test_schema.py checks they agree): a name
# equal to one could never be written in a law.
KEYWORDS = frozenset(
    "and at beta choose count dirichlet each else exists false for if init law let none not or "
    "probability remove spawn then true when where with".split())
TYPES = ("int", "float", "bool", "pos", "dir", "counts", "cells")

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                        max_length=MAX_NAME_LENGTH)]
Bound = Annotated[Union[int, float], Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE,
                                           allow_inf_nan=False)]
Count = Annotated[int, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Side = Annotated[int, Field(ge=1, le=MAX_GRID_SIDE)]
Code = Annotated[str, StringConstraints(pattern=r"^[^0-9]$")]


class _Spec(BaseModel):
    # strict: 1.0 is not an int and "3" not a number; extra keys are kept (worlds may document).
    model_config = ConfigDict(strict=True, extra="allow")


class Grid(_Spec):
    width: Side
    height: Side


class Item(_Spec):
    min: Count = 0
    max: Count | None = None
    initial: Count | None = None

    @model_validator(mode="after")
    def _ordered(self):
        _check_order(self.min, self.max)
        return self


class Attribute(_Spec):
    type: Literal[TYPES]
    min: Bound | None = None
    max: Bound | None = None
    keys: Literal["items"] | Annotated[list[Name], Field(max_length=MAX_NAMES)] | None = None
    hidden: bool = False

    @model_validator(mode="after")
    def _consistent(self):
        if self.type == "counts" and self.keys is None:
            raise ValueError("a counts attribute needs keys: \"items\" or a list of names")
        if self.type == "int" and any(isinstance(v, float) for v in (self.min, self.max)):
            raise ValueError("an int attribute's min and max must be integers")
        _check_order(self.min, self.max)
        return self


Names = Annotated[dict[Name, Attribute], Field(max_length=MAX_NAMES)]


class Schema(_Spec):
    grid: Grid
    materials: Annotated[dict[Name, Code], Field(min_length=1, max_length=MAX_NAMES)]
    walkable: Annotated[list[Name], Field(max_length=MAX_NAMES)] = []
    actions: Annotated[list[Name], Field(min_length=1, max_length=MAX_NAMES)]
    items: Annotated[dict[Name, Item], Field(max_length=MAX_NAMES)]
    kinds: Annotated[dict[Name, Names], Field(min_length=1, max_length=MAX_NAMES)]
    globals: Names = {}
    engine: Names = {}


class Header(_Spec):
    """A trace header's fields other than the schema (docs/trace-format.md)."""
    format: str
    version: int
    world: Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH)]
    config: dict[str, Any] | None = None
    rules: dict[str, Any] | None = None
    recorder: dict[str, Any] | None = None


def validate_header(header: dict) -> None:
    """Raise TraceError (with the field) unless the header's own fields have their types; the
    schema is checked by `validate_schema`."""
    try:
        Header.model_validate({k: v for k, v in header.items() if k != "schema"})
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise TraceError(_message(first), field=located(first["loc"])) from None
    except RecursionError:
        raise TraceError("nested too deeply") from None


def _check_order(low, high) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {low} is above max {high}")


def validate_schema(schema: Any) -> None:
    """Raise TraceError (field `schema...`) unless `schema` is a well-formed world schema."""
    if not isinstance(schema, dict):
        raise TraceError("expected an object", field="schema")
    try:
        Schema.model_validate(schema)
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False)[0]
        raise TraceError(_message(first), field=located(first["loc"], "schema")) from None
    except RecursionError:
        raise TraceError("nested too deeply", field="schema") from None
    _check_meaning(schema)


# What pydantic puts in an error's location besides the keys: the member of a union it tried.
_TAGS = re.compile(r"^(int|float|str|bool|none|list\[.*\]|dict\[.*\]|literal\[.*\]|"
                   r"function-\w+\[.*\]|constrained-\w+|[A-Z]\w*)$")


def located(loc: tuple, prefix: str | None = None) -> str:
    """A pydantic error location as a field path (`schema.kinds.cow.health.min`), without the
    union members pydantic names in it; a dict key's own error is said at the key."""
    parts = [str(part) for part in loc if not (isinstance(part, str) and _TAGS.match(part))]
    parts = [part for part in parts if part != "[key]"]
    return ".".join(([prefix] if prefix else []) + parts)


def _message(error: dict) -> str:
    """pydantic's message with the offending value, shortened by TraceError."""
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        message = ("not a name the law language can spell (ASCII letters, digits and _, not "
                   "starting with a digit)")
    if error["type"] in ("missing", "model_attributes_type"):
        return message.lower() if error["type"] == "missing" else message
    value = error.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return f"{message} (got {shown[:80]})"


def _check_meaning(schema: dict) -> None:
    """What the field types cannot say: distinct codes, known references, spellable names."""
    codes = list(schema["materials"].values())
    if len(set(codes)) != len(codes):
        raise TraceError("material codes must be distinct", field="schema.materials")
    if "player" not in schema["kinds"]:
        raise TraceError("the kinds must include 'player'", field="schema.kinds")
    for name in schema.get("walkable", []):
        if name not in schema["materials"]:
            raise TraceError(f"{name!r} is not a material", field="schema.walkable")
    if len(set(schema["actions"])) != len(schema["actions"]):
        raise TraceError("actions must be distinct", field="schema.actions")
    for where, names in _names(schema):
        for name in names:
            if name in KEYWORDS:
                raise TraceError(f"{name!r} is a keyword of the law language, which could never "
                                 "name it", field=where)


def _names(schema: dict):
    yield "schema.materials", schema["materials"]
    yield "schema.actions", schema["actions"]
    yield "schema.items", schema["items"]
    yield "schema.kinds", schema["kinds"]
    for kind, attributes in schema["kinds"].items():
        yield f"schema.kinds.{kind}", attributes
        for name, spec in attributes.items():
            if isinstance(spec.get("keys"), list):
                yield f"schema.kinds.{kind}.{name}.keys", spec["keys"]
    for part in ("globals", "engine"):
        yield f"schema.{part}", schema.get(part, {})
