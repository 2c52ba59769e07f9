"""Ledger.batch(): one transaction for many rows, committed only after `before_commit` (issue 14: fewer commits
and fsyncs, never a row about a file a crash could still lose)."""

from __future__ import annotations

import pytest

from ehrgen.store.ledger import Ledger


def _record(led: Ledger, n: int) -> None:
    led.record(run_id="r", patient_id=f"P{n}", kind="oru", target="outbox:x", status="sent", sha256=f"{n:064x}")


def test_batch_commits_every_row_after_before_commit(tmp_path):
    seen = []
    with Ledger(tmp_path / "l.sqlite") as led:
        with led.batch(before_commit=lambda: seen.append(len(led.history(patient_id="P1")))):
            for n in range(3):
                _record(led, n)
        assert seen == [1]  # the hook ran inside the transaction
    with Ledger(tmp_path / "l.sqlite") as led:
        assert all(led.already_delivered(f"P{n}", "oru", "outbox:x", f"{n:064x}") for n in range(3))


def test_a_failing_before_commit_records_nothing(tmp_path):
    def boom() -> None:
        raise OSError("fsync failed")

    with Ledger(tmp_path / "l.sqlite") as led:
        with pytest.raises(OSError):
            with led.batch(before_commit=boom):
                _record(led, 1)
        assert not led.already_delivered("P1", "oru", "outbox:x", f"{1:064x}")
        _record(led, 2)  # the ledger is usable afterwards, outside any batch
        assert led.already_delivered("P2", "oru", "outbox:x", f"{2:064x}")


def test_outbox_delivery_whose_files_cannot_be_made_durable_is_redone(tmp_path, monkeypatch):
    """deliver_dir on the fast path: if making the outbox files durable fails, the ledger holds nothing for them,
    so the next delivery sends them again (nothing accepted is lost)."""
    import ehrgen.deliver.senders as senders
    from ehrgen.deliver.api import deliver_dir
    from ehrgen.deliver.model import OutboxTarget
    from ehrgen.settings import Settings

    export = tmp_path / "export"
    export.mkdir()
    for p in ("P001", "P002"):
        (export / f"{p}.bundle.json").write_text('{"resourceType": "Bundle", "type": "transaction", "entry": []}')
        (export / f"{p}.oru.hl7").write_text("MSH|^~\\&|ehrgen|LAB|EHR|HOSP|20261201||ORU^R01|1|P|2.5.1\r")
    s = Settings()
    s.deliver.ledger = tmp_path / "ledger.sqlite"
    s.deliver.require_consent = False
    box = OutboxTarget(tmp_path / "outbox")

    def fail(paths):
        raise OSError("disk gone")

    monkeypatch.setattr(senders, "sync_files", fail)
    with pytest.raises(OSError):
        deliver_dir(export, [box], s)
    monkeypatch.undo()
    report = deliver_dir(export, [box], s)
    assert report.counts().get("sent", 0) == 4 and not report.counts().get("unchanged")
    assert sorted(f.name for f in (tmp_path / "outbox").iterdir()) == sorted(f.name for f in export.iterdir())
