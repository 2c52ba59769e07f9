"""Report tests: a real browser (headless Chromium from Debian's `chromium` package) and sample-data runs.

`chromium` installs the browser when it is missing and the session may (root, apt-get present): the test
session sets up what it needs, like the HAPI sandbox. Idempotent: when Chromium is on PATH nothing runs
(`shutil.which`, microseconds). When it cannot be installed the browser tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DATA = ROOT / "sample_data"
INSTALL_TIMEOUT_S = 900


def _install_chromium() -> str:
    """'' when Chromium is (now) available, else why not."""
    from ehrgen.report.browser import chromium_path

    if chromium_path():
        return ""
    if os.environ.get("EHRGEN_NO_BROWSER_INSTALL"):
        return "headless Chromium not installed and EHRGEN_NO_BROWSER_INSTALL is set"
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return "headless Chromium not installed (apt-get install chromium) and this session cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]):
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"apt-get failed ({type(exc).__name__})"
        if cmd[1] == "install" and res.returncode == 0:
            break
    chromium_path.cache_clear()
    if chromium_path():
        return ""
    return "apt-get install chromium did not provide a chromium binary"


@pytest.fixture(scope="session")
def chromium() -> str:
    reason = _install_chromium()
    if reason:
        pytest.skip(reason)
    from ehrgen.report.browser import chromium_path

    return chromium_path()


@pytest.fixture(scope="session")
def sample_data() -> Path:
    if not (SAMPLE_DATA / "manifest.csv").is_file():
        pytest.skip("sample_data/ not generated (tools/gen_sample_data.py)")
    return SAMPLE_DATA


@pytest.fixture(scope="session")
def sample_run(sample_data, tmp_path_factory):
    """sample_data/ through the pipeline without PDFs (fast): (config, outcomes by patient)."""
    from ehrgen.pipeline.run import RunConfig, run_local

    cfg = RunConfig(work_dir=str(tmp_path_factory.mktemp("run")), run_name="sample")
    outcomes = run_local(str(sample_data), cfg)
    return cfg, {o.patient: o for o in outcomes if o.patient}


@pytest.fixture(scope="session")
def sample_context(sample_data):
    from ehrgen.pipeline.context import load_context

    return load_context(str(sample_data / "clinical"), None)


@pytest.fixture
def engines_on(monkeypatch):
    """PDFs and card PNGs on for this test (the root conftest turns them off for speed)."""
    from ehrgen.report import pdf

    monkeypatch.setenv("EHRGEN_REPORT__PDF_ENGINE", "auto")
    monkeypatch.setenv("EHRGEN_REPORT__CARD_PNG", "true")
    pdf.configured_report.cache_clear()
    yield
    monkeypatch.undo()
    pdf.configured_report.cache_clear()
