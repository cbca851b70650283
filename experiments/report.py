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


def summary_table(report: dict, section: dict | None = None) -> str:
    """One protocol's summary (the default protocol's unless `section` is given): the chance line
    first, then per model and variant MRR and rank@1 with 95% intervals, recall, fidelity, and the
    held-out NLL."""
    section = section or report
    lines = [f"{'model':<44} {'variant':<8} {'MRR':>6} {'95% CI':>13} {'rank@1':>7} "
             f"{'95% CI':>13} {'recall':>7} {'edits':>6} {'IoU':>6} {'NLL':>8}"]
    for variant in ("success", "failure"):
        line = section.get("chance", {}).get(variant)
        if line:
            lines.append(f"{'chance (uniform random ranking)':<44} {variant:<8} "
                         f"{line['mrr']:>6.3f} {'':>13} {line['rank1']:>7.3f} {'':>13} "
                         f"{line['recall']:>7.3f}")
    for model, rows in section["summary"].items():
        nll = report.get("nll", {}).get(model)
        for variant in ("success", "failure"):
            row = rows.get(variant)
            if not row:
                continue
            lines.append(f"{model:<44} {variant:<8} {row['mrr']:>6.3f} {_ci(row, 'mrr'):>13} "
                         f"{row['rank1']:>7.3f} {_ci(row, 'rank1'):>13} {row['recall']:>7.3f} "
                         f"{row['edits']:>6.1f} {row['iou']:>6.3f} "
                         + (f"{nll:>8.2f}" if nll is not None and variant == "success" else ""))
    return "\n".join(line.rstrip() for line in lines)


def _ci(row: dict, metric: str) -> str:
    low, high = row.get(f"{metric}_ci95", (float("nan"), float("nan")))
    return f"[{low:.3f},{high:.3f}]"


def sections(report: dict) -> dict[str, dict]:
    """{protocol: its numbers}: the first protocol's are the report's top level, others under
    their name."""
    first, *others = report["protocols"]
    return {first: report, **{name: report[name] for name in others}}


def at_chance(section: dict) -> list[str]:
    """`model variant` pairs whose MRR interval contains the chance line of their own candidates."""
    found = []
    for model, rows in section["summary"].items():
        for variant, row in rows.items():
            low, high = row.get("mrr_ci95", (None, None))
            if low is not None and low <= row.get("chance_mrr", -1) <= high:
                found.append(f"{model} ({variant})")
    return found


def baseline_lines(section: dict) -> list[str]:
    """Per law model and baseline: scenarios won, lost and indistinguishable (95% intervals)."""
    out = []
    for model, against in section.get("beats_baseline", {}).items():
        for label, count in against.items():
            out.append(f"{model} vs {label}: higher MRR on {len(count['wins'])} of "
                       f"{count['scenarios']} scenarios (success variants, 95% interval of the "
                       f"difference clear of 0), lower on {len(count['losses'])}, "
                       f"indistinguishable on {len(count['indistinguishable'])}")
    return out


def markdown(report: dict) -> str:
    out = ["# lawsmith evaluation", "",
           f"World: {report['world']}; scenarios: {len(report['scenarios'])} (each with a success "
           f"and a failure variant), {report['trials']} trials each; seed {report['seed']}. "
           f"Held-out NLL on {report['heldout']['transitions']} transitions of "
           f"{report['heldout']['trace']}, a trace no model, baseline, pruning or round selection "
           "saw. Baselines fitted on each model's own training data: "
           + ", ".join(f"{name}: `{trace}`" for name, trace in report["baseline_data"].items())
           + ".", ""]
    if report.get("provenance"):
        out += [f"Made by `{report['provenance']['command']}` at commit "
                f"`{report['provenance']['commit']}`.", ""]
    for protocol, section in sections(report).items():
        out += [f"## Summary, protocol `{protocol}`", "", "```", summary_table(report, section),
                "```", ""]
        chance_hits = at_chance(section)
        if chance_hits:
            out += ["At chance (the 95% interval of MRR contains the chance line of the model's "
                    "own candidate sets): " + ", ".join(chance_hits) + ".", ""]
        out += [f"- {line}" for line in baseline_lines(section)] + [""]
    out += ["MRR, rank@1 and recall rank the true next state among distractors by each model's "
            "log-probability (ties count against the model); the chance line is what a uniformly "
            "random ranking of the same candidate sets scores (MRR = H_N / N). Intervals: 95% "
            "bootstrap over trials within scenarios. Edits: JSON-Patch operations from the "
            "model's sample to the truth; IoU compares the model's and the truth's patches from "
            "the current state. NLL: held-out negative log-likelihood per transition. Protocols: "
            "`lawsmith` scores every observable (material grid and hidden counters included) with "
            "distractors made from the true next state; `onelife` scores what OneLife scores, "
            "with distractors mutated from the previous state (docs/eval.md).", "",
            "## The oracle", "", _oracle_text(report), "",
            "## Held-out NLL per observable class", "", _class_table(report), "",
            f"## MRR per scenario (success / failure), protocol `{report['protocols'][0]}`", "",
            _scenario_table(report, "per_scenario", "{:.2f}"), "",
            "## NLL of the true next state per scenario (success / failure), protocol "
            f"`{report['protocols'][0]}`", "",
            "The mechanic's own cost: -log p(true next state) in the scenario's hand-set state, "
            "where few other things change.", "",
            _scenario_table(report, "scenario_nll", "{:.1f}", law_only=True), ""]
    if report.get("planning"):
        out += ["## Planning", "", "```", report["planning"]["text"], "```", ""]
    out += ["![MRR per scenario](mrr_per_scenario.png)", ""]
    if report.get("nll"):
        out += ["![held-out NLL against the oracle](nll_vs_oracle.png)", ""]
    return "\n".join(out)


def _oracle_text(report: dict) -> str:
    curve = report["oracle"]
    rows = " | ".join(f"{n}: {v:.3f}" for n, v in zip(curve["draws"], curve["nll"]))
    verdict = (f"uses {curve['chosen']} draws: doubling them moves its NLL by less than "
               f"{curve['tolerance']:.0%}" if curve["converged"] else
               f"did not converge within {curve['draws'][-1]} draws (uses {curve['chosen']})")
    return (f"The True model's held-out NLL per transition by number of draws of the real game: "
            f"{rows}. It {verdict}. The estimate assumes observables independent given (state, "
            "action) and lumps unseen values into one smoothed bucket (experiments/oracle.py).")


def _class_table(report: dict, top: int = 14) -> str:
    """The classes where the models' held-out NLL is largest, per model (oracle first)."""
    by_class = report.get("nll_by_class", {})
    models = list(by_class)
    worst: dict[str, float] = {}
    for model in models:
        for name, value in by_class[model].items():
            worst[name] = max(worst.get(name, 0.0), value)
    classes = sorted(worst, key=worst.get, reverse=True)[:top]
    lines = ["| class | " + " | ".join(models) + " |", "|" + "---|" * (len(models) + 1)]
    for name in classes:
        lines.append(f"| {name} | " + " | ".join(f"{by_class[m].get(name, 0.0):.3f}"
                                                 for m in models) + " |")
    return "\n".join(lines)


def _scenario_table(report: dict, key: str, number: str, law_only: bool = False) -> str:
    """Scenarios by models: `report[key][model][scenario]` as `success / failure`."""
    models = [m for m in report[key] if not law_only or m in report.get("nll", {})]
    header = "| scenario | " + " | ".join(models) + " |"
    lines = [header, "|" + "---|" * (len(models) + 1)]
    for scenario in report["scenarios"]:
        cells = []
        for model in models:
            per = report[key][model].get(scenario, {})
            success, failure = per.get("success"), per.get("failure")
            cells.append(f"{number.format(success)} / {number.format(failure)}"
                         if success is not None and failure is not None else "-")
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
    line = report.get("chance", {}).get("success")
    if line:
        axis.axhline(line["mrr"], color="black", linestyle="--", linewidth=1,
                     label="chance (uniform random ranking)")
    axis.set_ylabel(f"MRR (success variants, protocol {report['protocols'][0]})")
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
