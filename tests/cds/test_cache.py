"""The per-patient FHIR result cache, its invalidation, consent withdrawal and the audit of every read."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from ehrgen.cds.cache import ResultCache, Validator, settled
from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.pgx.model import SampleCalls
from ehrgen.settings import CdsSettings
from ehrgen.store.ledger import Ledger
from tests.cds.helpers import RXNORM, StubFhir, gene_call, genotype_obs, hook_request, med_request, serve

SELECT = "/cds-services/ehrgen-pgx-order-select"
CLOP = [{"system": RXNORM, "code": "309362"}]
PM = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
NM = gene_call("CYP2C19", ["*1/*1"], "Normal Metabolizer")
OLD = "2025-01-02T03:04:05.000+00:00"


def obs(call, patient: str, when: str = OLD) -> dict[str, Any]:
    o = genotype_obs(call, patient)
    o["meta"] = {"lastUpdated": when, "versionId": "1"}
    return o


def body(patient: str = "p1", **extra: Any) -> dict[str, Any]:
    return hook_request("order-select", [med_request("mr1", CLOP, patient=patient)], patient=patient, **extra)


def indicators(url: str, b: dict[str, Any]) -> list[str]:
    r = httpx.post(url + SELECT, json=b, timeout=30)
    assert r.status_code == 200, r.text
    return [c["indicator"] for c in r.json()["cards"]]


def searches(fhir: StubFhir) -> tuple[int, int]:
    """(full searches, validator checks) the stub has answered."""
    full = sum(1 for q in fhir.requests if "_sort" not in q["query"])
    return full, len(fhir.requests) - full


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[str, StubFhir, Path, Any]]:
    ledger = tmp_path / "ledger.sqlite"
    Ledger(ledger).close()
    with StubFhir([obs(PM, "p1"), obs(NM, "p2")]) as fhir:
        app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True, fhir_url=fhir.url),
                                       feedback_path=tmp_path / "fb.jsonl", ledger_path=ledger))
        with serve(app) as url:
            yield url, fhir, ledger, app


def test_one_search_then_cheap_validator_checks(setup) -> None:
    url, fhir, _ledger, app = setup
    assert indicators(url, body()) == ["critical"]
    assert searches(fhir) == (1, 0)  # a cold request: exactly one search (both Observation codes OR-ed)
    q = fhir.requests[0]["query"]
    assert q["patient"] == ["p1"] and len(q["code"][0].split(",")) == 2
    for _ in range(3):
        assert indicators(url, body()) == ["critical"]
    assert searches(fhir) == (1, 3)  # warm: one small validator search each, served from the cache
    assert app.state.sources.cache.hits == 3


def test_new_result_is_never_served_stale(setup) -> None:
    url, fhir, _ledger, _app = setup
    assert indicators(url, body()) == ["critical"]
    # the lab corrects the result: the poor-metabolizer Observation is replaced by a normal one (newer write)
    fhir.observations[0] = obs(NM, "p1", "2025-06-01T00:00:00.000+00:00")
    assert "critical" not in indicators(url, body())
    assert searches(fhir) == (2, 1)
    # a deletion (count drops) is seen too
    fhir.observations.pop(0)
    assert indicators(url, body()) == ["info"]  # no CYP2C19 result any more: the pre-test card
    assert searches(fhir) == (3, 2)


def test_a_delivery_in_the_ledger_drops_the_patients_entry(setup) -> None:
    url, fhir, ledger, _app = setup
    indicators(url, body())
    time.sleep(0.01)  # the release comes later than the read, on a millisecond clock
    with Ledger(ledger) as led:
        led.record(run_id="r1", patient_id="p1", kind="fhir-bundle", target="fhir:x", status="accepted",
                   sha256="ab")
    indicators(url, body())
    assert searches(fhir) == (2, 0)  # refetched without even asking for the validator


def test_consent_withdrawal_stops_cache_and_store(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    Ledger(ledger).close()
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    (calls_dir / "p9.calls.json").write_text(json.dumps(SampleCalls("S9", {"CYP2C19": PM}).to_dict()))
    with StubFhir([obs(PM, "p1")]) as fhir:
        app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True, fhir_url=fhir.url),
                                       calls_dir=calls_dir, feedback_path=tmp_path / "fb.jsonl", ledger_path=ledger))
        with serve(app) as url:
            assert indicators(url, body("p9")) == ["critical"]  # from the local store
            assert indicators(url, body("p1")) == ["critical"]  # from FHIR, now cached
            with Ledger(ledger) as led:
                led.record_consent("p9", "withdrawn", run_id="r2")
                led.record_consent("p1", "withdrawn", run_id="r2")
            # p9: the store is no longer used; the FHIR server (the EHR's own record) has nothing for p9
            assert indicators(url, body("p9")) == ["info"]
            assert len(app.state.sources.cache) == 0
            n_before = searches(fhir)
            assert indicators(url, body("p1")) == ["critical"]  # the EHR's own record, read live, never cached
            assert searches(fhir) == (n_before[0] + 1, n_before[1])
            assert len(app.state.sources.cache) == 0
            app.state.access_log.flush()
        with Ledger(ledger) as led:
            origins = [a.origin for a in led.access_events("p1")]
        assert origins == ["fhir", "fhir"]


def test_withdrawn_patient_gets_no_cards_from_store_only_site(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with Ledger(ledger) as led:
        led.record_consent("p9", "withdrawn")
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    (calls_dir / "p9.calls.json").write_text(json.dumps(SampleCalls("S9", {"CYP2C19": PM}).to_dict()))
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True), calls_dir=calls_dir,
                                   feedback_path=tmp_path / "fb.jsonl", ledger_path=ledger))
    with serve(app) as url:
        assert indicators(url, body("p9")) == []
        with Ledger(ledger) as led:  # consent given again: the stored calls are used again
            led.record_consent("p9", "granted")
        assert indicators(url, body("p9")) == ["critical"]


def test_fresh_results_are_not_cached() -> None:
    now = datetime.now(timezone.utc)
    cache = ResultCache()
    fresh = Validator(3, now.isoformat())
    assert not settled(fresh.newest) and not cache.put("http://x/fhir", "p1", fresh, SampleCalls("s", {}))
    old = Validator(3, (now - timedelta(minutes=1)).isoformat())
    assert cache.put("http://x/fhir/", "p1", old, SampleCalls("s", {}))
    assert cache.get("http://x/fhir", "p1") is not None
    cache.max_age_s = 0
    assert cache.get("http://x/fhir", "p1") is None


def test_every_read_is_audited_to_ledger_and_server(setup) -> None:
    url, fhir, ledger, app = setup
    indicators(url, body())
    indicators(url, body())
    r = httpx.post(url + SELECT, json=body("bad id!"), timeout=30)
    assert r.status_code == 502
    assert app.state.access_log.flush()
    with Ledger(ledger) as led:
        rows = led.access_events()
    assert [(a.patient_id, a.origin, a.outcome, a.user) for a in rows] == [
        ("p1", "fhir", "0", "Practitioner/dr1"), ("p1", "cache", "0", "Practitioner/dr1"),
        ("bad id!", "fhir", "8", "Practitioner/dr1")]
    ev = rows[0].resource
    assert ev["resourceType"] == "AuditEvent" and ev["action"] == "R" and ev["outcome"] == "0"
    assert ev["agent"][0]["who"]["reference"] == "Practitioner/dr1" and ev["agent"][0]["requestor"] is True
    assert ev["entity"][0]["what"]["reference"] == "Patient/p1"
    assert {d["type"]: d["valueString"] for d in ev["entity"][0]["detail"]}["hook"] == "order-select"
    assert rows[2].resource["entity"][0]["what"] == {"identifier": {"value": "bad id!"}, "type": "Patient"}
    assert [p["path"] for p in fhir.posted] == ["/fhir/AuditEvent"] * 3
    assert all(a.sent_to_server and a.server_response == "HTTP 201" for a in rows)


def test_user_from_jwt_when_the_hook_names_none() -> None:
    from ehrgen.cds.access_log import user_of

    assert user_of({}, {"iss": "https://ehr", "sub": "client-7"}) == ("client-7", "https://ehr")
    assert user_of({}, {"iss": "https://ehr", "sub": "c", "fhirUser": "Practitioner/9"}) == (
        "Practitioner/9", "https://ehr c")
    assert user_of({"userId": "PractitionerRole/3"}, None) == ("PractitionerRole/3", None)


def test_ehrgen_audit_lists_who_saw_what(setup) -> None:
    from typer.testing import CliRunner

    from ehrgen.cli.main import app as cli

    url, _fhir, ledger, app = setup
    indicators(url, body())
    time.sleep(0.01)  # the release comes later than the read, on a millisecond clock
    with Ledger(ledger) as led:
        led.record(run_id="r1", patient_id="p1", kind="fhir-bundle", target="fhir:x", status="accepted", sha256="a")
    assert app.state.access_log.flush()
    r = CliRunner().invoke(cli, ["audit", "p1", "--ledger", str(ledger), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    # in time order, the read stamped when it happened (not when the queued event was written: under load the
    # writer thread runs late, and the read once came out after a release recorded later)
    assert [(x["event"], x["who"]) for x in rows] == [("cds-read", "Practitioner/dr1"), ("release", "fhir:x")]
    read = rows[0]
    assert "order-select" in read["what"] and read["outcome"] == "success"
    r = CliRunner().invoke(cli, ["audit", "p1", "--ledger", str(ledger)])
    assert r.exit_code == 0 and "cds-read" in r.output
    r = CliRunner().invoke(cli, ["audit", "p1", "--ledger", str(ledger.parent / "none.sqlite")])
    assert r.exit_code == 2
