"""Benchmark: fitting `examples/crafter.law` to N real-Crafter transitions: time and peak memory.

Transitions come from the unguided explorer, one life per seed (seeds 0, 1, ...) until N are
collected; they are cached in runs/bench_crafter_<N>.jsonl.gz (a multi-episode trace) so that reruns
measure fitting only. Prints one table row per N: the time to run the laws over the data and build
the prediction table, the time of the optimiser steps, the total, and peak memory (resident set).

    python experiments/bench_fit.py --sizes 10000 100000 [--device cuda] [--steps 300]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import time

import torch

from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.recorder import record_lives
from lawsmith.envs.trace import open_trace
from lawsmith.envs.worlds import make_policy
from lawsmith.laws.model import WorldModel
from lawsmith.synth.fit import FitConfig, build_tables, fit

LAWS = pathlib.Path(__file__).parent.parent / "examples" / "crafter.law"
RUNS = pathlib.Path(__file__).parent.parent / "runs"


def crafter_trace(size: int) -> pathlib.Path:
    """A cached multi-life explorer trace with `size` transitions."""
    path = RUNS / f"bench_crafter_{size}.jsonl.gz"
    if not path.exists():
        record_lives(CrafterWorld(), make_policy("explorer"), str(path), size)
    return path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(size: int, device: str, steps: int) -> dict:
    path = crafter_trace(size)
    reader = open_trace(path)
    transitions = reader.triples()[:size]
    model = WorldModel(LAWS.read_text(), reader.schema)
    config = FitConfig(steps=steps, device=device, learning_rate=0.1)
    start = time.perf_counter()
    tables = build_tables(model, transitions, config.chunk)
    tables_seconds = time.perf_counter() - start
    result = fit(model, transitions, config, tables=tables)
    if device == "cuda":
        torch.cuda.synchronize()
    return {"n": len(transitions), "tables": tables_seconds, "fit": result.seconds,
            "steps": result.steps,
            "total": tables_seconds + result.seconds, "rss": peak_rss_mib(),
            "gpu": torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else 0.0,
            "nll": result.train_nll,
            "groups": sum(len(t.group_domain) for t in tables)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    print(f"fit examples/crafter.law, at most {args.steps} Adam steps (stops when settled), "
          f"device {args.device}, "
          f"torch threads {FitConfig().threads}, {os.cpu_count()} CPUs")
    print(f"{'transitions':>11} {'groups':>9} {'steps':>6} {'tables s':>9} {'fit s':>7} "
          f"{'total s':>8} "
          f"{'peak RSS MiB':>13} {'GPU MiB':>8} {'train NLL':>10}")
    for size in args.sizes:
        row = bench(size, args.device, args.steps)
        print(f"{row['n']:>11} {row['groups']:>9} {row['steps']:>6} {row['tables']:>9.1f} "
              f"{row['fit']:>7.1f} "
              f"{row['total']:>8.1f} {row['rss']:>13.0f} {row['gpu']:>8.0f} {row['nll']:>10.3f}")


if __name__ == "__main__":
    main()
