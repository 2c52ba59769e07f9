"""A user's clone has no ../shared: the product must not read it (only tools/ generators and oracle tests may)."""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ehrgen"
SANDBOX = Path(__file__).resolve().parents[1] / "ehr-sandbox"


def test_no_product_module_uses_the_reference_folder():
    offenders = []
    for py in SRC.rglob("*.py"):
        if py.name == "paths.py":
            continue  # defines reference_dir() for tools/
        text = py.read_text(encoding="utf-8")
        if "reference_dir" in text or "shared/reference" in text or "shared/oracles" in text:
            offenders.append(py.relative_to(SRC).as_posix())
    assert not offenders


def test_sandbox_scripts_and_sources_default_to_the_project_copy():
    files = [*SANDBOX.glob("*.sh"), *SANDBOX.joinpath("src").rglob("*.java")]
    assert files
    assert not [f.name for f in files if "shared/" in f.read_text(encoding="utf-8")]
