"""Per-patient cache of results read from a FHIR server, and what invalidates it.

Why: a full Observation search on HAPI costs hundreds of milliseconds; EHRs cut hooks off after a few hundred.
An entry is (server, patient) -> the calls built from the search plus a *validator*: the number of matching
Observations and the newest `meta.lastUpdated` among them. A later request first asks the server for just
that validator (the same search with `_sort=-_lastUpdated&_count=1&_total=accurate&_summary=true`, one small
answer): any create or update moves the newest lastUpdated, any delete changes the count, so a matching
validator means the results are the ones cached. That check runs with the request's own credentials, so the
server still decides on every request whether this caller may read this patient.

Never served stale:
  - results whose newest write is younger than SETTLE_S are not cached (a transaction that started earlier
    may still commit with an older timestamp);
  - entries expire after max_age_s whatever the validator says;
  - a delivery by ehrgen to any target (the ledger) drops that patient's entries at once;
  - a consent withdrawal (the ledger) drops them and keeps the patient out of the cache and the local store.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ehrgen.pgx.model import SampleCalls

SETTLE_S = 5.0


@dataclass(frozen=True)
class Validator:
    total: int
    newest: str  # meta.lastUpdated of the newest matching Observation ("" when none)


def newest_of(resources: list[dict[str, Any]]) -> str:
    """The newest meta.lastUpdated among resources (compared as instants, returned as written)."""
    best, best_t = "", None
    for r in resources:
        lu = (r.get("meta") or {}).get("lastUpdated")
        t = _instant(lu)
        if t is not None and (best_t is None or t > best_t):
            best, best_t = str(lu), t
    return best


def _instant(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def settled(newest: str, now: float | None = None) -> bool:
    """True when the newest write is old enough that no in-flight transaction can still land before it."""
    t = _instant(newest)
    if not newest:
        return True  # no results at all: nothing in flight is assumed; the count check catches a first write
    return t is not None and (now or time.time()) - t >= SETTLE_S


@dataclass
class _Entry:
    validator: Validator
    calls: SampleCalls
    stored: float


class ResultCache:
    """LRU of (server, patient) -> (validator, calls). Thread-safe; holds no more than max_entries."""

    def __init__(self, max_entries: int = 10_000, max_age_s: float = 300.0) -> None:
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._d: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, server: str, patient: str) -> _Entry | None:
        key = (server.rstrip("/"), patient)
        with self._lock:
            e = self._d.get(key)
            if e is None:
                return None
            if time.monotonic() - e.stored > self.max_age_s:
                del self._d[key]
                return None
            self._d.move_to_end(key)
            return e

    def put(self, server: str, patient: str, validator: Validator, calls: SampleCalls) -> bool:
        if self.max_entries <= 0 or not settled(validator.newest):
            return False
        key = (server.rstrip("/"), patient)
        with self._lock:
            self._d[key] = _Entry(validator, calls, time.monotonic())
            self._d.move_to_end(key)
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)
        return True

    def drop_patients(self, patients: set[str]) -> int:
        if not patients:
            return 0
        with self._lock:
            gone = [k for k in self._d if k[1] in patients]
            for k in gone:
                del self._d[k]
        return len(gone)

    def __len__(self) -> int:
        return len(self._d)


class LedgerWatch:
    """What the delivery ledger says that the CDS service must act on: consent withdrawals and new deliveries.

    Polled on every request, cheaply: `PRAGMA data_version` on one kept connection changes only when another
    connection committed, so the tables are re-read only after a write. A missing ledger means nothing yet.
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path else None
        self._con: sqlite3.Connection | None = None
        self._version: int | None = None
        self._last_delivery = -1
        self._last_consent = -1
        self._withdrawn: set[str] = set()
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection | None:
        if self._con is None and self.path is not None and self.path.is_file():
            try:
                con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                      check_same_thread=False, timeout=5.0)
                con.execute("SELECT 1 FROM consent_events LIMIT 1")
            except sqlite3.Error:  # an older ledger without the table: the next delivery run creates it
                return None
            self._con = con
        return self._con

    def poll(self) -> tuple[set[str], set[str]]:
        """(patients withdrawn now, patients delivered or consent-changed since the last poll)."""
        with self._lock:
            con = self._connect()
            if con is None:
                return self._withdrawn, set()
            try:
                version = con.execute("PRAGMA data_version").fetchone()[0]
                if version == self._version:
                    return self._withdrawn, set()
                self._version = version
                changed = {r[0] for r in con.execute("SELECT DISTINCT patient_id FROM deliveries WHERE id > ?",
                                                     (self._last_delivery,))}
                self._last_delivery = con.execute("SELECT COALESCE(MAX(id), -1) FROM deliveries").fetchone()[0]
                rows = con.execute("SELECT id, patient_id, status FROM consent_events WHERE id > ? ORDER BY id",
                                   (self._last_consent,)).fetchall()
                for rid, pid, status in rows:
                    changed.add(pid)
                    (self._withdrawn.add if status == "withdrawn" else self._withdrawn.discard)(pid)
                    self._last_consent = rid
            except sqlite3.Error:
                self._version = None  # try again next time; a read error must not let stale data through
                raise
            return self._withdrawn, changed

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
