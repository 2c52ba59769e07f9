"""Offline profile validation (ehrgen.fhir.validate / `ehrgen validate`) with HAPI's validator.

Runs the sandbox jar's Validate class (no server needed; builds the jar if missing). Each JVM call
costs ~15 s, so files are batched into few calls.
"""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from ehrgen.cli.main import app
from tests.fhir.ig_examples import ig_example
from ehrgen.fhir.validate import ValidationIssue, has_errors, parse_issue_lines, validate_files


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("validate")
    good = ig_example("Observation-GenotypeExamplePharmVar.json")
    broken = copy.deepcopy(good)
    broken["code"] = {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]}
    no_status = copy.deepcopy(good)
    del no_status["status"]
    bundle = ig_example("Bundle-bundle-pgxexample.json")
    out = {
        "good": good, "broken": broken, "no_status": no_status, "bundle": bundle,
    }
    paths = {}
    for name, res in out.items():
        p = d / f"{name}.json"
        p.write_text(json.dumps(res))
        paths[name] = p
    paths["not_json"] = d / "not_json.json"
    paths["not_json"].write_text("this is not FHIR")
    paths["missing"] = d / "missing.json"
    return paths


@pytest.fixture(scope="module")
def issues(files) -> list[ValidationIssue]:
    # one JVM for all files
    return validate_files(files.values(), min_severity="warning")


def of(issues, files, name):
    return [i for i in issues if i.file == str(files[name])]


def test_parse_issue_lines():
    text = '{"file":"a.json","severity":"error","location":"Observation.code","message":"m"}\n\n'
    assert parse_issue_lines(text) == [ValidationIssue("a.json", "error", "Observation.code", "m")]
    with pytest.raises(Exception, match="line 1"):
        parse_issue_lines("not json")


def test_ig_example_has_no_errors_and_unknown_code_systems_only_warn(issues, files):
    found = of(issues, files, "good")
    assert not has_errors(found), [i.format() for i in found]
    loinc = [i for i in found if "http://loinc.org" in i.message]
    assert loinc and {i.severity for i in loinc} == {"warning"}


def test_missing_fixed_code_is_an_error_at_its_fhirpath(issues, files):
    errors = [i for i in of(issues, files, "broken") if i.is_error]
    assert errors
    assert any(i.location == "Observation.code" and "84413-4" in i.message for i in errors)


def test_missing_required_element_is_an_error(issues, files):
    errors = [i for i in of(issues, files, "no_status") if i.is_error]
    assert any("status" in i.message and i.location.startswith("Observation") for i in errors)


def test_ig_pgx_bundle_example_has_no_errors(issues, files):
    found = of(issues, files, "bundle")
    assert not has_errors(found), [i.format() for i in found if i.is_error]


def test_bad_files_are_errors_for_that_file_only(issues, files):
    assert [i.location for i in of(issues, files, "not_json")] == ["(parse)"]
    assert [i.location for i in of(issues, files, "missing")] == ["(file)"]
    assert has_errors(of(issues, files, "not_json")) and has_errors(of(issues, files, "missing"))


def test_cli_passes_an_ig_example(files):
    r = CliRunner().invoke(app, ["validate", str(files["good"])])
    assert r.exit_code == 0, r.output


def test_cli_fails_a_broken_resource_and_prints_the_fhirpath(files):
    r = CliRunner().invoke(app, ["validate", str(files["good"]), str(files["broken"])])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines and all(ln.startswith(str(files["broken"])) for ln in lines)
    assert any("error at Observation.code:" in ln for ln in lines)
