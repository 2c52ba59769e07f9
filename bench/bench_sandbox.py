"""Benchmark: the EHR sandbox (HAPI FHIR JPA + IG request validation) and the offline validator.

Usage: .venv/bin/python bench/bench_sandbox.py [--bundles 20] [--validate-files 20] [--restart] [--cold-build]
Measures, each bounded in count and sent only to 127.0.0.1:
  build      ehr-sandbox/build.sh (cached: near zero when nothing changed); --cold-build also times a
             package run against an empty temporary Maven repository (full dependency download)
  start      stop + start until /metadata answers (only with --restart, or when not running)
  post       N Genomics Reporting transaction bundles (the exporter's example, identifiers made unique
             per bundle), then the same N again (conditional create/update hits: no new resources)
  validate   one offline validator JVM over K files
Writes bench/out/sandbox.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from ehrgen.fhir import sandbox
from ehrgen.fhir.validate import validate_files

OUT = Path(__file__).resolve().parent / "out" / "sandbox.json"


def example_bundle_text() -> str:
    from ehrgen.fhir.bundle import build_bundle, bundle_json
    from ehrgen.fhir.samples import example_calls, example_context, example_patient, example_recommendations

    return bundle_json(build_bundle(example_calls(), example_recommendations(), example_patient(), example_context()))


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def unique_copy(text: str, tag: str) -> str:
    """The same bundle for a 'new patient': every identifier value changes (also in request URLs and
    urn:uuid references); UUID-shaped values stay valid UUIDs."""
    values = set(re.findall(r'"identifier":\s*\[\{[^\]]*?"value":\s*"([^"]+)"', text))
    values |= set(re.findall(r'"fullUrl":\s*"urn:uuid:([^"]+)"', text))
    for v in sorted(values, key=len, reverse=True):
        new = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{v}/{tag}")) if UUID_RE.match(v) else f"{v}-{tag}"
        text = text.replace(v, new)
    return text.replace("Provenance/ehrgen-", f"Provenance/ehrgen-{tag}-").replace(
        '"id": "ehrgen-', f'"id": "ehrgen-{tag}-')


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundles", type=int, default=20)
    ap.add_argument("--validate-files", type=int, default=20)
    ap.add_argument("--restart", action="store_true", help="stop a running sandbox and time a fresh start")
    ap.add_argument("--cold-build", action="store_true", help="also time a build with an empty Maven repository")
    args = ap.parse_args()
    res: dict = {}

    _, res["build_cached_s"] = timed(sandbox.build)
    if args.cold_build:
        with tempfile.TemporaryDirectory() as repo:
            _, res["build_cold_maven_s"] = timed(lambda: subprocess.run(
                ["mvn", "-q", "-B", "package", "-DskipTests", f"-Dmaven.repo.local={repo}"],
                cwd=sandbox.sandbox_dir(), check=True, capture_output=True))

    url = sandbox.status()
    if url is None or args.restart:
        if url is not None:
            sandbox.stop()
        url, res["start_s"] = timed(sandbox.start)
    res["base_url"] = url

    text = example_bundle_text()
    entries = len(json.loads(text)["entry"])
    run = uuid.uuid4().hex[:8]
    bundles = [unique_copy(text, f"{run}-{i}") for i in range(args.bundles)]
    with httpx.Client(base_url=url, headers={"Content-Type": "application/fhir+json"}, timeout=120) as c:
        for label in ("post_new", "post_repeat"):
            times = []
            for b in bundles:
                r, dt = timed(lambda b=b: c.post("", content=b))
                if r.status_code != 200:
                    raise SystemExit(f"{label}: HTTP {r.status_code}: {r.text[:500]}")
                times.append(dt)
            times.sort()
            res[label] = {"bundles": len(times), "entries_per_bundle": entries,
                          "median_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3),
                          "entries_per_s": round(entries * len(times) / sum(times), 1)}

    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, b in enumerate(bundles[: args.validate_files]):
            p = Path(d) / f"b{i}.json"
            p.write_text(b)
            files.append(p)
        issues, dt = timed(lambda: validate_files(files))
        res["validate"] = {"files": len(files), "jvm_total_s": round(dt, 1),
                           "errors": sum(1 for i in issues if i.is_error)}

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
