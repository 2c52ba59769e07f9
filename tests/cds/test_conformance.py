"""CDS Hooks 2.0 conformance of every card the service produces on the sample patients.

For each of the 23 callable sample patients (sample_data/, called here from their VCFs and outside calls) the
service is asked order-sign with a draft order for every drug the rules cover (plus one order without an id),
order-select with the same selection, and patient-view; every response is checked field by field against the
CDS Hooks 2.0 Card, Suggestion, Action, Link, Source and Coding definitions (types, required fields, enums,
uuid format and uniqueness, summary length, absolute URLs, selectionBehavior with suggestions, resourceId a
string). The data reach the service as prefetch built with ehrgen's own FHIR mapping, as an EHR would send it.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from ehrgen.cds.service import ServiceConfig, create_app
from ehrgen.cli.call import load_outside_calls
from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from ehrgen.rules.drugs import load_table
from ehrgen.rules.engine import default_ruleset
from ehrgen.settings import CdsSettings
from tests.cds.helpers import RXNORM, genotype_obs, hook_request, med_request, searchset, serve

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
SERVICES = {"order-sign": "/cds-services/ehrgen-pgx-order-sign",
            "order-select": "/cds-services/ehrgen-pgx-order-select",
            "patient-view": "/cds-services/ehrgen-pgx-patient-view"}

CARD_KEYS = {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
             "overrideReasons", "links", "extension"}
SUGGESTION_KEYS = {"label", "uuid", "isRecommended", "actions", "extension"}
ACTION_KEYS = {"type", "description", "resource", "resourceId", "extension"}
SOURCE_KEYS = {"label", "url", "icon", "topic"}
LINK_KEYS = {"label", "url", "type", "appContext", "extension"}
CODING_KEYS = {"system", "code", "display"}


def _absolute_url(value: Any) -> bool:
    u = urlparse(value) if isinstance(value, str) else None
    return bool(u and u.scheme in ("http", "https") and u.netloc)


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _coding(c: Any, where: str) -> list[str]:
    errs = []
    if not isinstance(c, dict):
        return [f"{where}: Coding must be an object"]
    errs += [f"{where}.{k}: not a Coding field" for k in set(c) - CODING_KEYS]
    for k in ("system", "code"):  # CDS Hooks 2.0 Coding: code and system required
        if not isinstance(c.get(k), str) or not c[k]:
            errs.append(f"{where}.{k}: required string")
    if "display" in c and not isinstance(c["display"], str):
        errs.append(f"{where}.display: must be a string")
    return errs


def _action(a: Any, where: str, drafts: set[str]) -> list[str]:
    if not isinstance(a, dict):
        return [f"{where}: Action must be an object"]
    errs = [f"{where}.{k}: not an Action field" for k in set(a) - ACTION_KEYS]
    if a.get("type") not in ("create", "update", "delete"):
        errs.append(f"{where}.type: {a.get('type')!r} not create|update|delete")
    if not isinstance(a.get("description"), str) or not a["description"]:
        errs.append(f"{where}.description: required string")
    if a.get("type") in ("create", "update"):
        res = a.get("resource")
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            errs.append(f"{where}.resource: a FHIR resource is required for {a.get('type')}")
        if "resourceId" in a:
            errs.append(f"{where}.resourceId: only for delete")
    if a.get("type") == "delete":
        rid = a.get("resourceId")
        if not isinstance(rid, str):  # an array before 2021; a string in CDS Hooks 2.0
            errs.append(f"{where}.resourceId: must be a string, got {type(rid).__name__}")
        elif rid not in drafts:
            errs.append(f"{where}.resourceId: {rid!r} is not one of the draft orders")
        if "resource" in a:
            errs.append(f"{where}.resource: not for delete")
    return errs


def _card(card: Any, where: str, drafts: set[str]) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: Card must be an object"]
    errs = [f"{where}.{k}: not a Card field" for k in set(card) - CARD_KEYS]
    if "uuid" in card and not _is_uuid(card["uuid"]):
        errs.append(f"{where}.uuid: not a UUID")
    s = card.get("summary")
    if not isinstance(s, str) or not s.strip() or len(s) >= 140:
        errs.append(f"{where}.summary: required string under 140 characters, got {s!r}")
    if "detail" in card and (not isinstance(card["detail"], str) or not card["detail"].strip()):
        errs.append(f"{where}.detail: must be a non-empty string (Markdown)")
    if card.get("indicator") not in ("info", "warning", "critical"):
        errs.append(f"{where}.indicator: {card.get('indicator')!r} not info|warning|critical")
    src = card.get("source")
    if not isinstance(src, dict):
        errs.append(f"{where}.source: required object")
    else:
        errs += [f"{where}.source.{k}: not a Source field" for k in set(src) - SOURCE_KEYS]
        if not isinstance(src.get("label"), str) or not src["label"].strip():
            errs.append(f"{where}.source.label: required string")
        for k in ("url", "icon"):
            if k in src and not _absolute_url(src[k]):
                errs.append(f"{where}.source.{k}: must be an absolute URL")
        if "topic" in src:
            errs += _coding(src["topic"], f"{where}.source.topic")
    sugg = card.get("suggestions")
    if sugg is not None:
        if not isinstance(sugg, list) or not sugg:
            errs.append(f"{where}.suggestions: must be a non-empty array when present")
            sugg = []
        if card.get("selectionBehavior") not in ("at-most-one", "any"):
            errs.append(f"{where}.selectionBehavior: required with suggestions (at-most-one|any)")
        for i, sg in enumerate(sugg):
            w = f"{where}.suggestions[{i}]"
            if not isinstance(sg, dict):
                errs.append(f"{w}: Suggestion must be an object")
                continue
            errs += [f"{w}.{k}: not a Suggestion field" for k in set(sg) - SUGGESTION_KEYS]
            if not isinstance(sg.get("label"), str) or not sg["label"].strip():
                errs.append(f"{w}.label: required string")
            if "uuid" in sg and not _is_uuid(sg["uuid"]):
                errs.append(f"{w}.uuid: not a UUID")
            if "isRecommended" in sg and not isinstance(sg["isRecommended"], bool):
                errs.append(f"{w}.isRecommended: must be a boolean")
            acts = sg.get("actions", [])
            if not isinstance(acts, list):
                errs.append(f"{w}.actions: must be an array")
                acts = []
            for j, a in enumerate(acts):
                errs += _action(a, f"{w}.actions[{j}]", drafts)
    elif "selectionBehavior" in card:
        errs.append(f"{where}.selectionBehavior: only with suggestions")
    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            errs.append(f"{where}.overrideReasons: must be an array of Coding")
        else:
            for i, c in enumerate(reasons):
                errs += _coding(c, f"{where}.overrideReasons[{i}]")
                if isinstance(c, dict) and not c.get("display"):
                    errs.append(f"{where}.overrideReasons[{i}].display: shown to the clinician, required")
    links = card.get("links")
    if links is not None:
        if not isinstance(links, list):
            errs.append(f"{where}.links: must be an array")
            links = []
        for i, ln in enumerate(links):
            w = f"{where}.links[{i}]"
            if not isinstance(ln, dict):
                errs.append(f"{w}: Link must be an object")
                continue
            errs += [f"{w}.{k}: not a Link field" for k in set(ln) - LINK_KEYS]
            if not isinstance(ln.get("label"), str) or not ln["label"].strip():
                errs.append(f"{w}.label: required string")
            if not _absolute_url(ln.get("url")):
                errs.append(f"{w}.url: required absolute URL")
            if ln.get("type") not in ("absolute", "smart"):
                errs.append(f"{w}.type: {ln.get('type')!r} not absolute|smart")
            if "appContext" in ln and (ln.get("type") != "smart" or not isinstance(ln["appContext"], str)):
                errs.append(f"{w}.appContext: a string, for smart links only")
    return errs


def response_errors(body: Any, drafts: set[str]) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("cards"), list):
        return ["response: `cards` (array) is required"]
    errs = [f"response.{k}: not a response field" for k in set(body) - {"cards", "systemActions"}]
    seen: set[str] = set()
    for i, card in enumerate(body["cards"]):
        errs += _card(card, f"cards[{i}]", drafts)
        ids = [card.get("uuid")] + [s.get("uuid") for s in card.get("suggestions", []) if isinstance(s, dict)]
        for u in filter(None, ids):
            if u in seen:
                errs.append(f"cards[{i}]: uuid {u} is not unique in the response")
            seen.add(u)
    for j, a in enumerate(body.get("systemActions", [])):
        errs += _action(a, f"systemActions[{j}]", drafts)
    return errs


# ---------------------------------------------------------------------------------------------- the patients


@pytest.fixture(scope="module")
def sample_calls() -> dict[str, Any]:
    """patient id -> SampleCalls for every callable sample patient, from the committed sample data."""
    defs = load_definitions()
    with open(SAMPLE / "manifest.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["expect"] == "ok"]
    out = {}
    for r in rows:
        outside = (load_outside_calls(SAMPLE / r["outside_calls"], [r["sample_id"]], defs)
                   if r["outside_calls"] else None)
        out[r["patient_id"]] = call_vcf(SAMPLE / r["vcf"], samples=[r["sample_id"]], outside=outside,
                                        definitions=defs)[0]
    assert len(out) == 23
    return out


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The service over real HTTP (uvicorn on 127.0.0.1), as an EHR calls it."""
    app = create_app(ServiceConfig(settings=CdsSettings(insecure_no_auth=True),
                                   feedback_path=tmp_path_factory.mktemp("fb") / "fb.jsonl"))
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _orders(patient: str) -> list[dict[str, Any]]:
    table = load_table()
    drugs = sorted(d for d in default_ruleset().drugs() if d in table.drugs and table.drugs[d].rxnorm)
    orders = [med_request(f"mr{i}", [{"system": RXNORM, "code": table.drugs[d].rxnorm, "display": d}],
                          patient=patient) for i, d in enumerate(drugs)]
    no_id = med_request("x", [{"system": RXNORM, "code": table.drugs["clopidogrel"].rxnorm}], patient=patient)
    del no_id["id"]  # a draft without an id: a swap can create, but has nothing to delete
    return orders + [no_id]


def test_every_card_on_every_sample_patient_conforms(client, sample_calls):
    seen = {"indicator": set(), "suggestions": 0, "delete": 0, "cards": 0}
    problems: list[str] = []
    for patient, calls in sorted(sample_calls.items()):
        prefetch = {"patient": {"resourceType": "Patient", "id": patient},
                    "genotypes": searchset([genotype_obs(c, patient) for c in calls.genes.values()]),
                    "implications": searchset([])}
        orders = _orders(patient)
        drafts = {f"MedicationRequest/{o['id']}" for o in orders if "id" in o}
        for hook, path in SERVICES.items():
            kw = {"selections": sorted(drafts)} if hook == "order-select" else {}
            body = hook_request(hook, orders if hook != "patient-view" else None, prefetch, patient=patient, **kw)
            resp = client.post(path, json=body)
            assert resp.status_code == 200, (patient, hook, resp.text[:300])
            doc = resp.json()
            problems += [f"{patient} {hook} {e}" for e in response_errors(doc, drafts)]
            for card in doc["cards"]:
                seen["cards"] += 1
                seen["indicator"].add(card["indicator"])
                for s in card.get("suggestions", []):
                    seen["suggestions"] += 1
                    seen["delete"] += sum(a["type"] == "delete" for a in s.get("actions", []))
    assert not problems, "\n".join(problems[:40])
    # the sweep really exercised the card kinds: all three indicators, swaps with delete actions
    assert seen["indicator"] == {"info", "warning", "critical"}, seen
    assert seen["suggestions"] and seen["delete"], seen


def test_the_checker_catches_the_old_resource_id_array():
    card = {"uuid": str(uuid.uuid4()), "summary": "Avoid clopidogrel", "indicator": "critical",
            "source": {"label": "CPIC"}, "selectionBehavior": "at-most-one",
            "suggestions": [{"label": "Replace", "uuid": str(uuid.uuid4()),
                             "actions": [{"type": "delete", "description": "Cancel",
                                          "resourceId": ["MedicationRequest/mr1"]}]}],
            "links": [{"label": "guideline", "url": "https://cpicpgx.org/", "type": "absolute"}]}
    errs = response_errors({"cards": [card]}, {"MedicationRequest/mr1"})
    assert any("resourceId: must be a string" in e for e in errs)
    card["suggestions"][0]["actions"][0]["resourceId"] = "MedicationRequest/mr1"
    assert response_errors({"cards": [card]}, {"MedicationRequest/mr1"}) == []
    bad = {**card, "indicator": "hard-stop", "summary": "x" * 140, "source": {"url": "cpicpgx.org"}}
    bad.pop("uuid")
    bad["links"] = [{"label": "g", "url": "/relative", "type": "web"}]
    errs = response_errors({"cards": [bad]}, set())
    for frag in ("indicator", "summary", "source.label", "source.url", "links[0].url", "links[0].type"):
        assert any(frag in e for e in errs), frag
