"""Regenerate `reports/crafter-laws/`, the hand-written complete Crafter laws measured against the
real game, with one command:

    python experiments/crafter_laws_report.py [--jobs 2] [--skip-planning]

Steps (each `lawsmith` command is printed before it runs and recorded in the manifests):
1. record 2,000 explorer transitions (lives from seed 100) and fit `examples/crafter.law` on them;
2. audit the law file on a fresh 3,000-transition trace (lives from seed 2,000,000): per law, how
   often the real next value falls outside what it predicts (the cost of reading the state before
   the step), and which changes no law predicts (`audit.md`);
3. evaluate the fitted model (experiments/evaluate.py): both scenario protocols, held-out NLL against the oracle on
   200 fresh transitions (lives from seed 1,000,000), the baselines;
4. strategy ranking (experiments/planning.py's six situations) with 64 rollouts per strategy in
   the model and in the real game (`planning.md`). The MPC agent of `evaluate.py --planning` is
   left out: imagining with this 63-law file takes about 0.25 s per batch of 32 states, so it
   would take over 20 minutes (the fast simulator is issue 12).
Traces and the model go to `runs/crafter-laws/` (reused when present); the fitted model folder is
copied into the report.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys

from lawsmith.experiments.crafter_report import evaluate, lawsmith, record_traces
from lawsmith.experiments.law_audit import audit, markdown
from lawsmith.laws.folder import provenance

ROOT = pathlib.Path(__file__).resolve().parent.parent

RUNS = pathlib.Path("runs/crafter-laws")
REPORT = pathlib.Path("reports/crafter-laws")
TRAIN, AUDIT = RUNS / "crafter_2000.jsonl.gz", RUNS / "audit_3000.jsonl.gz"
LAWS = "examples/crafter.law"
RANKING_TRIALS = 64


def strategy_ranking(model_dir: pathlib.Path, made: dict) -> str:
    """experiments/planning.py's strategy ranking of the fitted laws against the real game."""
    import contextlib
    import io

    from lawsmith.envs.crafter_world import CrafterWorld
    from lawsmith.experiments import planning
    from lawsmith.experiments.models import LawModel, TrueModel
    from lawsmith.laws.folder import load_model

    world = CrafterWorld()
    model = LawModel(load_model(model_dir)[0], "handwritten", unexplained=False)
    rows = planning.rank_strategies(model, TrueModel(CrafterWorld()), world, RANKING_TRIALS,
                                    planning.SEED, planning.situations(world, planning.SEED))
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        planning.print_ranking("handwritten", rows)
    return (f"# Strategy ranking: {LAWS} fitted, against the real game\n\nMade by "
            f"`{made['command']}` at commit `{made['commit']}`; {RANKING_TRIALS} rollouts per "
            "strategy in each world; a pair of strategies counts as tied when their means differ "
            "by at most the situation's tie (experiments/planning.py).\n\n```"
            + text.getvalue().rstrip() + "\n```\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-planning", action="store_true", help="no strategy ranking")
    args = parser.parse_args()
    record_traces(((TRAIN, 2000, 100), (AUDIT, 3000, 2_000_000)))
    # Before anything is written: the commit then is the one whose code makes the report.
    made = provenance("python experiments/crafter_laws_report.py")
    model = RUNS / "handwritten"
    lawsmith("fit", "--laws", LAWS, str(TRAIN), "-o", str(model))
    evaluate(str(model), "-o", str(REPORT), "--jobs", str(args.jobs))
    if not args.skip_planning:
        (ROOT / REPORT / "planning.md").write_text(strategy_ranking(ROOT / model, made))
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
