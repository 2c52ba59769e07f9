from __future__ import annotations

import json
import logging
import os

import pytest
from fhir.resources.R4B.auditevent import AuditEvent

from ehrgen.deliver import OutboxTarget, deliver_dir
from ehrgen.deliver.files import atomic_write
from ehrgen.store.ledger import Ledger

from .conftest import PATIENTS, write_export

CONSENT = {p: True for p in PATIENTS}


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "box" / "a.json"
    atomic_write(dest, b"one")
    atomic_write(dest, b"two")
    assert dest.read_bytes() == b"two"
    assert [p.name for p in dest.parent.iterdir()] == ["a.json"]


def test_atomic_write_failure_keeps_old_file_and_cleans_temp(tmp_path, monkeypatch):
    dest = tmp_path / "a.json"
    atomic_write(dest, b"old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(dest, b"new")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_outbox_delivery_rerun_and_change(tmp_path, export_dir, settings):
    box = OutboxTarget(tmp_path / "outbox")
    r1 = deliver_dir(export_dir, [box], settings, CONSENT)
    assert r1.ok and r1.counts() == {"sent": 4}
    names = sorted(p.name for p in box.directory.iterdir())
    assert names == ["P001.bundle.json", "P001.oru.hl7", "P002.bundle.json", "P002.oru.hl7"]
    assert (box.directory / "P001.oru.hl7").read_bytes() == (export_dir / "P001.oru.hl7").read_bytes()

    # the interface engine consumed the files; a rerun must not send them again
    for p in box.directory.iterdir():
        p.unlink()
    r2 = deliver_dir(export_dir, [box], settings, CONSENT)
    assert r2.ok and r2.counts() == {"unchanged": 4}
    assert list(box.directory.iterdir()) == []

    # one patient's results change: only that patient's artefacts go out
    write_export(export_dir, patients=["P002"], text="CYP2C19 *2/*2")
    r3 = deliver_dir(export_dir, [box], settings, CONSENT)
    assert r3.counts() == {"unchanged": 2, "sent": 2}
    assert sorted(p.name for p in box.directory.iterdir()) == ["P002.bundle.json", "P002.oru.hl7"]
    assert "*2/*2" in (box.directory / "P002.oru.hl7").read_text()

    led = Ledger(settings.deliver.ledger)
    hist = led.history(patient_id="P002", kind="oru")
    assert [h.status for h in hist] == ["sent", "sent"] and hist[0].sha256 != hist[1].sha256
    assert len(led.history()) == 6  # unchanged artefacts add no rows
    # every delivery has a local AuditEvent that is valid FHIR R4
    events = led.audit_events()
    assert len(events) == 6 and not any(e.sent_to_server for e in events)
    for e in events:
        AuditEvent.model_validate(e.resource)


def test_no_consent_means_nothing_written(tmp_path, export_dir, settings):
    box = OutboxTarget(tmp_path / "outbox")
    rep = deliver_dir(export_dir, [box], settings, {"P001": True, "P002": False})
    by = {(o.patient_id, o.kind): o.status for o in rep.outcomes}
    assert by == {("P001", "fhir-bundle"): "sent", ("P001", "oru"): "sent",
                  ("P002", "fhir-bundle"): "withheld", ("P002", "oru"): "withheld"}
    assert rep.ok  # withholding is the correct outcome, not a failure
    assert not any(p.name.startswith("P002") for p in box.directory.iterdir())
    led = Ledger(settings.deliver.ledger)
    withheld = led.history(patient_id="P002")
    assert {w.status for w in withheld} == {"withheld"} and all(w.sha256 is None for w in withheld)
    [ae] = led.audit_events(delivery_id=withheld[0].id)
    assert ae.resource["outcome"] == "4" and not ae.sent_to_server


def test_no_consent_source_withholds_everyone(tmp_path, export_dir, settings):
    box = OutboxTarget(tmp_path / "outbox")
    rep = deliver_dir(export_dir, [box], settings, None)
    assert rep.counts() == {"withheld": 4}
    assert not box.directory.exists() or list(box.directory.iterdir()) == []
    # a consent source without this patient is "no record", also withheld
    rep = deliver_dir(export_dir, [box], settings, {"P001": True})
    assert {o.patient_id for o in rep.outcomes if o.status == "withheld"} == {"P002"}


def test_clinical_data_object_and_sample_links(tmp_path, settings):
    class Clinical:  # the shape of ehrgen.ingest's ClinicalData that the gate relies on
        links = {"S-9": "P009"}

        def has_consent(self, patient_id):
            return patient_id == "P009"

    export = write_export(tmp_path / "export", patients=["S-9", "S-10"])
    rep = deliver_dir(export, [OutboxTarget(tmp_path / "outbox")], settings, Clinical())
    assert {(o.patient_id, o.status) for o in rep.outcomes} == {("P009", "sent"), ("S-10", "withheld")}


def test_bad_file_fails_alone_and_missing_artefact_is_reported(tmp_path, export_dir, settings):
    (export_dir / "P001.bundle.json").write_text("{not json")
    (export_dir / "P002.oru.hl7").unlink()
    rep = deliver_dir(export_dir, [OutboxTarget(tmp_path / "outbox")], settings, CONSENT)
    by = {(o.patient_id, o.kind): o for o in rep.outcomes}
    assert by[("P001", "fhir-bundle")].status == "failed"
    assert "P001.bundle.json: not JSON" in by[("P001", "fhir-bundle")].reason
    assert by[("P001", "oru")].status == "sent"
    assert by[("P002", "fhir-bundle")].status == "sent"
    assert by[("P002", "oru")].status == "failed" and "missing" in by[("P002", "oru")].reason
    assert not rep.ok


def test_patient_ids_never_logged(tmp_path, export_dir, settings, caplog):
    caplog.set_level(logging.DEBUG)
    deliver_dir(export_dir, [OutboxTarget(tmp_path / "outbox")], settings, {"P001": True})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # the run does log (counts)
    assert "P001" not in text and "P002" not in text


def test_report_file_goes_to_outbox(tmp_path, export_dir, settings):
    (export_dir / "P001.report.html").write_text("<html>report</html>")
    (export_dir / "manifest.json").write_text(json.dumps({"n": 2}))  # ignored
    rep = deliver_dir(export_dir, [OutboxTarget(tmp_path / "outbox")], settings, CONSENT)
    assert ("P001", "report", "sent") in {(o.patient_id, o.kind, o.status) for o in rep.outcomes}
    assert (tmp_path / "outbox" / "P001.report.html").exists()
    assert not (tmp_path / "outbox" / "manifest.json").exists()


def test_real_clinical_data_gate(tmp_path, settings):
    model = pytest.importorskip("ehrgen.ingest.clinical.model")
    data = model.ClinicalData()
    data.add_link(model.SampleLink("S1", "P001"))
    data.add_consent(model.Consent("P001", True, None, "test"))
    data.add_consent(model.Consent("P002", False, None, "test"))
    export = write_export(tmp_path / "export", patients=["S1", "P002", "P003"])
    rep = deliver_dir(export, [OutboxTarget(tmp_path / "outbox")], settings, data)
    status = {o.patient_id: o.status for o in rep.outcomes}
    assert status == {"P001": "sent", "P002": "withheld", "P003": "withheld"}
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["S1.bundle.json", "S1.oru.hl7"]


def test_load_consent_source_uses_ingest(tmp_path):
    pytest.importorskip("ehrgen.ingest.clinical.loader")
    from ehrgen.deliver.consent import load_consent_source

    data = load_consent_source(tmp_path)  # an empty folder: no consents, nobody released
    assert not data.has_consent("P001")
