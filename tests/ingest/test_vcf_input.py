"""VCF reading: indexed and plain files, contig naming, and clear one-line errors for bad input."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

from ehrgen.errors import InputError
from ehrgen.ingest.vcf import read_genotypes
from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from tests.pgx.vcf_factory import GRCH38, gene_records, write_vcf


def _vcf(tmp_path: Path, name="in.vcf", **kw) -> Path:
    recs = gene_records("CYP2C19", [("*1", "*2")]) + gene_records("CYP2C9", [("*1", "*3")])
    return write_vcf(tmp_path / name, ["S0"], recs, **kw)


def _bgzip_index(path: Path) -> Path:
    gz = Path(str(path) + ".gz")
    pysam.tabix_compress(str(path), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    return gz


def test_bgzipped_indexed_file_reads_regions(tmp_path):
    gz = _bgzip_index(_vcf(tmp_path))
    assert Path(str(gz) + ".tbi").exists()
    calls = call_vcf(gz)[0]
    assert calls.genes["CYP2C19"].diplotype_text == "*1/*2"
    assert calls.genes["CYP2C9"].diplotype_text == "*1/*3"
    assert calls.genes["TPMT"].status == "no_data"


def test_bgzipped_without_index_streams(tmp_path):
    gz = _bgzip_index(_vcf(tmp_path))
    Path(str(gz) + ".tbi").unlink()
    assert call_vcf(gz)[0].genes["CYP2C19"].diplotype_text == "*1/*2"


def test_bcf_input(tmp_path):
    src = _vcf(tmp_path)
    bcf = tmp_path / "in.bcf"
    with pysam.VariantFile(str(src)) as vin, pysam.VariantFile(str(bcf), "wb", header=vin.header) as vout:
        for rec in vin:
            vout.write(rec)
    assert call_vcf(bcf)[0].genes["CYP2C19"].diplotype_text == "*1/*2"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ehrgen.cli.main", *args], capture_output=True, text=True)


@pytest.mark.parametrize("case,expect", [
    ("truncated_gzip", "truncated"),
    ("missing_header", "missing VCF header"),
    ("grch37", "GRCh37"),
    ("no_samples", "no samples"),
    ("malformed_gt", "malformed"),
    ("not_found", "not found"),
])
def test_bad_input_is_one_clear_line(tmp_path, case, expect):
    path = tmp_path / f"{case}.vcf"
    good = _vcf(tmp_path, "good.vcf")
    text = good.read_text()
    if case == "truncated_gzip":
        gz = _bgzip_index(good)
        data = gz.read_bytes()
        path = tmp_path / "trunc.vcf.gz"
        path.write_bytes(data[: len(data) // 2])
    elif case == "missing_header":
        path.write_text("\n".join(l for l in text.splitlines() if not l.startswith("##")) + "\n")
    elif case == "grch37":
        path = _vcf(tmp_path, "b37.vcf", lengths={"chr10": 135534747, "chr19": 59128983})
    elif case == "no_samples":
        lines = [l if l.startswith("##") else "\t".join(l.split("\t")[:8]) for l in text.splitlines()]
        path.write_text("\n".join(lines) + "\n")
    elif case == "malformed_gt":
        lines = text.splitlines()
        lines[-1] = "\t".join(lines[-1].split("\t")[:8] + ["GT"])  # a data line with no genotype column
        lines.insert(len(lines), "chr10\tnotanumber\t.\tA\tG\t.\tPASS\t.\tGT\t0/1")
        path.write_text("\n".join(lines) + "\n")
    elif case == "not_found":
        path = tmp_path / "nope.vcf"
    res = _cli("call", str(path), "--out", str(tmp_path / "out"))
    assert res.returncode != 0
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr
    assert len(err.splitlines()) == 1, err
    assert expect.lower() in err.lower(), err
    assert str(path.name) in err


def test_sample_not_found(tmp_path):
    res = _cli("call", str(_vcf(tmp_path)), "--sample", "NOPE", "--out", str(tmp_path / "o"))
    assert res.returncode != 0 and "sample(s) not found: NOPE" in res.stderr and "Traceback" not in res.stderr


def test_grch37_by_reference_positions(tmp_path):
    # no header hint, but REF bases disagree with the definitions at most positions
    gd = load_definitions().genes["CYP2C9"]
    recs = []
    for p in gd.positions[:10]:
        wrong = next(b for b in "ACGT" if b != p.ref[0])
        recs.append(f"chr10\t{p.pos}\t.\t{wrong}\t{p.ref[0]}\t.\tPASS\t.\tGT\t0/1")
    path = tmp_path / "x.vcf"
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=chr10>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"\">\n"
                    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS0\n" + "\n".join(recs) + "\n")
    with pytest.raises(InputError, match="not GRCh38"):
        read_genotypes(path, load_definitions())


def test_cli_contract_files_and_columns(tmp_path):
    out = tmp_path / "out"
    res = _cli("call", str(_vcf(tmp_path)), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "S0.calls.json").exists()
    lines = (out / "calls.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["sample", "gene", "diplotypes", "phenotype", "activity_score", "status"]
    statuses = {l.split("\t")[5] for l in lines[1:]}
    assert statuses <= {"called", "ambiguous", "not_called", "no_data", "outside_call"}
