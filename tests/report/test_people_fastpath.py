"""Patient summary + wallet card: the fast path (ehrgen.report.qr, kept templates, parsed key, payload LRU)
writes the same files, byte for byte, as the straightforward one (segno, a fresh environment per page), on
sample_data and on real genotypes (the vendored 1000 Genomes slice)."""

from __future__ import annotations

import csv
import os
from datetime import date
from pathlib import Path

import pytest

from ehrgen import fastpath
from ehrgen.report.clinician import PatientInfo
from ehrgen.report.patient import write_people_outputs
from ehrgen.report.signing import load_signing_key
from tests.report.conftest import SAMPLE_DATA

COHORT = Path(__file__).resolve().parents[1] / "data" / "1kgp-pgx"
ISSUED = date(2026, 1, 2)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _write_all(people, out: Path, key) -> dict[str, bytes]:
    for patient, info, calls, recs in people:
        written = write_people_outputs(patient, info, [calls], recs, out, key, "Example Lab", ISSUED,
                                       pdf_engine="none", png=False)
        assert {"summary-html", "card-html", "card-payload", "card-qr"} <= set(written)
    return _files(out)


def _both_paths(people, tmp_path: Path) -> dict[str, bytes]:
    key = load_signing_key(None, tmp_path / "work")
    with fastpath.straightforward():
        plain = _write_all(people, tmp_path / "plain", key)
    assert fastpath.enabled()
    fast = _write_all(people, tmp_path / "fast", key)
    again = _write_all(people, tmp_path / "again", key)  # payload LRU and kept templates warm now
    assert fast.keys() == plain.keys() == again.keys()
    for name in plain:
        assert fast[name] == plain[name], name
        assert again[name] == plain[name], name
    return fast


def test_fast_path_writes_the_same_files_on_sample_data(tmp_path):
    from tests.report.helpers import sample_inputs

    people = []
    for row in csv.DictReader(open(SAMPLE_DATA / "manifest.csv")):
        if row["expect"] != "ok":
            continue
        calls, recs, ctx = sample_inputs(row["patient_id"])
        info = PatientInfo.from_clinical(row["patient_id"], ctx.clinical.patients.get(row["patient_id"]))
        people.append((row["patient_id"], info, calls, recs))
    assert len(people) >= 10
    files = _both_paths(people, tmp_path)
    assert sum(name.endswith(".card.qr.png") for name in files) == len(people)


@pytest.fixture(scope="module")
def cohort_people():
    from ehrgen.ingest.vcf import read_genotypes
    from ehrgen.pgx.caller import call_batch
    from ehrgen.pipeline.context import load_context
    from ehrgen.rules.engine import interpret

    ctx = load_context(None, None)
    vcf = next(COHORT.glob("*dense*.vcf.gz"))
    calls = call_batch(read_genotypes(vcf, ctx.definitions), ctx.definitions)
    # every third person: segno takes ~70 ms a card on the straightforward side
    return [(c.sample, PatientInfo(c.sample), c, interpret(c, c.sample, ruleset=ctx.ruleset)) for c in calls[::3]]


def test_fast_path_writes_the_same_files_on_real_genotypes(cohort_people, tmp_path):
    files = _both_paths(cohort_people, tmp_path)
    payloads = {files[f"{p}.card.jwt"] for p, *_ in cohort_people}
    assert 1 < len(payloads) < len(cohort_people)  # people share card results, so the payload LRU is used


def test_write_for_patient_with_the_callers_recs_writes_what_interpreting_again_does(tmp_path):
    from ehrgen.report.people import write_for_patient
    from ehrgen.settings import load_settings
    from tests.report.helpers import sample_inputs

    calls, recs, ctx = sample_inputs("P008")
    settings = load_settings()
    a = write_for_patient(calls, "P008", ctx, tmp_path / "a", settings, tmp_path / "work")
    b = write_for_patient(calls, "P008", ctx, tmp_path / "b", settings, tmp_path / "work", recs=recs)
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith("card-") or k.startswith("summary-"):
            assert a[k].read_bytes() == b[k].read_bytes(), k


def test_a_replaced_signing_key_is_read_again(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "card.pem"

    def write_key() -> str:
        key = Ed25519PrivateKey.generate()
        tmp = tmp_path / "new.pem"
        tmp.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        os.replace(tmp, path)
        return load_signing_key(path, tmp_path).kid

    first = write_key()
    assert load_signing_key(path, tmp_path).kid == first
    second = write_key()
    assert second != first
    assert load_signing_key(path, tmp_path).kid == second
    with fastpath.straightforward():
        assert load_signing_key(path, tmp_path).kid == second
