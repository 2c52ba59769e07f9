"""Drug table: generated coverage, resolution by RxNorm / ATC / name, unknown codes reported."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ehrgen.errors import InputError
from ehrgen.rules.drugs import UnknownDrug, load_table, resolve, resolve_medications
from tests.reference_data import REFERENCE


def test_table_covers_level_a_b_pairs_and_every_guideline_drug(table, ruleset):
    with (REFERENCE / "cpic" / "cpic_level_A_B_pairs.tsv").open(encoding="utf-8") as fh:
        ab = {r["drug"].lower() for r in csv.DictReader(fh, delimiter="\t")}
    assert ab <= set(table.drugs)
    assert set(ruleset.drugs()) <= set(table.drugs)
    # DPWG-only drugs have codes from the reference or the curated file
    for name in ("flecainide", "acenocoumarol", "phenprocoumon", "siponimod", "eliglustat", "zuclopenthixol"):
        d = table.drugs[name]
        assert d.rxnorm and d.atc, name
        assert "DPWG" in d.sources


def test_header_records_sources():
    head = [ln for ln in (Path(load_table().path)).read_text(encoding="utf-8").splitlines() if ln.startswith("#")]
    text = "\n".join(head)
    assert "cpic_pairs_from_pypgx0.27.0.csv" in text and "guidelines-2.12.0" in text and "content_sha256" in text


@pytest.mark.parametrize("value,system,expected", [
    ("32968", None, "clopidogrel"),
    ("32968", "http://www.nlm.nih.gov/research/umls/rxnorm", "clopidogrel"),
    ("B01AC04", None, "clopidogrel"),
    ("b01ac04", "ATC", "clopidogrel"),
    ("Clopidogrel", None, "clopidogrel"),
    ("  CODEINE ", "name", "codeine"),
    ("5-FU", None, "fluorouracil"),
    ("6-mercaptopurine", None, "mercaptopurine"),
    ("C01BC04", None, "flecainide"),
    ("L04AA42", "atc", "siponimod"),
    ("2670", None, "codeine"),
])
def test_resolve(table, value, system, expected):
    d = resolve(value, system, table=table)
    assert d is not None and d.name == expected


def test_combination_atc_maps_to_each_ingredient_we_know(table):
    # J05AR02 = lamivudine + abacavir; only abacavir has a PGx rule
    assert [d.name for d in table.resolve_all("J05AR02")] == ["abacavir"]


def test_unknown_codes_are_reported_not_dropped(table):
    drugs, unknown = resolve_medications(
        ["B01AC04", ("http://www.nlm.nih.gov/research/umls/rxnorm", "999999999"), ("atc", "N02BE01"),
         "paracetamol", ("http://loinc.org", "1234-5")], table)
    assert [d.name for d in drugs] == ["clopidogrel"]
    assert len(unknown) == 4 and all(isinstance(u, UnknownDrug) for u in unknown)
    reasons = [u.reason for u in unknown]
    assert "RxNorm" in reasons[0] and "ATC" in reasons[1] and "name" in reasons[2]
    assert "coding system" in reasons[3]
    assert resolve("N02BE01", table=table) is None


def test_bad_table_row_names_file_and_line(tmp_path):
    f = tmp_path / "drugs.tsv"
    f.write_text("# x\nname\trxnorm\tatc\nwarfarin\t11289\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_table(f)
    assert f"{f}:3" in str(exc.value)


# the generator's reproduction test: tests/tools/test_generators.py


def test_default_table_follows_the_settings_on_both_paths(tmp_path, monkeypatch):
    """The fast path remembers where mappings/ was found per setting; a changed setting still finds the new table."""
    import shutil

    from ehrgen import fastpath
    from ehrgen.paths import mappings_dir
    from ehrgen.rules.drugs import default_table

    home = default_table()
    other = tmp_path / "mappings"
    other.mkdir()
    shutil.copy(mappings_dir() / "drugs.tsv", other / "drugs.tsv")
    monkeypatch.setenv("EHRGEN_MAPPINGS", str(other))
    with fastpath.straightforward():
        plain = default_table()
    fast = default_table()
    assert fast is plain and fast is not home and fast.path == other / "drugs.tsv"
    monkeypatch.delenv("EHRGEN_MAPPINGS")
    assert default_table() is home
