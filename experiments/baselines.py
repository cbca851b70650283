"""The baselines of a laws model, after OneLife's ablations, fitted on the model's own training data.

- *PoE-World inference* (`poe_world`): the same laws, but every law is an always-active expert whose
  condition sits inside its effects (where it is false the expert predicts "unchanged"), and every
  expert's weight counts, alone or not (`dsl.activation`, `laws.combine`). Weights are fitted; the
  laws' own probabilities stay as the law text gives them, as PoE-World and OneLife fit only
  weights.
- *No parameter inference* (`no_inference`): the laws as written (their initial values), weight 1,
  nothing fitted.

Both keep the model's rates of unexplained change per observable class fitted in closed form on the
same data (they are how any of these models scores what no law predicts, not a law parameter), so
the comparison isolates how laws are activated, combined and fitted.

Where the training data comes from: a model folder's manifest names its trace and its SHA-256
(`data.trace`, `data.sha256`); `training_trace` finds it, or takes the one the user gives.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

from lawsmith.laws.model import WorldModel
from lawsmith.synth.fit import FitConfig, build_tables, change_rates, fit

Transitions = Sequence[tuple[dict, str, dict]]


def poe_world(model: WorldModel, transitions: Transitions, seed: int = 0) -> WorldModel:
    """PoE-World inference over the model's laws, weights fitted on `transitions`."""
    start = WorldModel(model.text, model.schema, poe_world=True)
    result = fit(start, transitions, FitConfig(seed=seed, fit_laws=False, optimizer="lbfgs"))
    return WorldModel(model.text, model.schema, result.params, poe_world=True)


def no_inference(model: WorldModel, transitions: Transitions) -> WorldModel:
    """The model's laws with the text's values and weight 1 (change rates from `transitions`)."""
    start = WorldModel(model.text, model.schema)
    tables = build_tables(start, transitions, FitConfig().chunk)
    classes = tables[0].classes if tables else []
    rates = change_rates(tables, classes, FitConfig().change_prior) if tables else []
    return WorldModel(model.text, model.schema,
                      {"change": dict(zip(classes, [float(r) for r in rates]))})


class BaselineDataError(ValueError):
    """A model's training trace cannot be found (the message says what to pass)."""


def training_trace(folder: str | os.PathLike, manifest: dict,
                   given: str | None = None) -> str:
    """The trace a model folder was fitted or learned on: the manifest's, when it is still there
    with the same content, else `given` (`--baseline-trace`)."""
    from lawsmith.laws.folder import file_sha256

    data = manifest.get("data") if isinstance(manifest.get("data"), dict) else {}
    recorded = data.get("trace")
    if isinstance(recorded, str) and pathlib.Path(recorded).is_file() \
            and data.get("sha256") == file_sha256(recorded):
        return recorded
    if given:
        return given
    where = (f"its manifest names {recorded!r}, which is not here or has changed"
             if recorded else "its manifest names no training trace")
    raise BaselineDataError(f"{folder}: the baselines are fitted on the model's own training data, "
                            f"but {where}; pass --baseline-trace TRACE")
