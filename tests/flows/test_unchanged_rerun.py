"""`ehrgen run` again with nothing changed is settled from the stage state files and the ledger, without starting
Prefect (issue 14: a rerun of a 3,202-person batch in <= 10 s); anything that needs work still goes to the flow."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import ehrgen.pipeline.prefect_env as prefect_env
from ehrgen.cli.main import app
from tests.flows.test_fastpath_identity import _cohort_batch


class _FlowStarted(Exception):
    pass


def _no_flow(monkeypatch) -> None:
    def refuse(*a, **k):
        raise _FlowStarted

    monkeypatch.setattr(prefect_env, "configure", refuse)


@pytest.fixture
def batch_run(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("EHRGEN_REPORT__PDF_ENGINE", "none")
    monkeypatch.setenv("EHRGEN_REPORT__CARD_PNG", "false")
    batch = _cohort_batch(tmp_path / "batch", 12)
    work = tmp_path / "w"
    first = CliRunner().invoke(app, ["run", str(batch), "--work", str(work)])
    assert first.exit_code == 0, first.output
    return batch, work


def _stamps(work):
    return {p: p.stat().st_mtime_ns for p in sorted((work / "batch" / "export").glob("*.*"))}


def test_nothing_changed_is_answered_without_a_flow_run(batch_run, monkeypatch):
    batch, work = batch_run
    before = _stamps(work)
    _no_flow(monkeypatch)
    res = CliRunner().invoke(app, ["run", str(batch), "--work", str(work)])
    assert res.exit_code == 0, res.output
    assert "nothing changed: 12 sample(s) up to date" in " ".join(res.output.split())
    outcomes = json.loads((work / "batch" / "outcomes.json").read_text())
    assert [o["status"] for o in outcomes] == ["unchanged"] * 12
    assert all(o["delivered"] == "outbox: unchanged" for o in outcomes)
    assert _stamps(work) == before  # nothing rewritten


def test_a_withdrawn_consent_still_goes_through_the_flow(batch_run, monkeypatch):
    batch, work = batch_run
    consent = batch / "clinical" / "consent.csv"
    rows = consent.read_text().splitlines()
    rows[1] = rows[1].replace(",true,", ",false,")
    consent.write_text("\n".join(rows) + "\n")
    _no_flow(monkeypatch)
    res = CliRunner().invoke(app, ["run", str(batch), "--work", str(work)])
    assert isinstance(res.exception, _FlowStarted), res.output


def test_a_changed_input_still_goes_through_the_flow(batch_run, monkeypatch):
    batch, work = batch_run
    meds = batch / "clinical" / "medications.csv"
    meds.write_text(meds.read_text() + "BP0001,active,simvastatin,36567,C10AA01,ORD99999,2026-11-01\n")
    _no_flow(monkeypatch)
    res = CliRunner().invoke(app, ["run", str(batch), "--work", str(work)])
    assert isinstance(res.exception, _FlowStarted), res.output
