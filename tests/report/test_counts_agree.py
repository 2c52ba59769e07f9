"""The same actionable counts in the terminal table, the report (HTML and JSON) and the FHIR bundle."""

from __future__ import annotations

import base64
import json
import re

from ehrgen.pgx.output import read_sample_calls
from ehrgen.report.clinician import build_report_model
from ehrgen.rules.findings import count_findings
from ehrgen.rules.model import Recommendation


def _recs(cfg, sample):
    doc = json.loads((cfg.dirs.recommendations / f"{sample}.recommendations.json").read_text())
    return [Recommendation.from_dict(r) for r in doc["recommendations"]]


def test_counts_agree_for_every_sample_patient(sample_run, sample_context, capsys):
    from ehrgen.cli.run import print_table

    cfg, by_patient = sample_run
    exported = {p: o for p, o in by_patient.items() if (cfg.dirs.export / f"{p}.bundle.json").is_file()}
    assert "P001" in exported and "P008" in exported
    for patient, o in exported.items():
        recs = _recs(cfg, o.sample)
        expected = count_findings(recs)
        # terminal table column
        assert o.actionable == expected.actionable, patient
        # report HTML headline and the JSON model it is rendered from
        html = (cfg.dirs.export / f"{patient}.report.html").read_text()
        assert f"<strong>{expected.headline()}</strong>" in html, patient
        calls = read_sample_calls(cfg.dirs.calls / f"{o.sample}.calls.json")
        model = build_report_model(patient, [calls], recs, sample_context.ruleset_meta)
        assert model["counts"]["actionable"] == expected.actionable
        assert (model["counts"]["critical"], model["counts"]["warning"], model["counts"]["info"]) == \
            (expected.critical, expected.warning, expected.info)
        assert len(model["all_findings"]) == expected.actionable
        # FHIR DiagnosticReport conclusion, and the HTML it carries as presentedForm
        bundle = json.loads((cfg.dirs.export / f"{patient}.bundle.json").read_text())
        report = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport")
        assert report["conclusion"].startswith(expected.headline()), (patient, report["conclusion"])
        if expected.actionable:
            assert int(re.match(r"(\d+) drugs? with", report["conclusion"]).group(1)) == expected.actionable
        forms = {f["contentType"]: f for f in report["presentedForm"]}
        assert expected.headline() in base64.b64decode(forms["text/html"]["data"]).decode()
    # P001: 12 drugs; CPIC ivacaftor (alert info) included everywhere (the old 22-vs-21 mismatch)
    assert exported["P001"].actionable == 12
    print_table(list(exported.values()), "t")
    out = capsys.readouterr().out
    assert re.search(r"S001\s+│\s+P001\s+│\s+\S+\s+│\s+12\s+│", out), out[:2000]
