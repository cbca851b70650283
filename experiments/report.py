"""Writing an evaluation report: `report.json` (every number), `report.md` (the tables a person
reads) and PNG plots (MRR per scenario per model; held-out NLL against the oracle)."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def write_report(folder: str | os.PathLike, report: dict[str, Any]) -> list[pathlib.Path]:
    """Write report.json, report.md and the plots into `folder`; returns the files written."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [_atomic(folder / "report.json", json.dumps(report, indent=1, default=float) + "\n"),
               _atomic(folder / "report.md", markdown(report))]
    written.append(_plot_mrr(folder / "mrr_per_scenario.png", report))
    if report.get("nll"):
        written.append(_plot_nll(folder / "nll_vs_oracle.png", report))
    return written


def summary_table(report: dict) -> str:
    """The per-model summary (success variants, then failure variants), as aligned text."""
    lines = [f"{'model':<22} {'variant':<8} {'MRR':>6} {'rank@1':>7} {'recall':>7} "
             f"{'edits':>7} {'edits/leaf':>10} {'patch IoU':>9} {'NLL':>9}"]
    for model, rows in report["summary"].items():
        nll = report.get("nll", {}).get(model)
        for variant in ("success", "failure"):
            row = rows.get(variant)
            if not row:
                continue
            lines.append(f"{model:<22} {variant:<8} {row['mrr']:>6.3f} {row['rank1']:>7.3f} "
                         f"{row['recall']:>7.3f} {row['edits']:>7.1f} {row['edits_norm']:>10.4f} "
                         f"{row['iou']:>9.3f} "
                         + (f"{nll:>9.3f}" if nll is not None and variant == "success" else
                            f"{'':>9}"))
    return "\n".join(lines)


def markdown(report: dict) -> str:
    out = ["# lawsmith evaluation", "",
           f"World: {report['world']}; scenarios: {len(report['scenarios'])} (each with a success "
           f"and a failure variant), {report['trials']} trials each; seed {report['seed']}.", "",
           "## Summary", "", "```", summary_table(report), "```", "",
           "MRR, rank@1 and recall rank the true next state among distractors by each model's "
           "log-probability (ties count against the model). Edits: JSON-Patch operations from the "
           "model's sample to the truth; edits/leaf divides by the true state's leaves; patch IoU "
           "compares the model's and the truth's patches from the current state. NLL: held-out "
           "negative log-likelihood per transition on a fresh trace (the oracle is the true world, "
           "estimated per observable from repeated draws).", ""]
    if report.get("beats_baseline"):
        out += ["## Against the PoE-World-style baseline", ""]
        for model, count in report["beats_baseline"].items():
            out.append(f"- {model}: higher MRR than its baseline on {count['wins']} of "
                       f"{count['scenarios']} scenarios (success variants), ties on "
                       f"{count['ties']}")
        out.append("")
    out += ["## MRR per scenario (success / failure)", "", _scenario_table(report), ""]
    if report.get("planning"):
        out += ["## Planning", "", "```", report["planning"]["text"], "```", ""]
    out += ["![MRR per scenario](mrr_per_scenario.png)", ""]
    if report.get("nll"):
        out += ["![held-out NLL against the oracle](nll_vs_oracle.png)", ""]
    return "\n".join(out)


def _scenario_table(report: dict) -> str:
    models = list(report["summary"])
    header = "| scenario | " + " | ".join(models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 1)]
    for scenario in report["scenarios"]:
        cells = []
        for model in models:
            per = report["per_scenario"][model].get(scenario, {})
            success, failure = per.get("success"), per.get("failure")
            cells.append(f"{success:.2f} / {failure:.2f}" if success is not None and
                         failure is not None else "-")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot_mrr(path: pathlib.Path, report: dict) -> pathlib.Path:
    scenarios, models = report["scenarios"], list(report["summary"])
    figure, axis = plt.subplots(figsize=(max(8, len(scenarios) * 0.6), 4.5))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        values = [report["per_scenario"][model].get(s, {}).get("success", 0) for s in scenarios]
        axis.bar([x + i * width for x in range(len(scenarios))], values, width, label=model)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(scenarios))])
    axis.set_xticklabels(scenarios, rotation=70, ha="right", fontsize=8)
    axis.set_ylabel("MRR (success variants)")
    axis.set_ylim(0, 1.05)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def _plot_nll(path: pathlib.Path, report: dict) -> pathlib.Path:
    names = list(report["nll"])
    values = [report["nll"][n] for n in names]
    figure, axis = plt.subplots(figsize=(7, 3.8))
    bars = axis.bar(names, values, color=["tab:gray"] + ["tab:blue"] * (len(names) - 1))
    axis.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7)
    axis.set_yscale("log")   # the baselines are orders of magnitude above the models
    axis.set_ylabel("held-out NLL per transition (log)")
    axis.tick_params(axis="x", rotation=30, labelsize=8)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path: pathlib.Path) -> pathlib.Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        figure.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(figure)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _atomic(path: pathlib.Path, text: str) -> pathlib.Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
