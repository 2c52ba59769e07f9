"""Property test (seeded random fuzzer; hypothesis is not a test dependency): nothing the CDS service receives
produces a 500. Valid requests for every hook and the feedback endpoint are mutated at random (wrong JSON
types anywhere, fields dropped, deep nesting, huge strings, broken bytes) and every answer must be a 200 or a
4xx with a one-line error."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.settings import CdsSettings
from tests.cds.helpers import RXNORM, gene_call, hook_request, med_request, prefetch_for

SEED = 20261202
N_PER_BODY = 160
PM = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
ORDER = [med_request("mr1", [{"system": RXNORM, "code": "32968"}])]
BODIES = {
    "ehrgen-pgx-order-select": hook_request("order-select", ORDER, prefetch_for(PM)),
    "ehrgen-pgx-order-sign": hook_request("order-sign", ORDER, prefetch_for(PM)),
    "ehrgen-pgx-patient-view": hook_request("patient-view", None, prefetch_for(PM)),
    "ehrgen-pgx-order-select/feedback": {"feedback": [{"card": "c1", "outcome": "accepted",
                                                       "outcomeTimestamp": "2026-01-01T00:00:00Z"}]},
}
JUNK: list[Any] = [None, True, 0, -1, 1.5, 1e308, "", "x", "é" * 3, [], [None], {}, {"a": None}, [[[]]]]


def _paths(doc: Any, at: tuple = ()) -> list[tuple]:
    out = [at]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, at + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, at + (i,))
    return out


def _mutate(doc: Any, rng: random.Random) -> bytes:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = rng.random()
        if op < 0.55:
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
        elif op < 0.7 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op < 0.8:
            nested: Any = rng.choice(JUNK)
            for _ in range(rng.choice([10, 70, 500])):
                nested = [nested] if rng.random() < 0.5 else {"k": nested}
            parent[path[-1]] = nested
        elif op < 0.9:
            parent[path[-1]] = "x" * rng.choice([10, 10_000, 200_000])
        else:
            parent[path[-1]] = {"resourceType": rng.choice(["Bundle", "Observation", "Nope", 7]),
                                "entry": rng.choice([[{"resource": rng.choice(JUNK)}], 5, "e"])}
    raw = json.dumps(doc).encode()
    r = rng.random()
    if r < 0.05:
        raw = raw[: rng.randint(0, len(raw))]  # cut
    elif r < 0.08:
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))  # noise
    return raw


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(ServiceConfig(CdsSettings(insecure_no_auth=True), feedback_path=tmp / "feedback.jsonl"))
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("service", sorted(BODIES))
def test_nothing_received_gives_a_500(client, service):
    rng = random.Random(f"{SEED}:{service}")
    seen: dict[int, int] = {}
    for i in range(N_PER_BODY):
        raw = _mutate(BODIES[service], rng)
        r = client.post(f"/cds-services/{service}", content=raw, headers={"content-type": "application/json"})
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, f"case {i}: HTTP {r.status_code} {r.text[:200]} for {raw[:300]!r}"
        if r.status_code >= 400:
            err = r.json().get("error", "")
            assert err and "\n" not in err, f"case {i}: {err!r}"
    assert set(seen) - {200}, "the fuzzer never produced a bad request: it tests nothing"


def test_the_fuzzer_can_fail(client):
    """The valid bodies pass, and an unmutated body of the wrong hook is refused: the assertions can bite."""
    ok = client.post("/cds-services/ehrgen-pgx-order-select", json=BODIES["ehrgen-pgx-order-select"])
    assert ok.status_code == 200
    bad = client.post("/cds-services/ehrgen-pgx-order-select", json=BODIES["ehrgen-pgx-patient-view"])
    assert bad.status_code == 400


def test_size_and_depth_limits_come_from_settings(tmp_path):
    from fastapi.testclient import TestClient

    s = CdsSettings(insecure_no_auth=True, max_body_bytes=2048, max_json_depth=10)
    with TestClient(create_app(ServiceConfig(s, feedback_path=tmp_path / "f.jsonl"))) as c:
        body = json.dumps({**BODIES["ehrgen-pgx-patient-view"], "pad": "x" * 3000}).encode()
        assert c.post("/cds-services/ehrgen-pgx-patient-view", content=body).status_code == 413
    s = CdsSettings(insecure_no_auth=True, max_json_depth=10)
    with TestClient(create_app(ServiceConfig(s, feedback_path=tmp_path / "f.jsonl"))) as c:
        deep = json.dumps(BODIES["ehrgen-pgx-patient-view"]).encode()  # a prefetch Bundle is ~12 levels deep
        r = c.post("/cds-services/ehrgen-pgx-patient-view", content=deep)
        assert r.status_code == 400 and "max_json_depth" in r.json()["error"]
