"""`lawsmith eval` end to end on a small model: the report's files, tables and baseline count."""

from __future__ import annotations

import json

from lawsmith.cli import main


def test_eval_writes_a_report(tmp_path, capsys):
    trace = tmp_path / "t.jsonl.gz"
    assert main(["explore", "--world", "crafter", "--steps", "150", "--seed", "4", "-o",
                 str(trace)]) == 0
    model = tmp_path / "hand"
    assert main(["fit", "--laws", "examples/crafter.law", str(trace), "-o", str(model),
                 "--steps", "30"]) == 0
    out = tmp_path / "report"
    assert main(["eval", str(model), "-o", str(out), "--trials", "1", "--heldout", "10"]) == 0
    printed = capsys.readouterr().out
    assert "beats its PoE-World-style baseline on" in printed
    report = json.loads((out / "report.json").read_text())
    assert len(report["scenarios"]) == 23
    assert set(report["summary"]) == {"True", "Null", "Random", "hand", "hand (PoE baseline)"}
    for model_rows in report["summary"].values():
        assert set(model_rows) == {"success", "failure"}
    assert report["summary"]["True"]["success"]["mrr"] > report["summary"]["Null"]["success"]["mrr"]
    assert (out / "mrr_per_scenario.png").stat().st_size > 1000
    assert "## MRR per scenario" in (out / "report.md").read_text()


def test_eval_rejects_a_missing_model(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r")]) == 2
    assert "not a model folder" in capsys.readouterr().err
