"""pytest plugin: the session fixture `fhir_sandbox`, the base URL of the local HAPI FHIR sandbox.

Reuses a running sandbox (`ehrgen sandbox status`); otherwise builds and starts it (ehr-sandbox/start.sh,
port from settings: EHRGEN_SANDBOX__PORT, default 8080). If it cannot be built or started the tests
that use it FAIL with the script's reason: a missing sandbox must not pass as skipped tests.
The sandbox is left running for the next session; .ci/run stops it at the end (ehr-sandbox/stop.sh).
Data persists in ehr-sandbox/data/: tests must use fresh identifiers (e.g. uuid4) per run.
"""

from __future__ import annotations

import pytest

from ehrgen.fhir import sandbox
from ehrgen.fhir.sandbox import SandboxError


@pytest.fixture(scope="session")
def fhir_sandbox() -> str:
    """Base URL such as http://127.0.0.1:8080/fhir (no trailing slash)."""
    url = sandbox.status()
    if url is None:
        try:
            url = sandbox.start()
        except SandboxError as exc:
            pytest.fail(f"FHIR sandbox could not be built or started: {exc}", pytrace=False)
    return url.rstrip("/")
