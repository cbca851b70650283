"""experiments/evaluate.py end to end on a small model: the report's files, tables and baseline count."""

from __future__ import annotations

import json

from lawsmith.cli import main
from lawsmith.experiments import evaluate


def test_eval_writes_a_report(tmp_path, capsys):
    trace = tmp_path / "t.jsonl.gz"
    assert main(["explore", "--world", "crafter", "--steps", "150", "--seed", "4", "-o",
                 str(trace)]) == 0
    model = tmp_path / "hand"
    assert main(["fit", "--laws", "examples/crafter.law", str(trace), "-o", str(model),
                 "--steps", "30"]) == 0
    out = tmp_path / "report"
    assert evaluate.main([str(model), "-o", str(out), "--trials", "1", "--heldout", "10"]) == 0
    printed = capsys.readouterr().out
    assert "hand vs PoE-World inference: higher MRR on" in printed
    assert "hand vs no parameter inference: higher MRR on" in printed
    report = json.loads((out / "report.json").read_text())
    assert len(report["scenarios"]) == 23
    models = {"True", "Null", "Random", "hand", "hand (PoE-World inference)",
              "hand (no parameter inference)"}
    for section in (report, report["onelife"]):
        assert set(section["summary"]) == models
        assert set(section["chance"]) == {"success", "failure"}
        assert 0 < section["chance"]["success"]["mrr"] < 1
        for model_rows in section["summary"].values():
            assert set(model_rows) == {"success", "failure"}
            for row in model_rows.values():
                low, high = row["mrr_ci95"]
                assert low - 1e-9 <= row["mrr"] <= high + 1e-9
    summary = report["summary"]
    assert summary["True"]["success"]["mrr"] > summary["Null"]["success"]["mrr"]
    assert report["baseline_data"] == {"hand": str(trace)}
    assert report["oracle"]["chosen"] in report["oracle"]["draws"]
    assert "hand" in report["nll_by_class"] and "True" in report["nll_by_class"]
    assert report["provenance"]["command"].startswith("python experiments/evaluate.py")
    assert (out / "mrr_per_scenario.png").stat().st_size > 1000
    text = (out / "report.md").read_text()
    assert "## MRR per scenario" in text and "## The oracle" in text
    summary_block = text.split("## Summary, protocol `lawsmith`")[1]
    assert summary_block.index("chance (uniform random ranking)") < summary_block.index("True")


def test_eval_defaults_to_ten_trials_and_both_protocols():
    args = evaluate.build_parser().parse_args(["m", "-o", "r"])
    assert args.trials == 10 and args.protocol == "both"


def test_eval_rejects_a_missing_model(tmp_path, capsys):
    assert evaluate.main([str(tmp_path / "nowhere"), "-o", str(tmp_path / "r")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_eval_rejects_two_models_of_one_name(tmp_path, capsys):
    for side in ("a", "b"):
        (tmp_path / side / "learned").mkdir(parents=True)
    first, second = str(tmp_path / "a" / "learned"), str(tmp_path / "b" / "learned")
    assert evaluate.main([first, second, "-o", str(tmp_path / "r")]) == 2
    assert "would both be reported as 'learned'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sections_put_the_first_protocol_at_the_top_level():
    from lawsmith.experiments.report import sections
    only = {"protocols": ["onelife"], "summary": {}}
    assert sections(only) == {"onelife": only}
    both = {"protocols": ["lawsmith", "onelife"], "summary": {}, "onelife": {"summary": {}}}
    assert sections(both) == {"lawsmith": both, "onelife": both["onelife"]}
