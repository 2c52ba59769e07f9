"""The fast ORU builder (templates per distinct gene result / recommendation) gives the straightforward builder's
message text, on sample_data and on real genotypes, and every message it builds parses back with hl7apy."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_segment

from ehrgen import fastpath
from ehrgen.fhir.bundle import PatientRef, ReportContext
from ehrgen.fhir.codes import code_table
from ehrgen.fhir.samples import example_calls, example_context, example_patient, example_recommendations
from ehrgen.hl7 import oru_fast
from ehrgen.hl7.oru import build_oru, parse_oru
from ehrgen.pgx.model import Diplotype, GeneCall


def both(calls, recs, patient, ctx, **kw) -> tuple[str, str]:
    fast = build_oru(calls, recs, patient, ctx, **kw)
    with fastpath.straightforward():
        plain = build_oru(calls, recs, patient, ctx, **kw)
    return fast, plain


def control_id(er7: str) -> str:
    return er7.split("\r")[0].split("|")[9]


@pytest.fixture(autouse=True)
def fresh_templates():
    oru_fast.clear()
    yield
    oru_fast.clear()


def strict_segments(messages: list[str]) -> int:
    """Parse every distinct segment (set id and time aside) STRICT with hl7apy: field lengths, data types."""
    distinct: dict[str, str] = {}
    for m in messages:
        for seg in m.strip("\r").split("\r"):
            f = seg.split("|")
            norm = "|".join(f[:1] + f[2:14]) if f[0] == "OBX" else seg
            distinct.setdefault(norm, seg)
    for seg in distinct.values():
        parsed = parse_segment(seg, version="2.5.1", validation_level=VALIDATION_LEVEL.STRICT)
        assert parsed.validate() is True, seg
    return len(distinct)


def test_identical_on_the_example_and_it_validates():
    cases = [
        (example_calls(), example_recommendations(), example_patient(), example_context()),
        (example_calls(), [], example_patient(), example_context()),
        (example_calls(), example_recommendations(rules_version="2"), PatientRef("P9", "https://ehr.example/mrn",
                                                                                  "A|1"), example_context("2")),
    ]
    for args in cases:
        fast, plain = both(*args)
        assert fast == plain
        assert parse_oru(fast, strict=True).validate() is True
    apps = dict(sending_application="LAB|1", sending_facility="Fac^2", receiving_application="EHR&x",
                receiving_facility="\\R\\")
    fast, plain = both(*cases[0], **apps)
    assert fast == plain and fast.startswith("MSH|^~\\&|LAB\\F\\1|Fac\\S\\2|EHR\\T\\x|\\R\\|")


def test_identical_on_sample_data(sample_patients):
    assert len(sample_patients) >= 20
    for calls, recs, patient, ctx in sample_patients:
        fast, plain = both(calls, recs, patient, ctx)
        assert fast == plain, patient.id
        assert parse_oru(fast, strict=True).validate() is True, patient.id


def test_identical_on_real_genotypes(real_patients):
    fast_msgs = []
    groups = 0
    for calls, recs, patient, ctx in real_patients:
        fast, plain = both(calls, recs, patient, ctx)
        assert fast == plain, patient.id
        fast_msgs.append(fast)
        groups += len(calls.genes)
    assert len(set(map(control_id, fast_msgs))) == len(fast_msgs)  # every patient's message is its own
    t = oru_fast._current()
    assert 0 < len(t.genes) < groups / 10  # people share gene results: what the templates save
    assert 0 < len(t.recs)
    # hl7apy takes ~0.3 s per whole message: the message structure on the smallest and largest ones and one
    # with an identifier full of delimiters, the field contents on every distinct segment of all 300
    by_size = sorted(range(len(fast_msgs)), key=lambda i: len(fast_msgs[i]))
    for i in (by_size[0], by_size[-1], 7):
        assert parse_oru(fast_msgs[i], strict=True).validate() is True
    assert strict_segments(fast_msgs) > 100


def test_templates_are_never_read_on_the_straightforward_path(real_patients):
    calls, recs, patient, ctx = real_patients[1]
    fast, plain = both(calls, recs, patient, ctx)
    t = oru_fast._current()
    for cache in (t.genes, t.recs):  # poison every template
        for k, (fmt, n) in cache.items():
            cache[k] = (fmt.replace("|F|", "|C|"), n)
    with fastpath.straightforward():
        assert build_oru(calls, recs, patient, ctx) == plain
    assert build_oru(calls, recs, patient, ctx) != plain  # the fast path does read them (this test can fail)


def test_template_caches_are_bounded(real_patients, monkeypatch):
    monkeypatch.setattr(oru_fast, "_MAX", 8)
    for calls, recs, patient, ctx in real_patients[:40]:
        fast, plain = both(calls, recs, patient, ctx)
        assert fast == plain
        t = oru_fast._current()
        assert len(t.genes) <= 8 and len(t.recs) <= 8


def test_every_input_of_a_gene_group_is_in_its_key():
    """One gene's call varied one field at a time, built in turn against the same templates."""
    base = example_calls()
    c = base.genes["CYP2C19"]
    variants = [
        c,
        dataclasses.replace(c, status="ambiguous"),
        dataclasses.replace(c, diplotypes=[Diplotype("*2", "*3")]),
        dataclasses.replace(c, diplotypes=[Diplotype("*2", None)]),
        dataclasses.replace(c, diplotypes=[Diplotype("*2", "*2"), Diplotype("*1", "*3")]),
        dataclasses.replace(c, diplotypes=[]),
        dataclasses.replace(c, phenotype="Intermediate Metabolizer"),
        dataclasses.replace(c, phenotype="Made-up phenotype"),
        dataclasses.replace(c, phenotype=None),
        dataclasses.replace(c, activity_score="1.5"),
        dataclasses.replace(c, source="outside"),
        dataclasses.replace(c, missing_positions=[1]),
        dataclasses.replace(c, missing_positions=[1, 2]),
        dataclasses.replace(c, warnings=["a warning | with ^ delimiters and {0} {sub} }{ braces"]),
        dataclasses.replace(c, status="not_called"),
        dataclasses.replace(c, status="no_data"),
        GeneCall("NOTAGENE", "called", [Diplotype("*1", "*1")], "Normal Metabolizer"),
    ]
    seen = set()
    for v in variants:
        calls = dataclasses.replace(base, genes={**base.genes, "CYP2C19": v})
        fast, plain = both(calls, example_recommendations(), example_patient(), example_context())
        assert fast == plain
        seen.add(plain)
    assert len(seen) == len(variants)
    assert len(oru_fast._current().genes) == len(base.genes) - 1 + len(variants)


def test_every_input_of_a_recommendation_group_is_in_its_key():
    rec = example_recommendations()[0]
    variants = [
        rec,
        dataclasses.replace(rec, summary="Other words {0} {sub} {issued} }{ with | ^ & ~ \\ and a\nbreak."),
        dataclasses.replace(rec, action="reduce_dose"),
        dataclasses.replace(rec, strength="N/A"),
        dataclasses.replace(rec, rules_version="9"),
        dataclasses.replace(rec, guideline_url=""),
        dataclasses.replace(rec, recommendation_id="PA123"),
        dataclasses.replace(rec, source="DPWG"),
        dataclasses.replace(rec, rxnorm=None),
        dataclasses.replace(rec, atc=None),
        dataclasses.replace(rec, rxnorm=None, atc=None, drug="drug|x"),
        dataclasses.replace(rec, alternatives=["prasugrel"]),
        dataclasses.replace(rec, alternatives=[], alternatives_note="The guideline names none"),
        dataclasses.replace(rec, alternative_options=[{"drug": "ticagrelor", "condition": "if no bleeding risk",
                                                       "note": "", "offered": True, "reason": ""}]),
        dataclasses.replace(rec, genes=["SLCO1B1"]),
        dataclasses.replace(rec, summary="word " * 120 + "https://example.org/" + "x" * 300),
    ]
    seen = set()
    for v in variants:
        recs = [v] + example_recommendations()[1:]
        fast, plain = both(example_calls(), recs, example_patient(), example_context())
        assert fast == plain
        assert parse_oru(fast, strict=True).validate() is True
        seen.add(plain)
    assert len(seen) == len(variants)


def test_per_patient_fields_are_stamped_on_shared_templates():
    """Same results for several patients at several times: PID, MSH-7, OBR dates, OBX-14 and MSH-10 are theirs."""
    msgs = []
    for i, (system, value) in enumerate([("urn:oid:1.2.3", "MRN-1"), ("https://x.example/id", "MRN-2|b"),
                                         ("urn:oid:1.2.3", "MRN-1")]):
        ctx = example_context()
        ctx.issued = datetime(2026, 1, 1 + i, 8, 30, tzinfo=timezone.utc)
        fast, plain = both(example_calls(), example_recommendations(), PatientRef(f"P{i}", system, value), ctx)
        assert fast == plain
        segs = fast.strip("\r").split("\r")
        stamp = f"202601{1 + i:02d}083000+0000"
        assert segs[0].split("|")[6] == stamp and segs[2].split("|")[7] == stamp
        assert all(s.split("|")[14] == stamp for s in segs if s.startswith("OBX|"))
        assert [int(s.split("|")[1]) for s in segs if s.startswith("OBX|")] == list(range(1, 23))
        msgs.append(fast)
    assert len({control_id(m) for m in msgs}) == 3


def test_new_code_tables_give_new_templates():
    build_oru(example_calls(), example_recommendations(), example_patient(), example_context())
    before = oru_fast._current()
    assert before is oru_fast._current()
    code_table.cache_clear()  # tables read afresh: templates made with the old ones are not used
    assert oru_fast._current() is not before
    fast, plain = both(example_calls(), example_recommendations(), example_patient(), example_context())
    assert fast == plain


def test_report_context_and_naive_times():
    ctx = ReportContext("0.1.0", "r1", "0" * 64, datetime(2026, 11, 25, 12, 0))  # naive: sent as UTC
    fast, plain = both(example_calls(), example_recommendations(), example_patient(), ctx)
    assert fast == plain and "|20261125120000+0000|" in fast
