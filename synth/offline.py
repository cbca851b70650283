"""The offline proposer: laws induced from the data, with no network (the default proposer).

For an aspect (an observable class: `player.inventory.wood`, `player.facing`, `grid`, `cow.pos`,
`zombie.health`, `spawn.plant`...), candidate **effects** come from the changes seen in the data: the
deltas an attribute moved by, the values it was set to, the directions a position moved in, the
materials a cell became and the kinds that appeared, at every cell a law can name (ahead of the
player; an object's own cell, the cell it faces, the cell toward the player). An object's position
gets one categorical law over a step in each direction, staying, stepping toward or away from the
player and along each of its own directions, with the outcomes the data does not need dropped.

For each effect a **precondition** is searched among conjunctions of literals from a feature library
built from the schema and the data alone (`literals`):
- about the player: the action, the material and the object faced, materials within a radius, every
  attribute of the player (thresholds at values seen in the data, both sides and equality), the
  nearest object of each kind within a distance, the globals; negations of each;
- about an object (a law `for each KIND v`): the action, whether the player faces it, its distance to
  the player, its own attributes, the materials at and around its cell, the nearest object of each
  other kind, the globals. Not the player's attributes: a law about a creature is about the creature.
Nothing here knows a name or a number of one world: thresholds and distances come from the values in
the data, materials, kinds, actions and attributes from the schema, and ties go by schema order.

A rule is scored by its log-likelihood gain over leaving the observable unexplained, minus a
description-length penalty that grows with the data (BIC-like: a literal costs the log of the library
size plus half the log of the rows), and is deterministic or gets a named probability, whichever
scores better. The empty condition is a candidate. The beam keeps many first literals, ordered by what
any refinement of them could still gain (an optimistic bound), so the literal that starts the best
conjunction survives even when it is weak alone. Rules for one aspect form a **decision list**: each
is searched on the rows earlier rules left, and carries the negation of their conditions, so what is
emitted is what was scored. Rows that laws already in the model explain (their predicted outcomes
include what happened) are left out; rows they get wrong stay in play, so an aspect that is still
surprising gets new laws in later rounds.

Literals and effects are DSL text evaluated by the batched compiler (`dsl.compile_torch`), so what is
scored is exactly what is emitted.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections import Counter
from typing import Sequence

import torch

from lawsmith.dsl import DslError, check, compile_torch, parse
from lawsmith.laws.combine import NOISE_FLOOR
from lawsmith.laws.table_torch import ID_BITS, ObservableCodes, Transitions, effect_rows
from lawsmith.synth.proposer import Candidate, ProposalRequest, ProposerStats

DIRECTIONS = {(-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down"}
# Search settings: the learner's resolution, not facts of any world.
MAX_LITERALS = 4
BEAM_FIRST = 24         # first literals kept (see the module docstring)
BEAM = 16
RULES_PER_ASPECT = 6
EFFECTS_PER_ASPECT = 6
MAX_CUTS = 24           # thresholds per numeric feature: every value seen, or this many spread out
RADII = (1, 2, 3, 4, 6, 8, 11, 16)   # near(): the language's radius range (0..16), log-spaced
MAX_ROWS = 8_000        # search rows per effect; unchanged rows beyond it are sampled and weighted
MIN_GAIN = 4.0          # nats a rule must win by, after its penalty
MIN_HITS = 2            # changes a rule must explain
PARAM = "{param}"       # where a categorical rule's effect takes its parameter's name


@dataclasses.dataclass(frozen=True)
class Rule:
    """A found law: an effect under a conjunction of literals, with its evidence. `unless` holds the
    conditions of the rules before it in its decision list (each a tuple of literals)."""
    kind: str                  # "player" or the bound kind
    effect: str
    literals: tuple[str, ...]
    hits: int
    misses: int
    probability: float | tuple[float, ...] | None  # None: deterministic; a tuple: categorical
    gain: float
    unless: tuple[tuple[str, ...], ...] = ()


class OfflineProposer:
    """Induces laws from `transitions` (the training data); see the module docstring."""

    name = "offline"

    def __init__(self, transitions: Sequence[tuple[dict, str, dict]], schema: dict,
                 device: str = "cpu"):
        self.schema = schema
        self.codes = ObservableCodes(schema)
        self.stats = ProposerStats()
        self.data = Transitions(self.codes, [t[0] for t in transitions],
                                [t[1] for t in transitions], [t[2] for t in transitions], device)
        self.transitions = transitions
        self._literal_cache: dict[str, tuple[list[str], torch.Tensor]] = {}
        self._taken: set[str] = set()
        self._random = torch.Generator().manual_seed(0)
        kinds = schema["kinds"]
        self._counts_attrs = [a for a, s in kinds["player"].items() if s["type"] == "counts"]
        self._others = [k for k in kinds if k != "player"]

    # --- the Proposer interface -------------------------------------------------------------

    def propose(self, requests: Sequence[ProposalRequest]) -> list[list[Candidate]]:
        start = time.perf_counter()
        results = []
        for request in requests:
            # Names (and so parameter names) taken by the laws already there stay theirs.
            self._taken.update(re.findall(r"^law (\w+)", request.laws_text, re.M))
            covered = self._covered(request.laws_text, request.aspect)
            rules = self.rules_for(request.aspect, covered)
            results.append(self._candidates(rules, request))
        self.stats.seconds += time.perf_counter() - start
        return results

    def _candidates(self, rules: list[Rule], request: ProposalRequest) -> list[Candidate]:
        candidates = []
        for rule in rules[:max(request.count, 1) * 3]:
            text = self.law_text(rule, request.aspect)
            try:
                errors = check(parse(text), self.schema)
            except DslError:
                errors = [True]
            if errors:
                self.stats.rejected += 1
                continue
            candidates.append(Candidate(text, self.name, f"gain {rule.gain:.1f} nats"))
        return candidates

    # --- evidence ---------------------------------------------------------------------------

    def _evaluate(self, kind: str, bodies: list[str], effect: bool):
        """Compile one law per body (a condition, or an effect under `when true`) and run them."""
        header = "" if kind == "player" else f" for each {kind} v"
        if effect:
            text = "\n".join(f"law e{i}{header}\n  then {body}" for i, body in enumerate(bodies))
        else:
            keep = "player.pos = player.pos" if kind == "player" else "v.pos = v.pos"
            text = "\n".join(f"law f{i}{header}\n  when {body}\n  then {keep}"
                             for i, body in enumerate(bodies))
        laws = compile_torch(parse(text), self.schema)
        return laws.predict(self.data.before)

    def literals(self, kind: str) -> tuple[list[str], torch.Tensor]:
        """The feature library for laws about `kind`: literal texts and their masks ([L, N] for the
        player, [L, N, M] for the objects of a kind). Literals true everywhere or nowhere are left
        out, and so is each literal whose mask equals an earlier one's (the first in schema order
        stays)."""
        if kind not in self._literal_cache:
            texts = self._literal_texts(kind)
            # A negation is the complement of its literal, not evaluated again.
            position = {text: i for i, text in enumerate(texts)}
            positives = [_positive(text) for text in texts]
            negated = {i: position[positive] for i, positive in enumerate(positives)
                       if positive != texts[i] and positive in position}
            evaluate = [i for i in range(len(texts)) if i not in negated]
            computed = {}
            for start in range(0, len(evaluate), 256):
                part = evaluate[start:start + 256]
                outputs = self._evaluate(kind, [texts[i] for i in part], effect=False)
                computed.update(zip(part, (out.mask for out in outputs)))
            masks = torch.stack([computed[i] if i in computed else ~computed[negated[i]]
                                 for i in range(len(texts))])
            if kind != "player":
                masks = masks & self.data.before.tables[kind].mask
            flat = masks.flatten(1)
            valid = (self.data.before.tables[kind].mask.flatten() if kind != "player"
                     else torch.ones(flat.shape[1], dtype=torch.bool))
            flat = flat[:, valid]
            informative = flat.any(1) & ~flat.all(1)
            keep, seen = [], set()
            for i in informative.nonzero().flatten().tolist():
                signature = flat[i].numpy().tobytes()
                if signature not in seen:
                    seen.add(signature)
                    keep.append(i)
            self._literal_cache[kind] = ([texts[i] for i in keep], masks[keep])
        return self._literal_cache[kind]

    def _literal_rows(self, kind: str, where: tuple) -> tuple[list[str], torch.Tensor]:
        """Every literal for `kind` at the rows `where`, as a float32 [L, R] matrix."""
        texts, masks = self.literals(kind)
        return texts, masks[(slice(None),) + where].to(torch.float32)

    def _literal_texts(self, kind: str) -> list[str]:
        """Candidate literals for laws about `kind` (see `literals`), in schema order."""
        schema = self.schema
        materials = list(schema["materials"])
        texts = [f"action == {a}" for a in schema["actions"]]
        texts += [f"action != {a}" for a in schema["actions"]]
        if kind == "player":
            texts += [f"material(ahead) {op} {m}" for op in ("==", "!=") for m in materials]
            texts += [f"kind_at(ahead) {op} {k}" for op in ("==", "!=")
                      for k in self._others + ["none"]]
            texts += [f"{neg}near(player.pos, {m}, {r})" for neg in ("", "not ")
                      for m in materials for r in RADII]
            texts += self._attribute_literals("player", "player")
            texts += self._relation_literals("player", "player.pos")
        else:
            texts += ["v.pos == ahead", "v.pos != ahead"]
            distance = self._distances(kind, None)
            texts += [f"dist(v.pos, player.pos) {op} {t}"
                      for op, t in _cuts(distance, integer=True)]
            texts += self._attribute_literals(kind, "v")
            texts += [f"material(v.pos) == {m}" for m in materials]
            texts += [f"{neg}near(v.pos, {m}, {r})" for neg in ("", "not ")
                      for m in materials for r in RADII]
            texts += self._relation_literals(kind, "v.pos")
        for name, spec in schema.get("globals", {}).items():
            if spec["type"] in ("int", "float"):
                values = self.data.before.globals[name]
                texts += [f"{name} {op} {t}"
                          for op, t in _cuts(values, integer=spec["type"] == "int")]
        return list(dict.fromkeys(texts))

    def _attribute_literals(self, kind: str, var: str) -> list[str]:
        """Literals over the attributes of `kind` (thresholds from the values in the data)."""
        table = self.data.before.tables[kind]
        texts = []
        for attr, spec in self.schema["kinds"][kind].items():
            kind_type = spec["type"]
            if kind_type == "bool":
                texts += [f"{var}.{attr}", f"not {var}.{attr}"]
            elif kind_type == "dir" and attr != "pos":
                texts += [f"{var}.{attr} == {d}" for d in DIRECTIONS.values()]
            elif kind_type in ("int", "float", "counts"):
                keys = ([None] if kind_type != "counts" else
                        list(self.schema["items"]) if spec["keys"] == "items" else spec["keys"])
                for key in keys:
                    values = table.fields[(attr, key)][table.mask]
                    path = f"{var}.{attr}" + (f".{key}" if key else "")
                    texts += [f"{path} {op} {t}"
                              for op, t in _cuts(values, integer=kind_type != "float")]
        return texts

    def _distances(self, kind: str, other: str | None) -> torch.Tensor:
        """Manhattan distances from each object of `kind` (or the player) to the nearest object of
        `other` (None: to the player), where both exist ([R] values)."""
        tables = self.data.before.tables
        here = tables[kind]
        pos = here.fields[("pos", None)]                                     # [N, M, 2]
        if other is None:
            target = tables["player"].fields[("pos", None)][:, :1]           # [N, 1, 2]
            target_mask = tables["player"].mask[:, :1]
        else:
            target, target_mask = tables[other].fields[("pos", None)], tables[other].mask
        if pos.shape[1] == 0 or target.shape[1] == 0:
            return torch.zeros(0, dtype=torch.int64)
        d = (pos.unsqueeze(2) - target.unsqueeze(1)).abs().sum(-1)           # [N, M, M2]
        d = torch.where(target_mask.unsqueeze(1), d, torch.iinfo(torch.int64).max)
        nearest = d.min(2).values
        ok = here.mask & target_mask.any(1, keepdim=True)
        return nearest[ok]

    def _relation_literals(self, kind: str, here: str) -> list[str]:
        """`exists(K u where dist(u.pos, HERE) <= d)` for every other kind K, d from the data."""
        texts = []
        for other in self._others:
            if other == kind:
                continue
            values = self._distances(kind, other)
            for op, t in _cuts(values, integer=True):
                if op in ("<=", "<"):
                    literal = f"exists({other} u where dist(u.pos, {here}) {op} {t})"
                    texts += [literal, f"not {literal}"]
        return texts

    def _rows(self, kind: str, effect: str):
        """Per row where `effect` applies: (row index into [N] or [N, M], observable code,
        category, observed code), where the category is 0 hit (it predicted the change seen), 1
        missed stay (it predicted a change, none came), 2 missed other (the observable became
        something else), 3 neutral (it predicts no change and none came); None if the effect
        applies nowhere."""
        (out,) = self._evaluate(kind, [effect], effect=True)
        rows = effect_rows(out.effects[0], out, kind, self.data.player, self.codes)
        if rows is None:
            return None
        where, code, outcomes, old = rows
        observed, present = self.data.observed(where[0], code)
        predicted = outcomes[:, 0]
        category = torch.full_like(predicted, 2)
        category[(predicted == observed) & (observed != old)] = 0
        category[(predicted != observed) & (observed == old)] = 1
        category[(predicted == old) & (observed == old)] = 3
        where = tuple(w[present] for w in where)
        return where, code[present], category[present]

    def _covered(self, laws_text: str, aspect: str) -> set[tuple[int, int]]:
        """(transition, observable code) pairs of the aspect's class that existing laws explain:
        one of them fires there and its possible outcomes include what happened. Rows where every
        law that fires is wrong stay open to new laws."""
        if not laws_text.strip():
            return set()
        cls = self.codes.classes.index(aspect) if aspect in self.codes.classes else None
        laws = compile_torch(parse(laws_text), self.schema)
        covered = set()
        for out in laws.predict(self.data.before):
            kind = self.codes.kinds[out.law.kind] if out.law.kind is not None else "player"
            if out.law.cells:
                continue
            for effect_out in out.effects:
                rows = effect_rows(effect_out, out, kind, self.data.player, self.codes)
                if rows is None:
                    continue
                where, code, outcomes, old = rows
                mine = (code >> ID_BITS) == cls if cls is not None else torch.zeros_like(code) > 0
                if aspect == "grid":
                    mine = (code >> ID_BITS) == self.codes.cell
                if not mine.any():
                    continue
                n, code, outcomes, old = where[0][mine], code[mine], outcomes[mine], old[mine]
                observed, present = self.data.observed(n, code)
                possible = (outcomes == observed.unsqueeze(1)).any(1)
                effect = effect_out.effect
                if effect.prob is not None or effect.param is not None:   # it may not happen
                    possible |= observed == old
                keep = present & possible
                covered.update(zip(n[keep].tolist(), code[keep].tolist()))
        return covered

    # --- effects ----------------------------------------------------------------------------

    def effects_for(self, aspect: str) -> list[tuple[str, str]]:
        """(kind, effect text) pairs worth trying for an observable class."""
        changes = self._changes(aspect)
        if aspect == "grid":
            counts = Counter(new for _, new in changes)
            effects = []
            for material, _ in counts.most_common(4):
                effects += [(kind, f"material({cell}) = {material}")
                            for kind, cell in self._cells()]
            return effects
        if aspect.startswith("spawn."):
            spawned = aspect[len("spawn."):]
            return [(kind, f"spawn {spawned} at {cell}") for kind, cell in self._cells()]
        kind, attr, key = _split(aspect)
        var = "player" if kind == "player" else "v"
        if attr == "exists":
            return [(kind, "remove v")]
        path = f"{var}.{attr}" + (f".{key}" if key else "")
        spec = self.schema["kinds"][kind][attr]
        kind_type = "int" if spec["type"] == "counts" else spec["type"]
        effects: list[str] = []
        if kind_type == "bool":
            effects = [f"{path} = {'true' if v else 'false'}"
                       for v, _ in Counter(new for _, new in changes).most_common(2)]
        elif kind_type == "dir":
            effects = [f"{path} = {DIRECTIONS[v]}"
                       for v, _ in Counter(new for _, new in changes).most_common(5) if v in DIRECTIONS]
        elif kind_type == "pos":
            moves = Counter((new[0] - old[0], new[1] - old[1]) for old, new in changes)
            effects = [f"{path} = moved({path}, {DIRECTIONS[d]})" for d, _ in moves.most_common(5)
                       if d in DIRECTIONS]
        elif kind_type in ("int", "float"):
            deltas = Counter(_number(new - old) for old, new in changes)
            for delta, _ in deltas.most_common(EFFECTS_PER_ASPECT):
                effects.append(f"{path} += {delta}" if delta > 0 else f"{path} -= {-delta}")
            values = Counter(_number(new) for _, new in changes)
            effects += [f"{path} = {v}" for v, _ in values.most_common(2) if v >= 0]
        return [(kind, e) for e in list(dict.fromkeys(effects))[:EFFECTS_PER_ASPECT]]

    def _cells(self) -> list[tuple[str, str]]:
        """(kind, cell) pairs a law can name a cell with: the cell ahead of the player; for each
        other kind, an object's own cell, the cell along each of its directions and the cell
        toward the player."""
        cells = [("player", "ahead")]
        for kind in self._others:
            cells.append((kind, "v.pos"))
            cells += [(kind, f"v.pos + v.{attr}") for attr, spec in self.schema["kinds"][kind].items()
                      if spec["type"] == "dir"]
            cells.append((kind, "v.pos + toward(v.pos, player.pos)"))
        return cells

    def _changes(self, aspect: str) -> list[tuple]:
        """(old, new) plain values of every change of the class in the data (at most 2,000)."""
        result = []
        names = {c: n for n, c in self.schema["materials"].items()}
        for state, _, next_state in self.transitions:
            if aspect == "grid":
                for a, b in zip(state["grid"], next_state["grid"]):
                    if a != b:
                        result += [(names[p], names[q]) for p, q in zip(a, b) if p != q]
                continue
            kind, attr, key = _split(aspect)
            if attr == "exists" or aspect.startswith("spawn."):
                continue
            after = {o["id"]: o for o in next_state["objects"]}
            for obj in state["objects"]:
                new = after.get(obj["id"])
                if obj["kind"] != kind or new is None:
                    continue
                old_value = obj[attr] if key is None else obj[attr][key]
                new_value = new[attr] if key is None else new[attr][key]
                if old_value != new_value:
                    result.append((_plain(old_value), _plain(new_value)))
            if len(result) >= 2000:
                break
        return result

    # --- search -----------------------------------------------------------------------------

    def rules_for(self, aspect: str, covered: set | None = None) -> list[Rule]:
        """A decision list of rules for one observable class: the best rule over every candidate
        effect, then the best on the rows its condition leaves (carrying its negation), and so on.
        Rows laws already explain (`covered`, (transition, observable code) pairs) are left out."""
        if aspect not in self.codes.classes:
            return []
        domain = float(self.codes.domain[self.codes.classes.index(aspect)])
        claimed = torch.tensor(sorted((n << 40) | c for n, c in (covered or ())), dtype=torch.int64)
        if not aspect.startswith("spawn.") and aspect != "grid":
            kind, attr, _ = _split(aspect)
            spec = self.schema["kinds"][kind].get(attr, {})
            if kind != "player" and spec.get("type") == "pos":
                return self._move_rules(kind, attr, domain, claimed)
        evidence = {}
        for kind, effect in self.effects_for(aspect):
            try:
                found = self._rows(kind, effect)
            except DslError:
                continue
            if found is None:
                continue
            where, code, category = found
            if int((category == 0).sum()) < MIN_HITS:
                continue
            evidence[(kind, effect)] = ((where[0] << 40) | code, category, where)
        # The effects with the most hits, at most EFFECTS_PER_ASPECT (cells ahead and of objects
        # compete here).
        ranked = sorted(evidence, key=lambda e: -int((evidence[e][1] == 0).sum()))
        evidence = {e: evidence[e] for e in ranked[:EFFECTS_PER_ASPECT]}
        rules: dict[str, list[Rule]] = {}
        order: list[Rule] = []
        prepared = {}
        for key, (keys, category, where) in evidence.items():
            # unchanged rows (missed stays and neutral ones) are the common ones
            sample, weight = self._sample((category == 1) | (category == 3))
            where = tuple(w[sample] for w in where)
            texts, literal_rows = self._literal_rows(key[0], where)
            # rows x literals, so that the rows of a condition are contiguous (see `_search`)
            prepared[key] = (keys[sample], category[sample], weight, texts,
                             literal_rows.T.contiguous())
        for _ in range(RULES_PER_ASPECT):
            best, best_key, best_rows = None, None, None
            for key, (keys, category, weight, texts, literal_rows) in prepared.items():
                free = ~torch.isin(keys, claimed)
                unless = tuple(r.literals for r in rules.get(key[0], []))
                rule = self._search(key[0], key[1], texts, literal_rows, free, category, weight,
                                    domain, unless)
                if rule is not None and (best is None or rule.gain > best.gain):
                    chosen = free.clone()
                    for literal in rule.literals:
                        chosen &= literal_rows[:, texts.index(literal)] > 0
                    best, best_key, best_rows = rule, key, keys[chosen]
            if best is None:
                break
            rules.setdefault(best_key[0], []).append(best)
            order.append(best)
            claimed = torch.cat([claimed, best_rows]).unique()
            if not best.literals:
                break
        return order

    def _sample(self, common: torch.Tensor, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows to search on and their weights: every row, or, past `limit` (MAX_ROWS) rows, every
        uncommon row and a seeded sample of the `common` ones (unchanged rows), weighted up."""
        limit = limit or MAX_ROWS
        rows = len(common)
        weight = torch.ones(rows, dtype=torch.float32)
        pool = common.nonzero().flatten()
        keep = max(limit - (rows - len(pool)), len(pool) // 50, 1)
        if rows <= limit or keep >= len(pool):
            return torch.ones(rows, dtype=torch.bool), weight
        chosen = pool[torch.randperm(len(pool), generator=self._random)[:keep]]
        sample = ~common
        sample[chosen] = True
        weight[chosen] = len(pool) / keep
        return sample, weight[sample]

    def _search(self, kind: str, effect: str, texts: list[str], literal_rows: torch.Tensor,
                free: torch.Tensor, category: torch.Tensor, weight: torch.Tensor, domain: float,
                unless: tuple) -> Rule | None:
        """Beam search over conjunctions of literals for the best net gain on the `free` rows
        (rows weighted by `weight`; `literal_rows` is [R, L])."""
        # The claimed rows get weight 0 rather than being cut out: copying [R, L] costs more
        # than a product with it.
        weight = weight * free
        if int(free.sum()) == 0 or int(((category == 0) & free).sum()) < MIN_HITS:
            return None
        onehot = torch.nn.functional.one_hot(category, 4).to(torch.float32) * weight[:, None]
        total = onehot.sum(0).to(torch.float64)
        changed = float(total[0] + total[2])
        q = min(max(changed / float(total.sum()), 1e-6), 1 - 1e-6)
        literal_cost = math.log(max(len(texts), 2)) + 0.5 * math.log(max(float(total.sum()), 2))
        param_cost = 0.5 * math.log(max(float(total.sum()), 2))
        best: Rule | None = None

        def consider(literals: tuple[int, ...], counts: torch.Tensor, gain: float,
                     probability: float) -> None:
            nonlocal best
            net = gain - literal_cost * len(literals) - (0 if math.isnan(probability)
                                                        else param_cost)
            if net > MIN_GAIN and counts[0] >= MIN_HITS and (best is None or net > best.gain):
                best = Rule(kind, effect, tuple(texts[i] for i in literals), int(counts[0]),
                            int(counts[1] + counts[2]),
                            None if math.isnan(probability) else probability, net, unless)

        gain, probability = _gain(total.unsqueeze(0), q, domain)
        consider((), total, float(gain[0]), float(probability[0]))
        beam: list[tuple[tuple[int, ...], torch.Tensor]] = [((), torch.ones(
            literal_rows.shape[0], dtype=torch.float32))]
        for depth in range(1, MAX_LITERALS + 1):
            expanded = []
            for chosen, mask in beam:
                inside = mask.nonzero().flatten()
                if len(inside) * 2 > len(mask):
                    counts = ((onehot * mask[:, None]).T @ literal_rows).T.to(torch.float64)
                else:   # only the rows the condition holds on: a gather of contiguous rows
                    counts = ((onehot[inside] * mask[inside, None]).T
                              @ literal_rows[inside]).T.to(torch.float64)          # [L, 4]
                gain, probability = _gain(counts, q, domain)
                bound = _bound(counts, q, domain) - literal_cost * (depth + 1)
                for i in chosen:
                    gain[i] = -math.inf
                # The candidates: the best by gain and the best by what refinements could gain.
                order = torch.argsort(gain, descending=True, stable=True)[:2 * BEAM_FIRST]
                hopeful = torch.argsort(torch.where(gain.isfinite(), bound, -math.inf),
                                        descending=True, stable=True)[:2 * BEAM_FIRST]
                picked = list(dict.fromkeys(order.tolist() + hopeful.tolist()))
                index = torch.tensor(picked, dtype=torch.int64)
                rows_of = zip(picked, counts[index].tolist(), gain[index].tolist(),
                              probability[index].tolist(), bound[index].tolist())
                for i, count, g, prob, b in rows_of:
                    if not math.isfinite(g) or count[0] < MIN_HITS:
                        continue
                    literals = tuple(sorted(chosen + (i,)))
                    consider(literals, count, g, prob)
                    expanded.append((b, g, literals, i, mask))
            width = BEAM_FIRST if depth == 1 else BEAM
            # The beam: half the conditions that gain most, half those whose refinements could
            # gain most, which may be weak themselves (a recipe's action alone is often wrong;
            # with its ingredients it is exact).
            by_gain = sorted(expanded, key=lambda e: -e[1])[:width // 2]
            by_bound = sorted(expanded, key=lambda e: (-e[0], -e[1]))
            seen, beam = set(), []
            for bound, _, literals, i, mask in by_gain + by_bound:
                if literals in seen or (best is not None and bound <= best.gain):
                    continue
                seen.add(literals)
                beam.append((literals, mask * literal_rows[:, i]))
                if len(beam) == width:
                    break
            if not beam:
                break
        return best

    def _move_rules(self, kind: str, attr: str, domain: float,
                    claimed: torch.Tensor) -> list[Rule]:
        """A creature's position as a categorical over the moves a law can name (a step in each
        direction, staying, toward the player on either axis, away from it, along each of its own
        directions), fitted by EM. The decision list has at most two rules: a first under one
        literal of the kind's library (or none) and one for the rows it leaves; the pair with the
        best total gain is taken (each of the most promising first literals is tried with its best
        second). The outcomes the chosen rules do not need (BIC) are dropped."""
        path = f"v.{attr}"
        moves = {name: f"moved({path}, {name})" for name in DIRECTIONS.values()}
        moves["stay"] = path
        moves["toward"] = f"moved({path}, toward({path}, player.pos))"
        moves["sideways"] = f"moved({path}, toward_short({path}, player.pos))"
        moves["away"] = f"moved({path}, -toward({path}, player.pos))"
        for other, spec in self.schema["kinds"][kind].items():
            if spec["type"] == "dir":
                moves[f"along_{other}"] = f"moved({path}, v.{other})"
        labels = list(moves)

        def choice(chosen: list[str], param: str) -> str:
            return (f"{path} = choose {param} {{ "
                    + ", ".join(f"{label}: {moves[label]}" for label in chosen) + " }")

        (out,) = self._evaluate(kind, [choice(labels, "walk")], effect=True)
        rows = effect_rows(out.effects[0], out, kind, self.data.player, self.codes)
        if rows is None:
            return []
        where, code, outcomes, old = rows
        observed, present = self.data.observed(where[0], code)
        keep = present & ~torch.isin((where[0] << 40) | code, claimed)
        where = tuple(w[keep] for w in where)
        outcomes, old, observed = outcomes[keep], old[keep], observed[keep]
        if len(observed) == 0:
            return []
        sample, weight = self._sample(observed == old, MAX_ROWS // 2)
        where = tuple(w[sample] for w in where)
        outcomes, old, observed = outcomes[sample], old[sample], observed[sample]
        changed, weight = observed != old, weight.to(torch.float64)
        match = (outcomes == observed.unsqueeze(1)).to(torch.float64)           # [R, K]
        texts, literal_rows = self._literal_rows(kind, where)
        inside = torch.cat([torch.ones(1, len(observed), dtype=torch.float32), literal_rows])
        total = float(weight.sum())
        q = min(max(float((changed * weight).sum()) / total, 1e-6), 1 - 1e-6)
        baseline = torch.where(changed, math.log(q) - math.log(max(domain - 1, 1)),
                               math.log(1 - q))
        literal_cost = math.log(max(len(texts), 2)) + 0.5 * math.log(max(total, 2))
        cost = torch.full((len(inside),), literal_cost, dtype=torch.float64)
        cost[0] = 0.0
        first = _em_gains(match, inside.to(torch.float64) * weight, domain, baseline,
                          steps=10)[0] - cost
        best = None
        for i in torch.argsort(first, descending=True, stable=True)[:3].tolist():
            if first[i] <= MIN_GAIN:
                break
            if i == 0:
                candidate = (float(first[0]), 0, None)
            else:
                rest = inside * (1 - inside[i])
                second = _em_gains(match, rest.to(torch.float64) * weight, domain, baseline,
                                   steps=10)[0] - cost
                j = int(torch.argmax(second))
                extra = float(second[j]) if float(second[j]) > MIN_GAIN else 0.0
                candidate = (float(first[i]) + extra, i, j if extra else None)
            if best is None or candidate[0] > best[0]:
                best = candidate
        if best is None:
            return []
        result: list[Rule] = []
        free = torch.ones(len(observed), dtype=torch.bool)
        for index in (best[1], best[2]):
            if index is None:
                break
            rows_in = free & (inside[index] > 0)
            fitted = _fit_categorical(match[rows_in], domain, baseline[rows_in], weight[rows_in])
            if fitted is None:
                break
            gain, p, used = fitted
            chosen = [labels[u] for u in used]
            if len(chosen) == 1:   # one move always: a deterministic law
                text, probability = f"{path} = {moves[chosen[0]]}", None
            else:
                text = choice(chosen, PARAM)
                probability = tuple(float(p[u]) for u in used)
            literals = () if index == 0 else (texts[index - 1],)
            result.append(Rule(kind, text, literals, int(changed[rows_in].sum()),
                               int((match[rows_in].sum(1) == 0).sum()), probability, gain,
                               tuple(r.literals for r in result)))
            if index == 0:
                break
            free = free & ~rows_in
        return result

    # --- text -------------------------------------------------------------------------------

    def law_text(self, rule: Rule, aspect: str) -> str:
        """The rule as a law in the DSL, with a unique readable name."""
        words = [_literal_word(literal) for literal in rule.literals[:2]] or ["always"]
        base = _identifier("_".join([self._aspect_word(aspect)] + words))
        name, suffix = base, 2
        while name in self._taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self._taken.add(name)
        seen = rule.hits + rule.misses
        shown = rule.effect.replace(f"choose {PARAM} ", "choose ")
        conditions = list(rule.literals) + [_negation(u) for u in rule.unless]
        condition = " and ".join(conditions)
        summary = shown.split(' {')[0].replace('"', "'")
        description = (f"Learned: {summary} when {' and '.join(rule.literals) or 'always'}"
                       + (" (after the laws before it)" if rule.unless else "")
                       + f" ({rule.hits} of {seen} times)")
        header = f'law {name} "{description}"'
        if rule.kind != "player":
            header += f"\n  for each {rule.kind} v"
        effect = rule.effect
        if isinstance(rule.probability, tuple):
            values = [round(max(v, 0.001), 3) for v in rule.probability[:-1]]
            values.append(round(1 - sum(values), 3))   # the init must sum to 1 exactly
            if values[-1] <= 0:
                values = [round(1 / len(values), 3)] * (len(values) - 1)
                values.append(round(1 - sum(values), 3))
            effect = effect.replace(PARAM, f"p_{name}") + f" init ({', '.join(map(str, values))})"
        elif rule.probability is not None:
            p = min(max(round(rule.probability, 3), 0.001), 0.999)
            effect += f" with probability p_{name} init {p}"
        return header + (f"\n  when {condition}" if condition else "") + f"\n  then {effect}\n"

    def _aspect_word(self, aspect: str) -> str:
        """`player.inventory.wood` -> `wood`, `player.facing` -> `facing`, `cow.pos` -> `cow_pos`
        (the player's counts attributes are dropped: their keys say enough)."""
        parts = aspect.split(".")
        if parts[0] == "player":
            parts = parts[1:]
            if len(parts) == 2 and parts[0] in self._counts_attrs:
                parts = parts[1:]
        return "_".join(parts)


def _em_gains(match: torch.Tensor, inside: torch.Tensor, domain: float,
              baseline: torch.Tensor, steps: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row weighting of `inside` ([C, R]: a condition's rows, times row weights), the
    gain over `baseline` of a categorical over the outcomes of `match` ([R, K], 1 where an outcome
    equals what happened) fitted by EM, all conditions at once: (gains [C], weights [C, K])."""
    eps = NOISE_FLOOR
    conditions, outcomes = inside.shape[0], match.shape[1]
    p = torch.full((conditions, outcomes), 1 / outcomes, dtype=torch.float64)
    for _ in range(steps):
        denominator = (p @ match.T).clamp(min=1e-12)                             # [C, R]
        p = p * ((inside / denominator) @ match) + 1e-3
        p = p / p.sum(1, keepdim=True)
    likelihood = torch.log((1 - eps) * (p @ match.T) + eps / domain)            # [C, R]
    price = 0.5 * math.log(max(float(inside.sum(1).max()), 2)) * (outcomes - 1)
    return (inside * (likelihood - baseline)).sum(1) - price, p


def _fit_categorical(match: torch.Tensor, domain: float, baseline: torch.Tensor,
                     weight: torch.Tensor):
    """EM for the weights of a categorical over possibly coinciding outcomes ([R, K] 0/1 matches,
    rows weighted by `weight`); outcomes whose removal costs less than their BIC price are
    dropped one at a time. Returns (gain over `baseline` less the price, weights [K], indices of
    the outcomes kept) or None."""
    rows = float(weight.sum())
    if rows == 0:
        return None
    price = 0.5 * math.log(max(rows, 2))
    used = list(range(match.shape[1]))

    def em(columns: list[int]):
        gain, p = _em_gains(match[:, columns], weight.unsqueeze(0), domain, baseline, steps=60)
        return float(gain[0]), p[0]

    gain, p = em(used)
    while len(used) > 1:
        trials = []
        for j in range(len(used)):
            rest = used[:j] + used[j + 1:]
            trial_gain, trial_p = em(rest)
            trials.append((gain - trial_gain, j, trial_gain, trial_p))
        loss, j, trial_gain, trial_p = min(trials, key=lambda t: t[0])
        if loss > 0:   # the gains already carry each outcome's price
            break
        used, gain, p = used[:j] + used[j + 1:], trial_gain, trial_p
    weights = torch.zeros(match.shape[1], dtype=torch.float64)
    weights[used] = p
    return gain, weights, used


def _gain(counts: torch.Tensor, q: float, domain: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-likelihood gain of a law over the unexplained baseline, per condition ([L, 4] counts of
    hit, missed stay, missed other, neutral), and the Bernoulli probability where that is better
    (NaN where deterministic is better)."""
    eps = NOISE_FLOOR
    hit, stay, other, neutral = counts.unbind(1)
    changed_baseline = math.log(q) - math.log(max(domain - 1, 1))
    stay_baseline = math.log(1 - q)
    baseline = (hit + other) * changed_baseline + (stay + neutral) * stay_baseline
    sure, miss = math.log(1 - eps + eps / domain), math.log(eps / domain)
    deterministic = (hit + neutral) * sure + (stay + other) * miss
    p = (hit / (hit + stay).clamp(min=1)).clamp(1e-4, 1 - 1e-4)
    bernoulli = (hit * torch.log((1 - eps) * p + eps / domain)
                 + stay * torch.log((1 - eps) * (1 - p) + eps / domain)
                 + other * miss + neutral * sure)
    param_cost = 0.5 * math.log(max(float(counts.sum(1).max()), 2))
    use_bernoulli = bernoulli - param_cost > deterministic
    gain = torch.where(use_bernoulli, bernoulli, deterministic) - baseline
    probability = torch.where(use_bernoulli, p, torch.full_like(p, math.nan))
    return gain, probability


def _bound(counts: torch.Tensor, q: float, domain: float) -> torch.Tensor:
    """The most any refinement of each condition could gain: it keeps every hit and unchanged row
    it predicts and sheds every miss."""
    eps = NOISE_FLOOR
    hit, _, _, neutral = counts.unbind(1)
    sure = math.log(1 - eps + eps / domain)
    changed_baseline = math.log(q) - math.log(max(domain - 1, 1))
    return hit * (sure - changed_baseline) + neutral * max(sure - math.log(1 - q), 0.0)


def _cuts(values: torch.Tensor, integer: bool) -> list[tuple[str, float]]:
    """Threshold literals for a numeric feature from the values it takes in the data: `== v`,
    `>= v` and `<= v` at every value when there are at most MAX_CUTS of them, else `>= c` and
    `< c` at cut points between values, spread evenly in rank on a log scale from both ends (dense
    near the extremes, where thresholds usually sit)."""
    distinct = torch.unique(values.flatten())
    if len(distinct) <= 1:
        return []
    if len(distinct) <= MAX_CUTS:
        points = [_number(v) for v in distinct.tolist()]
        result = [("==", v) for v in points]
        result += [(">=", v) for v in points[1:]] + [("<=", v) for v in points[:-1]]
        return result
    count = len(distinct)
    half = MAX_CUTS // 2
    ranks = {round(math.exp(i * math.log(count - 1) / (half - 1))) for i in range(half)}
    ranks |= {count - r for r in ranks}
    result = []
    for r in sorted(r for r in ranks if 0 < r < count):
        low, high = float(distinct[r - 1]), float(distinct[r])
        cut = _between(low, high, integer)
        result += [(">=", cut), ("<", cut)]
    return result


def _between(low: float, high: float, integer: bool):
    """A short number in (low, high]: `high` for integers, else the shortest decimal above low."""
    if integer:
        return int(high)
    for digits in range(0, 7):
        value = round((low + high) / 2, digits)
        if low < value <= high:
            return _number(value)
    return _number(high)


def _negation(condition: tuple[str, ...]) -> str:
    """The negation of a conjunction of literals, as text: `not (a and b)`; one literal negated
    in place (`not x` -> `x`, `a != b` -> `a == b`)."""
    if len(condition) == 1:
        positive = _positive(condition[0])
        if positive != condition[0]:
            return positive
        if (positive.count(" == ") == 1 and " where " not in positive
                and "(" not in positive.split(" == ")[1]):
            return positive.replace(" == ", " != ")
        return f"not {positive}"
    return "not (" + " and ".join(condition) + ")"


def _positive(literal: str) -> str:
    """The literal a negation negates (`not near(...)` -> `near(...)`, `a != b` -> `a == b`)."""
    if literal.startswith("not "):
        return literal[4:]
    if (literal.count(" != ") == 1 and " where " not in literal
            and "(" not in literal.split(" != ")[1]):
        return literal.replace(" != ", " == ")
    return literal


def _split(aspect: str) -> tuple[str, str, str | None]:
    parts = aspect.split(".")
    return parts[0], parts[1], (parts[2] if len(parts) > 2 else None)


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def _number(value):
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _literal_word(literal: str) -> str:
    """A short word for a literal, for law names: `action == do` -> `do`."""
    patterns = [(r"^action == (\w+)$", r"\1"), (r"^action != (\w+)$", r"not_\1"),
                (r"^material\(ahead\) == (\w+)$", r"\1"),
                (r"^material\(ahead\) != (\w+)$", r"not_\1"),
                (r"^kind_at\(ahead\) == (\w+)$", r"at_\1"),
                (r"^near\(player\.pos, (\w+), \d+\)$", r"near_\1"),
                (r"^not near\(player\.pos, (\w+), \d+\)$", r"no_\1"),
                (r"^player\.\w+\.(\w+) >= (\d+)$", r"\1_\2"),
                (r"^dist\(v\.pos, player\.pos\) <= (\d+)$", r"within_\1"),
                (r"^dist\(v\.pos, player\.pos\) >= (\d+)$", r"beyond_\1"),
                (r"^exists\((\w+) u where .*\)$", r"by_\1"),
                (r"^not exists\((\w+) u where .*\)$", r"no_\1"),
                (r"^v\.pos == ahead$", "ahead"), (r"^not player\.(\w+)$", r"not_\1")]
    for pattern, replacement in patterns:
        if re.match(pattern, literal):
            return re.sub(pattern, replacement, literal)
    return re.sub(r"[^A-Za-z0-9]+", "_", literal).strip("_")


def _identifier(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "law"
