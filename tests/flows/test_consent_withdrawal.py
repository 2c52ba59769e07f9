"""Consent withdrawn after results were sent: no further delivery or re-interpretation, the CDS service stops using
the stored calls; and the rerun quick path never skips something that changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.pipeline.outcome import summarise
from ehrgen.pipeline.run import RunConfig, note_consent, reinterpret_samples, run_local, stored_samples
from ehrgen.settings import CdsSettings
from ehrgen.store.ledger import Ledger
from tests.cds.helpers import hook_request, serve


def _batch(tmp: Path, sample_data: Path) -> Path:
    """sample_data with its own clinical folder (so consent can be edited)."""
    b = tmp / "batch"
    b.mkdir()
    for name in ("manifest.csv", "vcf", "outside_calls"):
        src = sample_data / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, b / name)
    shutil.copytree(sample_data / "clinical", b / "clinical")
    return b


def _consent(batch: Path, patient: str, value: str, date: str) -> None:
    with (batch / "clinical" / "consent.csv").open("a") as fh:
        fh.write(f"{patient},{value},{date}\n")


def _cards(url: str, patient: str) -> list[dict]:
    r = httpx.post(url + "/cds-services/ehrgen-pgx-patient-view",
                   json=hook_request("patient-view", patient=patient), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["cards"]


def test_withdrawal_after_release_end_to_end(tmp_path: Path, sample_data: Path) -> None:
    batch = _batch(tmp_path, sample_data)
    work = tmp_path / "work"
    cfg = lambda: RunConfig(work_dir=str(work), run_name="sd")  # noqa: E731
    first = {o.sample: o for o in run_local(batch, cfg())}
    assert first["S001"].status == "delivered"
    ledger = work / "ledger.sqlite"
    with Ledger(ledger) as led:
        sent_before = len(led.history(patient_id="P001"))
    # the CDS service reads the run's stored calls (patients.tsv index) and the ledger
    calls_dir = RunConfig(work_dir=str(work), run_name="sd").dirs.calls
    (calls_dir / "patients.tsv").write_text("patient_id\tcalls\nP001\tS001.calls.json\nP002\tS002.calls.json\n")
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True), calls_dir=calls_dir,
                                   feedback_path=tmp_path / "fb.jsonl", ledger_path=ledger))
    with serve(app) as url:
        assert _cards(url, "P001") and _cards(url, "P002")

        _consent(batch, "P001", "false", "2026-01-15")  # the patient withdraws consent
        second = {o.sample: o for o in run_local(batch, cfg())}
        assert second["S001"].status == "consent-withdrawn" and "withdrawn" in second["S001"].reason
        assert second["S002"].status == "unchanged"
        assert summarise(list(second.values()))["consent_withdrawn"] == 1
        with Ledger(ledger) as led:
            assert led.consent_status("P001") == "withdrawn"
            assert len(led.history(patient_id="P001")) == sent_before  # nothing delivered, not even "withheld"
        assert _cards(url, "P001") == []  # stored calls no longer used
        assert _cards(url, "P002")

        # re-interpretation skips the patient
        rc = note_consent(RunConfig(work_dir=str(work), run_name="sd", clinical=str(batch / "clinical")))
        again = {o.sample: o for o in reinterpret_samples(rc, stored_samples(rc))}
        assert again["S001"].status == "consent-withdrawn" and again["S002"].status == "exported"

        # consent given again (a later record): the patient is treated as any other
        _consent(batch, "P001", "true", "2026-02-01")
        third = {o.sample: o for o in run_local(batch, cfg())}
        assert third["S001"].status == "unchanged"
        with Ledger(ledger) as led:
            assert led.consent_status("P001") == "granted"
        assert _cards(url, "P001")


def test_refusal_before_any_release_is_withheld_not_withdrawn(tmp_path: Path, sample_data: Path) -> None:
    batch = _batch(tmp_path, sample_data)
    _consent(batch, "P001", "false", "2026-01-15")
    out = {o.sample: o for o in run_local(batch, RunConfig(work_dir=str(tmp_path / "w"), run_name="sd"))}
    assert out["S001"].status == "withheld"
    with Ledger(tmp_path / "w" / "ledger.sqlite") as led:
        assert led.consent_status("P001") is None


def test_quick_rerun_redelivers_an_export_changed_on_disk(tmp_path: Path, sample_data: Path) -> None:
    batch = _batch(tmp_path, sample_data)
    cfg = lambda: RunConfig(work_dir=str(tmp_path / "w"), run_name="sd")  # noqa: E731
    run_local(batch, cfg())
    second = {o.sample: o for o in run_local(batch, cfg())}
    assert second["S002"].status == "unchanged" and second["S002"].delivered == "outbox: unchanged"
    # someone edits an export file in place: the quick path must notice (size/mtime) and deliver it again
    oru = cfg().dirs.export / "P002.oru.hl7"
    oru.write_text(oru.read_text() + "NTE|1||edited\r")
    third = {o.sample: o for o in run_local(batch, cfg())}
    assert third["S002"].status == "delivered"
