"""Issue 14: speed never changes a result. The whole pipeline (call, interpret, export, patient outputs, delivery to
the outbox, run tables and cohort summary) is run twice, once with every fast path and once with
`ehrgen.fastpath.straightforward()`, and every file the two runs write must have the same bytes. Clock and
signing key are fixed so that the two runs are comparable; nothing else is normalised."""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ehrgen import fastpath
from ehrgen.pipeline.run import RunConfig, run_local
from ehrgen.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COHORT = ROOT / "tests" / "data" / "1kgp-pgx" / "1kgp-pgx.dense.vcf.gz"
FIXED = _dt.datetime(2026, 12, 1, 9, 30, 0, tzinfo=_dt.timezone.utc)
# files that record when or how delivery happened (run ids, timestamps), not what was delivered
NOT_CONTENT = {"ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"}


class _FrozenDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: D102
        return FIXED if tz is not None else FIXED.replace(tzinfo=None)


@pytest.fixture
def frozen(monkeypatch, tmp_path):
    import ehrgen.pipeline.stages as stages
    import ehrgen.report.clinician as clinician
    import ehrgen.report.cohort as cohort
    import ehrgen.report.patient as patient
    from ehrgen.report.pdf import configured_report

    for mod in (stages, clinician, cohort, patient):
        monkeypatch.setattr(mod, "datetime", _FrozenDatetime)
    key = tmp_path / "card-key.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    monkeypatch.setenv("EHRGEN_REPORT__PDF_ENGINE", "none")  # Chromium/WeasyPrint output is not under test
    monkeypatch.setenv("EHRGEN_REPORT__CARD_PNG", "false")
    configured_report.cache_clear()
    yield key
    configured_report.cache_clear()


def _settings(key: Path) -> Settings:
    s = Settings()
    s.report.pdf_engine = "none"
    s.report.card_png = False
    s.report.card_signing_key = key
    return s


def _content(p: Path) -> bytes:
    data = p.read_bytes()
    if p.parent.name == ".state" and p.parent.parent.name == "export":
        # an export state records each file's [sha256, size, mtime_ns]: the mtime is when, not what
        doc = json.loads(data)
        doc["files"] = {k: v[:2] for k, v in (doc.get("files") or {}).items()}
        data = json.dumps(doc, sort_keys=True).encode()
    return data


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): _content(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in NOT_CONTENT}


def _both(batch: Path, tmp_path: Path, key: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    trees = []
    for name, fast in (("fast", True), ("plain", False)):
        work = tmp_path / name
        cfg = RunConfig(work_dir=str(work), run_name="run", settings=_settings(key))
        if fast:
            run_local(batch, cfg)
        else:
            with fastpath.straightforward():
                run_local(batch, cfg)
        trees.append(_tree(work))
    return trees[0], trees[1]


def _assert_same(fast: dict[str, bytes], plain: dict[str, bytes]) -> None:
    assert sorted(fast) == sorted(plain), "the two runs wrote different files"
    differ = [k for k in fast if fast[k] != plain[k]]
    assert not differ, f"{len(differ)} file(s) differ, e.g. {differ[:5]}"


def test_sample_data_fast_and_straightforward_runs_write_the_same_bytes(sample_data, tmp_path, frozen):
    fast, plain = _both(sample_data, tmp_path, frozen)
    assert any(k.endswith(".oru.hl7") for k in fast) and any(k.endswith(".card.jwt") for k in fast)
    _assert_same(fast, plain)


def _cohort_batch(folder: Path, n: int) -> Path:
    with gzip.open(COHORT, "rt") as fh:
        samples = next(line for line in fh if line.startswith("#CHROM")).rstrip("\n").split("\t")[9:][:n]
    (folder / "vcf").mkdir(parents=True)
    (folder / "clinical").mkdir()
    for suffix in ("", ".tbi"):
        (folder / "vcf" / (COHORT.name + suffix)).symlink_to(Path(str(COHORT) + suffix))
    pids = [f"BP{i:04d}" for i in range(len(samples))]
    tables = {
        "manifest.csv": (["sample_id", "patient_id", "vcf", "outside_calls"],
                         [[s, p, f"vcf/{COHORT.name}", ""] for s, p in zip(samples, pids)]),
        "clinical/patients.csv": (["patient_id", "identifier_system", "identifier_value", "family", "given",
                                   "birth_date", "sex"],
                                  [[p, "urn:oid:2.16.840.1.113883.19.5", f"MRN{7000 + i}", "Cohortperson", "Test",
                                    "1970-01-01", "unknown"] for i, p in enumerate(pids)]),
        "clinical/samples.csv": (["sample_id", "patient_id"], [[s, p] for s, p in zip(samples, pids)]),
        "clinical/consent.csv": (["patient_id", "return_results", "date"],
                                 [[p, "true", "2026-11-01"] for p in pids]),
        "clinical/medications.csv": (["patient_id", "status", "drug", "rxnorm", "atc", "order_id", "date"],
                                     [[p, "active", "clopidogrel", "32968", "B01AC04", f"ORD{i:05d}", "2026-11-01"]
                                      for i, p in enumerate(pids) if i % 4 == 0]),
    }
    for name, (head, rows) in tables.items():
        with (folder / name).open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(head)
            w.writerows(rows)
    return folder


def test_real_cohort_fast_and_straightforward_runs_write_the_same_bytes(tmp_path, frozen):
    batch = _cohort_batch(tmp_path / "batch", 120)
    fast, plain = _both(batch, tmp_path, frozen)
    assert sum(k.endswith(".bundle.json") for k in fast) >= 2 * 120  # export + outbox copies
    _assert_same(fast, plain)
