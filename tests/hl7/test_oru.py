"""ORU^R01 v2.5.1: strict hl7apy parse + validation, gene groups by OBX-4, escaping, uncertain calls."""

from __future__ import annotations

import re

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from ehrgen.fhir.bundle import PatientRef
from ehrgen.fhir.samples import (example_calls, example_context, example_patient,
                                 example_recommendations)
from ehrgen.hl7.oru import build_oru, escape, parse_oru, wrap_text


@pytest.fixture(scope="module")
def er7():
    return build_oru(example_calls(), example_recommendations(), example_patient(), example_context())


def segments(text):
    return [s for s in text.split("\r") if s]


def obx_rows(text):
    return [s.split("|") for s in segments(text) if s.startswith("OBX|")]


def test_strict_parse_and_validate(er7):
    assert "\n" not in er7 and er7.endswith("\r")
    msg = parse_message(er7.strip("\r"), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert msg.validate() is True
    assert msg.msh.msh_9.to_er7() == "ORU^R01^ORU_R01" and msg.msh.msh_12.to_er7() == "2.5.1"
    order = msg.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION
    assert order.obr.obr_4.to_er7() == "51969-4^Genetic analysis report^LN"
    assert len(order.ORU_R01_OBSERVATION) == len(obx_rows(er7))
    # parse_oru normalises newline-separated copies (as files often arrive)
    assert parse_oru(er7.replace("\r", "\n")).validate() is True


def test_gene_groups_linked_by_sub_id(er7):
    rows = obx_rows(er7)
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(r[4], []).append(r[3].split("^")[0])
    assert groups["1"] == ["48018-6", "84413-4", "53040-2"]  # CYP2C19 gene, diplotype, phenotype
    cyp2c19 = [r for r in rows if r[4] == "1"]
    assert cyp2c19[0][5] == "HGNC:2621^CYP2C19^HGNC" and cyp2c19[1][5] == "*2/*2"
    assert cyp2c19[2][5] == "LA9657-3^Poor metabolizer^LN"
    # clopidogrel under CYP2C19's group, codeine under CYP2D6's (group 5)
    assert groups["1.1"] == ["51963-7", "PGXREC", "PGXGUIDE"]
    assert groups["5.1"] == ["51963-7", "PGXREC", "PGXGUIDE"]
    med = [r for r in rows if r[4] == "1.1"][0]
    assert med[2] == "CWE" and med[5] == "32968^clopidogrel^RXNORM^B01AC04^clopidogrel^WC"
    assert all(len(r) == 15 and r[11] in ("F", "X") for r in rows)
    assert [int(r[1]) for r in rows] == list(range(1, len(rows) + 1))


def test_uncertainty_is_visible(er7):
    segs = segments(er7)
    rows = obx_rows(er7)
    amb = [r for r in rows if r[4] == "2" and r[3].startswith("84413-4")][0]
    assert amb[5] == "*1/*2 OR *2/*35"
    i = segs.index("|".join(amb))
    assert segs[i + 1].startswith("NTE|1||Ambiguous: 2 candidate diplotypes")
    for sub in ("3", "4"):  # DPYD not called, NUDT15 no data: sent, with status X and no value
        geno = [r for r in rows if r[4] == sub and r[3].startswith("84413-4")][0]
        assert geno[11] == "X" and geno[5] == "" and geno[2] == ""
    assert any(s.startswith("NTE|") and "Outside call" in s for s in segs)


def test_delimiters_in_text_are_escaped(er7):
    rec = [r for r in obx_rows(er7) if r[4] == "5.1" and r[3].startswith("PGXREC")][0]
    assert "\\F\\ and \\S\\" in rec[5]
    assert escape("a|b^c&d~e\\f") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"
    assert escape("line1\nline2") == "line1\\.br\\line2"


def test_long_text_wraps_into_repetitions_within_hl7apy_limits():
    text = ("word " * 120) + "https://example.org/" + "x" * 300
    wrapped = wrap_text(text)
    reps = wrapped.split("~")
    assert len(reps) > 3 and all(len(r) <= 199 for r in reps)
    assert "".join(r.replace(" ", "") for r in reps) == text.replace(" ", "")


def test_identifier_and_no_names():
    er7 = build_oru(example_calls(), example_recommendations(),
                    PatientRef("P9", "https://ehr.example/mrn", "A|1"), example_context())
    pid = [s for s in segments(er7) if s.startswith("PID|")][0].split("|")
    assert pid[3] == "A\\F\\1^^^&https://ehr.example/mrn&URI^MR"
    assert pid[5] == "^^^^^^S"  # required field, deliberately no name
    assert parse_oru(er7).validate() is True


def test_deterministic_control_id():
    a = build_oru(example_calls(), example_recommendations(), example_patient(), example_context())
    b = build_oru(example_calls(), example_recommendations(), example_patient(), example_context())
    c = build_oru(example_calls(), example_recommendations(rules_version="2"), example_patient(),
                  example_context(rules_version="2"))
    ctl = lambda m: m.split("\r")[0].split("|")[9]  # noqa: E731
    assert a == b and ctl(a) != ctl(c) and len(ctl(a)) == 20


def test_control_id_changes_with_any_content_so_receivers_can_deduplicate_on_msh10():
    """A receiver that drops a message whose MSH-10 it has seen must never drop new content: same rules, same
    input, but a corrected patient identifier (or other advice) is a new message with a new control id."""
    ctl = lambda m: m.split("\r")[0].split("|")[9]  # noqa: E731
    a = build_oru(example_calls(), example_recommendations(), example_patient(), example_context())
    corrected = PatientRef("P001", example_patient().identifier_system, "MRN-0002")
    mrn = build_oru(example_calls(), example_recommendations(), corrected, example_context())
    fewer = build_oru(example_calls(), example_recommendations()[:1], example_patient(), example_context())
    assert len({ctl(a), ctl(mrn), ctl(fewer)}) == 3
    assert all(re.fullmatch(r"[0-9a-f]{20}", ctl(m)) for m in (a, mrn, fewer))
    assert parse_oru(mrn).validate() is True


def test_no_recommendations_still_valid():
    er7 = build_oru(example_calls(), [], example_patient(), example_context())
    assert parse_oru(er7).validate() is True
    assert not any(r[4].count(".") for r in obx_rows(er7))
