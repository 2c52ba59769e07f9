"""Prefect settings for offline hospital use. Call configure() BEFORE the first `import prefect`:
Prefect reads its settings (home folder, analytics) at import time."""

from __future__ import annotations

import os
from pathlib import Path

# nothing leaves 127.0.0.1: no analytics, no telemetry; generous start-up time for the temporary server
OFFLINE_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    # results of PHI tasks are never persisted; flows/tasks also set persist_result=False explicitly
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
}


def configure(work_dir: str | Path = "out") -> Path:
    """Point PREFECT_HOME at `<work_dir>/.prefect` (unless set) and apply the offline settings (unless set)."""
    home = Path(os.environ.get("PREFECT_HOME") or Path(work_dir).resolve() / ".prefect")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    return home
