"""A few corpus inputs through the real command line: an error is one line on stderr naming the file and the
record, with a non-zero exit; an index that does not belong to the file is said on stderr and the call is right."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.hostile import cases_vcf


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ehrgen.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def _built(case_id: str, tmp_path: Path) -> Path:
    """Run the corpus case's builder and return the VCF it wrote (the newest .vcf / .vcf.gz in tmp_path, not the
    other file whose index the foreign-index cases borrow)."""
    case = next(c for c in cases_vcf.cases() if c.id == case_id)
    case.run(tmp_path)
    return max((p for p in tmp_path.rglob("*") if p.name.endswith((".vcf", ".vcf.gz"))
                and not p.name.startswith("other.")), key=lambda p: p.stat().st_mtime_ns)


def test_impossible_genotype_is_one_line_naming_file_and_record(tmp_path):
    vcf = _built("cyp2c19-0-2-one-alt", tmp_path)
    res = _cli("call", str(vcf), "--out", str(tmp_path / "out"))
    err = res.stderr.strip()
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert vcf.name in err and "chr10:94781859" in err and "0/2" not in err


def test_wrong_build_without_header_hints_fails(tmp_path):
    vcf = _built("no-hint-shifted-positions", tmp_path)
    res = _cli("call", str(vcf), "--out", str(tmp_path / "out"))
    assert res.returncode != 0 and len(res.stderr.strip().splitlines()) == 1 and "not GRCh38" in res.stderr


def test_foreign_index_is_said_on_stderr_and_the_file_streamed(tmp_path):
    vcf = _built("foreign-tbi", tmp_path)
    out = tmp_path / "out"
    res = _cli("call", str(vcf), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "streamed instead" in res.stderr
    calls = json.loads(next(out.glob("*.calls.json")).read_text())
    assert calls["genes"]["CYP2C19"]["diplotype_text"] == "*1/*2"
    assert any("streamed instead" in w for w in calls["warnings"])
