"""`lawsmith simulate`: random-policy rollouts of a model in the batched simulator, and their speed."""

from __future__ import annotations

import argparse
import math
import time

from lawsmith.args import device, nonnegative_int
from lawsmith.errors import UsageError

SIM_EXAMPLE = """examples:
  lawsmith simulate models/crafter --n 1024 --steps 200
  lawsmith simulate models/crafter --n 100000 --steps 100 --device cuda --seed 3
  lawsmith simulate models/toy --n 64 --steps 50 --starts runs/toy.jsonl.gz --no-noise

Each of the N rollouts is one episode of at most --steps steps from a start state drawn uniformly
(--starts: the first state of each episode of a trace; default: the model's world reset for
seeds 0..7). An episode ends early when the model kills the player (health <= 0: the player's
field or counts key named `health`); it then stops counting and its row leaves the batch.
Achievements are the player's counts attribute named `achievements`: a rollout unlocks a key
when it goes from 0 to more than 0."""

TOP = 8   # achievements listed by rate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate", help="random-policy rollouts of a model in the batched simulator",
        description="Run N random-policy rollouts of T steps of a model folder's laws, all N "
                    "stepped together as tensors, and report throughput (state-steps per "
                    "second) and what happened: achievements unlocked per rollout (with a 95% "
                    "interval), the most common achievements, deaths and episode lengths.",
        epilog=SIM_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL_DIR")
    parser.add_argument("--n", type=int, default=256, help="rollouts, stepped as one batch (256)")
    parser.add_argument("--steps", type=int, default=100, help="steps per rollout (100)")
    parser.add_argument("--device", type=device, default="cpu", help="cpu or cuda (cpu)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of starts, actions and draws (0)")
    parser.add_argument("--starts", metavar="TRACE",
                        help="start from the first state of each episode of this trace")
    parser.add_argument("--start-seeds", type=int, default=8, metavar="K",
                        help="without --starts: reset the model's world for seeds 0..K-1 (8)")
    parser.add_argument("--policy", choices=("random",), default="random",
                        help="the policy: uniform random actions (the only one for now)")
    parser.add_argument("--noise", action=argparse.BooleanOptionalAction, default=True,
                        help="draw from the noise floor too, as the model's own sampling does "
                             "(default: on)")
    parser.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError(f"--n must be at least 1, got {args.n}")
    if args.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {args.steps}")
    if args.start_seeds < 1:
        raise UsageError(f"--start-seeds must be at least 1, got {args.start_seeds}")
    # Heavy imports (torch) where they are needed, so `lawsmith --help` stays quick.
    import numpy as np
    import torch

    from lawsmith.laws.episodes import EpisodeSpec
    from lawsmith.laws.simulator import Simulator, check_size, resolve_device
    from lawsmith.gym import load, start_states

    device = resolve_device(args.device)
    model, manifest = load(args.model)
    sim = Simulator(model, device, noise=args.noise)
    check_size(sim, args.n, device)
    starts = start_states(model, args.starts, manifest.get("world"), args.start_seeds)
    encoded = sim.encode(starts)
    rng = np.random.default_rng(args.seed)
    index = torch.as_tensor(rng.integers(0, encoded.size, size=args.n), device=device)
    states = encoded.select(index)
    episodes = EpisodeSpec(max_steps=None).bind(model.schema)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    n_actions = len(sim.actions)

    rollout = torch.arange(args.n, device=device)          # batch row -> rollout number
    unlocked = torch.zeros((args.n, len(episodes.achievements)), dtype=torch.bool, device=device)
    length = torch.full((args.n,), args.steps, dtype=torch.int64, device=device)
    died = torch.zeros(args.n, dtype=torch.bool, device=device)
    state_steps = 0
    _sync(device)
    began = time.perf_counter()
    for t in range(args.steps):
        actions = torch.randint(0, n_actions, (states.size,), generator=generator, device=device)
        after = sim.step(states, actions, generator)
        state_steps += states.size
        unlocked[rollout] |= episodes.unlocked(states, after)
        dead = episodes.terminated(states, after)
        if bool(dead.any()):
            gone = rollout[dead]
            died[gone] = True
            length[gone] = t + 1
            keep = (~dead).nonzero().flatten()
            if len(keep) == 0:
                states = None
                break
            after, rollout = after.select(keep), rollout[keep]
        states = after
    _sync(device)
    seconds = time.perf_counter() - began

    rate = state_steps / seconds if seconds > 0 else math.inf
    noise = "on" if args.noise else "off"
    print(f"simulated {args.n:,} rollouts x {args.steps:,} steps of {args.model} "
          f"({args.policy} policy, noise {noise}, seed {args.seed}, {encoded.size} start states)")
    print(f"  throughput    {rate:,.0f} state-steps/s ({state_steps:,} state-steps in "
          f"{seconds:.2f} s wall, device {device})")
    lengths = length.cpu().numpy()
    if episodes.health_field is None:
        print(f"  episodes      no health field in the schema: none end early; "
              f"length {args.steps} steps")
    else:
        deaths = int(died.sum())
        print(f"  deaths        {deaths:,} of {args.n:,} ({100 * deaths / args.n:.1f}%); "
              f"mean episode length {lengths.mean():.1f} steps")
    if not episodes.achievements:
        print("  achievements  none (the player has no counts attribute named achievements)")
        return 0
    counts = unlocked.sum(1).cpu().numpy().astype(float)
    mean, low, high = _interval(counts)
    interval = f" (95% interval {low:.2f}-{high:.2f})" if low is not None else ""
    print(f"  achievements  {mean:.2f} unlocked per rollout{interval}, "
          f"of {len(episodes.achievements)}")
    rates = unlocked.float().mean(0).cpu().numpy()
    order = sorted(range(len(rates)), key=lambda k: (-rates[k], episodes.achievements[k]))
    common = [k for k in order[:TOP] if rates[k] > 0]
    if common:
        width = max(len(episodes.achievements[k]) for k in common)
        print("  most common   (share of rollouts that unlocked it)")
        for k in common:
            print(f"    {episodes.achievements[k]:<{width}}  {100 * rates[k]:5.1f}%")
    return 0


def _interval(values) -> tuple[float, float | None, float | None]:
    """The mean and its 95% normal-approximation interval (None for a single value)."""
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None, None
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def _sync(device) -> None:
    if device.type == "cuda":
        import torch
        torch.cuda.synchronize(device)
