"""The CDS Hooks 2.0 HTTP service (FastAPI): discovery, three hook services, feedback.

Endpoints
  GET  /cds-services                      discovery (unauthenticated, as in the spec)
  POST /cds-services/{id}                 hook call (JWT bearer unless insecure_no_auth)
  POST /cds-services/{id}/feedback        card outcomes -> JSONL (JWT bearer unless insecure_no_auth)

Logs carry only service id, hook, counts, data origin and latency: never patient ids, genotypes or names.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ehrgen.cds.auth import AuthError, JwtVerifier
from ehrgen.cds.cards import order_cards, patient_view_card
from ehrgen.cds.drugs import MedicationResolver, default_resolver
from ehrgen.cds.feedback import CardRegistry, FeedbackError, FeedbackLog, parse_feedback
from ehrgen.cds.interpret import recommend, warm
from ehrgen.cds.observations import warm as warm_observations
from ehrgen.cds.orders import draft_orders
from ehrgen.cds.access_log import Access, AccessLog, user_of
from ehrgen.cds.cache import LedgerWatch, ResultCache
from ehrgen.cds.shape import ShapeError, check_fhir, depth
from ehrgen.cds.sources import FetchError, LocalStore, NeedData, Sources, gather, prefetch_templates
from ehrgen.settings import CdsSettings

log = logging.getLogger("ehrgen.cds")

SERVICES: dict[str, dict[str, Any]] = {
    "ehrgen-pgx-order-select": {
        "hook": "order-select",
        "title": "Pharmacogenomic check at order selection",
        "description": "Checks a newly selected medication against the patient's pharmacogenomic results "
                       "(CPIC/DPWG) and offers a guideline-named alternative where one exists.",
    },
    "ehrgen-pgx-order-sign": {
        "hook": "order-sign",
        "title": "Pharmacogenomic check at order signing",
        "description": "Checks every draft medication order against the patient's pharmacogenomic results "
                       "(CPIC/DPWG) before signing.",
    },
    "ehrgen-pgx-patient-view": {
        "hook": "patient-view",
        "title": "Pharmacogenomic results summary",
        "description": "Summarises the patient's actionable pharmacogenomic results when the chart is opened.",
    },
}
ORDER_HOOKS = ("order-select", "order-sign")


class BadRequest(ValueError):
    pass


class TooLarge(ValueError):
    """HTTP 413: the body is over cds.max_body_bytes."""


def discovery() -> dict[str, Any]:
    templates = prefetch_templates()
    return {"services": [{"id": sid, **meta, "prefetch": dict(templates),
                          "usageRequirements": "Send the JWT bearer token the service was registered with."}
                         for sid, meta in SERVICES.items()]}


def validate_request(service_id: str, body: Any) -> dict[str, Any]:
    """The fields this service relies on; raises BadRequest naming the first one that is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    hook = SERVICES[service_id]["hook"]
    for key in ("hook", "hookInstance"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise BadRequest(f"missing or empty '{key}'")
    if body["hook"] != hook:
        raise BadRequest(f"service {service_id} answers hook '{hook}', not '{body['hook']}'")
    ctx = body.get("context")
    if not isinstance(ctx, dict):
        raise BadRequest("missing 'context' object")
    if not isinstance(ctx.get("patientId"), str) or not ctx["patientId"]:
        raise BadRequest("missing 'context.patientId'")
    if hook in ORDER_HOOKS:
        orders = ctx.get("draftOrders")
        if not isinstance(orders, dict) or orders.get("resourceType") != "Bundle":
            raise BadRequest(f"{hook} needs 'context.draftOrders' as a FHIR Bundle")
        if hook == "order-select" and not isinstance(ctx.get("selections"), list):
            raise BadRequest("order-select needs 'context.selections' (a list of order references)")
        if hook == "order-select" and not all(isinstance(x, str) for x in ctx["selections"]):
            raise BadRequest("'context.selections' must be a list of strings (order references)")
        _shape(orders, "context.draftOrders")
    for key in ("userId", "encounterId"):
        if ctx.get(key) is not None and not isinstance(ctx[key], str):
            raise BadRequest(f"'context.{key}' must be a string")
    if "prefetch" in body and body["prefetch"] is not None and not isinstance(body["prefetch"], dict):
        raise BadRequest("'prefetch' must be an object")
    for key, resource in (body.get("prefetch") or {}).items():
        if resource is not None:
            _shape(resource, f"prefetch.{key}")
    if body.get("fhirServer") is not None and (not isinstance(body["fhirServer"], str)
                                               or not body["fhirServer"].startswith(("http://", "https://"))):
        raise BadRequest("'fhirServer' must be an http(s) URL")
    auth = body.get("fhirAuthorization")
    if auth is not None:
        if not isinstance(auth, dict):
            raise BadRequest("'fhirAuthorization' must be an object")
        for key in ("access_token", "token_type", "scope", "subject"):
            if auth.get(key) is not None and not isinstance(auth[key], str):
                raise BadRequest(f"'fhirAuthorization.{key}' must be a string")
    return body


def _shape(resource: Any, path: str) -> None:
    try:
        check_fhir(resource, path)
    except ShapeError as exc:
        raise BadRequest(str(exc)) from None


@dataclass
class ServiceConfig:
    settings: CdsSettings
    calls_dir: Path | None = None
    feedback_path: Path = Path("out/cds-feedback.jsonl")
    verify_tls: bool = True
    fhir_timeout_s: float = 10.0
    # the delivery ledger: consent withdrawals and new deliveries (cache invalidation), and where reads are audited
    ledger_path: Path | None = None
    audit_fhir_url: str | None = None  # AuditEvents of reads also go here (default: settings.fhir_url)
    audit_token: str | None = None


def create_app(config: ServiceConfig, resolver: MedicationResolver | None = None) -> FastAPI:
    s = config.settings
    verifier: JwtVerifier | None = None
    if not s.insecure_no_auth:
        verifier = JwtVerifier(issuers=list(s.allowed_issuers), audience=s.audience, jwks_file=s.jwks_file,
                               jwks_url=s.jwks_url)
    store = LocalStore(config.calls_dir) if config.calls_dir else None
    sources = Sources(store=store, default_fhir=s.fhir_url,
                      cache=ResultCache(s.cache_entries, s.cache_max_age_s),
                      watch=LedgerWatch(config.ledger_path) if config.ledger_path else None)
    access_log = AccessLog(config.ledger_path, config.audit_fhir_url or s.fhir_url, config.audit_token,
                           verify_tls=config.verify_tls, timeout_s=config.fhir_timeout_s)
    registry = CardRegistry()
    feedback = FeedbackLog(config.feedback_path)
    res = resolver or default_resolver()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        warm()
        warm_observations()
        state["client"] = sources.client = httpx.AsyncClient(timeout=config.fhir_timeout_s,
                                                             verify=config.verify_tls)
        access_log.start()
        if verifier is None:
            log.warning("CDS Hooks JWT checking is OFF (--insecure-no-auth): any caller can invoke the services; "
                        "use only on a trusted test network")
        try:
            yield
        finally:
            await state["client"].aclose()
            access_log.stop()
            if sources.watch is not None:
                sources.watch.close()

    app = FastAPI(title="ehrgen CDS Hooks", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    # The spec: CDS services must allow cross-origin calls from browser-based EHRs. Credentials are not
    # cookies here (the JWT is an explicit header), so no allow_credentials; nothing extra is exposed.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
                       allow_headers=["Authorization", "Content-Type"], expose_headers=[], max_age=600)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def authorise(request: Request) -> JSONResponse | None:
        if verifier is None:
            return None
        args = (request.headers.get("authorization"), str(request.url), str(request.base_url))
        try:
            if verifier.jwks_url:  # a JWKS URL may need fetching: keep the event loop free
                request.state.claims = await run_in_threadpool(verifier.verify, *args)
            else:  # file keys: ~1 ms of CPU, cheaper inline than a thread hop
                request.state.claims = verifier.verify(*args)
        except AuthError as exc:
            log.info("auth refused: %s", exc)
            return JSONResponse({"error": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def read_json(request: Request) -> Any:
        """The body as JSON within the size and nesting limits (413 / 400), read no further than the limit."""
        limit = s.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"request body over {limit} bytes (cds.max_body_bytes)")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body over {limit} bytes (cds.max_body_bytes)")
            chunks.append(chunk)
        raw = b"".join(chunks)
        try:
            doc = json.loads(raw)
        except RecursionError:  # the stdlib parser recurses once per level
            raise BadRequest(f"request body nested deeper than {s.max_json_depth} levels (cds.max_json_depth)") \
                from None
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON") from None
        if depth(doc) > s.max_json_depth:
            raise BadRequest(f"request body nested deeper than {s.max_json_depth} levels (cds.max_json_depth)")
        return doc

    @app.get("/cds-services")
    async def get_discovery() -> dict[str, Any]:
        return discovery()

    @app.post("/cds-services/{service_id}")
    async def call_service(service_id: str, request: Request):
        try:
            return await handle(service_id, request)
        except Exception as exc:  # noqa: BLE001 -- exception text may quote request data: log where, not what
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
            log.error("%s: internal error %s at %s", service_id, exc.__class__.__name__, where)
            return error(500, "internal error (logged without request data)")

    async def admit(service_id: str, request: Request):
        """404 for an unknown service, else the JWT check; None when the request may proceed."""
        if service_id not in SERVICES:
            return error(404, f"no CDS service '{service_id}'")
        return await authorise(request)

    async def handle(service_id: str, request: Request):
        t0 = time.perf_counter()
        refused = await admit(service_id, request)
        if refused:
            return refused
        try:
            body = validate_request(service_id, await read_json(request))
        except TooLarge as exc:
            return error(413, str(exc))
        except BadRequest as exc:
            return error(400, str(exc))
        ctx = body["context"]
        hook = SERVICES[service_id]["hook"]

        def audit(origin: str, outcome: str, desc: str, cards: int = 0) -> None:
            user, client = user_of(ctx, getattr(request.state, "claims", None))
            access_log.record(Access(service_id, hook, str(body["hookInstance"])[:100], ctx["patientId"], user,
                                     client, origin, outcome, desc, cards))

        try:
            got = await gather(body, ctx["patientId"], sources)
        except NeedData as exc:
            audit("none", "4", "no results available (412)")
            return error(412, str(exc))
        except FetchError as exc:
            audit("fhir", "8", f"results could not be read: {exc}")
            return error(502, str(exc))
        issued, unmatched = [], 0
        if got.origin == "withdrawn":  # consent withdrawn: no stored results used, no cards (not even pre-test)
            pass
        elif hook in ORDER_HOOKS:
            orders = draft_orders(ctx, res, hook)
            drugs = sorted({d for o in orders for d in o.ingredients})
            recs = recommend(got.calls, drugs) if drugs else []
            for o in orders:
                issued += order_cards(o, recs, got.calls, res, service_id, pretest=s.pretest_card)
            unmatched = sum(1 for o in orders if not o.ingredients)
        else:
            recs = recommend(got.calls, None)
            pv = patient_view_card(recs, got.calls, service_id)
            issued = [pv] if pv else []
            unmatched = 0
        for card, meta in issued:
            registry.add(card["uuid"], meta)
        cards = [c for c, _m in issued]
        audit(got.origin, "0", f"{hook}: {len(cards)} card(s), results from {got.origin}", len(cards))
        log.info("%s: %d card(s) [%s], data from %s, %d unmatched order(s), %.1f ms", service_id, len(cards),
                 ",".join(c["indicator"] for c in cards), got.origin, unmatched, (time.perf_counter() - t0) * 1000)
        # a ready JSONResponse skips FastAPI's generic encoder (cards are plain JSON already)
        return JSONResponse({"cards": cards})

    @app.post("/cds-services/{service_id}/feedback")
    async def post_feedback(service_id: str, request: Request):
        refused = await admit(service_id, request)
        if refused:
            return refused
        try:
            items = parse_feedback(await read_json(request))
        except TooLarge as exc:
            return error(413, str(exc))
        except (BadRequest, FeedbackError) as exc:
            return error(400, str(exc))
        n = await run_in_threadpool(feedback.record, service_id, items, registry)
        log.info("%s: %d feedback item(s) recorded", service_id, n)
        return JSONResponse({}, status_code=200)

    app.state.registry = registry
    app.state.access_log = access_log
    app.state.sources = sources
    return app
