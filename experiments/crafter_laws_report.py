"""Regenerate `reports/crafter-laws/`, the hand-written complete Crafter laws measured against the
real game, with one command:

    python experiments/crafter_laws_report.py [--jobs 2] [--skip-planning]

Steps (each `lawsmith` command is printed before it runs and recorded in the manifests):
1. record 2,000 explorer transitions (lives from seed 100) and fit `examples/crafter.law` on them;
2. audit the law file on a fresh 3,000-transition trace (lives from seed 2,000,000): per law, how
   often the real next value falls outside what it predicts (the cost of reading the state before
   the step), and which changes no law predicts (`audit.md`);
3. `lawsmith eval` the fitted model: both scenario protocols, held-out NLL against the oracle on
   200 fresh transitions (lives from seed 1,000,000), the baselines, planning.
Traces and the model go to `runs/crafter-laws/` (reused when present); the fitted model folder is
copied into the report.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.crafter_report import lawsmith, record_traces  # noqa: E402
from experiments.law_audit import audit, markdown  # noqa: E402
from laws.folder import provenance  # noqa: E402

RUNS = pathlib.Path("runs/crafter-laws")
REPORT = pathlib.Path("reports/crafter-laws")
TRAIN, AUDIT = RUNS / "crafter_2000.jsonl.gz", RUNS / "audit_3000.jsonl.gz"
LAWS = "examples/crafter.law"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-planning", action="store_true")
    args = parser.parse_args()
    record_traces(((TRAIN, 2000, 100), (AUDIT, 3000, 2_000_000)))
    model = RUNS / "handwritten"
    lawsmith("fit", "--laws", LAWS, str(TRAIN), "-o", str(model))
    lawsmith("eval", str(model), "-o", str(REPORT), "--jobs", str(args.jobs),
             *([] if args.skip_planning else ["--planning"]))
    made = provenance("python experiments/crafter_laws_report.py")
    text = (f"# {LAWS} against the real game: law by law\n\nMade by `{made['command']}` at commit "
            f"`{made['commit']}` on `{AUDIT}` (explorer lives from seed 2,000,000).\n\n"
            + markdown(audit(str(ROOT / AUDIT), str(ROOT / LAWS))))
    (ROOT / REPORT / "audit.md").write_text(text)
    target = ROOT / REPORT / "model"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / model, target)
    subprocess.run([sys.executable, "-m", "lawsmith", "fmt", "--check", LAWS], cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
