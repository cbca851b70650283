"""Benchmark: the batched simulator (`laws.simulator`) against real Crafter, in one table.

Rows, all measured in this run, with uniformly random actions:
- real Crafter: `crafter.Env.step` without rendering (as experiments/bench_env.py times it), 64x64;
- the single-state sampler `WorldModel.sample` of each law model (one state stepped at a time);
- the batched simulator `Simulator.step` of each law model at N = 1, 64, 1024, 8192 states, each N
  in a fresh process (`--worker`), so that its peak resident memory (ru_maxrss) belongs to that N
  alone (and, on CUDA, torch.cuda.max_memory_allocated); the process's resident memory before the
  batch is built is shown beside it;
- Craftax-Classic (JAX, symbolic, auto-reset) at the same N, when `import craftax` works.
Law models: `examples/crafter.law` fitted on an explorer trace this script records itself (or
`--trace FILE`), and a learned model folder (`--learned DIR`; the row is skipped without it).
Batched start states: `CrafterWorld.reset` of a few seeds, cycled over the N rows. Every timed run
is a whole number of 10-step cycles (after one untimed warm-up step), so Crafter's every-10th-step
chunk balancing is in the average. The last line compares the batched simulator with crafter.law
at N=1024 with real Crafter.

    python experiments/bench_sim.py [--learned runs/learned_learn_default_10000] [--device cuda]
    python experiments/bench_sim.py --quick        # smoke run: few steps, small N
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# --- settings (CleanRL style) -------------------------------------------------------------------
SIZES = (1, 64, 1024, 8192)   # batched simulator: states stepped together
CYCLES = 2                    # batched simulator: timed 10-step cycles per N (after 1 warm-up step)
BUDGET = 120.0                # ... fewer (at least one) once a size has taken this many seconds
CRAFTER_STEPS = 2000          # real Crafter steps timed
SAMPLE_STEPS = 20             # WorldModel.sample steps timed per model
TRACE_TRANSITIONS = 2000      # explorer transitions recorded to fit crafter.law on
FIT_STEPS = 300               # at most (fit stops earlier once settled)
SEEDS = (0, 1, 2, 3)          # CrafterWorld.reset seeds of the batched start states
SEED = 0                      # actions and draws
RATIO_N = 1024                # the last line: batched crafter.law at this N vs real Crafter
QUICK = dict(sizes=(1, 64, 1024), cycles=1, budget=BUDGET, crafter_steps=300, sample_steps=10,
             trace_transitions=300, fit_steps=60, seeds=(0, 1))

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAWS = ROOT / "examples" / "crafter.law"
CYCLE = 10                    # Crafter balances its chunks every 10th step


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine(device: str) -> str:
    import platform
    import torch
    text = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
            f"({len(os.sched_getaffinity(0))} usable), torch {torch.__version__} "
            f"with {torch.get_num_threads()} threads")
    if device == "cuda":
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


# --- real Crafter and the single-state sampler ----------------------------------------------------

def time_crafter(steps: int) -> float:
    """Real Crafter steps/s, rendering skipped (bench_env.py's `time_stock(render=False)`)."""
    import crafter
    import numpy as np
    actions = np.random.default_rng(SEED).integers(0, 17, steps).tolist()
    env = crafter.Env(area=(64, 64), seed=SEED)
    env.reset()
    env._obs = lambda: None
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    return steps / (time.perf_counter() - start)


def time_sample(model, starts: list[dict], steps: int) -> float:
    """`WorldModel.sample` state-steps/s: one rollout from the first start, random actions."""
    import numpy as np
    rng = np.random.default_rng(SEED)
    actions = list(model.schema["actions"])
    state = model.sample(starts[0], "noop", SEED, unexplained=False)  # warm-up
    start = time.perf_counter()
    for t in range(steps):
        state = model.sample(state, actions[int(rng.integers(len(actions)))], SEED + t,
                             unexplained=False)
    return steps / (time.perf_counter() - start)


# --- the batched simulator, one N per process -----------------------------------------------------

def worker(job: dict) -> dict:
    """Time up to `job["cycles"]` 10-step cycles of the simulator on `job["n"]` states (in this
    fresh process; no new cycle once `job["budget"]` seconds have passed); the rate and the memory
    it took."""
    import torch
    from lawsmith.laws.folder import load_model
    from lawsmith.laws.simulator import Simulator

    device = torch.device(job["device"])
    model, _ = load_model(job["model"])
    sim = Simulator(model, device=device, noise=True, unexplained=False)
    starts = json.loads(pathlib.Path(job["starts"]).read_text())
    one = sim.encode(starts)
    rss_before = peak_rss_mib()
    n = job["n"]
    states = one.select(torch.arange(n, device=device) % one.size)
    generator = torch.Generator(device=device).manual_seed(SEED)
    actions = len(sim.actions)

    def step(states):
        chosen = torch.randint(0, actions, (n,), generator=generator, device=device)
        return sim.step(states, chosen, generator)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    states = step(states)  # warm-up
    sync()
    steps, start = 0, time.perf_counter()
    while steps < job["cycles"] * CYCLE and (steps == 0
                                            or time.perf_counter() - start < job["budget"]):
        for _ in range(CYCLE):
            states = step(states)
        sync()
        steps += CYCLE
    seconds = time.perf_counter() - start
    return {"rate": n * steps / seconds, "steps": steps, "seconds": seconds,
            "rss_before": rss_before, "rss": peak_rss_mib(),
            "gpu": torch.cuda.max_memory_allocated(device) / 2 ** 20
            if device.type == "cuda" else None}


def craftax_worker(job: dict) -> dict:
    """Craftax-Classic steps/s at `job["n"]` environments (vmapped, jitted), in this process."""
    import jax
    from craftax.craftax_env import make_craftax_env_from_name

    n = job["n"]
    env = make_craftax_env_from_name("Craftax-Classic-Symbolic-v1", auto_reset=True)
    params = env.default_params
    key = jax.random.PRNGKey(SEED)
    key, reset_key = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(reset_key, n), params)
    rss_before = peak_rss_mib()
    vstep = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    actions = env.action_space(params).n

    def step(state, key):
        key, step_key, action_key = jax.random.split(key, 3)
        chosen = jax.random.randint(action_key, (n,), 0, actions)
        _, state, _, _, _ = vstep(jax.random.split(step_key, n), state, chosen, params)
        return state, key

    state, key = step(state, key)  # compiles
    jax.block_until_ready(state)
    steps = job["cycles"] * CYCLE
    start = time.perf_counter()
    for _ in range(steps):
        state, key = step(state, key)
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    return {"rate": n * steps / seconds, "steps": steps, "seconds": seconds,
            "rss_before": rss_before, "rss": peak_rss_mib(), "gpu": None}


def in_fresh_process(job: dict) -> dict:
    """Run `job` in a new Python process running this script with `--worker` (JAX kept on the
    CPU for Craftax)."""
    env = {**os.environ, **({"JAX_PLATFORMS": "cpu"} if job.get("craftax") else {})}
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], cwd=ROOT,
                          text=True, capture_output=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return {"error": error}
    return json.loads(lines[-1])


# --- the models -----------------------------------------------------------------------------------

def fitted_crafter_laws(trace: str | None, transitions: int, fit_steps: int, folder: pathlib.Path):
    """examples/crafter.law fitted on `trace` (or on a fresh explorer trace of `transitions`
    transitions, as `lawsmith explore --transitions`), saved to `folder`. Returns (model, note)."""
    from lawsmith.envs.crafter_world import CrafterWorld
    from lawsmith.envs.recorder import record_lives
    from lawsmith.envs.trace import open_trace
    from lawsmith.envs.worlds import make_policy
    from lawsmith.laws.folder import save_model
    from lawsmith.laws.model import WorldModel
    from lawsmith.synth.fit import FitConfig, fit

    began = time.perf_counter()
    source = trace
    if trace is None:
        trace = str(folder.parent / "explore.jsonl.gz")
        lives = record_lives(CrafterWorld(), make_policy("explorer"), trace, transitions, SEED)
        source = (f"a fresh explorer trace ({lives} {'life' if lives == 1 else 'lives'} from "
                  f"seed {SEED})")
    recorded = time.perf_counter() - began
    reader = open_trace(trace)
    triples = reader.triples()
    model = WorldModel(LAWS.read_text(), reader.schema, filename=str(LAWS))
    result = fit(model, triples, FitConfig(steps=fit_steps, seed=SEED))
    fitted = WorldModel(model.text, reader.schema, result.params)
    save_model(folder, fitted, {"world": reader.header["world"],
                                "data": {"trace": trace, "transitions": len(triples)}})
    note = (f"crafter.law fitted on {len(triples)} transitions of {source} "
            f"({recorded:.0f} s to record, {result.seconds:.0f} s to fit, {result.steps} steps)")
    return fitted, note


# --- the table ------------------------------------------------------------------------------------

def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def _mib(value) -> str:
    return "" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learned", metavar="DIR", help="a learned model folder (row skipped "
                        "without it)")
    parser.add_argument("--trace", metavar="FILE", help="fit crafter.law on this Crafter trace "
                        "instead of recording one")
    parser.add_argument("--device", default="cpu", help="the batched simulator's device: cpu or "
                        "cuda")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"batch sizes (default {SIZES})")
    parser.add_argument("--cycles", type=int, help=f"timed 10-step cycles per N (default {CYCLES})")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, few steps")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(craftax_worker(job) if job.get("craftax") else worker(job)))
        return 0

    settings = dict(sizes=SIZES, cycles=CYCLES, budget=BUDGET, crafter_steps=CRAFTER_STEPS,
                    sample_steps=SAMPLE_STEPS, trace_transitions=TRACE_TRANSITIONS,
                    fit_steps=FIT_STEPS, seeds=SEEDS)
    if args.quick:
        settings.update(QUICK)
    if args.sizes:
        settings["sizes"] = tuple(args.sizes)
    if args.cycles:
        settings["cycles"] = args.cycles
    if settings["cycles"] < 1:
        parser.error("--cycles must be at least 1")

    import torch
    device = args.device
    if device not in ("cpu", "cuda"):
        parser.error("--device must be cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        print("bench_sim: --device cuda asked for, but torch sees no CUDA device here: no table "
              "(run without --device for the CPU table)")
        return 0

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        return bench(args, settings, device, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, settings: dict, device: str, work: pathlib.Path) -> int:
    """The whole table (see the module docstring); `work` is a scratch folder."""
    sizes = settings["sizes"]
    began = time.perf_counter()
    print(f"bench_sim: commit {commit()}; {machine(device)}")
    steps = settings["cycles"] * CYCLE
    print(f"batched: up to {steps} timed steps per N ({settings['cycles']} full 10-step "
          f"cycle{'s' if settings['cycles'] > 1 else ''}, fewer whole cycles past "
          f"{settings['budget']:.0f} s; always whole cycles, so Crafter's every-10th-step chunk "
          "balancing is in the average) after 1 warm-up step; "
          f"random actions; start states CrafterWorld.reset(seed) for seeds {settings['seeds']} "
          f"cycled over the rows; noise on, unexplained changes off; device {device}; each N in a "
          "fresh process")

    from lawsmith.envs.crafter_world import CrafterWorld
    from lawsmith.laws.folder import load_model

    world = CrafterWorld()
    starts = [world.reset(seed) for seed in settings["seeds"]]
    starts_file = work / "starts.json"
    starts_file.write_text(json.dumps(starts))

    crafter_rate = time_crafter(settings["crafter_steps"])
    rows = [("real Crafter", "crafter.Env.step, no rendering", 1, {"rate": crafter_rate},
             f"{settings['crafter_steps']} steps, CPU")]

    models = []
    fitted, note = fitted_crafter_laws(args.trace, settings["trace_transitions"],
                                       settings["fit_steps"], work / "crafter_law")
    print(note)
    models.append(("crafter.law", fitted, str(work / "crafter_law")))
    skipped = []
    if args.learned:
        learned, _ = load_model(args.learned)
        models.append((f"learned ({pathlib.Path(args.learned).name})", learned, args.learned))
    else:
        skipped.append("learned model: skipped (give --learned DIR)")

    for name, model, folder in models:
        rows.append((name, "WorldModel.sample (one state)", 1,
                     {"rate": time_sample(model, starts, settings["sample_steps"])},
                     f"{settings['sample_steps']} steps, CPU"))
        for n in sizes:
            result = in_fresh_process({"model": folder, "n": n, "device": device,
                                       "cycles": settings["cycles"], "budget": settings["budget"],
                                       "starts": str(starts_file)})
            rows.append((name, f"Simulator.step (batched, {device})", n, result,
                         f"{result.get('steps', steps)} steps in {result['seconds']:.1f} s"
                         if "seconds" in result else ""))
    try:
        import craftax  # noqa: F401  (optional: never a dependency)
    except ImportError:
        skipped.append("craftax not installed")
    else:
        for n in sizes:
            result = in_fresh_process({"craftax": True, "n": n, "cycles": settings["cycles"]})
            rows.append(("Craftax-Classic", "jitted vmapped step (JAX, CPU)", n, result,
                         f"{result.get('steps', steps)} steps in {result['seconds']:.1f} s"
                         if "seconds" in result else ""))

    print()
    width = max(len(row[0]) for row in rows)
    print(f"{'model':<{width}} {'what':<34} {'N':>5} {'state-steps/s':>14} {'vs Crafter':>10} "
          f"{'RSS MiB':>8} {'(before)':>8} {'GPU MiB':>8}  notes")
    for name, what, n, result, notes in rows:
        if "error" in result:
            print(f"{name:<{width}} {what:<34} {n:>5} {'failed':>14} {'':>10} {'':>8} {'':>8} "
                  f"{'':>8}  {result['error'][:100]}")
            continue
        print(f"{name:<{width}} {what:<34} {n:>5} {result['rate']:>14.1f} "
              f"{_ratio(result['rate'] / crafter_rate):>10} {_mib(result.get('rss')):>8} "
              f"{_mib(result.get('rss_before')):>8} {_mib(result.get('gpu')):>8}  {notes}")
    for line in skipped:
        print(line)
    print(f"total {time.perf_counter() - began:.0f} s")
    ratio = [r for name, what, n, r, _ in rows
             if name == "crafter.law" and what.startswith("Simulator") and n == RATIO_N]
    if ratio and "rate" in ratio[0]:
        print(f"batched N={RATIO_N}: {ratio[0]['rate'] / crafter_rate:.2f}x real Crafter")
    else:
        why = "not measured" if not ratio else "failed"
        print(f"batched N={RATIO_N}: {why} (sizes {', '.join(map(str, sizes))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
