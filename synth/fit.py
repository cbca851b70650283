"""Fitting a world model's parameters to transitions with Pyro.

The likelihood is `laws.combine.transition_log_probs` over prediction tables (the laws are run once;
only probabilities, weights and change rates move). `model(tables)` states priors and likelihood:

    weights   w_l ~ Gamma(4, 3), mode 1 (a law no other law competes with keeps weight 1; weights
                    only matter where laws share an observable, see laws.combine)
    Bernoulli p   ~ Beta(a, b)          (the law text's prior, else Beta(1, 1))
    categorical   ~ Dirichlet(alpha)    (the law text's prior, else all ones)
    change    q_c ~ Beta(1, 100)        (unexplained change rate per observable class; it enters the
                                         likelihood on its own, so its MAP is computed in closed
                                         form, (k + a - 1) / (n + a + b - 2), and held fixed)
    log-likelihood: sum over transitions, mini-batched by chunk with the right scale

`FitConfig(fit_laws=False)` keeps the laws' probabilities as they are and fits weights (and change
rates) only, as OneLife and PoE-World do; `optimizer="lbfgs"` minimises the same objective with
full-batch L-BFGS, which suits such small parameter sets (Adam is the default).

MAP uses an AutoDelta guide; `posterior=True` uses AutoLaplaceApproximation: the same MAP fit, then a
Gaussian in the unconstrained space from the Hessian there, from which 500 draws give each
probability's standard deviation and 90% interval.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoLaplaceApproximation
from pyro.infer.autoguide.initialization import init_to_value

from lawsmith.laws import combine
from lawsmith.laws.clock import fit_clock
from lawsmith.laws.model import WorldModel
from lawsmith.laws.table import Table, compact
from lawsmith.laws.table_torch import build_table

WEIGHT_PRIOR = (4.0, 3.0)


@dataclasses.dataclass
class FitConfig:
    steps: int = 300               # at most; stops earlier once the loss has settled
    tolerance: float = 1e-5        # settled: relative change of the mean loss between two windows
    learning_rate: float = 0.1
    seed: int = 0
    device: str = "cpu"
    posterior: bool = False
    chunk: int = 10_000            # transitions per table chunk (one SVI step uses one chunk)
    change_prior: tuple[float, float] = (1.0, 100.0)
    # CPU threads for torch. The tensors here are many small ops; on a 2-core machine OpenMP's
    # hand-offs made 2 threads slower than 1 at every size measured (see experiments/bench_fit.py).
    threads: int = 1
    # False: the laws' own probabilities stay as the model holds them (the law text's values for a
    # fresh model) and only weights and change rates are fitted, as OneLife and PoE-World do.
    fit_laws: bool = True
    # "adam": SVI, mini-batched by chunk (the default); "lbfgs": full-batch L-BFGS on the same
    # objective, for small parameter sets such as weights only.
    optimizer: str = "adam"


@dataclasses.dataclass
class FitResult:
    params: dict
    train_nll: float               # per transition, at the fitted values
    seconds: float
    steps: int
    losses: list[float]


def build_tables(model: WorldModel, transitions: Sequence[tuple[dict, str, dict]],
                 chunk: int, device: str = "cpu", spawn: dict | None = None) -> list[Table]:
    """Prediction tables of the transitions, `chunk` at a time, with the batched (torch) laws;
    new objects' attributes are compared with `spawn` (default: the model's params["spawn"])."""
    spawn = model.params["spawn"] if spawn is None else spawn
    tables = []
    for start in range(0, len(transitions), chunk):
        part = transitions[start:start + chunk]
        tables.append(build_table(model.compiled_torch, model.layout, model.codes,
                                  [t[0] for t in part], [t[1] for t in part], [t[2] for t in part],
                                  device, spawn))
    return tables


class _Problem:
    """The Pyro model for one world model and its tables."""

    def __init__(self, model: WorldModel, tables: list[Table], config: FitConfig):
        self.model, self.tables, self.config = model, tables, config
        self.classes = tables[0].classes if tables else []
        self.total = sum(t.transitions for t in tables)
        self.layout = model.layout
        self.change = change_rates(tables, self.classes, config.change_prior)
        self.fixed_probabilities = model.probability_tensor().to(config.device)

    def priors(self) -> dict[str, dist.Distribution]:
        device = self.config.device
        one = torch.ones((), dtype=torch.float64, device=device)
        a, b = WEIGHT_PRIOR
        result = {"weights": dist.Gamma(a * one, b * one)
                  .expand([len(self.model.law_names)]).to_event(1)}
        if not self.config.fit_laws:
            return result
        for name in self.layout.bernoulli:
            a, b = self.layout.parameters[name].prior or (1.0, 1.0)
            result[f"param.{name}"] = dist.Beta(a * one, b * one)
        for name, count in self.layout.categorical:
            alpha = self.layout.parameters[name].prior or (1.0,) * count
            result[f"param.{name}"] = dist.Dirichlet(torch.tensor(alpha, dtype=torch.float64,
                                                                  device=device))
        return result

    def __call__(self, table_index: int | None = None) -> None:
        values = {site: pyro.sample(site, prior) for site, prior in self.priors().items()}
        weights = values["weights"]
        probabilities = (self.layout.probabilities(
            {k[len("param."):]: v for k, v in values.items() if k.startswith("param.")})
            if self.config.fit_laws else self.fixed_probabilities)
        tables = self.tables if table_index is None else [self.tables[table_index]]
        scale = 1.0 if table_index is None else self.total / tables[0].transitions
        for i, table in enumerate(tables):
            log_lik = combine.total_log_prob(table, probabilities, weights, self.change,
                                             self.model.params["noise_floor"],
                                             global_weights=self.model.poe_world)
            with pyro.poutine.scale(scale=scale):
                pyro.factor(f"data{i}", log_lik)

    def initial_values(self) -> dict[str, torch.Tensor]:
        device = self.config.device
        params = self.model.params
        init = {"weights": torch.tensor([max(params["weights"][n], 1e-3)
                                         for n in self.model.law_names],
                                        dtype=torch.float64, device=device)}
        fitted = params["parameters"] if self.config.fit_laws else {}
        for name, value in fitted.items():
            tensor = torch.tensor(value, dtype=torch.float64, device=device)
            init[f"param.{name}"] = tensor.clamp(1e-6, 1 - 1e-6)
            if tensor.dim():
                init[f"param.{name}"] = init[f"param.{name}"] / init[f"param.{name}"].sum()
        return init


def change_rates(tables: list[Table], classes: list[str],
                 prior: tuple[float, float]) -> torch.Tensor:
    """MAP of each class's unexplained-change rate: (k + a - 1) / (n + a + b - 2), where k changes
    happened among n unpredicted observations. [C]"""
    device = tables[0].changed_count.device if tables else "cpu"
    changed = torch.zeros(len(classes), dtype=torch.float64, device=device)
    stayed = torch.zeros(len(classes), dtype=torch.float64, device=device)
    for table in tables:
        changed.index_add_(0, table.changed_class, table.changed_count)
        stayed.index_add_(0, table.stay_class, table.stay_count)
    a, b = prior
    rate = (changed + a - 1) / (changed + stayed + a + b - 2)
    return rate.clamp(1e-9, 1 - 1e-9)


def fit(model: WorldModel, transitions: Sequence[tuple[dict, str, dict]],
        config: FitConfig | None = None, tables: list[Table] | None = None,
        progress: Callable[[int], None] | None = None) -> FitResult:
    """Fit weights, law parameters and change rates to the transitions (MAP, or a posterior)."""
    config = config or FitConfig()
    start = time.perf_counter()
    # New objects' typical attributes are read from the data first: the tables score them.
    spawn = typical_spawns(transitions, model.schema) or model.params["spawn"]
    if tables is None:
        tables = build_tables(model, transitions, config.chunk, config.device, spawn)
    full_tables = tables
    eps = model.params["noise_floor"]
    tables = [compact(t, eps, model.poe_world).to(config.device) for t in tables]
    if config.device == "cpu":
        torch.set_num_threads(config.threads)
    problem = _Problem(model, tables, config)
    pyro.clear_param_store()
    pyro.set_rng_seed(config.seed)
    init = init_to_value(values=problem.initial_values())
    guide = (AutoLaplaceApproximation(problem, init_loc_fn=init) if config.posterior
             else AutoDelta(problem, init_loc_fn=init))
    optimise = _lbfgs if config.optimizer == "lbfgs" else _adam
    losses = optimise(problem, guide, config, progress)
    params = _read_params(model, problem, guide, config)
    params["spawn"] = spawn
    clock = fit_clock((s for triple in transitions for s in (triple[0], triple[2])), model.schema)
    if clock is not None:
        params["clock"] = clock
    fitted = WorldModel(model.text, model.schema, params, poe_world=model.poe_world)
    with torch.no_grad():
        nll = -sum(float(fitted.log_prob_table(t).sum()) for t in full_tables)
    return FitResult(params, nll / max(problem.total, 1), time.perf_counter() - start,
                     len(losses), losses)


def _adam(problem: _Problem, guide, config: FitConfig,
          progress: Callable[[int], None] | None) -> list[float]:
    """SVI with Adam, one chunk a step, until the loss settles; the losses per transition."""
    svi = SVI(problem, guide, pyro.optim.Adam({"lr": config.learning_rate}), Trace_ELBO())
    losses: list[float] = []
    window = 25 * len(problem.tables)   # a window sees every chunk equally often
    for step in range(config.steps):
        index = step % len(problem.tables) if len(problem.tables) > 1 else None
        losses.append(_finite_loss(svi.step(index) / max(problem.total, 1), step))
        if progress:
            progress(step + 1)
        if len(losses) >= 2 * window and len(losses) % window == 0:
            recent = sum(losses[-window:]) / window
            before = sum(losses[-2 * window:-window]) / window
            if abs(before - recent) <= config.tolerance * max(1.0, abs(recent)):
                break
    return losses


def _lbfgs(problem: _Problem, guide, config: FitConfig,
           progress: Callable[[int], None] | None) -> list[float]:
    """The same MAP objective (Pyro's ELBO of the model and a point guide) minimised with full-batch
    L-BFGS and a strong-Wolfe line search, as PoE-World and OneLife fit their weights: for the
    weights-only fits, where Adam crawls. At most `config.steps` evaluations; stops when the loss
    per transition changes by less than `config.tolerance` between iterations."""
    elbo = Trace_ELBO()
    guide()   # creates the guide's parameters
    unconstrained = [value for _, value in pyro.get_param_store().named_parameters()]
    optimiser = torch.optim.LBFGS(unconstrained, lr=1.0, max_iter=config.steps,
                                  tolerance_change=config.tolerance, history_size=20,
                                  line_search_fn="strong_wolfe")
    losses: list[float] = []

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = elbo.differentiable_loss(problem, guide) / max(problem.total, 1)   # per transition
        loss.backward()
        losses.append(_finite_loss(float(loss.detach()), len(losses)))
        if progress:
            progress(len(losses))
        return loss

    optimiser.step(closure)
    return losses


def _finite_loss(loss: float, step: int) -> float:
    if not math.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss} at step {step}")
    return loss


def _read_params(model: WorldModel, problem: _Problem, guide, config: FitConfig) -> dict:
    draws = None
    if config.posterior:
        gaussian = guide.laplace_approximation()
        with torch.no_grad():
            point = gaussian.median()
            draws = [gaussian() for _ in range(500)]
    else:
        with torch.no_grad():
            point = guide()
    params = {
        "weights": dict(zip(model.law_names, point["weights"].tolist())),
        "parameters": ({name: point[f"param.{name}"].tolist() for name in model.params["parameters"]}
                       if config.fit_laws else dict(model.params["parameters"])),
        "change": dict(zip(problem.classes, problem.change.tolist())),
        "noise_floor": model.params["noise_floor"],
    }
    if config.posterior and config.fit_laws:
        params["uncertainty"] = {}
        for name in model.params["parameters"]:
            samples = torch.stack([d[f"param.{name}"] for d in draws])
            params["uncertainty"][name] = {
                "sd": samples.std(0).tolist(),
                "interval_90": [samples.quantile(0.05, 0).tolist(),
                                samples.quantile(0.95, 0).tolist()]}
    return params


def typical_spawns(transitions: Sequence[tuple[dict, str, dict]], schema: dict) -> dict:
    """The most common attributes of newly appearing objects, per kind (for sampling spawns)."""
    seen: dict[str, dict[str, dict[str, int]]] = {}
    examples: dict[tuple[str, str, str], object] = {}
    for state, _, next_state in transitions:
        old = {obj["id"] for obj in state["objects"]}
        for obj in next_state["objects"]:
            if obj["id"] in old:
                continue
            for attr, value in obj.items():
                if attr in ("id", "kind", "pos"):
                    continue
                key = repr(value)
                counts = seen.setdefault(obj["kind"], {}).setdefault(attr, {})
                counts[key] = counts.get(key, 0) + 1
                examples[(obj["kind"], attr, key)] = value
    return {kind: {attr: examples[(kind, attr, max(counts, key=counts.get))]
                   for attr, counts in attrs.items()} for kind, attrs in seen.items()}


def heldout_nll(model: WorldModel, tables: list[Table], law_mask: torch.Tensor | None = None) -> float:
    """Mean negative log-likelihood per transition (`law_mask` leaves laws out)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for table in tables:
            log_probs = combine.transition_log_probs(
                table, model.probability_tensor(), model.weight_tensor(),
                model.change_tensor(table.classes), model.params["noise_floor"], law_mask,
                global_weights=model.poe_world)
            total -= float(log_probs.sum())
            count += table.transitions
    return total / max(count, 1)


def prune(model: WorldModel, tables: list[Table], tolerance: float = 0.0) -> tuple[list[str], dict]:
    """Laws to drop: each law that fired in the data and whose removal does not raise the held-out
    NLL per transition by more than `tolerance` (greedy, weakest first). Returns (dropped, report)."""
    fired = torch.zeros(len(model.law_names), dtype=torch.bool)
    for table in tables:
        fired[table.expert_law.unique()] = True
    mask = torch.ones(len(model.law_names), dtype=torch.bool)
    current = heldout_nll(model, tables, mask)
    report = {"heldout_nll_before": current}
    weights = model.weight_tensor()
    dropped = []
    for index in sorted(range(len(model.law_names)), key=lambda i: float(weights[i])):
        if not fired[index]:
            continue
        mask[index] = False
        trial = heldout_nll(model, tables, mask)
        if trial <= current + tolerance:
            dropped.append(model.law_names[index])
            current = trial
        else:
            mask[index] = True
    report["heldout_nll_after"] = current
    report["unused"] = [n for i, n in enumerate(model.law_names) if not fired[i]]
    return dropped, report


HELDOUT_BLOCKS = 2   # contiguous held-out blocks when the data is a single episode


@dataclasses.dataclass
class Split:
    """Training and held-out transitions, and `record`: how they were chosen (for manifests)."""
    train: list
    test: list
    record: dict

    def describe(self) -> str:
        """What was held out, in words: "2 of 7 episodes" or "blocks 200-399, 1000-1199 of one
        episode"."""
        if self.record["rule"] == "episodes":
            return f"{len(self.record['heldout_episodes'])} of {self.record['episodes']} episodes"
        spans = ", ".join(f"{start}-{stop - 1}" for start, stop in self.record["heldout_blocks"])
        return f"blocks {spans or '(none)'} of one episode"


def split(transitions: Sequence, heldout: float, seed: int,
          episodes: Sequence[int] | None = None) -> Split:
    """A seeded split into training and held-out transitions that never puts one episode on both
    sides: steps of one life are correlated, so a held-out step next to a training step would score
    the model on almost what it was fitted to.

    `episodes[i]` is the episode `transitions[i]` came from (`TraceReader.triples_with_episodes`);
    None means one episode, in order. With several episodes, whole episodes are held out
    (`_heldout_episodes`); with one, `HELDOUT_BLOCKS` contiguous blocks of it (`_heldout_blocks`).
    About `heldout` (a share in [0, 1)) of the transitions are held out. The same seed gives the
    same split; order is kept on both sides. `record` names the rule ("episodes", with the held-out
    episodes' labels, or "blocks", with their [start, stop) transition indices) and the counts."""
    labels = list(episodes) if episodes is not None else [0] * len(transitions)
    if len(labels) != len(transitions):
        raise ValueError(f"{len(labels)} episode labels for {len(transitions)} transitions")
    sizes: dict[int, int] = {}
    for label in labels:
        sizes[label] = sizes.get(label, 0) + 1
    generator = torch.Generator().manual_seed(seed)
    target = heldout * len(transitions)
    if len(sizes) > 1:
        chosen = _heldout_episodes(sizes, target, generator)
        held = [label in chosen for label in labels]
        record = {"rule": "episodes", "episodes": len(sizes),
                  "heldout_episodes": sorted(chosen)}
    else:
        blocks = _heldout_blocks(len(transitions), target, generator)
        held = [any(start <= i < stop for start, stop in blocks) for i in range(len(labels))]
        record = {"rule": "blocks", "episodes": len(sizes),
                  "heldout_blocks": [list(block) for block in blocks]}
    train = [t for t, out in zip(transitions, held) if not out]
    test = [t for t, out in zip(transitions, held) if out]
    record.update(seed=seed, heldout=heldout, train_transitions=len(train),
                  heldout_transitions=len(test))
    return Split(train, test, record)


def _heldout_episodes(sizes: dict[int, int], target: float,
                      generator: torch.Generator) -> set[int]:
    """Episodes to hold out: in a seeded order, each one that brings the held-out count closer to
    `target`, never the last one left for training; when none does (every episode is more than
    twice the target), the smallest, so that something is held out."""
    labels = list(sizes)
    order = [labels[i] for i in torch.randperm(len(labels), generator=generator).tolist()]
    chosen: set[int] = set()
    count = 0
    for label in order:
        if len(chosen) == len(order) - 1:
            break
        if abs(count + sizes[label] - target) < abs(count - target):
            chosen.add(label)
            count += sizes[label]
    if not chosen and target > 0:
        chosen.add(min(order, key=sizes.__getitem__))
    return chosen


def _heldout_blocks(count: int, target: float,
                    generator: torch.Generator) -> list[tuple[int, int]]:
    """[start, stop) blocks of one episode of `count` transitions to hold out: the episode is cut
    into pieces of equal length from its start, and `HELDOUT_BLOCKS` of them (fewer when the
    target is smaller) are chosen by seed, so the held-out part is a few stretches of the life
    (not only its end, which would test only late-life events). At least one transition is kept
    for training."""
    wanted = min(round(target), count - 1)
    if wanted <= 0:
        return []
    blocks = min(HELDOUT_BLOCKS, wanted)
    length = wanted // blocks
    pieces = torch.randperm(count // length, generator=generator)[:blocks].tolist()
    return [(piece * length, (piece + 1) * length) for piece in sorted(pieces)]
