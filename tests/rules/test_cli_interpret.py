"""`ehrgen interpret` end to end on calls.json files built in the test (no VCF needed)."""

from __future__ import annotations

import csv
import json
import types
from pathlib import Path

from typer.testing import CliRunner

from ehrgen.cli.main import app
from ehrgen.rules import batch
from ehrgen.rules.model import RECOMMENDATION_COLUMNS

from .conftest import gene, sample

runner = CliRunner()


def _write_calls(d: Path) -> None:
    d.mkdir()
    s1 = sample(gene("CYP2C19", "Poor Metabolizer", dip="*2/*2"), gene("CYP2D6", status="no_data"), name="S1")
    s2 = sample(gene("CYP2C19", "Normal Metabolizer", dip="*1/*1"), name="S2")
    for s in (s1, s2):
        (d / f"{s.sample}.calls.json").write_text(json.dumps(s.to_dict()), encoding="utf-8")
    (d / "BROKEN.calls.json").write_text("{not json", encoding="utf-8")


def test_interpret_preemptive(tmp_path):
    calls = tmp_path / "calls"
    _write_calls(calls)
    out = tmp_path / "out"
    res = runner.invoke(app, ["interpret", str(calls), "--out", str(out), "--no-report"])
    assert res.exit_code == 1, res.output  # the broken file is reported, the others are still interpreted
    assert "BROKEN.calls.json" in res.output
    with (out / "recommendations.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert list(rows[0].keys()) == list(RECOMMENDATION_COLUMNS)
    assert {r["patient"] for r in rows} == {"S1", "S2"}
    clop = [r for r in rows if r["patient"] == "S1" and r["drug"] == "clopidogrel"]
    assert clop and all(r["action"] in ("avoid", "use_alternative") for r in clop)
    doc = json.loads((out / "S1.recommendations.json").read_text(encoding="utf-8"))
    assert doc["rules"]["rules_version"].startswith("cpic-dpwg-") and doc["samples"][0]["genes"]["CYP2D6"]["status"] == "no_data"
    assert len(doc["recommendations"]) == len([r for r in rows if r["patient"] == "S1"])
    assert doc["alerts"] == []


def test_interpret_with_clinical_adds_reactive_alerts(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    _write_calls(calls)
    (calls / "BROKEN.calls.json").unlink()
    Med = types.SimpleNamespace
    clinical = types.SimpleNamespace(
        patients={"P-1": None, "P-2": None}, links={"S1": "P-1", "S2": "P-2"}, consents={}, errors=[],
        medications=[
            Med(patient_id="P-1", status="active", drug_text="Plavix",
                codes=[("http://www.nlm.nih.gov/research/umls/rxnorm", "32968")]),
            Med(patient_id="P-1", status="active", drug_text="mystery pill", codes=[]),
            Med(patient_id="P-1", status="stopped", drug_text=None, codes=[("http://www.whocc.no/atc", "R05DA04")]),
            Med(patient_id="P-2", status="active", drug_text="clopidogrel", codes=[]),
        ])
    monkeypatch.setattr(batch, "_load_clinical", lambda p: clinical)
    out = tmp_path / "out"
    res = runner.invoke(app, ["interpret", str(calls), "--out", str(out), "--clinical", str(tmp_path),
                              "--source", "cpic", "--no-report"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "P-1.recommendations.json").read_text(encoding="utf-8"))
    assert doc["medications_checked"] == ["clopidogrel"]  # stopped codeine is not checked
    assert [u["value"] for u in doc["unknown_medications"]] == ["mystery pill"]
    assert doc["alerts"] and all(a["drug"] == "clopidogrel" and a["actionable"] and a["source"] == "CPIC"
                                 for a in doc["alerts"])
    p2 = json.loads((out / "P-2.recommendations.json").read_text(encoding="utf-8"))
    assert p2["alerts"] == []  # normal metabolizer: nothing to alert on
    with (out / "alerts.tsv").open(encoding="utf-8") as fh:
        alerts = list(csv.DictReader(fh, delimiter="\t"))
    assert {a["patient"] for a in alerts} == {"P-1"}


def test_bad_source_is_one_line_error(tmp_path):
    res = runner.invoke(app, ["interpret", str(tmp_path), "--out", str(tmp_path / "o"), "--source", "fda"])
    assert res.exit_code == 2 and "error:" in res.output


def test_reports_rendered_when_renderer_exists(tmp_path):
    calls = tmp_path / "calls"
    _write_calls(calls)
    (calls / "BROKEN.calls.json").unlink()
    out = tmp_path / "out"
    res = runner.invoke(app, ["interpret", str(calls), "--out", str(out)])
    assert res.exit_code == 0, res.output
    if batch._report_renderer() is not None:
        assert (out / "S1.report.html").is_file() and (out / "S1.report.json").is_file()
