"""Planning with a world model (issue 6, item 6; issue 9, item 6): does imagining in the model
lead to the choices the real world rewards?

(a) Strategy ranking, OneLife-style. A few hand-set Crafter situations, each with two or more
    scripted strategies (action sequences or small closed-loop scripts, optionally with a different
    start inventory). Each strategy is rolled out `trials` times in the model and in the true world
    from the same start state and scored by the situation's task measure (mean with a 95%
    bootstrap interval over the trials); the model agrees when it orders the strategies as the true
    world does (pairwise, with ties).
(b) An MPC agent acting in real Crafter: it imagines `rollouts` action sequences of length
    `horizon` (runs of repeated actions, every action first in turn) in a model, scores them with
    a generic objective read from the state (achievements not yet unlocked, health kept; no recipe
    knowledge), takes the first `replan` actions of the best one and plans again. Reported as
    achievements unlocked per episode and the Crafter score with 95% bootstrap intervals over
    episodes, beside a random policy and the same planner using the true world as its model.

Any object with `sample(state, action, seed) -> next_state` can be the model. A law model's
rollouts are imagined with the batched simulator (`laws.simulator`): the start states encoded once,
all rollouts advanced by one `Simulator.step` per imagined step (seeded torch generators: the same
seed, the same rollouts), and what the objective and the fixed scripts need read from the tensors
(closed-loop strategies decode the states they act on). Other models (the real game) are stepped
one `sample` call per transition.

    python experiments/planning.py MODEL_DIR [--trials 16] [--episodes 20] [--steps 100]
        [--rollouts 256] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import math
import time
import weakref
from typing import Callable, Protocol

import numpy as np
import torch

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.state import find_player
from lawsmith.experiments.scenarios import Edit, cleared
from lawsmith.experiments.stats import statistic_ci
from lawsmith.laws.model import WorldModel
from lawsmith.laws.simulator import SimStates, Simulator

# --- settings (CleanRL style) -------------------------------------------------------------------
TRIALS = 16           # rollouts per strategy and model in strategy ranking
EPISODES = 20         # MPC / random episodes (the same starts for every agent)
STEPS = 100           # real steps per episode (fewer if the player dies)
HORIZON = 8           # MPC: imagined steps per action sequence
ROLLOUTS = 256        # MPC: imagined sequences per plan (at least one per first action)
MAX_RUN = 2           # MPC: a sequence is runs of one action repeated 1..MAX_RUN times
REPLAN = 4            # MPC: real actions taken from each plan before planning again
DISCOUNT = 0.9        # MPC: an achievement imagined at step t counts DISCOUNT ** t
HEALTH_WEIGHT = 0.1   # MPC: value of one health point against one new achievement
DEATH_COST = 5.0      # MPC: cost of an imagined death
SEED = 0
DEVICE = "cpu"        # where a law model's simulator holds its rollouts (--device)
CLEAR = 4             # grass cleared around the player in a situation (square of side 2*CLEAR+1)

MOVES = {(-1, 0): "move_left", (1, 0): "move_right", (0, -1): "move_up", (0, 1): "move_down"}


class Model(Protocol):
    """What planning needs of a model: a next state drawn for (state, action) with a seed. A model
    whose `.model` is a `WorldModel` (a `LawModel`) is simulated in batches instead (see
    `simulator_of`)."""

    def sample(self, state: dict, action: str, seed: int) -> dict: ...


Policy = Callable[[dict, int], str]  # (state, step within the rollout) -> action


# --- situations ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Strategy:
    name: str
    policy: Policy
    setup: Callable[[dict], None] | None = None  # edits the start state's player in place


@dataclasses.dataclass(frozen=True)
class Situation:
    name: str
    question: str
    start: dict
    strategies: tuple[Strategy, ...]
    steps: int
    measure_name: str
    measure: Callable[[dict, dict], float]  # (start, end) -> task score, higher is better
    tie: float  # mean scores closer than this count as equal


@dataclasses.dataclass(frozen=True)
class Script:
    """A fixed action sequence (then noop): a policy that never reads the state, so a simulated
    rollout of it needs no decoding."""
    actions: tuple[str, ...]

    def __call__(self, state: dict | None, t: int) -> str:
        return self.actions[t] if t < len(self.actions) else "noop"


def script(*actions: str) -> Script:
    """A fixed action sequence (then noop)."""
    return Script(tuple(actions))


def hunt(kind: str) -> Policy:
    """Walk to the nearest `kind`, face it and hit it."""
    def policy(state: dict, t: int) -> str:
        player = find_player(state)
        x, y = player["pos"]
        targets = [o for o in state["objects"] if o["kind"] == kind]
        target = min(targets, key=lambda o: abs(o["pos"][0] - x) + abs(o["pos"][1] - y),
                     default=None)
        dx, dy = (target["pos"][0] - x, target["pos"][1] - y) if target else (0, 0)
        if (dx, dy) == (0, 0):  # none left (or a model put it on the player)
            return "noop"
        if abs(dx) + abs(dy) == 1 and list(player["facing"]) == [dx, dy]:
            return "do"
        step = (int(np.sign(dx)), 0) if abs(dx) >= abs(dy) else (0, int(np.sign(dy)))
        return MOVES[step]
    return policy


def give(**items: int) -> Callable[[dict], None]:
    """A setup that sets the player's inventory items."""
    def setup(player: dict) -> None:
        player["inventory"].update(items)
    return setup


def gained(group: str, name: str) -> Callable[[dict, dict], float]:
    """Measure: how much the player's inventory item or achievement count rose."""
    return lambda start, end: float(find_player(end)[group][name] - find_player(start)[group][name])


def unlocked(name: str) -> Callable[[dict, dict], float]:
    """Measure: 1 if the achievement was unlocked during the rollout."""
    return lambda start, end: float(gained("achievements", name)(start, end) > 0)


def final_health(start: dict, end: dict) -> float:
    return float(find_player(end)["inventory"]["health"])


def arena(world: CrafterWorld, base: dict, cells: dict[tuple[int, int], str] | None = None,
          creatures: tuple[tuple[str, int, int, dict], ...] = (), facing=(0, 1),
          **player_fields) -> dict:
    """A generated world `base` with every creature removed and grass cleared around the player,
    then the given cells (player-relative, by material name), creatures (kind, dx, dy, attributes),
    facing and player fields (`inventory` items are merged). Checked by loading it into `world`."""
    edit = Edit(cleared(base, world.schema, CLEAR), world.schema).face(*facing)
    for (dx, dy), material in (cells or {}).items():
        edit.cell(dx, dy, material)
    for kind, dx, dy, attributes in creatures:
        edit.creature(kind, dx, dy, **attributes)
    edit.items(**player_fields.pop("inventory", {}))
    edit.player.update(player_fields)
    world.load(edit.state)
    return edit.state


def situations(world: CrafterWorld, seed: int = SEED) -> list[Situation]:
    """The hand-set situations and their strategies, in the world generated for `seed`."""
    base = world.reset(seed)
    trees = "move_left", "do", "move_right", "do", "move_down", "do"
    return [
        Situation(
            "mine_stone", "facing stone beside a table with 1 wood: make a pickaxe first?",
            arena(world, base, {(0, 1): "stone", (-1, 0): "table"}, inventory={"wood": 1}),
            (Strategy("pickaxe_first", script("make_wood_pickaxe", "do", "do")),
             Strategy("dig_bare", script("do", "do", "do"))),
            3, "stone gained", gained("inventory", "stone"), 0.25),
        Situation(
            "wood_pickaxe", "between three trees: wood, then a pickaxe with or without a table",
            arena(world, base, {(-1, 0): "tree", (1, 0): "tree", (0, 1): "tree"}),
            (Strategy("place_table", script(*trees, "place_table", "make_wood_pickaxe")),
             Strategy("no_table", script(*trees, "noop", "make_wood_pickaxe"))),
            8, "wood pickaxe gained", gained("inventory", "wood_pickaxe"), 0.25),
        Situation(
            "zombie_fight", "a zombie beside the player: defeat it within 4 steps?",
            arena(world, base, creatures=(("zombie", 1, 0, {"health": 5, "cooldown": 5}),),
                  facing=(1, 0)),
            (Strategy("wood_sword", hunt("zombie"), give(wood_sword=1)),
             Strategy("bare_hands", hunt("zombie")),
             Strategy("walk_away", script(*["move_left"] * 4))),
            4, "zombie defeated", unlocked("defeat_zombie"), 0.25),
        Situation(
            "zombie_health", "a zombie beside the player, ready to hit: health after 10 steps",
            arena(world, base, creatures=(("zombie", 1, 0, {"health": 5, "cooldown": 0}),),
                  facing=(1, 0)),
            (Strategy("fight_sword", hunt("zombie"), give(wood_sword=1)),
             Strategy("stand", script()),
             Strategy("walk_away", script(*["move_left"] * 10))),
            10, "health at the end", final_health, 0.5),
        Situation(
            "drink", "thirsty beside water: drink or walk away",
            arena(world, base, {(-1, 0): "water"}, inventory={"drink": 1}, thirst=20),
            (Strategy("drink", script("move_left", "do", "do", "do")),
             Strategy("walk_away", script(*["move_right"] * 4))),
            4, "drink gained", gained("inventory", "drink"), 0.5),
        Situation(
            "eat_cow", "a cow beside the player: eat it within 3 steps?",
            arena(world, base, creatures=(("cow", 1, 0, {"health": 3}),), facing=(1, 0)),
            (Strategy("wood_sword", hunt("cow"), give(wood_sword=1)),
             Strategy("bare_hands", hunt("cow")),
             Strategy("ignore", script())),
            3, "cow eaten", unlocked("eat_cow"), 0.25),
    ]


def start_of(situation: Situation, strategy: Strategy) -> dict:
    state = copy.deepcopy(situation.start)
    if strategy.setup is not None:
        strategy.setup(find_player(state))
    return state


# --- imagined rollouts --------------------------------------------------------------------------

def simulator_of(model: Model) -> Simulator | None:
    """The batched simulator (`laws.simulator`) of a law model (one whose `.model` is a
    `WorldModel`: a `LawModel`), built once per model and device; None for other models (the real
    game cannot batch). It draws the noise floor's share as `sample` does and the unexplained
    changes only when the model's `unexplained` is set."""
    inner = getattr(model, "model", None)
    if not isinstance(inner, WorldModel):
        return None
    unexplained = bool(getattr(model, "unexplained", False))
    key = (id(inner), unexplained, str(DEVICE))
    try:
        built = _SIMULATORS.setdefault(model, {})
    except TypeError:   # a wrapper that cannot be weakly referenced: no cache
        built = {}
    if key not in built:
        built[key] = Simulator(inner, device=DEVICE, noise=True, unexplained=unexplained)
    return built[key]


# Simulators by wrapper (a simulator refers to its WorldModel, never to the wrapper, so a wrapper
# that goes away takes its simulators with it).
_SIMULATORS: "weakref.WeakKeyDictionary[Model, dict]" = weakref.WeakKeyDictionary()


def _generator(sim: Simulator, seed: int) -> torch.Generator:
    return torch.Generator(device=sim.device).manual_seed(seed)


def imagine(model: Model, states: list[dict], actions: list[str], seed: int) -> list[dict]:
    """One imagined step of each (state, action). A law model draws them all in one batched
    simulator step (encoded, stepped and decoded); other models (the real game cannot batch) get
    one `sample` call per pair. A model that draws the noise floor's "some other value" for an
    observable without a finite domain (e.g. a float counter) and leaves None there gets the value
    from the state before, so the rollout can go on."""
    sim = simulator_of(model)
    if sim is not None:
        after = sim.decode(sim.step(sim.encode(states), list(actions), _generator(sim, seed)))
    else:
        after = [model.sample(state, action, _seed(seed, i))
                 for i, (state, action) in enumerate(zip(states, actions))]
    for state, new in zip(states, after):
        before = {o["id"]: o for o in state["objects"]}
        for obj in new["objects"]:
            _fill_missing(obj, before.get(obj["id"], {}))
    return after


def _fill_missing(record: dict, old: dict) -> None:
    for key, value in record.items():
        if value is None and key in old:
            record[key] = old[key]
        elif isinstance(value, dict) and isinstance(old.get(key), dict):
            _fill_missing(value, old[key])


def alive(state: dict) -> bool:
    """Whether the player has health left (a world without health never ends a rollout)."""
    return find_player(state)["inventory"].get("health", 1) > 0


def imagine_rollouts(model: Model, starts: list[dict], policies: list[Policy], steps: int,
                     seed: int) -> list[list[dict]]:
    """The imagined states after each step of `policies[i]` from `starts[i]`, for up to `steps`
    steps; all rollouts advance together and one stops when the player's health is gone. A law
    model's rollouts are encoded once and advanced by one simulator step per imagined step (each
    step's states decoded for the trajectories and the policies); other models get `imagine`."""
    sim = simulator_of(model)
    if sim is not None:
        return _simulated_rollouts(sim, starts, policies, steps, seed)
    trajectories: list[list[dict]] = [[] for _ in starts]
    current, live = list(starts), list(range(len(starts)))
    for t in range(steps):
        actions = [policies[i](current[i], t) for i in live]
        for i, state in zip(live, imagine(model, [current[i] for i in live], actions,
                                          _seed(seed, t))):
            current[i] = state
            trajectories[i].append(state)
        live = [i for i in live if alive(current[i])]
        if not live:
            break
    return trajectories


def _simulated_rollouts(sim: Simulator, starts: list[dict], policies: list[Policy], steps: int,
                        seed: int) -> list[list[dict]]:
    trajectories: list[list[dict]] = [[] for _ in starts]
    if not starts or steps <= 0:
        return trajectories
    generator = _generator(sim, seed)
    states, current, live = sim.encode(starts), list(starts), list(range(len(starts)))
    for t in range(steps):
        states = sim.step(states, [policies[i](state, t) for i, state in zip(live, current)],
                          generator)
        current = sim.decode(states)
        for i, state in zip(live, current):
            trajectories[i].append(state)
        keep = [k for k, state in enumerate(current) if alive(state)]
        if not keep:
            break
        if len(keep) < len(live):
            states = states.select(torch.tensor(keep, device=states.device))
            current, live = [current[k] for k in keep], [live[k] for k in keep]
    return trajectories


def imagine_ends(model: Model, starts: list[dict], policies: list[Policy], steps: int,
                 seed: int) -> list[dict]:
    """The last imagined state of each rollout of `imagine_rollouts` (where the player's health
    ran out, or after `steps` steps; the start itself when there were none). A law model keeps the
    rollouts as tensors: one simulator step per imagined step for all of them, the actions of
    fixed scripts (`script`) read from a table, only the closed-loop policies' states decoded (each
    step, for the rollouts still alive), a rollout's state decoded when its player dies and the
    rest at the end."""
    sim = simulator_of(model)
    if sim is None:
        return [states[-1] if states else start for start, states in
                zip(starts, imagine_rollouts(model, starts, policies, steps, seed))]
    if not starts or steps <= 0:
        return list(starts)
    ends: list[dict | None] = [None] * len(starts)
    dev = sim.device
    scripted = [isinstance(p, Script) for p in policies]
    table = torch.tensor([[sim.actions.index(p(None, t)) if fixed else 0 for t in range(steps)]
                          for p, fixed in zip(policies, scripted)], dtype=torch.int64)
    looped = [i for i, fixed in enumerate(scripted) if not fixed]
    generator = _generator(sim, seed)
    states = sim.encode(starts)
    done = torch.zeros(len(starts), dtype=torch.bool, device=dev)
    health = _player_field(states, "inventory", "health")
    current = {i: starts[i] for i in looped}
    for t in range(steps):
        actions = table[:, t].clone()
        for i, state in current.items():
            actions[i] = sim.actions.index(policies[i](state, t))
        states = sim.step(states, actions.to(dev), generator)
        if health is None:
            dead = done
        else:
            dead = _player_field(states, "inventory", "health") <= 0
            for i, state in zip(_rows(dead & ~done), _decoded(sim, states, dead & ~done)):
                ends[i] = state
        done = done | dead
        if bool(done.all()):
            break
        if t + 1 < steps:
            wanted = [i for i in looped if not bool(done[i])]
            current = dict(zip(wanted, _decoded_rows(sim, states, wanted)))
    rest = [i for i, end in enumerate(ends) if end is None]
    for i, state in zip(rest, _decoded_rows(sim, states, rest)):
        ends[i] = state
    return ends


def _player_field(states: SimStates, attr: str, key: str | None = None) -> torch.Tensor | None:
    """The player's field over the batch, None when the schema has no such field."""
    if (attr, key) not in states.batch.tables["player"].fields:
        return None
    return states.player(attr, key)


def _rows(mask: torch.Tensor) -> list[int]:
    return mask.nonzero().flatten().tolist()


def _decoded(sim: Simulator, states: SimStates, mask: torch.Tensor) -> list[dict]:
    return _decoded_rows(sim, states, _rows(mask))


def _decoded_rows(sim: Simulator, states: SimStates, rows: list[int]) -> list[dict]:
    if not rows:
        return []
    return sim.decode(states.select(torch.tensor(rows, device=states.device)))


# --- intervals ----------------------------------------------------------------------------------

def crafter_score(rates: list[float] | np.ndarray) -> float:
    """Crafter's score from per-achievement success rates in percent: exp(mean ln(1 + s)) - 1."""
    return float(np.expm1(np.mean(np.log1p(np.asarray(rates, dtype=float)))))


def score_of(unlocked: np.ndarray) -> float:
    """The Crafter score of episodes given as rows of 0/1 per achievement (unlocked or not)."""
    return crafter_score(100.0 * np.asarray(unlocked, dtype=float).mean(axis=0))


# --- strategy ranking ---------------------------------------------------------------------------

def strategy_scores(model: Model, situation: Situation, trials: int,
                    seed: int) -> list[list[float]]:
    """Task scores of `trials` rollouts of each strategy in `model` (all imagined together, see
    `imagine_ends`)."""
    starts = [start_of(situation, strategy) for strategy in situation.strategies]
    ends = imagine_ends(model, [s for s in starts for _ in range(trials)],
                        [s.policy for s in situation.strategies for _ in range(trials)],
                        situation.steps, _seed(seed, situation.name))
    scores = [situation.measure(starts[k // trials], end) for k, end in enumerate(ends)]
    return [scores[i * trials:(i + 1) * trials] for i in range(len(starts))]


def order(means: list[float], tie: float) -> list[int]:
    """Sign of each pair (i < j): +1 when strategy i scores higher, -1 lower, 0 within `tie`."""
    n = len(means)
    return [0 if abs(means[i] - means[j]) <= tie else int(np.sign(means[i] - means[j]))
            for i in range(n) for j in range(i + 1, n)]


def kendall_tau_b(a: list[int], b: list[int]) -> float:
    """Kendall's tau-b from two lists of pair signs (nan when either ranking is all ties)."""
    concordant = sum(1 for x, y in zip(a, b) if x * y > 0)
    discordant = sum(1 for x, y in zip(a, b) if x * y < 0)
    untied_a, untied_b = sum(1 for x in a if x), sum(1 for y in b if y)
    if not untied_a or not untied_b:
        return float("nan")
    return (concordant - discordant) / math.sqrt(untied_a * untied_b)


def rank_strategies(model: Model, true_model: Model, world: CrafterWorld, trials: int = TRIALS,
                    seed: int = SEED, cases: list[Situation] | None = None) -> list[dict]:
    """One row per situation (`cases`, default `situations(world, seed)`): each strategy's mean
    score in the model and the true world with 95% bootstrap intervals over the trials, and whether
    the model orders them the same (pairwise agreement, tau-b, all pairs agree)."""
    rows = []
    for situation in cases if cases is not None else situations(world, seed):
        imagined = strategy_scores(model, situation, trials, seed)
        real = strategy_scores(true_model, situation, trials, seed + 1)
        model_means = [float(np.mean(s)) for s in imagined]
        true_means = [float(np.mean(s)) for s in real]
        model_pairs = order(model_means, situation.tie)
        true_pairs = order(true_means, situation.tie)
        matches = sum(1 for x, y in zip(model_pairs, true_pairs) if x == y)
        rows.append({
            "situation": situation.name, "question": situation.question,
            "measure": situation.measure_name,
            "strategies": [s.name for s in situation.strategies],
            "model": model_means, "true": true_means,
            "model_ci95": [statistic_ci(s) for s in imagined],
            "true_ci95": [statistic_ci(s) for s in real],
            "pairs": len(true_pairs), "pairs_agree": matches,
            "agree": matches == len(true_pairs),
            "tau_b": kendall_tau_b(model_pairs, true_pairs),
        })
    return rows


# --- MPC in real Crafter ----------------------------------------------------------------------

def objective(now: dict, imagined: list[dict], discount: float = DISCOUNT) -> float:
    """Value of an imagined trajectory from the real state `now`: each achievement not unlocked in
    `now` counts discount**t at the imagined step t it first appears; plus health kept, minus
    death."""
    have = {k for k, v in find_player(now)["achievements"].items() if v > 0}
    value, health = 0.0, find_player(now)["inventory"]["health"]
    for t, state in enumerate(imagined):
        player = find_player(state)
        new = {k for k, v in player["achievements"].items() if v > 0} - have
        value += len(new) * discount ** t
        have |= new
        if player["inventory"]["health"] <= 0:
            return value - DEATH_COST
    return value + HEALTH_WEIGHT * (find_player(imagined[-1])["inventory"]["health"] - health)


class TensorObjective:
    """`objective` of a batch of imagined rollouts from the real state `now`, accumulated from the
    player's tensors step by step (`add` after each imagined step t = 0, 1, ...; `values` [N]).
    A rollout whose player died counts no later step (as `objective`, which stops there)."""

    def __init__(self, now: dict, states: SimStates, discount: float = DISCOUNT):
        player = find_player(now)
        fields = states.batch.tables["player"].fields
        self.keys = [k for k in player.get("achievements", {}) if ("achievements", k) in fields]
        self.has_health = ("inventory", "health") in fields
        self.discount = discount
        n, dev = states.size, states.device
        self.have = torch.tensor([player["achievements"][k] > 0 for k in self.keys],
                                 dtype=torch.bool, device=dev).expand(n, len(self.keys)).clone()
        self.start_health = float(player.get("inventory", {}).get("health", 0))
        self.health = torch.full((n,), self.start_health, dtype=torch.float64, device=dev)
        self.value = torch.zeros(n, dtype=torch.float64, device=dev)
        self.done = torch.zeros(n, dtype=torch.bool, device=dev)

    def add(self, states: SimStates, t: int) -> None:
        live = ~self.done
        if self.keys:
            unlocked = torch.stack([states.player("achievements", k) for k in self.keys], 1) > 0
            new = (unlocked & ~self.have).sum(1).to(torch.float64)
            self.value += torch.where(live, new * self.discount ** t, 0.0)
            self.have |= unlocked & live.unsqueeze(1)
        if self.has_health:
            health = states.player("inventory", "health").to(torch.float64)
            died = live & (health <= 0)
            self.value -= torch.where(died, DEATH_COST, 0.0)
            self.health = torch.where(live, health, self.health)
            self.done |= died

    def values(self) -> torch.Tensor:
        kept = HEALTH_WEIGHT * (self.health - self.start_health)
        return self.value + torch.where(self.done, 0.0, kept)


def action_sequence(first: str, actions: list[str], horizon: int, max_run: int,
                    rng: np.random.Generator) -> list[str]:
    """`horizon` actions in runs of one action repeated 1..`max_run` times (the first run is of
    `first`, the others of random actions): repeated moves reach farther than a random walk, and
    repeated `do`s finish what takes several hits."""
    sequence, action = [], first
    while len(sequence) < horizon:
        sequence += [action] * int(rng.integers(1, max_run + 1))
        action = actions[int(rng.integers(len(actions)))]
    return sequence[:horizon]


def plan(model: Model, state: dict, actions: list[str], rng: np.random.Generator,
         horizon: int = HORIZON, rollouts: int = ROLLOUTS, max_run: int = MAX_RUN) -> list[str]:
    """Random-shooting MPC: `rollouts` action sequences (see `action_sequence`) whose first actions
    take every action in turn, imagined together in `model`; the sequence with the highest
    objective (ties broken at random). Crediting the best sequence rather than the mean of a first
    action's sequences lets one lucky line of play count (measured: more achievements)."""
    firsts = [actions[i] for i in rng.permutation(len(actions))]
    sequences = [action_sequence(firsts[i % len(actions)], actions, horizon, max_run, rng)
                 for i in range(max(rollouts, len(actions)))]
    values = imagined_values(model, state, sequences, int(rng.integers(2 ** 31)))
    return sequences[int(rng.choice(np.flatnonzero(values >= values.max() - 1e-9)))]


def imagined_values(model: Model, state: dict, sequences: list[list[str]],
                    seed: int) -> np.ndarray:
    """The objective of each action sequence (all of one length) imagined from `state`. A law
    model: `state` encoded once into one row per sequence, one simulator step per imagined step
    for all of them (rollouts whose player died are stepped on but no longer counted), the
    objective read from the player's tensors (`TensorObjective`). Other models: `imagine_rollouts`
    and `objective` on the states."""
    sim = simulator_of(model)
    if sim is None:
        trajectories = imagine_rollouts(model, [state] * len(sequences),
                                        [script(*s) for s in sequences], len(sequences[0]), seed)
        return np.array([objective(state, states) for states in trajectories])
    table = torch.tensor([[sim.actions.index(a) for a in s] for s in sequences],
                         dtype=torch.int64, device=sim.device)
    generator = _generator(sim, seed)
    states = sim.repeat([state], len(sequences))
    value = TensorObjective(state, states)
    for t in range(table.shape[1]):
        states = sim.step(states, table[:, t], generator)
        value.add(states, t)
        if bool(value.done.all()):
            break
    return value.values().cpu().numpy()


def episode_starts(world: CrafterWorld, episodes: int, seed: int) -> list[dict]:
    """The generated start states of `episodes` episodes (reset is slow: share them)."""
    return [world.reset(seed + e) for e in range(episodes)]


Chooser = Callable[[dict, np.random.Generator], list[str]]  # real state -> actions to take next


def run_episodes(choose: Chooser, world: CrafterWorld, starts: list[dict], steps: int,
                 seed: int) -> dict:
    """Act in the real world from each start for up to `steps` steps, taking the actions
    `choose(state, rng)` returns in turn before asking again; the actions taken and achievements
    unlocked per episode, their success rates (percent), the Crafter score and the achievements
    unlocked per episode, each with its 95% bootstrap interval over episodes."""
    names = list(world.rules["achievements"])
    unlocked_in: list[list[str]] = []
    taken: list[list[str]] = []
    deaths, began = 0, time.perf_counter()
    for e, start in enumerate(starts):
        rng = np.random.default_rng(_seed(seed, "episode", e))
        state, end, actions = start, None, []
        while len(actions) < steps and end is None:
            chosen = choose(state, rng)[:steps - len(actions)]
            world.load(state, validate=False)  # a TrueModel planner may share this world
            for action in chosen:
                state, end = world.step(action)
                actions.append(action)
                if end is not None:
                    break
        deaths += end == "dead"
        taken.append(actions)
        unlocked_in.append(sorted(k for k, v in find_player(state)["achievements"].items() if v))
    table = np.array([[name in u for name in names] for u in unlocked_in], dtype=float)
    counts = table.sum(axis=1)
    return {"episodes": len(starts), "steps": sum(map(len, taken)), "deaths": deaths,
            "actions": taken, "unlocked": unlocked_in,
            "rates": dict(zip(names, (100.0 * table.mean(axis=0)).tolist())),
            "unlocked_mean": float(counts.mean()), "unlocked_ci95": statistic_ci(counts),
            "score": score_of(table), "score_ci95": statistic_ci(table, score_of),
            "seconds": time.perf_counter() - began}


def gain_ci95(agent: dict, baseline: dict) -> list[float]:
    """95% bootstrap interval of the mean difference in achievements unlocked per episode between
    `agent` and `baseline`, paired by episode (both played from the same starts)."""
    return statistic_ci(np.array([len(a) - len(b) for a, b in
                                  zip(agent["unlocked"], baseline["unlocked"])]))


def mpc_episodes(model: Model, world: CrafterWorld, episodes: int = EPISODES, steps: int = STEPS,
                 seed: int = SEED, horizon: int = HORIZON, rollouts: int = ROLLOUTS,
                 replan: int = REPLAN, max_run: int = MAX_RUN,
                 starts: list[dict] | None = None) -> dict:
    """The MPC agent planning in `model` and taking the first `replan` actions of each plan,
    acting in real Crafter (see `run_episodes`)."""
    starts = starts if starts is not None else episode_starts(world, episodes, seed)
    def choose(state: dict, rng: np.random.Generator) -> list[str]:
        return plan(model, state, world.actions, rng, horizon, rollouts, max_run)[:replan]
    return run_episodes(choose, world, starts, steps, seed)


def random_episodes(world: CrafterWorld, episodes: int = EPISODES, steps: int = STEPS,
                    seed: int = SEED, starts: list[dict] | None = None) -> dict:
    """A uniformly random policy in real Crafter (see `run_episodes`)."""
    starts = starts if starts is not None else episode_starts(world, episodes, seed)
    return run_episodes(lambda state, rng: [world.actions[int(rng.integers(len(world.actions)))]],
                        world, starts, steps, seed)


def _seed(*parts) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


# --- script -----------------------------------------------------------------------------------

def _interval(ci: list[float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def print_ranking(name: str, rows: list[dict]) -> None:
    print(f"\nstrategy ranking: {name} vs True (mean task score, 95% bootstrap interval over "
          "trials)")
    print(f"{'situation':<14} {'strategy':<14} {'measure':<20} {'model':>20} {'true':>20}  "
          "agreement")
    for row in rows:
        for i, strategy in enumerate(row["strategies"]):
            verdict = (f"{row['pairs_agree']}/{row['pairs']} pairs, tau-b {row['tau_b']:.2f}"
                       + (" AGREE" if row["agree"] else " differ")) if i == 0 else ""
            model = f"{row['model'][i]:.2f} {_interval(row['model_ci95'][i])}"
            true = f"{row['true'][i]:.2f} {_interval(row['true_ci95'][i])}"
            print(f"{row['situation'] if i == 0 else '':<14} {strategy:<14} "
                  f"{row['measure'] if i == 0 else '':<20} {model:>20} {true:>20}  {verdict}")
    agree = sum(r["agree"] for r in rows)
    pairs = sum(r["pairs_agree"] for r in rows), sum(r["pairs"] for r in rows)
    print(f"situations ranked as the true world does: {agree}/{len(rows)}; "
          f"pairs: {pairs[0]}/{pairs[1]}")


def print_mpc(results: dict[str, dict], steps: int) -> None:
    print(f"\nagents in real Crafter (<= {steps} steps per episode; 95% percentile-bootstrap "
          "intervals over episodes; gain: paired by episode, against random)")
    width = max(len(name) for name in results)
    print(f"{'agent':<{width}} {'episodes':>8} {'steps':>6} {'deaths':>6} {'unlocked/ep':>18} "
          f"{'gain/ep':>13} {'score %':>18} {'seconds':>8}  achievements (success %)")
    for name, r in results.items():
        got = ", ".join(f"{k} {v:.0f}" for k, v in r["rates"].items() if v > 0)
        gain = _interval(r["gain_ci95"]) if "gain_ci95" in r else ""
        print(f"{name:<{width}} {r['episodes']:>8} {r['steps']:>6} {r['deaths']:>6} "
              f"{r['unlocked_mean']:>5.2f} {_interval(r['unlocked_ci95']):>12} {gain:>13} "
              f"{r['score']:>5.2f} {_interval(r['score_ci95']):>12} {r['seconds']:>8.1f}  {got}")


def evaluate(models: list, world: CrafterWorld, trials: int = TRIALS, episodes: int = EPISODES,
             steps: int = STEPS, horizon: int = HORIZON, rollouts: int = ROLLOUTS,
             seed: int = SEED, replan: int = REPLAN, max_run: int = MAX_RUN) -> dict:
    """The whole planning evaluation of `models` (each with `.name` and `.sample`): strategy ranking
    per model, and the random / MPC-per-model / MPC-True agents on the same episode starts, with
    the seconds each part took."""
    from lawsmith.experiments.models import TrueModel

    true_model = TrueModel(CrafterWorld(world.rules, world.area))
    cases = situations(world, seed)
    ranking: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    for model in models:
        began = time.perf_counter()
        ranking[model.name] = rank_strategies(model, true_model, world, trials, seed, cases)
        seconds[f"ranking {model.name}"] = time.perf_counter() - began
    starts = episode_starts(world, episodes, seed)
    agents = {"random": random_episodes(world, steps=steps, seed=seed, starts=starts)}
    for model in list(models) + [true_model]:
        agent = mpc_episodes(model, world, steps=steps, seed=seed, horizon=horizon,
                             rollouts=rollouts, replan=replan, max_run=max_run, starts=starts)
        agents[f"MPC {model.name}"] = {**agent, "gain_ci95": gain_ci95(agent, agents["random"])}
    seconds.update({name: agent["seconds"] for name, agent in agents.items()})
    return {"ranking": ranking, "agents": agents, "seconds": seconds,
            "settings": {"trials": trials, "episodes": episodes, "steps": steps,
                         "horizon": horizon, "rollouts": rollouts, "replan": replan,
                         "max_run": max_run, "seed": seed}}


def main() -> None:
    global DEVICE
    from lawsmith.experiments.models import LawModel
    from lawsmith.laws.folder import load_model
    from lawsmith.laws.simulator import resolve_device

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders")
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--horizon", type=int, default=HORIZON)
    parser.add_argument("--rollouts", type=int, default=ROLLOUTS)
    parser.add_argument("--replan", type=int, default=REPLAN)
    parser.add_argument("--max-run", type=int, default=MAX_RUN)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--device", default=DEVICE, help="the law models' simulator device "
                        "(cpu, cuda)")
    args = parser.parse_args()

    DEVICE = str(resolve_device(args.device))

    models = [LawModel(load_model(folder)[0], folder, unexplained=False) for folder in args.models]
    began = time.perf_counter()
    result = evaluate(models, CrafterWorld(), args.trials, args.episodes, args.steps, args.horizon,
                      args.rollouts, args.seed, args.replan, args.max_run)
    for name, rows in result["ranking"].items():
        print_ranking(name, rows)
    print_mpc(result["agents"], args.steps)
    print("\nseconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result["seconds"].items())
          + f"; total {time.perf_counter() - began:.0f}")


if __name__ == "__main__":
    main()
