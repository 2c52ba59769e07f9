"""The CDS Hooks service over real HTTP (uvicorn on 127.0.0.1, httpx client)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.pgx.model import SampleCalls
from ehrgen.settings import CdsSettings
from tests.cds.helpers import (ATC, RXNORM, StubFhir, gene_call, genotype_obs, hook_request, implication_obs,
                               med_request, prefetch_for, searchset, serve)

SELECT = "/cds-services/ehrgen-pgx-order-select"
SIGN = "/cds-services/ehrgen-pgx-order-sign"
VIEW = "/cds-services/ehrgen-pgx-patient-view"

PM = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
NM = gene_call("CYP2C19", ["*1/*1"], "Normal Metabolizer")
CLOPIDOGREL_SCD = [{"system": RXNORM, "code": "309362", "display": "clopidogrel 75 MG Oral Tablet"}]
CLOPIDOGREL_IN = [{"system": RXNORM, "code": "32968", "display": "clopidogrel"}]


def post(base: str, path: str, body: object, **kw) -> httpx.Response:
    return httpx.post(base + path, json=body, timeout=10, **kw)


def alert_cards(resp: httpx.Response) -> list[dict]:
    assert resp.status_code == 200, resp.text
    return [c for c in resp.json()["cards"] if c["indicator"] in ("critical", "warning")]


# ------------------------------------------------------------------ discovery

def test_discovery_lists_three_hooks_with_prefetch(insecure_url: str) -> None:
    r = httpx.get(insecure_url + "/cds-services")
    assert r.status_code == 200
    services = {s["hook"]: s for s in r.json()["services"]}
    assert set(services) == {"order-select", "order-sign", "patient-view"}
    for s in services.values():
        assert s["id"] and s["description"] and s["title"]
        pf = s["prefetch"]
        assert pf["patient"] == "Patient/{{context.patientId}}"
        assert pf["genotypes"] == "Observation?patient={{context.patientId}}&code=http://loinc.org|84413-4"
        assert pf["implications"].startswith("Observation?patient={{context.patientId}}&code=")
        assert pf["implications"].endswith("|therapeutic-implication")


# ------------------------------------------------------------------ the headline case

@pytest.mark.parametrize("coding", [CLOPIDOGREL_SCD, CLOPIDOGREL_IN], ids=["product-309362", "ingredient-32968"])
def test_clopidogrel_poor_metabolizer_gets_critical_card_with_swap(insecure_url: str, coding: list) -> None:
    body = hook_request("order-select", [med_request("mr1", coding)], prefetch_for(PM))
    cards = alert_cards(post(insecure_url, SELECT, body))
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "critical"
    assert len(card["summary"]) < 140 and "clopidogrel" in card["summary"] and "Poor Metabolizer" in card["summary"]
    assert "*2/*2" in card["detail"] and "Poor Metabolizer" in card["detail"]
    assert card["source"]["label"] == "CPIC" and card["source"]["url"].startswith("https://cpicpgx.org/")
    assert card["selectionBehavior"] == "at-most-one"
    assert {o["code"] for o in card["overrideReasons"]} >= {"benefit-outweighs-risk", "result-questioned"}
    swaps = {s["label"].split(" with ")[1].split(" ")[0]: s for s in card["suggestions"]}
    assert {"prasugrel", "ticagrelor"} <= set(swaps)
    create, delete = swaps["ticagrelor"]["actions"]
    assert create["type"] == "create" and create["resource"]["resourceType"] == "MedicationRequest"
    assert create["resource"]["status"] == "draft"
    assert create["resource"]["medicationCodeableConcept"]["coding"][0] == \
        {"system": RXNORM, "code": "1116632", "display": "ticagrelor"}
    assert create["resource"]["subject"] == {"reference": "Patient/p1"}
    assert "dosageInstruction" not in create["resource"]  # a clopidogrel dose must not carry over
    assert delete == {"type": "delete", "description": delete["description"], "resourceId": "MedicationRequest/mr1"}
    assert "stroke" in swaps["prasugrel"]["label"]  # the prasugrel caution travels with the suggestion


def test_codeine_cyp2d6_ultrarapid_gets_critical_card(insecure_url: str) -> None:
    um = gene_call("CYP2D6", ["*1/*1x2"], "Ultrarapid Metabolizer", activity="3.0")
    body = hook_request("order-select", [med_request("mr9", [{"system": RXNORM, "code": "2670",
                                                               "display": "codeine"}])], prefetch_for(um))
    cards = alert_cards(post(insecure_url, SELECT, body))
    assert len(cards) == 1 and cards[0]["indicator"] == "critical"
    assert "codeine" in cards[0]["summary"] and "CYP2D6" in cards[0]["summary"]
    alts = {s["label"].split(" with ")[1].split(" ")[0] for s in cards[0].get("suggestions", [])}
    assert {"morphine", "oxycodone"} <= alts  # DPWG names them; both have RxNorm codes to order
    assert "tramadol" not in alts


def test_normal_metabolizer_gets_no_card(insecure_url: str) -> None:
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], prefetch_for(NM))
    r = post(insecure_url, SELECT, body)
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_indeterminate_gives_info_card_never_confident(insecure_url: str) -> None:
    ind = gene_call("CYP2C19", ["*1/*2", "*1/*17"], "Indeterminate", status="ambiguous")
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], prefetch_for(ind))
    cards = post(insecure_url, SELECT, body).json()["cards"]
    assert len(cards) == 1
    card = cards[0]
    assert card["indicator"] == "info"
    assert "indeterminate" in card["summary"].lower()
    assert "What would resolve it" in card["detail"]
    assert "suggestions" not in card


def test_implication_observations_alone_are_enough(insecure_url: str) -> None:
    calls = SampleCalls("s1", {"CYP2C19": PM})
    imps = implication_obs(calls, "clopidogrel")
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)],
                        {"genotypes": None, "implications": searchset(imps)})
    cards = alert_cards(post(insecure_url, SELECT, body))
    assert len(cards) == 1 and cards[0]["indicator"] == "critical"


def test_other_senders_phenotype_component_is_understood(insecure_url: str) -> None:
    """A genotype Observation from another lab: HGNC id only, phenotype as a LOINC 53040-2 component."""
    obs = {"resourceType": "Observation", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "84413-4"}]},
           "valueCodeableConcept": {"text": "CYP2C19 *2/*3"},
           "component": [
               {"code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org", "code": "HGNC:2621"}]}},
               {"code": {"coding": [{"system": "http://loinc.org", "code": "53040-2"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA9657-3",
                                                     "display": "Poor metabolizer"}]}}]}
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], {"genotypes": searchset([obs])})
    cards = alert_cards(post(insecure_url, SELECT, body))
    assert len(cards) == 1 and "*2/*3" in cards[0]["detail"]


# ------------------------------------------------------------------ drug matching and hooks

def test_atc_and_display_name_fallback(insecure_url: str) -> None:
    atc = med_request("a1", [{"system": ATC, "code": "B01AC04"}])
    local = med_request("n1", [{"system": "urn:local:formulary", "code": "X99", "display": "Clopidogrel 75mg tab"}])
    body = hook_request("order-sign", [atc, local], prefetch_for(PM))
    cards = alert_cards(post(insecure_url, SIGN, body))
    assert len(cards) == 2
    refs = {c["suggestions"][0]["actions"][1]["resourceId"] for c in cards}
    assert refs == {"MedicationRequest/a1", "MedicationRequest/n1"}


def test_order_select_only_checks_the_selection(insecure_url: str) -> None:
    other = med_request("mr2", [{"system": RXNORM, "code": "2670"}])
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD), other], prefetch_for(PM),
                        selections=["MedicationRequest/mr2"])
    assert alert_cards(post(insecure_url, SELECT, body)) == []  # codeine: no CYP2D6 result, no alert


def test_pretest_card_when_gene_untested(insecure_url: str) -> None:
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], {"genotypes": searchset([])})
    cards = post(insecure_url, SELECT, body).json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert "CYP2C19" in cards[0]["summary"] and "test" in cards[0]["summary"].lower()


def test_pretest_card_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True, pretest_card=False),
                                   feedback_path=tmp_path / "fb.jsonl"))
    with serve(app) as url:
        body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], {"genotypes": searchset([])})
        assert post(url, SELECT, body).json() == {"cards": []}


def test_patient_view_summarises_actionable_results(insecure_url: str) -> None:
    r = post(insecure_url, VIEW, hook_request("patient-view", prefetch=prefetch_for(PM)))
    cards = r.json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert "| clopidogrel | CYP2C19 *2/*2: Poor Metabolizer |" in cards[0]["detail"]
    assert "genotype-guided advice for" in cards[0]["summary"]
    # a normal metabolizer's summary says there is nothing actionable
    r = post(insecure_url, VIEW, hook_request("patient-view", prefetch=prefetch_for(NM)))
    assert "no actionable" in r.json()["cards"][0]["summary"]


# ------------------------------------------------------------------ data sources

def test_no_prefetch_and_no_fhir_server_is_412(insecure_url: str) -> None:
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)])
    r = post(insecure_url, SELECT, body)
    assert r.status_code == 412 and "fhirServer" in r.json()["error"]


def test_no_prefetch_fetches_from_fhir_server_with_bearer(insecure_url: str) -> None:
    with StubFhir([genotype_obs(PM, "p7"), genotype_obs(NM, "someone-else")]) as fhir:
        body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD, patient="p7")], patient="p7",
                            fhirServer=fhir.url,
                            fhirAuthorization={"access_token": "tok-123", "token_type": "Bearer",
                                               "expires_in": 300, "scope": "patient/Observation.read",
                                               "subject": "cds"})
        cards = alert_cards(post(insecure_url, SELECT, body))
        assert len(cards) == 1 and cards[0]["indicator"] == "critical"
        assert fhir.requests and all(q["auth"] == "Bearer tok-123" for q in fhir.requests)
        assert {q["query"]["patient"][0] for q in fhir.requests} == {"p7"}


def test_fhir_server_error_is_reported_not_silent(insecure_url: str) -> None:
    with StubFhir([]) as fhir:
        body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)],
                            fhirServer=fhir.url.replace("/fhir", "/nowhere"))
        r = post(insecure_url, SELECT, body)
        assert r.status_code == 502 and "404" in r.json()["error"]


def test_local_calls_store(tmp_path: Path) -> None:
    calls_dir = tmp_path / "calls"
    calls_dir.mkdir()
    (calls_dir / "S-001.calls.json").write_text(json.dumps(SampleCalls("S-001", {"CYP2C19": PM}).to_dict()))
    (calls_dir / "patients.tsv").write_text("patient_id\tcalls\npat-42\tS-001.calls.json\n")
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True), calls_dir=calls_dir,
                                   feedback_path=tmp_path / "fb.jsonl"))
    with serve(app) as url:
        body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD, patient="pat-42")], patient="pat-42")
        assert alert_cards(post(url, SELECT, body))[0]["indicator"] == "critical"
        for pid in ("pat-43", "../calls/S-001"):  # unknown patient / path trick: no results, not someone else's
            body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], patient=pid)
            r = post(url, SELECT, body)
            assert r.status_code == 200 and alert_cards(r) == []


# ------------------------------------------------------------------ malformed requests

@pytest.mark.parametrize("mutate, message", [
    (lambda b: b.pop("hook"), "hook"),
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b["context"].pop("patientId"), "patientId"),
    (lambda b: b["context"].pop("draftOrders"), "draftOrders"),
    (lambda b: b.update(hook="patient-view"), "answers hook"),
])
def test_malformed_request_is_400(insecure_url: str, mutate, message: str) -> None:
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], prefetch_for(PM))
    mutate(body)
    r = post(insecure_url, SELECT, body)
    assert r.status_code == 400 and message in r.json()["error"]


def test_not_json_is_400_and_unknown_service_404(insecure_url: str) -> None:
    r = httpx.post(insecure_url + SELECT, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert post(insecure_url, "/cds-services/nope", {}).status_code == 404


# ------------------------------------------------------------------ CORS, feedback, logs

def test_cors_preflight(insecure_url: str) -> None:
    r = httpx.options(insecure_url + SELECT, headers={
        "Origin": "https://ehr.example.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "access-control-allow-credentials" not in r.headers


def test_feedback_recorded_without_patient_data(insecure_url: str, feedback_path: Path) -> None:
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD, patient="PAT-SECRET-9")],
                        prefetch_for(PM, patient="PAT-SECRET-9"), patient="PAT-SECRET-9")
    card = alert_cards(post(insecure_url, SELECT, body))[0]
    fb = {"feedback": [
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:00:00Z",
         "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "PAT-SECRET-9 tolerated it"}},
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:01:00Z",
         "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]},
    ]}
    r = post(insecure_url, SELECT + "/feedback", fb)
    assert r.status_code == 200
    lines = [json.loads(x) for x in feedback_path.read_text().splitlines()]
    mine = [x for x in lines if x["card"] == card["uuid"]]
    assert [x["outcome"] for x in mine] == ["overridden", "accepted"]
    assert mine[0]["override_reason"] == "benefit-outweighs-risk" and mine[0]["override_comment_given"] is True
    assert mine[0]["card_meta"]["drug"] == "clopidogrel" and mine[0]["card_meta"]["indicator"] == "critical"
    assert mine[1]["accepted_suggestions"] == [card["suggestions"][0]["uuid"]]
    assert "PAT-SECRET" not in feedback_path.read_text()
    bad = post(insecure_url, SELECT + "/feedback", {"feedback": [{"card": "x", "outcome": "maybe"}]})
    assert bad.status_code == 400 and "outcome" in bad.json()["error"]


def test_logs_carry_no_patient_data(insecure_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD, patient="PAT-LOGCHECK-1")],
                        prefetch_for(PM, patient="PAT-LOGCHECK-1"), patient="PAT-LOGCHECK-1")
    assert post(insecure_url, SELECT, body).status_code == 200
    assert any(r.name == "ehrgen.cds" for r in caplog.records)  # the service did log the call
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("PAT-LOGCHECK-1", "*2/*2", "Poor Metabolizer"):
        assert secret not in text


def test_uncallable_gene_gives_info_card_not_silence(insecure_url: str) -> None:
    failed = gene_call("CYP2C19", [], None, status="not_called")
    body = hook_request("order-select", [med_request("mr1", CLOPIDOGREL_SCD)], prefetch_for(failed))
    cards = post(insecure_url, SELECT, body).json()["cards"]
    assert [c["indicator"] for c in cards] == ["info"] and "indeterminate" in cards[0]["summary"].lower()


def test_contained_medication_is_resolved(insecure_url: str) -> None:
    order = med_request("mr5")
    order.pop("medicationCodeableConcept")
    order["contained"] = [{"resourceType": "Medication", "id": "med1",
                           "code": {"coding": [{"system": RXNORM, "code": "309362"}]}}]
    order["medicationReference"] = {"reference": "#med1"}
    body = hook_request("order-sign", [order], prefetch_for(PM))
    assert [c["indicator"] for c in alert_cards(post(insecure_url, SIGN, body))] == ["critical"]


def test_codeine_alert_without_reported_activity_score(insecure_url: str) -> None:
    um = gene_call("CYP2D6", ["*1/*1x2"], "Ultrarapid Metabolizer")  # no score in the Observation
    body = hook_request("order-select", [med_request("mr9", [{"system": RXNORM, "code": "2670"}])], prefetch_for(um))
    assert [c["indicator"] for c in alert_cards(post(insecure_url, SELECT, body))] == ["critical"]


def test_phenotype_only_result_for_score_keyed_drug_is_not_silent(insecure_url: str) -> None:
    um = gene_call("CYP2D6", [], "Ultrarapid Metabolizer")  # phenotype only: codeine rules need a score
    body = hook_request("order-select", [med_request("mr9", [{"system": RXNORM, "code": "2670"}])], prefetch_for(um))
    cards = post(insecure_url, SELECT, body).json()["cards"]
    assert [c["indicator"] for c in cards] == ["info"]
    assert "activity score" in cards[0]["summary"] and "not a normal result" in cards[0]["detail"]
