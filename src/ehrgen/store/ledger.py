"""Delivery ledger: what was released, to where, with which content, and how the receiver answered.

A local SQLite file (WAL mode). It lets a rerun skip artefacts whose content the target already has,
lets re-interpretation compare against what was last sent, and keeps a local audit trail (including
withheld releases, which never leave the machine).

The patient id is stored as given: the ledger is local data next to the results themselves, and a
rerun has to find its own earlier rows. It must never be written to logs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

SCHEMA_VERSION = 1

Kind = Literal["fhir-bundle", "oru", "report"]
Status = Literal["sent", "accepted", "rejected", "dead-lettered", "withheld", "failed"]

KINDS: tuple[str, ...] = ("fhir-bundle", "oru", "report")
STATUSES: tuple[str, ...] = ("sent", "accepted", "rejected", "dead-lettered", "withheld", "failed")
# statuses meaning "the target holds this content": a rerun with the same sha256 sends nothing
DELIVERED: tuple[str, ...] = ("sent", "accepted")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in KINDS)})),
    target      TEXT NOT NULL,
    sha256      TEXT,           -- NULL when withheld: no content is looked at or kept
    status      TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    at          TEXT NOT NULL,  -- UTC, ISO 8601
    response    TEXT,           -- e.g. 'HTTP 200', 'HTTP 422', 'ACK AA', 'ACK AE'
    reason      TEXT,           -- why rejected/failed/withheld
    location    TEXT            -- outbox file, dead-letter folder or server reference
);
CREATE INDEX IF NOT EXISTS deliveries_key ON deliveries (patient_id, kind, target, id);
CREATE TABLE IF NOT EXISTS audit_events (
    id              INTEGER PRIMARY KEY,
    delivery_id     INTEGER REFERENCES deliveries (id),
    at              TEXT NOT NULL,
    outcome         TEXT NOT NULL,   -- AuditEvent.outcome: 0 success, 4 minor, 8 serious, 12 major
    sent_to_server  INTEGER NOT NULL, -- 1 if POSTed to the FHIR server and accepted
    server_response TEXT,
    resource        TEXT NOT NULL    -- the AuditEvent as FHIR R4 JSON
);
CREATE INDEX IF NOT EXISTS audit_by_delivery ON audit_events (delivery_id);
-- reads of a patient's results by the CDS Hooks service (who saw what); added tables need no version bump
CREATE TABLE IF NOT EXISTS access_events (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    service         TEXT NOT NULL,   -- CDS service id
    hook            TEXT NOT NULL,
    user            TEXT,            -- context.userId, else the JWT's fhirUser / sub
    client          TEXT,            -- the calling EHR (JWT iss / sub)
    origin          TEXT NOT NULL,   -- prefetch | store | fhir | cache | none | withdrawn
    outcome         TEXT NOT NULL,   -- AuditEvent.outcome
    cards           INTEGER NOT NULL,
    sent_to_server  INTEGER NOT NULL DEFAULT 0,
    server_response TEXT,
    resource        TEXT NOT NULL    -- the AuditEvent as FHIR R4 JSON
);
CREATE INDEX IF NOT EXISTS access_by_patient ON access_events (patient_id, id);
-- consent changes seen by a run: 'withdrawn' (refused after results were sent) or 'granted' again
CREATE TABLE IF NOT EXISTS consent_events (
    id          INTEGER PRIMARY KEY,
    patient_id  TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('withdrawn', 'granted')),
    at          TEXT NOT NULL,
    run_id      TEXT,
    reason      TEXT
);
CREATE INDEX IF NOT EXISTS consent_by_patient ON consent_events (patient_id, id);
"""


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    run_id: str
    patient_id: str
    kind: str
    target: str
    sha256: str | None
    status: str
    at: str
    response: str | None
    reason: str | None
    location: str | None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    delivery_id: int | None
    at: str
    outcome: str
    sent_to_server: bool
    server_response: str | None
    resource: dict[str, Any]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Ledger:
    """The delivery ledger at `path` (created on first use).

    One SQLite connection per thread: sqlite3 connections must not be shared across threads, and
    WAL lets a reader (e.g. a report) run while a delivery writes.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # executescript commits any open transaction itself, so the DDL runs outside _tx
        self._con().executescript(_SCHEMA)
        with self._tx() as con:
            row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: ledger schema version {row[0]}, this ehrgen expects {SCHEMA_VERSION}"
                )

    # -- connections -------------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            # check_same_thread off only so close() can close every thread's connection; each is used by one thread
            con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    class _Tx:
        def __init__(self, con: sqlite3.Connection) -> None:
            self.con = con

        def __enter__(self) -> sqlite3.Connection:
            self.con.execute("BEGIN IMMEDIATE")
            return self.con

        def __exit__(self, exc_type, exc, tb) -> None:
            self.con.execute("ROLLBACK" if exc_type else "COMMIT")

    class _InBatch:
        """Inside Ledger.batch(): statements join the batch's open transaction."""

        def __init__(self, con: sqlite3.Connection) -> None:
            self.con = con

        def __enter__(self) -> sqlite3.Connection:
            return self.con

        def __exit__(self, exc_type, exc, tb) -> None:
            pass

    def _tx(self) -> "Ledger._Tx | Ledger._InBatch":
        if getattr(self._local, "batch", False):
            return Ledger._InBatch(self._con())
        return Ledger._Tx(self._con())

    @contextmanager
    def batch(self, before_commit: Callable[[], None] | None = None) -> Iterator[None]:
        """Every write in this thread until the block ends is one transaction. `before_commit` runs just before
        COMMIT (e.g. making the files those rows describe durable): if it or the block raises, nothing of the
        block is recorded, so a later run redoes it rather than trusting rows about files a crash may have lost."""
        if getattr(self._local, "batch", False):  # nested: the outer batch commits
            yield
            return
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        self._local.batch = True
        try:
            yield
            if before_commit is not None:
                before_commit()
        except BaseException:
            self._local.batch = False
            con.execute("ROLLBACK")
            raise
        self._local.batch = False
        con.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.ProgrammingError:  # closed from another thread's perspective
                    pass
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------
    def record(
        self,
        *,
        run_id: str,
        patient_id: str,
        kind: str,
        target: str,
        status: str,
        sha256: str | None = None,
        response: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        at: str | None = None,
    ) -> int:
        if kind not in KINDS:
            raise ValueError(f"unknown artefact kind {kind!r}; expected one of {KINDS}")
        if status not in STATUSES:
            raise ValueError(f"unknown delivery status {status!r}; expected one of {STATUSES}")
        if status == "withheld":
            sha256 = None  # nothing about withheld content is kept
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO deliveries (run_id, patient_id, kind, target, sha256, status, at, response,"
                " reason, location) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (run_id, patient_id, kind, target, sha256, status, at or utc_now(), response, reason, location),
            )
            return int(cur.lastrowid)

    def record_audit(
        self,
        resource: dict[str, Any],
        *,
        delivery_id: int | None,
        sent_to_server: bool,
        server_response: str | None = None,
    ) -> int:
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO audit_events (delivery_id, at, outcome, sent_to_server, server_response, resource)"
                " VALUES (?,?,?,?,?,?)",
                (
                    delivery_id,
                    resource.get("recorded") or utc_now(),
                    str(resource.get("outcome", "")),
                    int(sent_to_server),
                    server_response,
                    json.dumps(resource, sort_keys=True),
                ),
            )
            return int(cur.lastrowid)

    def record_access(self, resource: dict[str, Any], *, patient_id: str, service: str, hook: str,
                      user: str | None, client: str | None, origin: str, cards: int) -> int:
        """One read of a patient's results by the CDS service (the AuditEvent is kept whole)."""
        with self._tx() as con:
            cur = con.execute(
                "INSERT INTO access_events (at, patient_id, service, hook, user, client, origin, outcome, cards,"
                " resource) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (resource.get("recorded") or utc_now(), patient_id, service, hook, user, client, origin,
                 str(resource.get("outcome", "")), cards, json.dumps(resource, sort_keys=True)))
            return int(cur.lastrowid)

    def mark_access_sent(self, access_id: int, sent: bool, response: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE access_events SET sent_to_server=?, server_response=? WHERE id=?",
                        (int(sent), response, access_id))

    def record_consent(self, patient_id: str, status: str, *, run_id: str | None = None,
                       reason: str | None = None) -> int:
        with self._tx() as con:
            cur = con.execute("INSERT INTO consent_events (patient_id, status, at, run_id, reason) VALUES (?,?,?,?,?)",
                              (patient_id, status, utc_now(), run_id, reason))
            return int(cur.lastrowid)

    # -- queries -----------------------------------------------------------------------------
    def access_events(self, patient_id: str | None = None) -> list[AccessRecord]:
        sql, args = "SELECT * FROM access_events", []
        if patient_id is not None:
            sql, args = sql + " WHERE patient_id=?", [patient_id]
        return [_access(r) for r in self._con().execute(sql + " ORDER BY id", args)]

    def consent_status(self, patient_id: str) -> str | None:
        """The latest consent event for the patient ('withdrawn' / 'granted'), or None."""
        row = self._con().execute("SELECT status FROM consent_events WHERE patient_id=? ORDER BY id DESC LIMIT 1",
                                  (patient_id,)).fetchone()
        return row[0] if row else None

    def withdrawn(self) -> set[str]:
        """Patients whose latest consent event is a withdrawal."""
        rows = self._con().execute(
            "SELECT c.patient_id, c.status FROM consent_events c JOIN (SELECT patient_id, MAX(id) AS id FROM"
            " consent_events GROUP BY patient_id) m ON m.id = c.id")
        return {r[0] for r in rows if r[1] == "withdrawn"}

    def ever_delivered(self, patient_ids: list[str] | None = None) -> set[str]:
        """Patients with at least one delivery a target holds (sent / accepted)."""
        rows = self._con().execute(
            f"SELECT DISTINCT patient_id FROM deliveries WHERE status IN ({','.join('?' * len(DELIVERED))})",
            DELIVERED)
        got = {r[0] for r in rows}
        return got if patient_ids is None else got & set(patient_ids)

    def latest_sent(self) -> dict[tuple[str, str, str], str | None]:
        """(patient, kind, target) -> sha256 of the latest delivery each target holds (one query for a batch)."""
        rows = self._con().execute(
            "SELECT d.patient_id, d.kind, d.target, d.sha256 FROM deliveries d JOIN (SELECT MAX(id) AS id FROM"
            f" deliveries WHERE status IN ({','.join('?' * len(DELIVERED))}) GROUP BY patient_id, kind, target) m"
            " ON m.id = d.id", DELIVERED)
        return {(r[0], r[1], r[2]): r[3] for r in rows}

    def consent_events(self, patient_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._con().execute(
            "SELECT * FROM consent_events WHERE patient_id=? ORDER BY id", (patient_id,))]

    def last_sent(self, patient_id: str, kind: str, target: str) -> DeliveryRecord | None:
        """The latest delivery of this artefact to this target that the target holds (sent/accepted)."""
        row = self._con().execute(
            f"SELECT * FROM deliveries WHERE patient_id=? AND kind=? AND target=? AND status IN"
            f" ({','.join('?' * len(DELIVERED))}) ORDER BY id DESC LIMIT 1",
            (patient_id, kind, target, *DELIVERED),
        ).fetchone()
        return _delivery(row) if row else None

    def already_delivered(self, patient_id: str, kind: str, target: str, sha256: str) -> bool:
        """True if the content the target last received for this artefact has this sha256.

        Compares with the *latest* successful delivery, so content changed A -> B -> A is sent again.
        """
        last = self.last_sent(patient_id, kind, target)
        return last is not None and last.sha256 == sha256

    def history(
        self,
        patient_id: str | None = None,
        kind: str | None = None,
        target: str | None = None,
        run_id: str | None = None,
        status: str | None = None,
    ) -> list[DeliveryRecord]:
        """Deliveries matching every given filter, oldest first."""
        where, args = [], []
        for col, val in (("patient_id", patient_id), ("kind", kind), ("target", target),
                         ("run_id", run_id), ("status", status)):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        sql = "SELECT * FROM deliveries" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_delivery(r) for r in self._con().execute(sql, args)]

    def audit_events(self, delivery_id: int | None = None, patient_id: str | None = None) -> list[AuditRecord]:
        sql = "SELECT a.* FROM audit_events a LEFT JOIN deliveries d ON d.id = a.delivery_id"
        where, args = [], []
        if delivery_id is not None:
            where.append("a.delivery_id=?")
            args.append(delivery_id)
        if patient_id is not None:
            where.append("d.patient_id=?")
            args.append(patient_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_audit(r) for r in self._con().execute(sql + " ORDER BY a.id", args)]

    def iter_runs(self) -> Iterator[tuple[str, str, int]]:
        """(run_id, first timestamp, number of rows) per run, oldest first."""
        for r in self._con().execute(
            "SELECT run_id, MIN(at), COUNT(*) FROM deliveries GROUP BY run_id ORDER BY MIN(id)"
        ):
            yield r[0], r[1], r[2]


@dataclass(frozen=True)
class AccessRecord:
    id: int
    at: str
    patient_id: str
    service: str
    hook: str
    user: str | None
    client: str | None
    origin: str
    outcome: str
    cards: int
    sent_to_server: bool
    server_response: str | None
    resource: dict[str, Any]


def _access(row: sqlite3.Row) -> AccessRecord:
    d = {k: row[k] for k in row.keys()}
    d["sent_to_server"] = bool(d["sent_to_server"])
    d["resource"] = json.loads(d["resource"])
    return AccessRecord(**d)


def _delivery(row: sqlite3.Row) -> DeliveryRecord:
    return DeliveryRecord(**{k: row[k] for k in row.keys()})


def _audit(row: sqlite3.Row) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        delivery_id=row["delivery_id"],
        at=row["at"],
        outcome=row["outcome"],
        sent_to_server=bool(row["sent_to_server"]),
        server_response=row["server_response"],
        resource=json.loads(row["resource"]),
    )
