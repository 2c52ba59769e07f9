"""CDS service reading results from the HAPI FHIR sandbox when the EHR sends no prefetch."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.cds.helpers import RXNORM, gene_call, genotype_obs, hook_request, med_request

pytestmark = pytest.mark.sandbox


def test_fetches_genotypes_from_sandbox(fhir_sandbox: str, insecure_url: str) -> None:
    pid = f"cds-{uuid.uuid4().hex[:16]}"
    headers = {"Content-Type": "application/fhir+json"}
    r = httpx.put(f"{fhir_sandbox}/Patient/{pid}", json={"resourceType": "Patient", "id": pid}, headers=headers,
                  timeout=60)
    assert r.status_code in (200, 201), r.text
    obs = genotype_obs(gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer"), pid)
    obs.pop("id")
    r = httpx.post(f"{fhir_sandbox}/Observation", json=obs, headers=headers, timeout=60)
    assert r.status_code == 201, r.text

    body = hook_request("order-select", [med_request("mr1", [{"system": RXNORM, "code": "309362"}], patient=pid)],
                        patient=pid, fhirServer=fhir_sandbox)
    resp = httpx.post(insecure_url + "/cds-services/ehrgen-pgx-order-select", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    cards = resp.json()["cards"]
    assert [c["indicator"] for c in cards] == ["critical"]
    assert "*2/*2" in cards[0]["detail"]
