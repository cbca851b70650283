"""Planning with a world model (issue 6, item 6): does imagining in the model lead to the choices
the real world rewards?

(a) Strategy ranking, OneLife-style. A few hand-set Crafter situations, each with two or more
    scripted strategies (action sequences or small closed-loop scripts, optionally with a different
    start inventory). Each strategy is rolled out `trials` times in the model and in the true world
    from the same start state and scored by the situation's task measure; the model agrees when it
    orders the strategies as the true world does (pairwise, with ties).
(b) An MPC agent acting in real Crafter: each step it scores random action sequences of length
    `horizon` by imagining them in a model (every action first in turn), with a generic objective
    read from the state (achievements not yet unlocked, health kept; no recipe knowledge), and
    executes the best first action. Reported as achievements unlocked and the Crafter score, beside
    a random policy and the same planner using the true world as its model.

Any object with `sample(state, action, seed) -> next_state` can be the model.

    python experiments/planning.py MODEL_DIR [--trials 8] [--episodes 3] [--steps 200]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import math
import time
from typing import Callable, Protocol

import numpy as np

from envs.crafter_world import CrafterWorld
from envs.state import find_player
from experiments.scenarios import Edit, cleared

# --- settings (CleanRL style) -------------------------------------------------------------------
TRIALS = 16           # rollouts per strategy and model in strategy ranking
EPISODES = 3          # MPC / random episodes
STEPS = 200           # real steps per episode (fewer if the player dies)
HORIZON = 3           # MPC: imagined steps per action sequence
ROLLOUTS = 17         # MPC: imagined sequences per real step (at least one per first action)
DISCOUNT = 0.9        # MPC: an achievement imagined at step t counts DISCOUNT ** t
HEALTH_WEIGHT = 0.1   # MPC: value of one health point against one new achievement
DEATH_COST = 5.0      # MPC: cost of an imagined death
SEED = 0
CLEAR = 4             # grass cleared around the player in a situation (square of side 2*CLEAR+1)

MOVES = {(-1, 0): "move_left", (1, 0): "move_right", (0, -1): "move_up", (0, 1): "move_down"}


class Model(Protocol):
    """What planning needs of a model: a next state drawn for (state, action) with a seed."""

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


def script(*actions: str) -> Policy:
    """A fixed action sequence (then noop)."""
    return lambda state, t: actions[t] if t < len(actions) else "noop"


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


def imagine(model: Model, state: dict, action: str, seed: int) -> dict:
    """One imagined step. A laws model that draws the noise floor's "some other value" for an
    observable without a finite domain (e.g. a float counter) leaves None there; such attributes
    keep their value from `state`, so the rollout can go on."""
    after = model.sample(state, action, seed)
    before = {o["id"]: o for o in state["objects"]}
    for obj in after["objects"]:
        _fill_missing(obj, before.get(obj["id"], {}))
    return after


def _fill_missing(record: dict, old: dict) -> None:
    for key, value in record.items():
        if value is None and key in old:
            record[key] = old[key]
        elif isinstance(value, dict) and isinstance(old.get(key), dict):
            _fill_missing(value, old[key])


def rollout(model: Model, state: dict, policy: Policy, steps: int, seed: int) -> dict:
    """The state after `steps` steps of `policy` imagined in `model` (stops when health is gone)."""
    for t in range(steps):
        state = imagine(model, state, policy(state, t), _seed(seed, t))
        if find_player(state)["inventory"]["health"] <= 0:
            break
    return state


def strategy_scores(model: Model, situation: Situation, trials: int, seed: int) -> list[float]:
    """Mean task score of each strategy over `trials` rollouts in `model`."""
    means = []
    for strategy in situation.strategies:
        start = start_of(situation, strategy)
        scores = [situation.measure(start, rollout(model, start, strategy.policy, situation.steps,
                                                   _seed(seed, situation.name, strategy.name, k)))
                  for k in range(trials)]
        means.append(float(np.mean(scores)))
    return means


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
    score in the model and the true world, and whether the model orders them the same (pairwise
    agreement, tau-b, all pairs agree)."""
    rows = []
    for situation in cases if cases is not None else situations(world, seed):
        imagined = strategy_scores(model, situation, trials, seed)
        real = strategy_scores(true_model, situation, trials, seed + 1)
        model_pairs, true_pairs = order(imagined, situation.tie), order(real, situation.tie)
        matches = sum(1 for x, y in zip(model_pairs, true_pairs) if x == y)
        rows.append({
            "situation": situation.name, "question": situation.question,
            "measure": situation.measure_name,
            "strategies": [s.name for s in situation.strategies],
            "model": imagined, "true": real,
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


def plan(model: Model, state: dict, actions: list[str], rng: np.random.Generator,
         horizon: int = HORIZON, rollouts: int = ROLLOUTS) -> str:
    """Random-shooting MPC: `rollouts` action sequences whose first actions take every action in
    turn; an action's value is the mean objective of its sequences; ties are broken at random."""
    firsts = [actions[i] for i in rng.permutation(len(actions))]
    values: dict[str, list[float]] = {a: [] for a in actions}
    for i in range(max(rollouts, len(actions))):
        first = firsts[i % len(actions)]
        sequence = [first] + [actions[j] for j in rng.integers(len(actions), size=horizon - 1)]
        imagined, current = [], state
        for action in sequence:
            current = imagine(model, current, action, int(rng.integers(2 ** 31)))
            imagined.append(current)
            if find_player(current)["inventory"]["health"] <= 0:
                break
        values[first].append(objective(state, imagined))
    means = {a: float(np.mean(v)) for a, v in values.items() if v}
    best = max(means.values())
    choices = [a for a in firsts if means.get(a, -math.inf) >= best - 1e-9]
    return choices[0]


def crafter_score(rates: list[float]) -> float:
    """Crafter's score from per-achievement success rates in percent: exp(mean ln(1 + s)) - 1."""
    return float(math.exp(np.mean([math.log(1 + s) for s in rates])) - 1)


def episode_starts(world: CrafterWorld, episodes: int, seed: int) -> list[dict]:
    """The generated start states of `episodes` episodes (reset is slow: share them)."""
    return [world.reset(seed + e) for e in range(episodes)]


def run_episodes(choose: Callable[[dict, np.random.Generator], str], world: CrafterWorld,
                 starts: list[dict], steps: int, seed: int) -> dict:
    """Act with `choose(state, rng)` in the real world from each start for up to `steps` steps;
    the actions taken and achievements unlocked per episode, their success rates (percent) and the
    Crafter score."""
    names = list(world.rules["achievements"])
    unlocked_in: list[list[str]] = []
    taken: list[list[str]] = []
    lengths, deaths = [], 0
    began = time.perf_counter()
    for e, start in enumerate(starts):
        rng = np.random.default_rng(_seed(seed, "episode", e))
        state, end, actions = start, None, []
        while len(actions) < steps and end is None:
            actions.append(choose(state, rng))
            world.load(state, validate=False)  # a TrueModel planner may share this world
            state, end = world.step(actions[-1])
        deaths += end == "dead"
        lengths.append(len(actions))
        taken.append(actions)
        unlocked_in.append(sorted(k for k, v in find_player(state)["achievements"].items() if v))
    rates = [100.0 * sum(name in u for u in unlocked_in) / len(starts) for name in names]
    return {"episodes": len(starts), "steps": sum(lengths), "deaths": deaths,
            "actions": taken, "unlocked": unlocked_in, "rates": dict(zip(names, rates)),
            "mean_unlocked": float(np.mean([len(u) for u in unlocked_in])),
            "score": crafter_score(rates), "seconds": time.perf_counter() - began}


def mpc_episodes(model: Model, world: CrafterWorld, episodes: int = EPISODES, steps: int = STEPS,
                 seed: int = SEED, horizon: int = HORIZON, rollouts: int = ROLLOUTS,
                 starts: list[dict] | None = None) -> dict:
    """The MPC agent planning in `model`, acting in real Crafter (see `run_episodes`)."""
    starts = starts if starts is not None else episode_starts(world, episodes, seed)
    def choose(state: dict, rng: np.random.Generator) -> str:
        return plan(model, state, world.actions, rng, horizon, rollouts)
    return run_episodes(choose, world, starts, steps, seed)


def random_episodes(world: CrafterWorld, episodes: int = EPISODES, steps: int = STEPS,
                    seed: int = SEED, starts: list[dict] | None = None) -> dict:
    """A uniformly random policy in real Crafter (see `run_episodes`)."""
    starts = starts if starts is not None else episode_starts(world, episodes, seed)
    return run_episodes(lambda state, rng: world.actions[int(rng.integers(len(world.actions)))],
                        world, starts, steps, seed)


def _seed(*parts) -> int:
    return int(hashlib.sha256(repr(parts).encode()).hexdigest()[:8], 16)


# --- script -----------------------------------------------------------------------------------

def print_ranking(name: str, rows: list[dict]) -> None:
    print(f"\nstrategy ranking: {name} vs True")
    print(f"{'situation':<14} {'strategy':<14} {'measure':<20} {'model':>6} {'true':>6}  agreement")
    for row in rows:
        for i, strategy in enumerate(row["strategies"]):
            verdict = (f"{row['pairs_agree']}/{row['pairs']} pairs, tau-b {row['tau_b']:.2f}"
                       + (" AGREE" if row["agree"] else " differ")) if i == 0 else ""
            print(f"{row['situation'] if i == 0 else '':<14} {strategy:<14} "
                  f"{row['measure'] if i == 0 else '':<20} {row['model'][i]:>6.2f} "
                  f"{row['true'][i]:>6.2f}  {verdict}")
    agree = sum(r["agree"] for r in rows)
    pairs = sum(r["pairs_agree"] for r in rows), sum(r["pairs"] for r in rows)
    print(f"situations ranked as the true world does: {agree}/{len(rows)}; "
          f"pairs: {pairs[0]}/{pairs[1]}")


def print_mpc(results: dict[str, dict], steps: int) -> None:
    print(f"\nagents in real Crafter (<= {steps} steps per episode)")
    print(f"{'agent':<16} {'episodes':>8} {'steps':>6} {'deaths':>6} {'unlocked/ep':>11} "
          f"{'score %':>8} {'seconds':>8}  achievements (success %)")
    for name, r in results.items():
        got = ", ".join(f"{k} {v:.0f}" for k, v in r["rates"].items() if v > 0)
        print(f"{name:<16} {r['episodes']:>8} {r['steps']:>6} {r['deaths']:>6} "
              f"{r['mean_unlocked']:>11.2f} {r['score']:>8.2f} {r['seconds']:>8.1f}  {got}")


def evaluate(models: list, world: CrafterWorld, trials: int = TRIALS, episodes: int = EPISODES,
             steps: int = STEPS, horizon: int = HORIZON, rollouts: int = ROLLOUTS,
             seed: int = SEED) -> dict:
    """The whole planning evaluation of `models` (each with `.name` and `.sample`): strategy ranking
    per model, and the random / MPC-per-model / MPC-True agents on the same episode starts."""
    from experiments.models import TrueModel

    true_model = TrueModel(CrafterWorld(world.rules, world.area))
    cases = situations(world, seed)
    ranking = {m.name: rank_strategies(m, true_model, world, trials, seed, cases) for m in models}
    starts = episode_starts(world, episodes, seed)
    agents = {"random": random_episodes(world, steps=steps, seed=seed, starts=starts)}
    for model in list(models) + [true_model]:
        agents[f"MPC {model.name}"] = mpc_episodes(model, world, steps=steps, seed=seed,
                                                   horizon=horizon, rollouts=rollouts,
                                                   starts=starts)
    return {"ranking": ranking, "agents": agents,
            "settings": {"trials": trials, "episodes": episodes, "steps": steps,
                         "horizon": horizon, "rollouts": rollouts, "seed": seed}}


def main() -> None:
    from experiments.models import LawModel
    from laws.folder import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="model folders")
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--episodes", type=int, default=EPISODES)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--horizon", type=int, default=HORIZON)
    parser.add_argument("--rollouts", type=int, default=ROLLOUTS)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    models = [LawModel(load_model(folder)[0], folder, unexplained=False) for folder in args.models]
    began = time.perf_counter()
    result = evaluate(models, CrafterWorld(), args.trials, args.episodes, args.steps, args.horizon,
                      args.rollouts, args.seed)
    for name, rows in result["ranking"].items():
        print_ranking(name, rows)
    print_mpc(result["agents"], args.steps)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
