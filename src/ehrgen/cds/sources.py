"""Where a hook request's PGx results come from: prefetch, a local results store, or the EHR's FHIR server.

Order: prefetch (what the EHR sent) -> local store (`--calls DIR`, sites without a FHIR server) -> FHIR server
(the request's fhirServer with its fhirAuthorization bearer token, else the configured `--fhir` URL) ->
none of them: NeedData, which the service answers with 412 as the CDS Hooks spec asks.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ehrgen.cds.observations import calls_from_observations
from ehrgen.fhir.codes import code_table
from ehrgen.pgx.model import SampleCalls

OBSERVATION_KEYS = ("genotypes", "implications")
MAX_PAGES = 20
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR id rule; also keeps ids out of path tricks


class NeedData(Exception):
    """Neither prefetch nor any way to fetch the data (HTTP 412)."""


class FetchError(Exception):
    """The FHIR server could not be read (HTTP 502); message names the server's status, never patient data."""


def _query(key: str) -> str:
    ct = code_table()
    if key == "genotypes":
        c = ct.coding("element", "genotype-code")
    else:
        c = ct.coding("element", "implication-code")
    assert c is not None
    return f"Observation?patient={{{{context.patientId}}}}&code={c['system']}|{c['code']}"


def prefetch_templates() -> dict[str, str]:
    """Discovery prefetch: the patient and both kinds of PGx Observation (codes from mappings/fhir_codes.tsv)."""
    return {"patient": "Patient/{{context.patientId}}", "genotypes": _query("genotypes"),
            "implications": _query("implications")}


def render(template: str, patient_id: str) -> str:
    return template.replace("{{context.patientId}}", patient_id)


@dataclass
class LocalStore:
    """A directory of ehrgen calls files: `<patientId>.calls.json`, or an index `patients.tsv`
    (patient_id<TAB>calls file, relative to the directory) / `patients.json` ({patient_id: file}) when the
    calls files are named by sample."""

    root: Path
    _index: dict[str, str] | None = field(default=None, repr=False)
    _index_mtime: float = field(default=-1.0, repr=False)
    _cache: dict[Path, tuple[float, SampleCalls]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: --calls must be a directory of calls.json files")

    def _load_index(self) -> dict[str, str]:
        tsv, js = self.root / "patients.tsv", self.root / "patients.json"
        src = tsv if tsv.is_file() else js if js.is_file() else None
        mtime = src.stat().st_mtime if src else 0.0
        if self._index is not None and mtime == self._index_mtime:
            return self._index
        index: dict[str, str] = {}
        if src is tsv:
            for line in tsv.read_text(encoding="utf-8").splitlines():
                if line.startswith("#") or "\t" not in line:
                    continue
                pid, file = line.split("\t")[:2]
                if pid != "patient_id":
                    index[pid.strip()] = file.strip()
        elif src is js:
            index = {str(k): str(v) for k, v in json.loads(js.read_text(encoding="utf-8")).items()}
        self._index, self._index_mtime = index, mtime
        return index

    def path_for(self, patient_id: str) -> Path | None:
        if not _FHIR_ID.match(patient_id):
            return None
        with self._lock:
            rel = self._load_index().get(patient_id)
        p = (self.root / rel) if rel else self.root / f"{patient_id}.calls.json"
        p = p.resolve()
        if self.root.resolve() not in p.parents or not p.is_file():
            return None
        return p

    def get(self, patient_id: str) -> SampleCalls | None:
        p = self.path_for(patient_id)
        if p is None:
            return None
        mtime = p.stat().st_mtime
        with self._lock:
            hit = self._cache.get(p)
            if hit and hit[0] == mtime:
                return hit[1]
        calls = SampleCalls.from_dict(json.loads(p.read_text(encoding="utf-8")))
        with self._lock:
            self._cache[p] = (mtime, calls)
        return calls


async def fetch_observations(client: httpx.AsyncClient, base_url: str, token: str | None,
                             patient_id: str) -> list[dict[str, Any]]:
    """Run the prefetch searches against a FHIR server (following `next` links) and return the resources."""
    if not _FHIR_ID.match(patient_id):
        raise FetchError("patientId is not a valid FHIR id")
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    base = base_url.rstrip("/")
    out: list[dict[str, Any]] = []
    for key in OBSERVATION_KEYS:
        url: str | None = f"{base}/{render(prefetch_templates()[key], patient_id)}"
        pages = 0
        while url and pages < MAX_PAGES:
            try:
                resp = await client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise FetchError(f"FHIR server unreachable ({exc.__class__.__name__})") from None
            if resp.status_code != 200:
                raise FetchError(f"FHIR server answered HTTP {resp.status_code} to an Observation search")
            bundle = resp.json()
            out.append(bundle)
            url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
            if url and not url.startswith(base):  # never follow a next link off the server we were given
                url = None
            pages += 1
    return out


@dataclass
class Gathered:
    calls: SampleCalls
    origin: str  # prefetch | store | fhir


async def gather(body: dict[str, Any], patient_id: str, store: LocalStore | None, client: httpx.AsyncClient,
                 default_fhir: str | None) -> Gathered:
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    sent = [prefetch.get(k) for k in OBSERVATION_KEYS if prefetch.get(k) is not None]
    if sent:
        return Gathered(calls_from_observations(sent), "prefetch")
    if store is not None:
        calls = store.get(patient_id)
        if calls is not None:
            return Gathered(calls, "store")
    server = body.get("fhirServer") or default_fhir
    if server:
        token = None
        auth = body.get("fhirAuthorization")
        if body.get("fhirServer") and isinstance(auth, dict):
            token = auth.get("access_token")
        bundles = await fetch_observations(client, str(server), token, patient_id)
        return Gathered(calls_from_observations(bundles), "fhir")
    if store is not None:  # the site's store is the system of record: not in it = no results
        return Gathered(SampleCalls(sample="store", genes={}), "store")
    raise NeedData("no prefetch of the patient's pharmacogenomic Observations and no fhirServer to fetch them from")
