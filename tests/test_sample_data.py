"""The committed synthetic sample data (sample_data/) is what its generator makes, opens with the libraries the
pipeline uses, and carries exactly the engineered genotypes at every allele-defining position."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import sys
import tomllib
from pathlib import Path

import pytest

cyvcf2 = pytest.importorskip("cyvcf2")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sample_data"
GEN_PATH = ROOT / "tools" / "gen_sample_data.py"
VENDORED_REFERENCE = ROOT / "tests" / "data" / "reference"


def _load_generator():
    """The generator, reading the tests' vendored reference copy (tests/data/reference), not ../shared."""
    spec = importlib.util.spec_from_file_location("gen_sample_data", GEN_PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_sample_data"] = mod
    saved = os.environ.get("EHRGEN_REFERENCE")
    os.environ["EHRGEN_REFERENCE"] = str(VENDORED_REFERENCE)
    try:
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            os.environ.pop("EHRGEN_REFERENCE", None)
        else:
            os.environ["EHRGEN_REFERENCE"] = saved
    return mod


gen = _load_generator()
REFERENCE = gen.DEFAULT_REFERENCE
needs_reference = pytest.mark.skipif(
    not (REFERENCE / gen.DEFINITIONS_REL).is_dir(), reason="shared/reference not present next to the repo")


def _csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _header(path: Path, delimiter: str = ",") -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh, delimiter=delimiter))


MANIFEST = _csv(DATA / "manifest.csv")
SCENARIOS = tomllib.loads((DATA / "scenarios.toml").read_text())
PATIENTS = {p["id"]: p for p in SCENARIOS["patient"]}


# ---------------------------------------------------------------------------------------------------- generator


@needs_reference
def test_generator_is_deterministic_and_matches_committed_files(tmp_path):
    files = gen.generate(tmp_path)
    listed = json.loads((DATA / "GENERATED.json").read_text())["files"]
    have_bgzip = any(f.endswith(".vcf.gz") for f in files)
    expected = [f for f in listed if have_bgzip or not f.endswith((".gz", ".tbi"))]
    assert sorted(expected) == [f for f in files if f != "GENERATED.json"]
    for rel in files:
        if rel == "GENERATED.json" and not have_bgzip:
            continue  # lists the bgzipped files this machine could not make
        fresh, committed = (tmp_path / rel).read_bytes(), (DATA / rel).read_bytes()
        if rel.endswith((".gz", ".tbi")):
            # BGZF bytes depend on the compressor build (pysam's or Debian's htslib); the content may not
            fresh, committed = gzip.decompress(fresh), gzip.decompress(committed)
        assert fresh == committed, f"{rel} differs from a fresh run"
    # a second run into the same folder gives the same bytes again (no stale or time-dependent content)
    again = gen.generate(tmp_path)
    assert again == files
    committed = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    stray = committed - set(listed) - {"GENERATED.json", "scenarios.toml"} - {
        f"expected/{n}" for n in ("recommendations.tsv", "alerts.tsv", "calls.caller.tsv", "refresh_report.md")}
    assert not stray, f"files in sample_data/ the generator does not make: {sorted(stray)}"


@needs_reference
def test_generator_refuses_a_scenario_whose_expectation_is_wrong(tmp_path):
    text = (DATA / "scenarios.toml").read_text()
    broken = text.replace('expected = { CYP2B6 = "*5/*13 OR *7/*8" }\n', "")
    assert broken != text
    bad = tmp_path / "scenarios.toml"
    bad.write_text(broken)
    with pytest.raises(gen.ScenarioError, match=r"CYP2B6.*\*5/\*13 OR \*7/\*8"):
        gen.generate(tmp_path / "out", scenarios=bad)
    assert not (tmp_path / "out").exists(), "nothing may be written when a scenario is inconsistent"


@needs_reference
def test_matcher_scoring_and_ties():
    tpmt = gen.load_gene(REFERENCE, "TPMT")
    a, b = tpmt.concrete_bases("*3B"), tpmt.concrete_bases("*3C")
    geno = [gen.genotype_at(tpmt, [a, b], i, phased=False) for i in range(len(a))]
    # *3B/*3C and *1/*3A share one unphased genotype; the reference allele's score decides
    assert gen.match(tpmt, geno) == ["*1/*3A"]
    assert gen.match(tpmt, [tuple(x) for x in zip(a, b)], phased=True) == ["*3B/*3C"]
    cyp2b6 = gen.load_gene(REFERENCE, "CYP2B6")
    a, b = cyp2b6.concrete_bases("*5"), cyp2b6.concrete_bases("*13")
    geno = [gen.genotype_at(cyp2b6, [a, b], i, phased=False) for i in range(len(a))]
    assert gen.match(cyp2b6, geno) == ["*5/*13", "*7/*8"]


# ---------------------------------------------------------------------------------------------------- manifest, VCF


def test_manifest_references_existing_files_and_known_patients():
    assert _header(DATA / "manifest.csv") == list(gen.MANIFEST_COLUMNS)
    assert len(MANIFEST) >= 20
    samples = {r["sample_id"]: r["patient_id"] for r in _csv(DATA / "clinical" / "samples.csv")}
    for row in MANIFEST:
        assert (DATA / row["vcf"]).is_file(), row
        if row["outside_calls"]:
            assert (DATA / row["outside_calls"]).is_file(), row
        assert samples[row["sample_id"]] == row["patient_id"]
        assert row["expect"] in ("ok", "input_error")
    assert len({r["sample_id"] for r in MANIFEST}) == len(MANIFEST)
    multi = [r for r in MANIFEST if r["vcf"] == "vcf/multisample.vcf"]
    assert len(multi) >= 5
    assert any(r["vcf"].endswith(".vcf.gz") for r in MANIFEST)


def test_every_valid_vcf_opens_with_the_samples_the_manifest_names():
    by_file: dict[str, set[str]] = {}
    for row in MANIFEST:
        if row["expect"] == "ok":
            by_file.setdefault(row["vcf"], set()).add(row["sample_id"])
    for rel, samples in by_file.items():
        vcf = cyvcf2.VCF(str(DATA / rel))
        assert set(vcf.samples) == samples, rel
        n = sum(1 for _ in vcf)
        assert n == 1202 - 156, f"{rel}: every position of the 19 genes (+ rs12777823), got {n}"
        vcf.close()


def test_bgzipped_vcf_is_indexed_for_region_queries():
    row = next(r for r in MANIFEST if r["vcf"].endswith(".vcf.gz"))
    path = DATA / row["vcf"]
    assert path.with_name(path.name + ".tbi").is_file()
    vcf = cyvcf2.VCF(str(path))
    hits = [v.POS for v in vcf("chr13:48030000-48050000")]  # NUDT15
    assert hits and all(48030000 <= p <= 48050000 for p in hits)


def test_malformed_vcf_fails_to_open():
    row = next(r for r in MANIFEST if r["expect"] == "input_error")
    with pytest.raises(Exception):
        vcf = cyvcf2.VCF(str(DATA / row["vcf"]))
        list(vcf)


def test_vcf_records_are_written_as_pharmcat_positions():
    """REF/ALT/ID per position are those of pharmcat_positions.vcf (the normalisation callers expect)."""
    positions = REFERENCE / "pharmcat-3.1.1" / "pharmcat_positions.vcf"
    if not positions.is_file():
        pytest.skip("pharmcat_positions.vcf not available")
    want = {}
    for line in positions.read_text().splitlines():
        if not line.startswith("#"):
            f = line.split("\t")
            want[(f[0], int(f[1]))] = (f[2], f[3], f[4])
    seen = 0
    for v in cyvcf2.VCF(str(DATA / "vcf" / "S001.vcf")):
        rid = v.ID or "."
        assert want[(v.CHROM, v.POS)] == (rid, v.REF, ",".join(v.ALT)), (v.CHROM, v.POS)
        seen += 1
    assert seen == len(want) - 156  # everything except CYP2D6 (called from outside calls)


# ---------------------------------------------------------------------------------------------------- genotypes


def _observed(path: Path, sample: str) -> dict[tuple[str, int], tuple[list[str], bool]]:
    vcf = cyvcf2.VCF(str(path), samples=[sample])
    out = {}
    for v in vcf:
        alleles = [v.REF, *v.ALT]
        gt = v.genotypes[0]
        out[(v.CHROM, v.POS)] = ([alleles[i] for i in gt[:-1]], bool(gt[-1]))
    return out


@needs_reference
@pytest.mark.parametrize("row", [r for r in MANIFEST if r["expect"] == "ok"], ids=lambda r: r["sample_id"])
def test_engineered_genotypes_match_definition_alleles_at_every_position(row):
    patient = PATIENTS[row["patient_id"]]
    obs = _observed(DATA / row["vcf"], row["sample_id"])
    phased = bool(patient.get("phased"))
    for gene in gen.GENES:
        g = gen.load_gene(REFERENCE, gene)
        ref_cells = g.ref_cells()
        names = patient.get("diplotypes", {}).get(gene)
        haploid = gene == "G6PD" and patient["sex"] == "male"
        if names is None:
            names = [g.reference.name] * (1 if haploid else 2)
        alleles = [g.allele(n) for n in names]
        assert len(alleles) == (1 if haploid else 2), (gene, names)
        for i, var in enumerate(g.variants):
            got, got_phased = obs[(var.chrom, var.pos)]
            assert len(got) == len(alleles), (gene, var.pos, got)
            if len(got) == 1:
                ok = alleles[0].accepts(i, got[0], ref_cells)
            elif phased:
                ok = alleles[0].accepts(i, got[0], ref_cells) and alleles[1].accepts(i, got[1], ref_cells)
                assert got_phased, (gene, var.pos)
            else:
                ok = any(alleles[0].accepts(i, x, ref_cells) and alleles[1].accepts(i, y, ref_cells)
                         for x, y in (got, got[::-1]))
                assert not got_phased, (gene, var.pos)
            assert ok, f"{row['sample_id']} {gene} {names} at {var.chrom}:{var.pos}: VCF has {got}"


def test_expected_calls_cover_every_gene_of_every_valid_sample():
    assert _header(DATA / "expected" / "calls.tsv", "\t") == list(gen.EXPECTED_COLUMNS)
    rows = _csv(DATA / "expected" / "calls.tsv", delimiter="\t")
    by_sample: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        by_sample.setdefault(r["sample"], {})[r["gene"]] = r
        assert r["status"] in ("called", "ambiguous", "outside_call", "input_error")
        assert (" OR " in r["diplotypes"]) == (r["status"] == "ambiguous")
    for m in MANIFEST:
        genes = by_sample[m["sample_id"]]
        if m["expect"] == "input_error":
            assert genes["ALL"]["status"] == "input_error"
            continue
        assert set(gen.GENES) <= set(genes)
        for gene, names in PATIENTS[m["patient_id"]].get("diplotypes", {}).items():
            assert genes[gene]["source"] == "engineered"
            assert all(n in genes[gene]["diplotypes"] for n in names)
        if m["outside_calls"]:
            for line in (DATA / m["outside_calls"]).read_text(encoding="utf-8").splitlines():
                if line and not line.startswith("#"):
                    gene = line.split("\t")[0]
                    assert genes[gene]["status"] == "outside_call"
    assert by_sample["S014"]["CYP2B6"]["diplotypes"] == "*5/*13 OR *7/*8"
    assert by_sample["S018"]["G6PD"]["diplotypes"] == "A- 202A_376G"  # hemizygous male


# ---------------------------------------------------------------------------------------------------- clinical


def test_clinical_csvs_have_the_documented_columns_and_agree():
    clin = DATA / "clinical"
    assert _header(clin / "patients.csv") == list(gen.PATIENT_COLUMNS)
    assert _header(clin / "samples.csv") == list(gen.SAMPLE_COLUMNS)
    assert _header(clin / "consent.csv") == list(gen.CONSENT_COLUMNS)
    assert _header(clin / "medications.csv") == list(gen.MEDICATION_COLUMNS)
    patients = {r["patient_id"] for r in _csv(clin / "patients.csv")}
    assert patients == set(PATIENTS)
    consent = {r["patient_id"]: r["return_results"] for r in _csv(clin / "consent.csv")}
    assert set(consent.values()) == {"true", "false"} and consent["P016"] == "false"
    meds = _csv(clin / "medications.csv")
    assert {m["status"] for m in meds} == {"active", "proposed", "stopped"}
    assert all(m["patient_id"] in patients and m["rxnorm"].isdigit() for m in meds)
    assert len({m["order_id"] for m in meds}) == len(meds)


@needs_reference
def test_rxnorm_codes_are_the_cpic_ingredient_codes():
    codes = gen.load_drug_codes(REFERENCE)
    for m in _csv(DATA / "clinical" / "medications.csv"):
        assert codes[m["drug"]] == (m["rxnorm"], m["atc"])


def test_hl7_messages_parse_and_carry_the_clinical_facts():
    hl7apy = pytest.importorskip("hl7apy")
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    hl7 = DATA / "clinical" / "hl7"
    patients = {r["patient_id"]: r for r in _csv(DATA / "clinical" / "patients.csv")}
    meds = {r["order_id"]: r for r in _csv(DATA / "clinical" / "medications.csv")}
    assert len(list(hl7.glob("adt_*.hl7"))) == len(patients)
    assert len(list(hl7.glob("rde_*.hl7"))) == len(meds)
    for path in sorted(hl7.glob("*.hl7")):
        raw = path.read_bytes().decode("utf-8")
        assert "\n" not in raw and raw.endswith("\r"), f"{path.name}: segments must be separated by \\r only"
        msg = parse_message(raw, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
        assert msg.msh.msh_12.to_er7() == "2.5.1"
        if path.name.startswith("adt_"):
            pid = patients[path.stem.removeprefix("adt_")]
            assert msg.msh.msh_9.to_er7() == "ADT^A04^ADT_A01"
            assert msg.pid.pid_3.to_er7().split("^")[0] == pid["identifier_value"]
            assert msg.pid.pid_5.to_er7().split("^")[:2] == [pid["family"], pid["given"]]
        else:
            med = meds[path.stem.removeprefix("rde_")]
            assert msg.msh.msh_9.to_er7() == "RDE^O11^RDE_O11"
            order = msg.rde_o11_order
            assert order.rxe.rxe_2.to_er7() == f"{med['rxnorm']}^{med['drug']}^RXNORM"
            assert order.orc.orc_2.to_er7().split("^")[0] == med["order_id"]
            assert order.orc.orc_1.to_er7() == ("DC" if med["status"] == "stopped" else "NW")
            pid = patients[med["patient_id"]]
            assert msg.rde_o11_patient.pid.pid_3.to_er7().split("^")[0] == pid["identifier_value"]


def test_fhir_bundle_parses_as_r4_and_matches_the_csvs():
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate_json((DATA / "clinical" / "fhir" / "bundle.json").read_text())
    assert bundle.type == "transaction"
    kinds: dict[str, list] = {}
    for e in bundle.entry:
        kinds.setdefault(e.resource.get_resource_type(), []).append(e.resource)
        assert e.request.url == f"{e.resource.get_resource_type()}/{e.resource.id}"
    assert {p.id for p in kinds["Patient"]} == set(PATIENTS)
    meds = _csv(DATA / "clinical" / "medications.csv")
    assert {m.id for m in kinds["MedicationRequest"]} == {m["order_id"] for m in meds}
    for mr in kinds["MedicationRequest"]:
        med = next(m for m in meds if m["order_id"] == mr.id)
        rx = [c for c in mr.medicationCodeableConcept.coding if c.system == gen.RXNORM_SYSTEM]
        assert rx[0].code == med["rxnorm"]
        assert mr.subject.reference == f"Patient/{med['patient_id']}"
    samples = {r["sample_id"]: r["patient_id"] for r in _csv(DATA / "clinical" / "samples.csv")}
    assert {s.identifier[0].value: s.subject.reference for s in kinds["Specimen"]} == {
        k: f"Patient/{v}" for k, v in samples.items()}
    consent = {r["patient_id"]: r["return_results"] for r in _csv(DATA / "clinical" / "consent.csv")}
    for c in kinds["Consent"]:
        pid = c.patient.reference.removeprefix("Patient/")
        assert c.provision.type == ("permit" if consent[pid] == "true" else "deny")


@needs_reference
def test_refresh_reports_disagreements_without_touching_engineered_calls(tmp_path):
    exe = gen._ehrgen()
    if exe is None or not gen._has_command(exe, "call"):
        pytest.skip("no `ehrgen call` command yet")
    gen.generate(tmp_path)
    # keep the run short: one good sample and the malformed file
    manifest = [r for r in MANIFEST if r["sample_id"] in ("S001", "S017")]
    (tmp_path / "manifest.csv").write_text(gen.csv_text(gen.MANIFEST_COLUMNS, manifest))
    calls = tmp_path / "expected" / "calls.tsv"
    tampered = calls.read_text().replace("S001\tCYP2C19\t*2/*2\t", "S001\tCYP2C19\t*1/*2\t")
    calls.write_text(tampered)
    n = gen.refresh_expected(tmp_path)
    report = (tmp_path / "expected" / "refresh_report.md").read_text()
    assert n == 1, report
    assert "S001 CYP2C19: expected `*1/*2`" in report and "caller `*2/*2`" in report
    assert calls.read_text() == tampered, "refresh must never rewrite the engineered expectations"
