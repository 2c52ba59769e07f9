"""Flow tests share one Prefect test server per session (it costs 10-15 s to start); flow runs are few."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# before any prefect import: keep Prefect's home out of ~/.prefect and everything offline
_HOME = Path(tempfile.mkdtemp(prefix="ehrgen-prefect-home-"))
os.environ.setdefault("PREFECT_HOME", str(_HOME))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

SAMPLE_DATA = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def sample_data() -> Path:
    if not (SAMPLE_DATA / "manifest.csv").is_file():
        pytest.skip("sample_data/ not generated (tools/gen_sample_data.py)")
    return SAMPLE_DATA
