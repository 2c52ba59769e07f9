"""Where a hook request's PGx results come from: prefetch, a local results store, or the EHR's FHIR server.

Order: prefetch (what the EHR sent) -> local store (`--calls DIR`, sites without a FHIR server) -> FHIR server
(the request's fhirServer with its fhirAuthorization bearer token, else the configured `--fhir` URL), through
the per-patient cache (ehrgen.cds.cache: one small validator search when cached, else one full search) ->
none of them: NeedData, which the service answers with 412 as the CDS Hooks spec asks.
A patient whose consent was withdrawn (ledger) is never served from the local store or the cache.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ehrgen.cds.cache import LedgerWatch, ResultCache, Validator, newest_of
from ehrgen.cds.observations import calls_from_observations
from ehrgen.fhir.codes import code_table
from ehrgen.pgx.model import SampleCalls

OBSERVATION_KEYS = ("genotypes", "implications")
MAX_PAGES = 20
PAGE_SIZE = 200  # one page holds every PGx Observation of a patient (~20-60)
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


def search_query(patient_id: str) -> str:
    """The one Observation search per request: both kinds of PGx Observation (the codes OR-ed), one page."""
    ct = code_table()
    codes = ",".join(f"{c['system']}|{c['code']}" for c in (ct.coding("element", "genotype-code"),
                                                          ct.coding("element", "implication-code")) if c)
    return f"Observation?patient={patient_id}&code={codes}&_count={PAGE_SIZE}"


# HAPI reuses a cached search result for identical URLs (60 s by default): a cache check must see new writes
NO_CACHE_HEADERS = {"Accept": "application/fhir+json", "Cache-Control": "no-cache"}


def _headers(token: str | None) -> dict[str, str]:
    h = dict(NO_CACHE_HEADERS)
    if token:
        h["Authorization"] = f"Bearer {token}"
    return h


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    try:
        resp = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise FetchError(f"FHIR server unreachable ({exc.__class__.__name__})") from None
    if resp.status_code != 200:
        raise FetchError(f"FHIR server answered HTTP {resp.status_code} to an Observation search")
    try:
        bundle = resp.json()
    except ValueError:
        raise FetchError("FHIR server answered an Observation search with invalid JSON") from None
    if not isinstance(bundle, dict):
        raise FetchError("FHIR server answered an Observation search with something other than a Bundle")
    return bundle


def _matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict)
            and isinstance(e.get("resource"), dict) and (e.get("search") or {}).get("mode", "match") == "match"]


async def fetch_observations(client: httpx.AsyncClient, base_url: str, token: str | None,
                             patient_id: str) -> list[dict[str, Any]]:
    """One Observation search (both codes) against a FHIR server, following `next` links; the Bundles."""
    bundles, _v = await _fetch(client, base_url, token, patient_id)
    return bundles


async def _fetch(client: httpx.AsyncClient, base_url: str, token: str | None,
                 patient_id: str) -> tuple[list[dict[str, Any]], Validator]:
    if not _FHIR_ID.match(patient_id):
        raise FetchError("patientId is not a valid FHIR id")
    headers = _headers(token)
    base = base_url.rstrip("/")
    out: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    url: str | None = f"{base}/{search_query(patient_id)}"
    pages = 0
    while url and pages < MAX_PAGES:
        bundle = await _get(client, url, headers)
        out.append(bundle)
        matches += _matches(bundle)
        url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
        if url and not url.startswith(base):  # never follow a next link off the server we were given
            url = None
        pages += 1
    if url:  # more than MAX_PAGES pages: results are incomplete, so they are never cached (validator total -1)
        return out, Validator(-1, "")
    return out, Validator(len(matches), newest_of(matches))


async def _validator(client: httpx.AsyncClient, base_url: str, token: str | None, patient_id: str) -> Validator | None:
    """The server's current validator for the patient's search (None when the server gives no total)."""
    url = (f"{base_url.rstrip('/')}/{search_query(patient_id).replace(f'&_count={PAGE_SIZE}', '')}"
           "&_sort=-_lastUpdated&_count=1&_total=accurate&_summary=true")
    bundle = await _get(client, url, _headers(token))
    total = bundle.get("total")
    if not isinstance(total, int):
        return None
    return Validator(total, newest_of(_matches(bundle)))


@dataclass
class Gathered:
    calls: SampleCalls
    origin: str  # prefetch | store | fhir | cache | withdrawn


@dataclass
class Sources:
    """Where results may come from besides prefetch, and the per-patient cache in front of the FHIR server."""

    store: LocalStore | None = None
    client: httpx.AsyncClient | None = None
    default_fhir: str | None = None
    cache: ResultCache | None = None
    watch: LedgerWatch | None = None

    def withdrawn(self, patient_id: str) -> bool:
        """Consent withdrawn (per the ledger): drops the patient's cache entries as a side effect. A ledger that
        cannot be read counts as withdrawn for this request (stored data is then not used)."""
        if self.watch is None:
            return False
        try:
            withdrawn, changed = self.watch.poll()
        except Exception:  # noqa: BLE001 -- sqlite errors: be safe, not sorry
            if self.cache is not None:
                self.cache.drop_patients({patient_id})
            return True
        if self.cache is not None and changed:
            self.cache.drop_patients(changed)
        return patient_id in withdrawn


async def gather(body: dict[str, Any], patient_id: str, sources: Sources) -> Gathered:
    prefetch = body.get("prefetch") if isinstance(body.get("prefetch"), dict) else {}
    sent = [prefetch.get(k) for k in OBSERVATION_KEYS if prefetch.get(k) is not None]
    withdrawn = sources.withdrawn(patient_id)
    if sent:
        # what the EHR itself holds and sent: used as given (never cached)
        return Gathered(calls_from_observations(sent), "prefetch")
    store = sources.store
    if store is not None and not withdrawn:
        calls = store.get(patient_id)
        if calls is not None:
            return Gathered(calls, "store")
    server = body.get("fhirServer") or sources.default_fhir
    if server:
        token = None
        auth = body.get("fhirAuthorization")
        if body.get("fhirServer") and isinstance(auth, dict):
            token = auth.get("access_token")
        assert sources.client is not None
        server = str(server)
        cache = None if withdrawn else sources.cache
        hit = cache.get(server, patient_id) if cache is not None else None
        if hit is not None:
            if not _FHIR_ID.match(patient_id):
                raise FetchError("patientId is not a valid FHIR id")
            if await _validator(sources.client, server, token, patient_id) == hit.validator:
                cache.hits += 1
                return Gathered(hit.calls, "cache")
        bundles, validator = await _fetch(sources.client, server, token, patient_id)
        calls = calls_from_observations(bundles)
        if cache is not None:
            cache.misses += 1
            if validator.total >= 0:
                cache.put(server, patient_id, validator, calls)
        return Gathered(calls, "fhir")
    if withdrawn:
        return Gathered(SampleCalls(sample="withdrawn", genes={}), "withdrawn")
    if store is not None:  # the site's store is the system of record: not in it = no results
        return Gathered(SampleCalls(sample="store", genes={}), "store")
    raise NeedData("no prefetch of the patient's pharmacogenomic Observations and no fhirServer to fetch them from")
