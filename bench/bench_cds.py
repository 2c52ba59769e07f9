#!/usr/bin/env python3
"""CDS Hooks latency at a fixed request rate (open loop), with prefetch.

Starts `ehrgen serve` in its own process (so the load generator does not share its interpreter), then sends
order-select requests at --rate per second for --seconds (clopidogrel for a CYP2C19 poor metabolizer, a normal
metabolizer, and codeine for a CYP2D6 ultrarapid metabolizer, in rotation) and prints p50/p90/p99/max.
Open loop: requests are sent on schedule whether or not earlier ones have returned, so a slow server shows up as
latency, not as a lower rate. Target: p99 < 50 ms at 100 requests/s.

  .venv/bin/python bench/bench_cds.py [--rate 100] [--seconds 10] [--auth]

Without prefetch, results read from a FHIR server on the same host (the HAPI sandbox), with and without the
per-patient cache (target p95 < 300 ms):

  .venv/bin/python bench/bench_cds.py --fhir http://127.0.0.1:8180/fhir --seed --rate 10 --seconds 30

--seed first runs sample_data/ through the pipeline into that server (real ehrgen bundles); requests then rotate
over every patient on the server that has PGx Observations (order-select, clopidogrel, no prefetch, the
server named in fhirServer). Each mode gets its own `ehrgen serve` process (cache on / EHRGEN_CDS__CACHE_ENTRIES=0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cds.helpers import (RXNORM, free_port, gene_call, hook_request, med_request,  # noqa: E402
                               prefetch_for)

ISSUER = "https://bench-ehr.example.test"


def bodies() -> list[dict]:
    clop = [{"system": RXNORM, "code": "309362", "display": "clopidogrel 75 MG Oral Tablet"}]
    cod = [{"system": RXNORM, "code": "2670", "display": "codeine"}]
    pm = gene_call("CYP2C19", ["*2/*2"], "Poor Metabolizer")
    nm = gene_call("CYP2C19", ["*1/*1"], "Normal Metabolizer")
    um = gene_call("CYP2D6", ["*1/*1x2"], "Ultrarapid Metabolizer", activity="3.0")
    cyp2c9 = gene_call("CYP2C9", ["*1/*1"], "Normal Metabolizer", activity="2.0")
    return [hook_request("order-select", [med_request("mr1", clop)], prefetch_for(pm, cyp2c9)),
            hook_request("order-select", [med_request("mr1", clop)], prefetch_for(nm)),
            hook_request("order-select", [med_request("mr1", cod)], prefetch_for(um, pm))]


def auth_setup(tmp: Path):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", alg="ES384")
    (tmp / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    (tmp / "ehrgen.toml").write_text(f'[cds]\nallowed_issuers = ["{ISSUER}"]\njwks_file = "{tmp / "jwks.json"}"\n')

    def token(aud: str) -> str:
        now = int(time.time())
        return jwt.encode({"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
                          key, algorithm="ES384", headers={"kid": "bench"})
    return token


def fhir_bodies(fhir: str) -> list[dict]:
    """order-select without prefetch for every patient on the server that has PGx Observations."""
    from ehrgen.cds.sources import search_query

    clop = [{"system": RXNORM, "code": "309362", "display": "clopidogrel 75 MG Oral Tablet"}]
    r = httpx.get(f"{fhir}/Patient?_count=500&_elements=id", timeout=60, headers={"Accept": "application/fhir+json"})
    r.raise_for_status()
    ids = [e["resource"]["id"] for e in r.json().get("entry") or []]
    out = []
    for pid in ids:
        q = httpx.get(f"{fhir}/{search_query(pid)}&_summary=count", timeout=60)
        if q.status_code == 200 and q.json().get("total", 0) > 0:
            out.append(hook_request("order-select", [med_request("mr1", clop, patient=pid)], patient=pid,
                                    fhirServer=fhir))
    return out


def seed(fhir: str) -> None:
    """sample_data/ through the pipeline into the FHIR server (outside Prefect; a throwaway work dir)."""
    from ehrgen.pipeline.outcome import summarise
    from ehrgen.pipeline.run import RunConfig, run_local

    work = Path(tempfile.mkdtemp(prefix="bench-cds-seed-"))
    t = time.perf_counter()
    out = run_local(REPO / "sample_data", RunConfig(work_dir=str(work), run_name="seed", fhir_url=fhir))
    print(f"seeded {fhir} from sample_data/ in {time.perf_counter() - t:.0f} s: {summarise(out)['by_status']}")


async def run(url: str, rate: float, seconds: float, token_fn, reqs: list[dict] | None = None
              ) -> tuple[list[float], int, float]:
    reqs = reqs or bodies()
    payloads = [json.dumps(b).encode() for b in reqs]
    lat: list[float] = []
    errors = 0
    path = url + "/cds-services/ehrgen-pgx-order-select"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    n = int(rate * seconds)
    # tokens are signed before the clock starts: the bench measures the server, not client-side signing
    tokens = [token_fn(path) for _ in range(n + 20)] if token_fn else []
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        async def one(i: int) -> None:
            nonlocal errors
            headers = {"Content-Type": "application/json"}
            if tokens:
                headers["Authorization"] = "Bearer " + tokens[i]
            t0 = time.perf_counter()
            try:
                r = await client.post(path, content=payloads[i % len(payloads)], headers=headers)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                lat.append((time.perf_counter() - t0) * 1000)
            else:
                errors += 1

        # warm-up (first request loads tables; not counted)
        for i in range(n, n + 20):
            await one(i)
        lat.clear()
        start = time.perf_counter()
        tasks = []
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return lat, errors, n / elapsed


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_server(tmp: Path, auth: bool, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "EHRGEN_CONFIG": str(tmp / "ehrgen.toml"), **(env_extra or {})}
    cmd = [str(REPO / ".venv/bin/ehrgen"), "serve", "--port", str(port), "--feedback", str(tmp / "fb.jsonl"),
           "--ledger", str(tmp / "ledger.sqlite")]
    if not auth:
        cmd.append("--insecure-no-auth")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/cds-services", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("server did not start")


def report(label: str, lat: list[float], errors: int, achieved: float, seconds: float) -> None:
    print(f"{label}: {len(lat)} ok, {errors} errors, {achieved:.1f} req/s sent over {seconds:.0f} s")
    print(f"  latency ms: p50 {pct(lat, 50):.1f}  p95 {pct(lat, 95):.1f}  p99 {pct(lat, 99):.1f}  "
          f"max {max(lat):.1f}  mean {statistics.mean(lat):.1f}")
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at the end")


def main_fhir(args) -> int:
    fhir = args.fhir.rstrip("/")
    if args.seed:
        seed(fhir)
    reqs = fhir_bodies(fhir)
    if not reqs:
        print(f"no patient with PGx Observations on {fhir} (use --seed)", file=sys.stderr)
        return 1
    print(f"{len(reqs)} patient(s) with PGx Observations on {fhir}; order-select without prefetch, "
          f"{args.rate:.0f} req/s open loop")
    results = {}
    for label, env in (("no cache", {"EHRGEN_CDS__CACHE_ENTRIES": "0"}), ("cache", {})):
        tmp = Path(tempfile.mkdtemp(prefix="bench-cds-"))
        token_fn = auth_setup(tmp) if args.auth else None
        proc, url = start_server(tmp, args.auth, env)
        try:
            lat, errors, achieved = asyncio.run(run(url, args.rate, args.seconds, token_fn, reqs))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        if not lat:
            print(f"{label}: no successful requests", file=sys.stderr)
            return 1
        report(f"FHIR server, {label}", lat, errors, achieved, args.seconds)
        results[label] = pct(lat, 95)
    verdict = "PASS" if results["cache"] < 300 else "FAIL"
    print(f"target p95 < 300 ms with the cache: {verdict}")
    return 0 if verdict == "PASS" else 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--auth", action="store_true", help="sign every request with an ES384 JWT (server verifies)")
    ap.add_argument("--fhir", help="read results from this FHIR server (no prefetch): with and without the cache")
    ap.add_argument("--seed", action="store_true", help="with --fhir: first load sample_data/ into the server")
    args = ap.parse_args()
    if args.fhir:
        return main_fhir(args)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cds-"))
    token_fn = auth_setup(tmp) if args.auth else None
    proc, url = start_server(tmp, args.auth)
    try:
        lat, errors, achieved = asyncio.run(run(url, args.rate, args.seconds, token_fn))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if not lat:
        print("no successful requests", file=sys.stderr)
        return 1
    report(f"ehrgen CDS Hooks order-select, prefetch, {'ES384 JWT' if args.auth else 'no auth'}", lat, errors,
           achieved, args.seconds)
    verdict = "PASS" if pct(lat, 99) < 50 and errors == 0 else "FAIL"
    print(f"target p99 < 50 ms: {verdict}")
    return 0 if verdict == "PASS" else 2


if __name__ == "__main__":
    sys.exit(main())
