"""The FHIR bundle's fast path (uuid5 text, search tokens, id systems) gives the same bundle JSON bytes as the
straightforward code, for every sample patient and every person of the real 300-person slice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ehrgen import __version__, fastpath
from ehrgen.fhir import ids
from ehrgen.fhir.bundle import BundleOptions, PatientRef, ReportContext, Supersession, build_bundle, bundle_json
from tests.report.helpers import cohort_inputs, manifest_patients, sample_inputs

ISSUED = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
OPTIONS = [BundleOptions(), BundleOptions(references="plain"), BundleOptions(unknown_patient="reject"),
           BundleOptions(performer_name="Lab é/ü", performer_identifier=("urn:oid:2.16.840.1", "LAB 7"))]


def _both(build):
    with fastpath.straightforward():
        plain = bundle_json(build(), indent=True)
    assert bundle_json(build(), indent=True) == plain
    return plain


@pytest.mark.parametrize("patient", manifest_patients())
def test_sample_patients_same_bytes_on_both_paths(patient):
    from ehrgen.pipeline.stages import _medication_orders, _patient_ref

    calls, recs, ctx = sample_inputs(patient)
    ref, orders = _patient_ref(ctx, patient), _medication_orders(ctx, patient)
    _both(lambda: build_bundle(calls, recs, ref, ReportContext(
        __version__, ctx.ruleset.version, calls.source_sha256, ISSUED, report_html=f"<p>{patient}</p>",
        medication_orders=orders)))


def test_real_genotypes_same_bytes_on_both_paths():
    people, ctx = cohort_inputs()
    for i, (calls, recs) in enumerate(people):
        # identifiers that need percent-encoding, orders of both kinds, re-interpretations and every option
        system = "urn:oid:1.2.3" if i % 4 else "https://mrn.example.org/id space|x"
        ref = PatientRef(f"K{i:03d}", system, f"MRN {i}/ä" if i % 5 == 0 else f"MRN{i}")
        orders = {"clopidogrel": f"MedicationRequest/o{i}", "codeine": f"MedicationStatement/s{i}"} if i % 3 else {}
        sup = Supersession("2025.1.0", [("codeine", "CPIC")], ["codeine"]) if i % 7 == 0 else None
        context = ReportContext(__version__, ctx.ruleset.version, calls.source_sha256, ISSUED,
                                report_html=f"<p>report {i}</p>", medication_orders=orders, supersedes=sup,
                                options=OPTIONS[i % len(OPTIONS)],
                                patient_reference="fullurl" if i % 11 == 0 else "conditional")
        _both(lambda: build_bundle(calls, recs, ref, context))


@pytest.mark.parametrize("name", ["", "a", "patient\x1fP1\x1fS1", "ünï/çødé|?&=#%", "x" * 500])
def test_uuid5_text_is_uuid5(name):
    import uuid

    assert ids._uuid5_text(name) == str(uuid.uuid5(ids.EHRGEN_NAMESPACE, name))


@pytest.mark.parametrize("text", ["", "urn:oid:1.2.3", "https://a.org/x y", "a|b", "ä", "~._-:/", "%41", "a+b"])
def test_quote_shortcut_matches_quote(text):
    from urllib.parse import quote

    assert ids._quote_id(text) == quote(text, safe=":/")
