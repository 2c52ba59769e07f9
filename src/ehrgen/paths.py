"""Where the project's data tables live (mappings/, rules/), found relative to the package or via env."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The source checkout (editable install) that holds mappings/ and rules/."""
    env = os.environ.get("EHRGEN_HOME")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "mappings").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()


def mappings_dir() -> Path:
    return Path(os.environ.get("EHRGEN_MAPPINGS", project_root() / "mappings"))


def rules_dir() -> Path:
    return Path(os.environ.get("EHRGEN_RULES", project_root() / "rules"))


def reference_dir() -> Path:
    """The pinned public reference data (../shared/reference from the project root).

    For the table generators in tools/ only: the product and its tests never read it (a user's clone has no
    ../shared; tests/test_no_shared.py keeps it so). Tests use tests/data/reference, the sandbox ehr-sandbox/ig.
    """
    return Path(os.environ.get("EHRGEN_REFERENCE", project_root().parent / "shared" / "reference"))
