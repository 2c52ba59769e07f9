"""The vendored reference files are the pinned ones (SHA256SUMS), and the IG package matches packages.txt."""

from __future__ import annotations

import hashlib

from ehrgen.fhir import sandbox
from tests.reference_data import REFERENCE


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_vendored_file_matches_its_pinned_checksum():
    lines = (REFERENCE / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 30
    listed = set()
    for line in lines:
        digest, rel = line.split(maxsplit=1)
        rel = rel.removeprefix("./")
        listed.add(rel)
        assert _sha256(REFERENCE / rel) == digest, rel
    on_disk = {p.relative_to(REFERENCE).as_posix() for p in REFERENCE.rglob("*") if p.is_file()}
    assert on_disk - listed == {"README.md", "SHA256SUMS"}


def test_the_ig_package_is_the_project_copy_pinned_in_packages_txt():
    ig = sandbox.ig_package()
    assert ig.is_relative_to(sandbox.sandbox_dir()), ig
    pins = {}
    for line in (sandbox.sandbox_dir() / "packages.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            spec, digest, *folder = line.split()
            pins[spec] = (digest, folder[0] if folder else "packages")
    digest, folder = pins["hl7.fhir.uv.genomics-reporting@3.0.0"]
    assert ig == sandbox.sandbox_dir() / folder / "hl7.fhir.uv.genomics-reporting-3.0.0.tgz"
    assert _sha256(ig) == digest
    for spec, (digest, folder) in pins.items():
        name, version = spec.rsplit("@", 1)
        assert _sha256(sandbox.sandbox_dir() / folder / f"{name}-{version}.tgz") == digest, spec


def test_the_cohort_slice_matches_its_checksums():
    cohort = REFERENCE.parent / "1kgp-pgx"
    lines = (cohort / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    listed = {rel for _, rel in (ln.split(maxsplit=1) for ln in lines)}
    for line in lines:
        digest, rel = line.split(maxsplit=1)
        assert _sha256(cohort / rel) == digest, rel
    assert {p.name for p in cohort.iterdir()} - listed == {"README.md", "SHA256SUMS"}
    assert len(listed) == 4


def test_vendored_md_lists_every_vendored_file_set():
    """docs/vendored.md names each third-party file set the repository carries (a new one must be listed)."""
    root = REFERENCE.parents[2]
    text = (root / "docs" / "vendored.md").read_text(encoding="utf-8")
    carried = [p.relative_to(root).as_posix() for p in sorted((root / "ehr-sandbox").glob("*/*.tgz"))]
    carried += [p.relative_to(root).as_posix() + "/" for p in sorted((root / "tests" / "data").iterdir()) if p.is_dir()]
    assert len(carried) >= 5
    assert [c for c in carried if f"`{c}`" not in text] == []
