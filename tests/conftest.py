"""Test session plugins: the HAPI FHIR sandbox fixture (built and started on demand)."""

import importlib.util

pytest_plugins = ["tests.conftest_sandbox"] if importlib.util.find_spec("tests.conftest_sandbox") else []
