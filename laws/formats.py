"""The model folder's two JSON files, declared (pydantic) and checked on load before any field is
used: `manifest.json` (its world schema by `envs.schema`) and `params.json`. docs/model.md
describes the same fields. A field a newer writer adds is kept (extra keys are allowed); a known
field of the wrong shape is a ModelError naming the file and field.

The values' meaning (a weight in [0, 1000], a probability in (0, 1), a parameter the laws name) is
checked by `WorldModel` itself, which knows the laws; this is the shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from lawsmith.envs.errors import TraceError
from lawsmith.envs.schema import MAX_MAGNITUDE, located, validate_schema
from lawsmith.laws.errors import ModelError

MODEL_FORMAT, MODEL_VERSION = "lawsmith-model", 1
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Vector = Union[Finite, list[Finite]]
Plain = Union[int, float, bool, str, None, list[Any]]   # a spawned attribute's typical value


class _File(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Uncertainty(_File):
    sd: Vector
    interval_90: Annotated[list[Vector], Field(min_length=2, max_length=2)]


class Clock(_File):
    period: Annotated[int, Field(ge=1, le=MAX_MAGNITUDE)] | None = None
    values: dict[str, list[Finite]]


class Params(_File):
    weights: dict[str, Finite] = {}
    parameters: dict[str, Vector] = {}
    change: dict[str, Finite] = {}
    spawn: dict[str, dict[str, Plain]] = {}
    noise_floor: Finite = 1e-3
    clock: Clock | None = None
    uncertainty: dict[str, Uncertainty] = {}


class Data(_File):
    trace: str | None = None
    sha256: str | None = None
    transitions: Annotated[int, Field(ge=0)] | None = None


class Round(_File):
    round: Annotated[int, Field(ge=0)]
    proposed: Annotated[int, Field(ge=0)] = 0
    kept: Annotated[int, Field(ge=0)] = 0
    pruned: list[str] = []
    heldout_nll: Finite
    seconds: Finite = 0


class Learn(_File):
    rounds: list[Round] = []
    proposer: str | None = None
    fruitless: list[str] = []
    heldout_nll: Finite | None = None
    train_transitions: Annotated[int, Field(ge=0)] | None = None
    heldout_transitions: Annotated[int, Field(ge=0)] | None = None


class Fit(_File):
    transitions: Annotated[int, Field(ge=0)] | None = None
    heldout_transitions: Annotated[int, Field(ge=0)] | None = None
    train_nll: Finite | None = None
    heldout_nll: Finite | None = None
    seconds: Finite | None = None
    steps: Annotated[int, Field(ge=0)] | None = None
    device: str | None = None
    posterior: bool | None = None
    pruned: list[str] = []


class Provenance(_File):
    commit: str
    command: str


class Manifest(_File):
    format: str
    version: int = MODEL_VERSION
    world: str | None = None
    data: Data | None = None
    learn: Learn | None = None
    fit: Fit | None = None
    start: dict[str, Any] | None = None
    provenance: Provenance | None = None


def check_manifest(manifest: Any, path: str) -> None:
    """ModelError (naming `path` and the field) unless `manifest` is a model folder's manifest."""
    if not isinstance(manifest, dict):
        raise ModelError("expected a JSON object", path=path)
    if manifest.get("format") != MODEL_FORMAT:
        raise ModelError(f"expected format {MODEL_FORMAT!r}", path=path, field="format")
    if "schema" not in manifest:
        raise ModelError("missing the world schema", path=path, field="schema")
    _validate(Manifest, {k: v for k, v in manifest.items() if k != "schema"}, path)
    if manifest.get("version", MODEL_VERSION) != MODEL_VERSION:
        raise ModelError(f"unsupported version {manifest['version']} (this reader knows "
                         f"{MODEL_VERSION})", path=path, field="version")
    try:
        validate_schema(manifest["schema"])
    except TraceError as error:
        raise ModelError(error.message, path=path, field=error.field) from None


def check_params(params: Any, path: str) -> None:
    """ModelError (naming `path` and the field) unless `params` has params.json's shape."""
    if not isinstance(params, dict):
        raise ModelError("expected a JSON object", path=path)
    _validate(Params, params, path)


def _validate(declared: type[BaseModel], value: dict, path: str) -> None:
    try:
        declared.model_validate(value)
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = located(first["loc"]) or None
        shown = first.get("input")
        shown = type(shown).__name__ if isinstance(shown, (dict, list)) else repr(shown)[:80]
        raise ModelError(f"{first['msg']} (got {shown})", path=path, field=field) from None
    except RecursionError:
        raise ModelError("nested too deeply", path=path) from None
