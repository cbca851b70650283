"""Timings of the law language on examples/crafter.law and a recorded Crafter trace.

Prints one table: parse, format, check, canonical keys, and both back ends (Python per transition,
torch per batch on CPU, and on CUDA when there is one).

    .venv/bin/python experiments/bench_dsl.py [--steps 500] [--repeat 20]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import tempfile
import time

import torch

from lawsmith.dsl import (canonical_key, check, compile_python, compile_torch, encode_batch,
                 format_program, parse)
from lawsmith.envs.crafter_world import CrafterWorld
from lawsmith.envs.recorder import RandomPolicy, record
from lawsmith.envs.trace import open_trace

STEPS = 500
REPEAT = 20
LAWS = pathlib.Path(__file__).resolve().parent.parent / "examples" / "crafter.law"


def timed(function, repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(steps: int, repeat: int) -> None:
    text = LAWS.read_text()
    start = time.perf_counter()
    program = parse(text)
    first_parse = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "crafter.jsonl.gz"
        record(CrafterWorld(), RandomPolicy(), path, steps=steps, seed=0)
        trace = open_trace(path)
        transitions = list(trace.transitions())
    schema = trace.schema
    states = [t.state for t in transitions]
    actions = [t.action for t in transitions]
    python = compile_python(program, schema)
    batched = compile_torch(program, schema)
    rows = [
        ("parse crafter.law, first (builds the parser)", first_parse, ""),
        ("parse crafter.law", timed(lambda: parse(text), repeat), f"{len(program.laws)} laws"),
        ("format", timed(lambda: format_program(program), repeat), ""),
        ("check against the Crafter schema", timed(lambda: check(program, schema), repeat), ""),
        ("canonical keys, all laws", timed(lambda: [canonical_key(x) for x in program.laws], 3), ""),
        ("Python back end, per transition",
         timed(lambda: [python.predict(s, a) for s, a in zip(states, actions)], 3) / len(states),
         f"{len(states)} transitions"),
        ("encode batch (CPU)", timed(lambda: encode_batch(states, actions, schema), 3), ""),
    ]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        batch = encode_batch(states, actions, schema, device=device)

        def run():
            outputs = batched.predict(batch)
            if device == "cuda":
                torch.cuda.synchronize()
            return outputs
        run()
        rows.append((f"torch back end, whole batch ({device})", timed(run, repeat),
                     f"N={len(states)}"))
    print(f"{'what':48s} {'ms':>10s}  note")
    for name, seconds, note in rows:
        print(f"{name:48s} {seconds * 1000:10.3f}  {note}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    arguments = parser.parse_args()
    main(arguments.steps, arguments.repeat)
