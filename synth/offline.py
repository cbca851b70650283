"""The offline proposer: laws induced from the data, with no network (the default proposer).

For an aspect (an observable class: `player.inventory.wood`, `player.facing`, `grid`, `cow.pos`,
`zombie.health`, `spawn.plant`...), candidate **effects** come from the changes seen in the data: the
deltas an attribute moved by, the values it was set to, the directions a position moved in, the
materials a faced cell became, objects removed or appearing ahead. For each effect a **precondition**
is searched among conjunctions of literals from a feature library (the action, the material and the
object faced, inventory thresholds, materials nearby, sleeping; for objects also being faced by the
player, distance to the player, own attributes). A rule is scored by its log-likelihood gain over
leaving the observable unexplained, minus a description-length penalty, and is deterministic or gets
a named probability parameter, whichever scores better. Sequential covering gives several laws when
one condition does not explain every change.

Literals and effects are DSL text evaluated by the batched compiler (`dsl.compile_torch`), so what is
scored is exactly what is emitted; nothing here knows Crafter's recipes, only the schema.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections import Counter
from typing import Sequence

import torch

from dsl import DslError, check, compile_torch, parse
from laws.combine import NOISE_FLOOR
from laws.table_torch import ID_BITS, ObservableCodes, Transitions, effect_rows
from synth.proposer import Candidate, ProposalRequest, ProposerStats

DIRECTIONS = {(-1, 0): "left", (1, 0): "right", (0, -1): "up", (0, 1): "down"}
MAX_LITERALS = 3
BEAM = 6
RULES_PER_ASPECT = 6
EFFECTS_PER_ASPECT = 6
MIN_GAIN = 4.0          # nats a rule must win by, after its description-length penalty
MIN_HITS = 2            # changes a rule must explain


@dataclasses.dataclass(frozen=True)
class Rule:
    """A found law: an effect under a conjunction of literals, with its evidence."""
    kind: str                  # "player" or the bound kind
    effect: str
    literals: tuple[str, ...]
    hits: int
    misses: int
    probability: float | tuple[float, ...] | None  # None: deterministic; a tuple: categorical
    gain: float


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
        self.n = len(transitions)
        self._literal_cache: dict[str, tuple[list[str], torch.Tensor]] = {}
        self._names: Counter[str] = Counter()

    # --- the Proposer interface -------------------------------------------------------------

    def propose(self, requests: Sequence[ProposalRequest]) -> list[list[Candidate]]:
        start = time.perf_counter()
        results = []
        for request in requests:
            covered = self._covered(request.laws_text, request.aspect)
            rules = self.rules_for(request.aspect, covered)
            results.append(self._candidates(rules, request))
        self.stats.seconds += time.perf_counter() - start
        return results

    def _candidates(self, rules: list[Rule], request: ProposalRequest) -> list[Candidate]:
        candidates = []
        for rule in sorted(rules, key=lambda r: -r.gain)[:max(request.count, 1) * 3]:
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

    def literals(self, kind: str) -> tuple[list[str], torch.Tensor | None]:
        """The feature library for laws about `kind`: literal texts and, for laws about objects,
        the masks of the literals that read the object ([L, N, M]); the player-level literals'
        masks ([L, N]) are shared by every kind (see `_literal_rows`)."""
        if kind not in self._literal_cache:
            texts = self._literal_texts(kind)
            outputs = self._evaluate(kind, texts, effect=False)
            masks = torch.stack([out.mask for out in outputs])
            informative = masks.flatten(1).any(1) & ~masks.flatten(1).all(1)
            keep = informative.nonzero().flatten().tolist()
            self._literal_cache[kind] = ([texts[i] for i in keep], masks[keep])
        return self._literal_cache[kind]

    def _literal_rows(self, kind: str, where: tuple) -> tuple[list[str], torch.Tensor]:
        """Every literal for `kind` at the rows `where`, as a float [L, R] matrix."""
        texts, masks = self.literals("player")
        rows = masks[:, where[0]]
        if kind == "player":
            return texts, rows.to(torch.float64)
        own_texts, own = self.literals(kind)
        return texts + own_texts, torch.cat([rows, own[(slice(None),) + where]]).to(torch.float64)

    def _literal_texts(self, kind: str) -> list[str]:
        schema = self.schema
        materials = list(schema["materials"])
        kinds = [k for k in schema["kinds"] if k != "player"]
        player_attrs = schema["kinds"]["player"]
        texts = [f"action == {a}" for a in schema["actions"]]
        texts += [f"material(ahead) == {m}" for m in materials]
        texts += [f"kind_at(ahead) == {k}" for k in kinds] + ["kind_at(ahead) == none"]
        texts += [f"near(player.pos, {m}, 1)" for m in materials]
        for attr, spec in player_attrs.items():
            if spec["type"] == "bool":
                texts += [f"player.{attr}", f"not player.{attr}"]
            elif spec["type"] == "counts" and spec["keys"] == "items":
                for item, info in schema["items"].items():
                    top = min(int(info.get("max", 9)), 9)
                    texts += [f"player.{attr}.{item} >= {t}" for t in range(1, top + 1)]
                    texts.append(f"player.{attr}.{item} < {top}")
        if "daylight" in schema.get("globals", {}):
            texts += [f"daylight < {t}" for t in (0.3, 0.5, 0.7)]
        if kind != "player":
            # Only the literals that read the object: the player-level ones are shared.
            reach = self._reach(kind)
            near = sorted({1, 2, 4, 8, 16, reach})
            texts = ["v.pos == ahead"] + [f"dist(v.pos, player.pos) <= {d}" for d in near]
            texts += [f"dist(v.pos, player.pos) >= {d}" for d in (2, 5, 9)]
            for attr, spec in schema["kinds"][kind].items():
                if spec["type"] == "int" and spec.get("max") is not None:
                    low = int(spec.get("min", 0))
                    texts += [f"v.{attr} <= {t}" for t in range(low, int(spec["max"]))]
        return texts

    def _reach(self, kind: str) -> int:
        """The farthest (Manhattan) distance from the player at which an object of `kind` was seen
        to change: creatures beyond it may be frozen, as Crafter's are."""
        farthest = 0
        for state, _, next_state in self.transitions:
            player = next(o for o in state["objects"] if o["kind"] == "player")
            px, py = player["pos"]
            after = {o["id"]: o for o in next_state["objects"]}
            for obj in state["objects"]:
                if obj["kind"] == kind and after.get(obj["id"]) != obj:
                    farthest = max(farthest, abs(obj["pos"][0] - px) + abs(obj["pos"][1] - py))
        return max(farthest, 1)

    def _rows(self, kind: str, effect: str):
        """Per row where `effect` applies: (row index into [N] or [N, M], category), where the
        category is 0 hit (it predicted the change seen), 1 missed stay (it predicted a change, none
        came), 2 missed other (the observable became something else), 3 neutral (it predicts no
        change and none came); None if the effect applies nowhere."""
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
        """(transition, observable code) pairs of the aspect's class that existing laws predict."""
        if not laws_text.strip():
            return set()
        cls = self.codes.classes.index(aspect) if aspect in self.codes.classes else None
        laws = compile_torch(parse(laws_text), self.schema)
        covered = set()
        for out in laws.predict(self.data.before):
            kind = self.codes.kinds[out.law.kind] if out.law.kind is not None else "player"
            for effect_out in out.effects:
                rows = effect_rows(effect_out, out, kind, self.data.player, self.codes)
                if rows is None:
                    continue
                where, code, _, _ = rows
                mine = (code >> ID_BITS) == cls if cls is not None else torch.zeros_like(code) > 0
                if aspect == "grid":
                    mine = (code >> ID_BITS) == self.codes.cell
                covered.update(zip(where[0][mine].tolist(), code[mine].tolist()))
        return covered

    # --- effects ----------------------------------------------------------------------------

    def effects_for(self, aspect: str) -> tuple[str, list[str]]:
        """(kind, effect texts) worth trying for an observable class."""
        changes = self._changes(aspect)
        if aspect == "grid":
            counts = Counter(new for _, new in changes)
            return "player", [f"material(ahead) = {m}" for m, _ in counts.most_common(4)]
        if aspect.startswith("spawn."):
            kind = aspect[len("spawn."):]
            return "player", [f"spawn {kind} at ahead"]
        kind, attr, key = _split(aspect)
        var = "player" if kind == "player" else "v"
        if attr == "exists":
            return kind, ["remove v"]
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
        return kind, list(dict.fromkeys(effects))[:EFFECTS_PER_ASPECT]

    def _changes(self, aspect: str) -> list[tuple]:
        """(old, new) plain values of every change of the class in the data (at most 2,000)."""
        result = []
        for state, _, next_state in self.transitions:
            if aspect == "grid":
                for y, (a, b) in enumerate(zip(state["grid"], next_state["grid"])):
                    if a != b:
                        names = {c: n for n, c in self.schema["materials"].items()}
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
        """Rules for one observable class, chosen greedily: the best rule over every candidate
        effect, then the best on the rows its condition leaves, and so on. Rows a law already
        predicts (`covered`, (transition, observable code) pairs) are left out."""
        if aspect not in self.codes.classes:
            return []
        kind, effects = self.effects_for(aspect)
        domain = float(self.codes.domain[self.codes.classes.index(aspect)])
        evidence = {}
        for effect in effects:
            try:
                found = self._rows(kind, effect)
            except DslError:
                continue
            if found is not None:
                where, code, category = found
                keys = (where[0] << 40) | code
                texts, literal_rows = self._literal_rows(kind, where)
                evidence[effect] = (keys, category, texts, literal_rows)
        claimed = torch.tensor(sorted((n << 40) | c for n, c in (covered or ())), dtype=torch.int64)
        rules = []
        attr = _split(aspect)[1] if not aspect.startswith("spawn.") and aspect != "grid" else None
        spec = self.schema["kinds"].get(kind, {}).get(attr, {})
        if kind != "player" and spec.get("type") == "pos":
            walk = self._walk_rule(kind, aspect, domain, claimed)
            if walk is not None:
                return [walk]
        for _ in range(RULES_PER_ASPECT):
            best, best_rows = None, None
            for effect, (keys, category, texts, literal_rows) in evidence.items():
                free = ~torch.isin(keys, claimed)
                rule = self._search(kind, effect, texts, literal_rows[:, free], category[free],
                                    domain)
                if rule is not None and (best is None or rule.gain > best.gain):
                    chosen = torch.ones(len(keys), dtype=torch.bool)
                    for literal in rule.literals:
                        chosen &= literal_rows[texts.index(literal)] > 0
                    best, best_rows = rule, keys[chosen]
            if best is None:
                break
            rules.append(best)
            claimed = torch.cat([claimed, best_rows]).unique()
        return rules

    def _search(self, kind: str, effect: str, texts: list[str], literal_rows: torch.Tensor,
                category: torch.Tensor, domain: float) -> Rule | None:
        """Beam search over conjunctions of literals for the best net gain."""
        rows = category.numel()
        onehot = torch.nn.functional.one_hot(category, 4).to(torch.float64)     # [R, 4]
        if rows == 0 or onehot[:, 0].sum() < MIN_HITS:
            return None
        changed = float(onehot[:, 0].sum() + onehot[:, 2].sum())
        q = min(max(changed / rows, 1e-6), 1 - 1e-6)
        literal_cost = math.log(max(len(texts), 2))
        param_cost = 0.5 * math.log(max(rows, 2))
        beam: list[tuple[tuple[int, ...], torch.Tensor]] = [((), torch.ones(rows,
                                                                              dtype=torch.float64))]
        best: Rule | None = None
        for depth in range(1, MAX_LITERALS + 1):
            expanded = []
            for chosen, mask in beam:
                conditions = literal_rows * mask                                  # [L, R]
                counts = conditions @ onehot                                      # [L, 4]
                gain, probability = _gain(counts, q, domain)
                penalty = literal_cost * (depth + 1) + torch.where(
                    probability.isnan(), 0.0, param_cost)
                net = gain - penalty
                net[list(chosen)] = -math.inf
                order = torch.argsort(net, descending=True)[:BEAM]
                for i in order.tolist():
                    if not math.isfinite(float(net[i])):
                        continue
                    literals = tuple(sorted(chosen + (i,)))
                    expanded.append((float(net[i]), literals, conditions[i],
                                     counts[i], float(probability[i])))
            expanded.sort(key=lambda e: -e[0])
            seen, beam = set(), []
            for net, literals, mask, counts, probability in expanded:
                if literals in seen:
                    continue
                seen.add(literals)
                beam.append((literals, mask))
                if (net > MIN_GAIN and counts[0] >= MIN_HITS
                        and (best is None or net > best.gain)):
                    best = Rule(kind, effect, tuple(texts[i] for i in literals), int(counts[0]),
                                int(counts[1] + counts[2]),
                                None if math.isnan(probability) else probability, net)
                if len(beam) == BEAM:
                    break
        return best

    def _walk_rule(self, kind: str, aspect: str, domain: float,
                   claimed: torch.Tensor) -> Rule | None:
        """A random walk for a creature's position: a categorical over a step in each direction
        and staying, under the best single object literal (or none), fitted by EM."""
        attr = _split(aspect)[1]
        path = f"v.{attr}"
        steps = [f"{name}: moved({path}, {name})" for name in DIRECTIONS.values()]
        effect = f"{path} = choose {{param}} {{{{ {', '.join(steps)}, stay: {path} }}}}"
        (out,) = self._evaluate(kind, [effect.format(param="walk")], effect=True)
        rows = effect_rows(out.effects[0], out, kind, self.data.player, self.codes)
        if rows is None:
            return None
        where, code, outcomes, old = rows
        observed, present = self.data.observed(where[0], code)
        keep = present & ~torch.isin((where[0] << 40) | code, claimed)
        where = tuple(w[keep] for w in where)
        outcomes, old, observed = outcomes[keep], old[keep], observed[keep]
        if len(observed) == 0:
            return None
        match = (outcomes == observed.unsqueeze(1)).to(torch.float64)           # [R, 5]
        texts, literal_rows = self._literal_rows(kind, where)
        own = [i for i, t in enumerate(texts) if "v." in t]
        changed = (observed != old)
        q = min(max(float(changed.sum()) / len(changed), 1e-6), 1 - 1e-6)
        baseline = torch.where(changed, math.log(q) - math.log(max(domain - 1, 1)),
                               math.log(1 - q))
        eps, literal_cost = NOISE_FLOOR, math.log(max(len(texts), 2))
        param_cost = 4 * 0.5 * math.log(max(len(observed), 2))
        best = None
        for literal in [None] + own:
            inside = (torch.ones(len(observed), dtype=torch.bool) if literal is None
                      else literal_rows[literal] > 0)
            if int(changed[inside].sum()) < MIN_HITS:
                continue
            rows_in = match[inside]
            p = torch.full((5,), 0.2, dtype=torch.float64)
            for _ in range(30):   # EM for the mixture weights of possibly coinciding outcomes
                weight = rows_in * p
                weight = weight / weight.sum(1, keepdim=True).clamp(min=1e-12)
                p = (weight.sum(0) + 1e-3) / (weight.sum() + 5e-3)
            likelihood = torch.log((1 - eps) * (rows_in @ p) + eps / domain)
            gain = float((likelihood - baseline[inside]).sum())
            net = gain - literal_cost * (1 + (literal is not None)) - param_cost
            if net > MIN_GAIN and (best is None or net > best.gain):
                literals = () if literal is None else (texts[literal],)
                best = Rule(kind, effect, literals, int(changed[inside].sum()),
                            int((rows_in.sum(1) == 0).sum()), tuple(p.tolist()), net)
        return best

    # --- text -------------------------------------------------------------------------------

    def law_text(self, rule: Rule, aspect: str) -> str:
        """The rule as a law in the DSL, with a unique readable name."""
        words = [_literal_word(literal) for literal in rule.literals[:2]] or ["always"]
        base = _identifier("_".join([_aspect_word(aspect)] + words))
        self._names[base] += 1
        name = base if self._names[base] == 1 else f"{base}_{self._names[base]}"
        seen = rule.hits + rule.misses
        shown = rule.effect.format(param="").replace("choose  {", "choose {") if isinstance(
            rule.probability, tuple) else rule.effect
        description = (f"Learned: {shown.split(' {')[0]} when {' and '.join(rule.literals) or 'always'} "
                       f"({rule.hits} of {seen} times)")
        header = f'law {name} "{description}"'
        if rule.kind != "player":
            header += f"\n  for each {rule.kind} v"
        condition = " and ".join(rule.literals)
        effect = rule.effect
        if isinstance(rule.probability, tuple):
            values = [round(max(v, 0.001), 3) for v in rule.probability[:-1]]
            values.append(round(1 - sum(values), 3))   # the init must sum to 1 exactly
            effect = effect.format(param=f"p_{name}") + f" init ({', '.join(map(str, values))})"
        elif rule.probability is not None:
            p = min(max(round(rule.probability, 3), 0.001), 0.999)
            effect += f" with probability p_{name} init {p}"
        return header + (f"\n  when {condition}" if condition else "") + f"\n  then {effect}\n"


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


def _split(aspect: str) -> tuple[str, str, str | None]:
    parts = aspect.split(".")
    return parts[0], parts[1], (parts[2] if len(parts) > 2 else None)


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def _number(value):
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _aspect_word(aspect: str) -> str:
    """`player.inventory.wood` -> `wood`, `player.facing` -> `facing`, `cow.pos` -> `cow_pos`."""
    return aspect.replace("player.inventory.", "").replace("player.", "").replace(".", "_")


def _literal_word(literal: str) -> str:
    """A short word for a literal, for law names: `action == do` -> `do`."""
    patterns = [(r"^action == (\w+)$", r"\1"), (r"^material\(ahead\) == (\w+)$", r"\1"),
                (r"^kind_at\(ahead\) == (\w+)$", r"at_\1"),
                (r"^near\(player\.pos, (\w+), 1\)$", r"near_\1"),
                (r"^player\.inventory\.(\w+) >= (\d+)$", r"\1_\2"),
                (r"^dist\(v\.pos, player\.pos\) <= (\d+)$", r"within_\1"),
                (r"^dist\(v\.pos, player\.pos\) >= (\d+)$", r"beyond_\1"),
                (r"^v\.pos == ahead$", "ahead"), (r"^not player\.(\w+)$", r"not_\1")]
    for pattern, replacement in patterns:
        if re.match(pattern, literal):
            return re.sub(pattern, replacement, literal)
    return re.sub(r"[^A-Za-z0-9]+", "_", literal).strip("_")


def _identifier(text: str) -> str:
    return (re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "law")[:40].strip("_")
