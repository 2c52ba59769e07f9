"""The clinician report's fast path (cached recommendation views and macro fragments) gives the same model and the
same HTML bytes as the straightforward code, for every sample patient and every person of the real 300-person slice."""

from __future__ import annotations

import pytest

from ehrgen import fastpath
from ehrgen.report import clinician
from ehrgen.report.clinician import MedicationInfo, PatientInfo, build_report_model, render_html, render_json
from tests.report.helpers import cohort_inputs, manifest_patients, report_html, sample_inputs

DATE = "2026-12-01T09:00:00+00:00"
# a few medicines per person, so the medication blocks (drug_rows with a status note) are exercised too
MEDS = [[], [MedicationInfo("clopidogrel", "proposed")], [MedicationInfo("codeine"), MedicationInfo("simvastatin")],
        [MedicationInfo("", "active", "Mystery tablets"), MedicationInfo("warfarin", "proposed")],
        [MedicationInfo("aspirin")]]


def _both(build):
    with fastpath.straightforward():
        plain = build()
    fast = build()
    return plain, fast


def _same(plain, fast, who):
    (h1, m1), (h2, m2) = plain, fast
    assert render_json(m1) == render_json(m2), who
    assert h1 == h2, who


@pytest.mark.parametrize("patient", manifest_patients())
def test_sample_patients_same_bytes_on_both_paths(sample_data, patient):
    sample_inputs(patient)  # calls made before the comparison
    _same(*_both(lambda: report_html(patient)), patient)


def test_real_genotypes_same_bytes_on_both_paths():
    people, ctx = cohort_inputs()
    clinician._REC_VIEWS.clear()
    clinician._FRAGMENTS.clear()
    for i, (calls, recs) in enumerate(people):
        pid = f"K{i:03d}"
        # per-person details differ, so a cached fragment that kept one would show up in the next person's report
        info = PatientInfo(pid, f"Person {i}", "urn:oid:1.2.3", f"MRN{i}", f"19{i % 90 + 10}-01-0{i % 9 + 1}",
                           ("female", "male", "")[i % 3])

        def build():
            m = build_report_model(pid, [calls], recs, ctx.ruleset_meta, report_date=DATE, patient_info=info,
                                   medications=MEDS[i % len(MEDS)])
            return render_html(m), m

        _same(*_both(build), pid)
    # the caches did the work: far fewer distinct views/fragments than records/fragment calls
    n_recs = sum(len(r) for _, r in people)
    assert 0 < len(clinician._REC_VIEWS) < n_recs / 20
    assert 0 < len(clinician._FRAGMENTS) < len(people) * 10


def test_two_samples_in_one_report_same_bytes(sample_data):
    people, ctx = cohort_inputs()
    (c1, r1), (c2, r2) = people[0], people[1]

    def build():
        m = build_report_model("K2S", [c1, c2], r1 + r2, ctx.ruleset_meta, report_date=DATE)
        return render_html(m), m

    _same(*_both(build), "two samples")


def test_straightforward_path_never_reads_or_fills_the_caches():
    people, ctx = cohort_inputs()
    calls, recs = people[3]
    clinician._REC_VIEWS.clear()
    clinician._FRAGMENTS.clear()
    with fastpath.straightforward():
        render_html(build_report_model("K003", [calls], recs, ctx.ruleset_meta, report_date=DATE))
    assert len(clinician._REC_VIEWS) == 0 and len(clinician._FRAGMENTS) == 0


def test_fast_model_hands_out_fresh_objects():
    people, ctx = cohort_inputs()
    calls, recs = people[5]
    a = build_report_model("K005", [calls], recs, ctx.ruleset_meta, report_date=DATE)
    a["drugs"][0]["genes"].append("XXX")
    a["drugs"][0]["phenotypes"]["XXX"] = "changed"
    a["drugs"][0]["summary"] = "changed"
    for b in a["all_findings"]:
        b["rows"][0]["refs"].append({"id": "changed", "url": None})
        b["basis"].append({"gene": "XXX", "value": "changed"})
    for g in a["genes"]:
        g["warnings"].append("changed")
        g["candidates"].append({"diplotype": "changed"})
        if g["qc"]:
            g["qc"]["missing_by_reason"]["changed"] = 1
    b = build_report_model("K005", [calls], recs, ctx.ruleset_meta, report_date=DATE)
    with fastpath.straightforward():
        c = build_report_model("K005", [calls], recs, ctx.ruleset_meta, report_date=DATE)
    assert render_json(b) == render_json(c)


def test_memo_is_bounded():
    memo = clinician._Memo(3)
    for i in range(10):
        memo.put(i, i)
        assert len(memo) <= 3
