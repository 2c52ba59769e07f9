"""Test session plugins: the HAPI FHIR sandbox fixture (built and started on demand)."""

import importlib.util
import os

# Rendering PDFs and card PNGs costs seconds per patient: pipeline and flow tests run without them; the
# report tests (tests/report/) ask for an engine explicitly.
os.environ.setdefault("EHRGEN_REPORT__PDF_ENGINE", "none")
os.environ.setdefault("EHRGEN_REPORT__CARD_PNG", "false")

pytest_plugins = ["tests.conftest_sandbox"] if importlib.util.find_spec("tests.conftest_sandbox") else []
