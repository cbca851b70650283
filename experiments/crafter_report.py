"""Regenerate the committed evaluation report `reports/crafter/` with one command:

    python experiments/crafter_report.py [--jobs 2] [--skip-planning]

Every step is a `lawsmith` command or `experiments/evaluate.py` (printed before it runs), so each model folder's manifest and the
report record the command and commit that made them. Traces and models go to `runs/report/`
(reused when present, so a second run only re-evaluates); the model folders evaluated are copied
into `reports/crafter/models/`.

Seeds: the 2,000-transition training trace uses explorer lives from seed 100, the 10,000 one from
seed 0; experiments/evaluate.py records its held-out trace from seed 1,000,000, which neither saw.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = pathlib.Path("runs/report")
REPORT = pathlib.Path("reports/crafter")
SMALL, LARGE = RUNS / "crafter_2000.jsonl.gz", RUNS / "crafter_10000.jsonl.gz"
MODELS = {"learned": ["learn", str(SMALL)], "learned-10k": ["learn", str(LARGE)],
          "handwritten": ["fit", "--laws", "examples/crafter.law", str(SMALL)]}


def lawsmith(*arguments: str) -> None:
    """Run one `lawsmith` command from the repository root, failing loudly."""
    run_here("lawsmith", [sys.executable, "-m", "lawsmith"], arguments)


def evaluate(*arguments: str) -> None:
    """Run experiments/evaluate.py (the evaluation) from the repository root, failing loudly."""
    script = "experiments/evaluate.py"
    run_here(f"python {script}", [sys.executable, script], arguments)


def run_here(shown: str, program: list[str], arguments) -> None:
    print(f"$ {shown} " + " ".join(arguments), flush=True)
    began = time.perf_counter()
    subprocess.run([*program, *arguments], cwd=ROOT, check=True)
    print(f"  ({time.perf_counter() - began:.0f} s)", flush=True)


def record_traces(traces) -> None:
    """Explorer lives for each (path, transitions, first seed) whose file is not there yet."""
    for trace, count, seed in traces:
        (ROOT / trace).parent.mkdir(parents=True, exist_ok=True)
        if not (ROOT / trace).exists():
            lawsmith("explore", "--world", "crafter", "--transitions", str(count), "--seed",
                     str(seed), "-o", str(trace))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-planning", action="store_true")
    args = parser.parse_args()
    record_traces(((SMALL, 2000, 100), (LARGE, 10000, 0)))
    for name, command in MODELS.items():
        if not (ROOT / RUNS / name / "manifest.json").exists():
            lawsmith(*command, "-o", str(RUNS / name))
    evaluate(*(str(RUNS / name) for name in MODELS), "-o", str(REPORT),
             "--jobs", str(args.jobs), *([] if args.skip_planning else ["--planning"]))
    for name in MODELS:
        target = ROOT / REPORT / "models" / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / RUNS / name, target)


if __name__ == "__main__":
    main()
