"""The learner: propose -> check -> fit -> keep what raises held-out likelihood -> prune -> repeat.

Each round ranks the observable classes by how much negative log-likelihood the current model leaves
on the training transitions, asks the proposer for laws about the worst ones, drops candidates that
duplicate a law already kept (the DSL's canonical form), fits everything with Pyro, prunes laws
whose removal does not raise the held-out NLL, and keeps the round only if the held-out NLL fell.
The held-out part is `synth.fit.split`'s: whole episodes, or contiguous blocks of a single one.
Every kept round is written to the model folder at once (laws.law, params.json, and the learner's
state in manifest.json), so a killed run loses nothing and `resume` continues it.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Callable, Sequence

import torch

from lawsmith.dsl import DslError, Program, ast, canonical_key, format_expr, format_program, parse
from lawsmith.dsl.printer import format_effect
from lawsmith.laws.folder import load_model, save_model
from lawsmith.laws.table import select_groups
from lawsmith.laws.model import WorldModel
from lawsmith.laws.observables import StateView, changed_observables
from lawsmith.synth.fit import FitConfig, build_tables, fit, heldout_nll, prune, split
from lawsmith.synth.proposer import ProposalRequest, Proposer


@dataclasses.dataclass
class LearnConfig:
    rounds: int = 4
    aspects: int = 24             # observable classes asked about per round
    heldout: float = 0.2
    seed: int = 0
    fit_steps: int = 200
    min_improvement: float = 1e-3  # held-out NLL per transition a round must win by
    min_class_nll: float = 1e-3    # classes below this NLL per transition are explained enough
    examples: int = 3             # transitions shown per request (for LLM proposers)
    device: str = "cpu"


@dataclasses.dataclass
class Round:
    round: int
    proposed: int
    kept: int
    pruned: list[str]
    heldout_nll: float
    seconds: float


def learn(transitions: Sequence[tuple[dict, str, dict]], schema: dict, proposer: Proposer,
          folder: str, config: LearnConfig, manifest_extra: dict,
          start: WorldModel | None = None, history: list[dict] | None = None,
          fruitless: Sequence[str] = (), progress: Callable[[str], None] | None = None,
          episodes: Sequence[int] | None = None,
          command: str | None = None) -> tuple[WorldModel, list[dict]]:
    """Learn laws for `transitions`, checkpointing every kept round into `folder`.

    `episodes` labels each transition's episode for the held-out split (None: one episode);
    `command` is the command line recorded in the manifest (None: this process's)."""
    parts = split(transitions, config.heldout, config.seed, episodes)
    train, test = parts.train, parts.test
    if not train or not test:
        raise ValueError(f"need at least 2 transitions to learn from, got {len(transitions)}")
    model = start or WorldModel("", schema)
    history = list(history or [])
    test_tables = build_tables(model, test, 10_000, config.device)
    best = heldout_nll(model, test_tables)
    # Aspects asked about whose proposals added nothing kept; an aspect that got a law and is
    # still among the most surprising is asked about again in a later round. Checkpointed, so a
    # resumed run asks what the uninterrupted one would have.
    fruitless = set(fruitless)

    def checkpoint() -> None:
        save_model(folder, model, {**manifest_extra, "learn": {
            "rounds": history, "proposer": proposer.name,
            "proposer_stats": dataclasses.asdict(proposer.stats),
            "heldout_nll": best, "ablated": sum(r.get("ablated", 0) for r in history),
            "fruitless": sorted(fruitless),
            "train_transitions": len(train),
            "heldout_transitions": len(test), "split": parts.record}}, command=command)

    if not history:
        # Round 0: the starting model with its change rates fitted, so that the folder holds a
        # usable model even when no law helps.
        model = WorldModel(model.text, schema,
                           fit(model, train, FitConfig(steps=config.fit_steps, seed=config.seed,
                                                       device=config.device)).params)
        best = heldout_nll(model, build_tables(model, test, 10_000, config.device))
        history.append(dataclasses.asdict(Round(0, 0, len(model.law_names), [], best, 0.0)))
        checkpoint()
    for number in range(len(history), config.rounds + 1):
        began = time.perf_counter()
        say = progress or (lambda message: None)
        say(f"round {number}: finding what is unexplained")
        aspects = surprising_classes(model, train, config)
        aspects = [a for a in aspects if a not in fruitless][:config.aspects]
        if not aspects:
            break
        requests = [ProposalRequest(schema, model.text, aspect,
                                    examples_of(aspect, train, schema, config.examples))
                    for aspect in aspects]
        say(f"round {number}: proposing for {len(aspects)} aspects")
        batches = proposer.propose(requests)
        candidates = [c for batch in batches for c in batch]
        text, placed = merge_laws(model.text, [c.text for c in candidates])
        added = list(dict.fromkeys(name for name in placed if name is not None))
        batch_of = [i for i, batch in enumerate(batches) for _ in batch]
        if not added:
            fruitless.update(aspects)
            checkpoint()
            continue
        say(f"round {number}: fitting {len(added)} new laws")
        trial = WorldModel(text, schema, model.params)
        result = fit(trial, train, FitConfig(steps=config.fit_steps, seed=config.seed,
                                             device=config.device))
        fitted = WorldModel(text, schema, result.params)
        test_tables = build_tables(fitted, test, 10_000, config.device)
        dropped, report = prune(fitted, test_tables)
        if dropped:
            text = drop_laws(text, dropped)
            fitted = WorldModel(text, schema, result.params)
        nll = report["heldout_nll_after"]
        kept = set(added) - set(dropped)
        # An aspect bore fruit when a law one of its candidates became or joined was kept.
        fruitful = {batch_of[i] for i, name in enumerate(placed) if name in kept}
        fruitless.update(a for i, a in enumerate(aspects) if i not in fruitful)
        record = Round(number, len(candidates), len(added) - len(set(dropped) & set(added)),
                       dropped, nll, time.perf_counter() - began)
        if nll > best - config.min_improvement:
            say(f"round {number}: held-out NLL {nll:.4f} did not improve on {best:.4f}; stop")
            break
        model, best = fitted, nll
        history.append(dataclasses.asdict(record))
        checkpoint()
        say(f"round {number}: kept {record.kept} laws, held-out NLL {nll:.4f}")
    if len(history) > 1 and not history[-1].get("ablation_done"):
        say("ablating literals: each law's conditions, one at a time, on the held-out part")
        text, removed = model.text, []
        for _ in range(MAX_ABLATION_PASSES):   # one literal per law per pass
            text, dropped = ablate_literals(WorldModel(text, schema, model.params), test,
                                            config.device)
            removed += dropped
            if not dropped:
                break
        if removed:
            trial = WorldModel(text, schema, model.params)
            result = fit(trial, train, FitConfig(steps=config.fit_steps, seed=config.seed,
                                                 device=config.device))
            fitted = WorldModel(text, schema, result.params)
            nll = heldout_nll(fitted, build_tables(fitted, test, 10_000, config.device))
            if nll <= best + config.min_improvement:
                model, best = fitted, min(best, nll)
            else:
                removed = []
        history[-1] = {**history[-1], "ablated": len(removed), "ablation_done": True,
                       "ablated_literals": removed}
        checkpoint()
        say(f"ablation removed {len(removed)} literals")
    return model, history


ABLATED = "__without_"
MAX_ABLATION_PASSES = 4


def ablation_program(model: WorldModel) -> tuple[str, list[tuple[str, int, str]]]:
    """The model's laws and, for each law and each literal of its condition, a copy of the law
    without that literal (named `NAME__without_K`, the same parameters). Returns (text, variants:
    (variant name, law index, literal text))."""
    program = parse(model.text)
    laws = list(program.laws)
    variants = []
    for index, law in enumerate(program.laws):
        if law.condition is None:
            continue
        terms = ast.conjuncts(law.condition)
        for k, term in enumerate(terms):
            rest = terms[:k] + terms[k + 1:]
            name = f"{law.name}{ABLATED}{k}"
            laws.append(dataclasses.replace(law, name=name, condition=ast.conjoin(rest) if rest
                                            else None))
            variants.append((name, index, format_expr(term)))
    return format_program(dataclasses.replace(program, laws=tuple(laws))), variants


def ablate_literals(model: WorldModel, test: Sequence, device: str = "cpu") -> tuple[str, list[str]]:
    """Drop, law by law, the literal whose removal lowers the NLL on the `test` transitions most
    or leaves it as it is (at most one per law), the parameters held at their fitted values.
    Returns (the laws text, "law: literal" of each literal removed)."""
    text, variants = ablation_program(model)
    if not variants:
        return model.text, []
    # One model holds every law and every one-literal-less variant beside it (with its law's
    # weight); masks choose which of them take part.
    weights = dict(model.params["weights"])
    for name, index, _ in variants:
        weights[name] = model.params["weights"][model.law_names[index]]
    wide = WorldModel(text, model.schema, {**model.params, "weights": weights})
    tables = build_tables(wide, test, 10_000, device)
    count = len(model.law_names)
    mask = torch.zeros(len(wide.law_names), dtype=torch.bool)
    mask[:count] = True
    chosen: dict[int, tuple[str, str]] = {}
    by_law: dict[int, list[tuple[int, str, str]]] = {}
    for position, (name, index, literal) in enumerate(variants):
        by_law.setdefault(index, []).append((count + position, name, literal))
    for index, options in by_law.items():
        # Only the observables this law or its variants predict can change: score those alone.
        laws = torch.tensor([index] + [column for column, _, _ in options])
        local = []
        for table in tables:
            touched = torch.zeros(len(table.group_domain), dtype=torch.bool)
            touched[table.expert_group[torch.isin(table.expert_law, laws)]] = True
            if touched.any():
                local.append(select_groups(table, touched))
        current = heldout_nll(wide, local, mask)
        mask[index] = False
        trials = []
        for column, name, literal in options:
            mask[column] = True
            trials.append((heldout_nll(wide, local, mask), column, name, literal))
            mask[column] = False
        nll, column, name, literal = min(trials, key=lambda t: t[0])
        if nll <= current + 1e-12:
            mask[column] = True
            chosen[index] = (name, literal)
        else:
            mask[index] = True
    if not chosen:
        return model.text, []
    program = parse(wide.text)
    by_name = {law.name: law for law in program.laws}
    laws = []
    for index, law in enumerate(program.laws[:count]):
        if index in chosen:
            law = dataclasses.replace(by_name[chosen[index][0]], name=law.name)
        laws.append(law)
    text = format_program(dataclasses.replace(program, laws=tuple(laws)))
    return text, [f"{model.law_names[i]}: {literal}" for i, (_, literal) in sorted(chosen.items())]


def surprising_classes(model: WorldModel, transitions: Sequence, config: LearnConfig) -> list[str]:
    """Observable classes by the NLL the model leaves on them, worst first."""
    totals: dict[str, float] = {}
    for table in build_tables(model, transitions, 10_000, config.device):
        for name, value in model.class_log_probs(table).items():
            totals[name] = totals.get(name, 0.0) - value
    n = max(len(transitions), 1)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [name for name, value in ranked if value / n > config.min_class_nll]


def examples_of(aspect: str, transitions: Sequence, schema: dict, count: int) -> tuple[str, ...]:
    """A few transitions where an observable of the class changed, rendered as text."""
    found = []
    for state, action, next_state in transitions:
        before, after = StateView(state, schema), StateView(next_state, schema)
        changed = [o for o in changed_observables(before, after, schema) if o.group == aspect]
        if changed:
            found.append(describe(before, action, after, changed, schema))
            if len(found) == count:
                break
    return tuple(found)


def describe(before: StateView, action: str, after: StateView, changed, schema: dict) -> str:
    """One transition as a few lines a person (or a language model) can read."""
    player = before.player
    x, y = player["pos"]
    dx, dy = player["facing"]
    ahead = before.material(x + dx, y + dy)
    objects = {tuple(o["pos"]): o["kind"] for o in before.state["objects"]}
    held = {k: v for k, v in player.get("inventory", {}).items() if v}
    lines = [f"action: {action}",
             f"player at ({x}, {y}) facing ({dx}, {dy}); ahead: {ahead}"
             + (f" with a {objects[(x + dx, y + dy)]}" if (x + dx, y + dy) in objects else ""),
             f"inventory: {held}"]
    for observable in changed[:6]:
        lines.append(f"changed: {observable.name}: {before.value(observable, before)!r} -> "
                     f"{after.value(observable, before)!r}")
    return "\n".join(lines)


def merge_laws(text: str, candidates: Sequence[str]) -> tuple[str, list[str | None]]:
    """The laws text with the candidates appended: renamed where a name is taken, dropped where the
    canonical form equals a law already there, and deterministic candidates joined into the
    deterministic law with the same subject and condition, as one law with several effects (wood
    +1, the collect_wood achievement and the tree turning to grass read as one rule; a learned law
    joined so is renamed after everything it writes, `_joined_name`). Returns (text, placed):
    for each candidate the final name of the law it became or joined, None where it was dropped."""
    program = parse(text) if text.strip() else None
    laws = list(program.laws) if program else []
    names = {law.name for law in laws}
    keys = {canonical_key(law) for law in laws}
    placed_at: list[int | None] = []   # per candidate: the index of its law in `laws`
    joinable: dict[tuple, int] = {   # (subject, condition) -> index of a deterministic law
        (law.subject, canonical_key(dataclasses.replace(law, effects=()))): i
        for i, law in enumerate(laws) if _deterministic(law)}
    for candidate in candidates:
        placed_at.append(None)
        try:
            (law,) = parse(candidate).laws
        except (DslError, ValueError):
            continue
        key = canonical_key(law)
        if key in keys:
            continue
        keys.add(key)
        where = (law.subject, canonical_key(dataclasses.replace(law, effects=())))
        if _deterministic(law) and where in joinable:
            index = joinable[where]
            joined = _join(laws[index], law)
            if joined is not None:
                names.discard(laws[index].name)
                joined = dataclasses.replace(joined, name=_free_name(joined.name, names))
                names.add(joined.name)
                laws[index] = joined
                placed_at[-1] = index
                continue
        laws.append(dataclasses.replace(law, name=_free_name(law.name, names)))
        names.add(laws[-1].name)
        placed_at[-1] = len(laws) - 1
        if _deterministic(law):
            joinable[where] = len(laws) - 1
    if program is None:
        program = Program(laws=())
    placed = [None if index is None else laws[index].name for index in placed_at]
    return format_program(dataclasses.replace(program, laws=tuple(laws))), placed


def _free_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, ... when it is taken."""
    free, suffix = name, 2
    while free in taken:
        free, suffix = f"{name}_{suffix}", suffix + 1
    return free


def _deterministic(law) -> bool:
    return all(getattr(e, "chance", None) is None and not hasattr(getattr(e, "value", None),
                                                                   "outcomes")
               for e in law.effects)


def _join(first, second):
    """One law with both laws' effects, or None when they write the same observable. A learned
    first law (its description starts `Learned:`) gets the description and name of the joined
    rule; a law someone wrote keeps its own."""
    targets = [_target(e) for e in first.effects]
    if any(_target(e) in targets for e in second.effects):
        return None
    effects = first.effects + second.effects
    if not (first.description and first.description.startswith("Learned:")):
        return dataclasses.replace(first, effects=effects)
    condition = format_expr(first.condition) if first.condition is not None else "always"
    description = f"Learned: {'; '.join(format_effect(e) for e in effects)} when {condition}"
    return dataclasses.replace(first, effects=effects, description=description,
                               name=_joined_name(first, effects))


def _joined_name(first, effects) -> str:
    """A learned law's name (what it writes, then its first conditions: `health_recover_24_5`,
    synth.offline's `law_text`) with the words of everything the joined law writes in front:
    `health_last_health_recover_24_5`. A name that does not start with its first effect's word
    (edited by hand) is kept."""
    words = list(dict.fromkeys(_target_word(_target(e), first.subject) for e in effects))
    lead = words[0]
    if first.name != lead and not first.name.startswith(lead + "_"):
        return first.name
    return "_".join(words) + first.name[len(lead):]


def _target_word(target: str, subject) -> str:
    """What an effect writes, as a word for a law name, as synth.offline names aspects:
    `player.inventory.wood` -> `wood`, `player.facing` -> `facing`, `v.pos` -> `cow_pos`,
    `material(ahead)` -> `material_ahead`."""
    parts = target.split(".")
    if parts[0] == "player":
        parts = parts[1:][-1:] if len(parts) == 3 else parts[1:]
    elif subject is not None and parts[0] == subject.var:
        parts = [subject.kind, *parts[1:]]
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").lower() or "law"


def _target(effect) -> str:
    """What an effect writes, as text (`player.inventory.wood`, `remove v`, `spawn plant`)."""
    text = format_effect(effect)
    for op in (" += ", " -= ", " = "):
        if op in text:
            return text.split(op)[0]
    return text.split(" with ")[0]


def drop_laws(text: str, names: Sequence[str]) -> str:
    """The laws text without the named laws (canonical layout, comments kept)."""
    program = parse(text)
    dropped = set(names)
    return format_program(dataclasses.replace(
        program, laws=tuple(law for law in program.laws if law.name not in dropped)))


def resume_state(folder: str) -> tuple[WorldModel, list[dict], list[str]]:
    """The model, round history and fruitless aspects a killed or finished run left in
    `folder`."""
    model, manifest = load_model(folder)
    record = manifest.get("learn") or {}
    return model, record.get("rounds", []), record.get("fruitless", [])
