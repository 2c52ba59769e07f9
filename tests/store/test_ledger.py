from __future__ import annotations

import sqlite3
import threading

import pytest

from ehrgen.store.ledger import Ledger


def _rec(led: Ledger, sha: str | None, status: str = "sent", patient: str = "P1", target: str = "outbox:/x"):
    return led.record(run_id="r1", patient_id=patient, kind="fhir-bundle", target=target, status=status,
                      sha256=sha, response="written")


def test_already_delivered_follows_latest_successful_content(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    assert led.last_sent("P1", "fhir-bundle", "outbox:/x") is None
    assert not led.already_delivered("P1", "fhir-bundle", "outbox:/x", "a")
    _rec(led, "a")
    assert led.already_delivered("P1", "fhir-bundle", "outbox:/x", "a")
    # another target or kind is independent
    assert not led.already_delivered("P1", "fhir-bundle", "fhir:http://h/fhir", "a")
    assert not led.already_delivered("P1", "oru", "outbox:/x", "a")
    _rec(led, "b")
    assert not led.already_delivered("P1", "fhir-bundle", "outbox:/x", "a")  # A -> B -> A must be resent
    # a failure or rejection does not count as the target holding the content
    _rec(led, "c", status="failed")
    _rec(led, "d", status="dead-lettered")
    assert led.last_sent("P1", "fhir-bundle", "outbox:/x").sha256 == "b"
    assert [r.sha256 for r in led.history(patient_id="P1")] == ["a", "b", "c", "d"]
    assert [r.status for r in led.history(status="failed")] == ["failed"]


def test_withheld_rows_keep_no_content_hash(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    did = _rec(led, "secret-hash", status="withheld")
    row = led.history()[0]
    assert row.id == did and row.status == "withheld" and row.sha256 is None


def test_rejects_unknown_kind_and_status(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    with pytest.raises(ValueError):
        led.record(run_id="r", patient_id="P", kind="pdf", target="t", status="sent")
    with pytest.raises(ValueError):
        led.record(run_id="r", patient_id="P", kind="oru", target="t", status="ok")


def test_wal_mode_audit_events_and_reopen(tmp_path):
    path = tmp_path / "l.sqlite"
    with Ledger(path) as led:
        did = _rec(led, "a")
        led.record_audit({"resourceType": "AuditEvent", "outcome": "0", "recorded": "2026-01-01T00:00:00Z"},
                         delivery_id=did, sent_to_server=True, server_response="HTTP 201")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    led = Ledger(path)  # reopening keeps data and checks the schema version
    [ae] = led.audit_events(patient_id="P1")
    assert ae.delivery_id == did and ae.sent_to_server and ae.resource["outcome"] == "0"
    assert led.audit_events(patient_id="nobody") == []
    assert list(led.iter_runs())[0][0] == "r1"


def test_schema_version_mismatch_is_refused(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        Ledger(path)


def test_concurrent_writers_from_threads(tmp_path):
    led = Ledger(tmp_path / "l.sqlite")
    errors: list[Exception] = []

    def work(i: int) -> None:
        try:
            for j in range(25):
                _rec(led, f"{i}-{j}", patient=f"P{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(led.history()) == 100
    assert led.last_sent("P3", "fhir-bundle", "outbox:/x").sha256 == "3-24"
    led.close()
