"""The metrics of OneLife's protocol: how a model ranks the true next state among distractors, and
how close its sampled next state is to the true one.

Ranking (candidates scored by the model's log-probability, the truth among them):
- rank: 1 + the number of OTHER candidates scoring >= the truth. Ties count against the model
  (pessimistic), so a model that scores everything alike ranks the truth last, not first. A NaN
  score counts as -inf.
- rank@1: rank == 1. MRR: the mean of 1 / rank. Normalised recall: 1 - (rank - 1) / (N - 1) for N
  candidates (1 when N == 1): 1 for the truth first, 0 for last.

Fidelity (a sampled next state against the true one), on the JSON form of `comparable()` states:
- `json_patch(a, b)`: RFC 6902 operations (add / remove / replace) turning `a` into `b`. Dicts are
  compared key by key, lists of records with an `id` are matched by id (the path segment is the
  id, not the list index), other lists by index. In `document()` each grid row is split into its
  cells, so a changed cell is one operation at `/grid/<y>/<x>` rather than a whole replaced row.
- edit distance: the number of operations from the sample to the truth; normalised: that divided
  by the number of leaves (scalars, grid cells included) of the true state's document. With a 64x64
  grid the denominator is dominated by its 4,096 cells, so normalised distances are small numbers.
  Hidden fields of objects (hunger, plant growth...) are part of the records, so they count too.
- patch IoU: |P(s->sample) & P(s->truth)| / |P(s->sample) | P(s->truth)|, both patches from the
  current state s, operations compared as (op, path, value) triples; 1 when both patches are empty
  (the model rightly predicts that nothing changes).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from lawsmith.experiments.models import comparable


@dataclasses.dataclass(frozen=True)
class Ranking:
    rank: int
    candidates: int

    @property
    def top1(self) -> float:
        return float(self.rank == 1)

    @property
    def reciprocal(self) -> float:
        return 1.0 / self.rank

    @property
    def recall(self) -> float:
        if self.candidates <= 1:
            return 1.0
        return 1.0 - (self.rank - 1) / (self.candidates - 1)


def rank_truth(scores: list[float], truth: int = 0) -> Ranking:
    """Where `scores[truth]` ranks among `scores` (ties pessimistic, see the module docstring)."""
    clean = [-math.inf if math.isnan(s) else s for s in scores]
    mine = clean[truth]
    beaten_or_tied = sum(1 for j, s in enumerate(clean) if j != truth and s >= mine)
    return Ranking(rank=1 + beaten_or_tied, candidates=len(scores))


# --- JSON Patch -------------------------------------------------------------------------------

def document(state: dict) -> dict:
    """The JSON a prediction is judged on: `comparable(state)` with grid rows split into cells."""
    form = comparable(state)
    return {"grid": [list(row) for row in form["grid"]], "objects": form["objects"]}


def json_patch(a: Any, b: Any) -> list[dict]:
    """RFC 6902 operations turning `a` into `b` (records with ids matched by id; see above)."""
    ops: list[dict] = []
    _diff(a, b, "", ops)
    return ops


def _diff(a: Any, b: Any, path: str, ops: list[dict]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                ops.append({"op": "remove", "path": _join(path, key)})
        for key in b:
            if key in a:
                _diff(a[key], b[key], _join(path, key), ops)
            else:
                ops.append({"op": "add", "path": _join(path, key), "value": b[key]})
    elif isinstance(a, list) and isinstance(b, list) and _records(a) and _records(b):
        _diff({str(r["id"]): r for r in a}, {str(r["id"]): r for r in b}, path, ops)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(min(len(a), len(b))):
            _diff(a[i], b[i], _join(path, i), ops)
        for i in range(len(a), len(b)):
            ops.append({"op": "add", "path": _join(path, i), "value": b[i]})
        for i in reversed(range(len(b), len(a))):
            ops.append({"op": "remove", "path": _join(path, i)})
    elif not _same_scalar(a, b):
        ops.append({"op": "replace", "path": path, "value": b})


def _same_scalar(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), otherwise type and value (True != 1)."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return a == b
    return type(a) is type(b) and a == b


def _records(items: list) -> bool:
    return bool(items) and all(isinstance(x, dict) and "id" in x for x in items)


def _join(path: str, key: Any) -> str:
    """A JSON Pointer one level deeper (RFC 6901 escapes)."""
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


def leaves(value: Any) -> int:
    """How many scalars `value` holds (empty containers hold none)."""
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 1


def _triples(ops: list[dict]) -> set[tuple[str, str, str]]:
    return {(op["op"], op["path"], json.dumps(op.get("value"), sort_keys=True)) for op in ops}


def patch_iou(state: dict, sample: dict, truth: dict) -> float:
    """IoU of the patches from `state` to `sample` and to `truth` (1 when both are empty)."""
    start = document(state)
    predicted = _triples(json_patch(start, document(sample)))
    actual = _triples(json_patch(start, document(truth)))
    union = predicted | actual
    return 1.0 if not union else len(predicted & actual) / len(union)


@dataclasses.dataclass(frozen=True)
class Fidelity:
    edit_distance: int
    normalised: float
    patch_iou: float


def fidelity(state: dict, sample: dict, truth: dict) -> Fidelity:
    """How far a sampled next state is from the true one (see the module docstring)."""
    true_doc = document(truth)
    ops = len(json_patch(document(sample), true_doc))
    return Fidelity(edit_distance=ops, normalised=ops / max(leaves(true_doc), 1),
                    patch_iou=patch_iou(state, sample, truth))
