"""The code tables against the IG package they claim to come from."""

from __future__ import annotations

import json
import tarfile
from functools import lru_cache
from pathlib import Path

import pytest

from ehrgen.fhir.codes import CodeTable, code_table, gene_concept, hgnc_table
from ehrgen.errors import InputError
from ehrgen.fhir import sandbox
from ehrgen.paths import mappings_dir

IG_TGZ = sandbox.ig_package()  # the project's pinned copy (ehr-sandbox/ig/, committed)

REPORTED_GENES = {
    "ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP3A4", "CYP3A5", "CYP4F2", "DPYD", "G6PD",
    "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1", "CYP2D6", "HLA-A", "HLA-B", "MT-RNR1",
}


@lru_cache(maxsize=1)
def ig_files() -> dict[str, str]:
    out = {}
    with tarfile.open(IG_TGZ) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.endswith(".json"):
                out[Path(m.name).name] = tf.extractfile(m).read().decode("utf-8")
    return out


def _codings(obj, acc):
    if isinstance(obj, dict):
        if "code" in obj and isinstance(obj["code"], str):
            acc.add((obj["code"], obj.get("display")))
        for v in obj.values():
            _codings(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _codings(v, acc)
    return acc


def test_every_ig_verified_code_is_in_the_named_ig_file():
    ct = code_table()
    checked = 0
    for row in ct.rows():
        if not row.verified.startswith("IG:"):
            continue
        fname = row.verified[3:]
        text = ig_files().get(fname)
        assert text is not None, f"{row.group}/{row.key}: IG file {fname} not in package"
        if row.group in ("system", "profile"):
            assert row.code in text, f"{row.group}/{row.key}: {row.code} not in {fname}"
        else:
            codes = _codings(json.loads(text), set())
            assert any(c == row.code for c, _ in codes), f"{row.group}/{row.key}: code {row.code} not in {fname}"
            # displays of answer codes must be the IG's own (case-insensitive: the IG itself varies case)
            if row.code.startswith("LA"):
                displays = {(d or "").lower() for c, d in codes if c == row.code}
                assert row.display.lower() in displays, f"{row.group}/{row.key}: display {row.display!r} not {displays}"
        checked += 1
    assert checked >= 40


def test_metabolizer_codes_correct_the_guesses_in_the_brief():
    # the IG's value set says LA10317-8 is Intermediate and LA10315-2 Ultrarapid; LA25391-6 is Normal
    vs = json.loads(ig_files()["ValueSet-genetic-therapeutic-implications-vs.json"])
    loinc = {c["code"]: c["display"] for inc in vs["compose"]["include"] if inc["system"] == "http://loinc.org"
             for c in inc["concept"]}
    ct = code_table()
    for term in ("poor metabolizer", "intermediate metabolizer", "normal metabolizer", "rapid metabolizer",
                 "ultrarapid metabolizer"):
        row = ct.phenotype_row(term)
        assert loinc[row.code].lower() == term
    assert "LA10316-0" not in loinc  # brief's guess for "Intermediate": not in the IG


def test_uncertain_phenotypes_are_text_only():
    ct = code_table()
    for term in ("Likely Intermediate Metabolizer", "Possible Decreased Function", "Indeterminate"):
        row = ct.phenotype_row(term)
        assert row is not None and row.code == ""
    assert ct.phenotype_row("HLA-B*57:01 positive").code == "LA19541-4"
    assert ct.phenotype_row("unheard of") is None


def test_actions_without_verified_code_have_no_coding():
    ct = code_table()
    assert ct.coding("action", "reduce_dose")["code"] == "LA26422-8"
    for action in ("standard_dosing", "monitor", "indeterminate"):
        assert ct.coding("action", action) is None


def test_hgnc_table_covers_reported_genes():
    table = hgnc_table()
    assert REPORTED_GENES <= set(table)
    assert len(set(table.values())) == len(table)  # no id used twice
    assert gene_concept("CYP2C19")["coding"][0] == {"system": "http://www.genenames.org", "code": "HGNC:2621",
                                                     "display": "CYP2C19"}
    assert gene_concept("NOTAGENE") == {"text": "NOTAGENE"}


def test_hgnc_ids_marked_ig_match_the_ig_examples():
    pairs = set()
    for text in ig_files().values():
        for code, display in _codings(json.loads(text), set()):
            if code.startswith("HGNC:"):
                pairs.add((display, code))
    lines = (mappings_dir() / "hgnc.tsv").read_text().splitlines()
    marked = [l.split("\t") for l in lines if l and not l.startswith("#") and l.endswith("\tIG")]
    assert len(marked) == 6
    for sym, hid, _ in marked:
        assert (sym, hid) in pairs


def test_bad_table_is_a_clear_error(tmp_path):
    p = tmp_path / "codes.tsv"
    p.write_text("group\tkey\tsystem\tcode\tdisplay\tverified\tnote\nelement\tx\tnosuch\t1\tX\t-\t\n")
    with pytest.raises(InputError, match="unknown system key"):
        CodeTable(p)
    p.write_text("grp\tkey\n")
    with pytest.raises(InputError, match="header"):
        CodeTable(p)
