"""VCF families: genotypes that cannot be what they say, indexes that do not belong to the file, wrong build."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Callable

import pysam

from ehrgen.errors import InputError
from ehrgen.pgx.caller import call_vcf
from ehrgen.pgx.definitions import load_definitions
from tests.hostile.corpus import Case, Result
from tests.pgx.vcf_factory import gene_records, header, write_vcf

CYP2C19_STAR2 = 94781859  # rs4244285, the *2 defining SNP (one ALT)
TPMT_MULTI = 18130687  # rs1142345, two ALTs (T>C,G)
UGT1A1_TA = 233760233  # rs3064744, three ALTs


def _call(path: Path) -> Result:
    try:
        calls = call_vcf(path)
    except InputError as exc:
        return Result("error", [str(exc)])
    warnings = [w for c in calls for w in c.warnings]
    return Result("warning" if warnings else "ok", warnings, calls)


def _diplotype(gene: str, expected: str, sample: int = 0) -> Callable[[Result], None]:
    def check(got: Result) -> None:
        gc = got.value[sample].genes[gene]
        assert gc.diplotype_text == expected, f"{gene}: {gc.diplotype_text!r} ({gc.status}), expected {expected}"
    return check


def _records(samples: dict[str, list[tuple[str, str | None]]], override: dict[str, dict[int, list[str]]]):
    recs = []
    for gene, gts in samples.items():
        recs += gene_records(gene, gts, override=override.get(gene))
    return recs


def _gt_case(cid: str, gene: str, pos: int, gt: str, must: str, dip=("*1", "*1"), chrom="chr10",
             n_samples: int = 1, bad_sample: int = 0) -> Case:
    """One record's genotype replaced by `gt` (in sample `bad_sample`)."""
    def run(tmp: Path) -> Result:
        gts = [dip] * n_samples
        normal = gene_records(gene, gts)
        line = next(r for r in normal if r.split("\t")[1] == str(pos))
        good = line.split("\t")[9 + bad_sample]
        over = {pos: [gt if j == bad_sample else good for j in range(n_samples)]}
        names = [f"S{j}" for j in range(n_samples)]
        return _call(write_vcf(tmp / f"{cid}.vcf", names, gene_records(gene, gts, override=over)))
    return Case(cid, "vcf-genotype", run, "error",
                must=(f"{cid}.vcf", f"{chrom}:{pos}", f"S{bad_sample}", must),
                must_not=(gt,) if len(gt) > 1 else ())


def _dup_case(cid: str, gene: str, pos: int, second_gt: str | None, dip=("*2", "*2")) -> Case:
    """The record at `pos` written twice: same alleles; genotype the same (None) or `second_gt`."""
    def run(tmp: Path) -> Result:
        recs = gene_records(gene, [dip])
        line = next(r for r in recs if r.split("\t")[1] == str(pos))
        cols = line.split("\t")
        if second_gt is not None:
            cols[9] = second_gt
        recs.append("\t".join(cols))
        return _call(write_vcf(tmp / f"{cid}.vcf", ["S0"], recs))
    if second_gt is None:
        return Case(cid, "vcf-genotype", run, "warning", must=(f":{pos}", "appears twice", "ignored"),
                    check=_diplotype(gene, "/".join(dip)))
    return Case(cid, "vcf-genotype", run, "error", must=(f"{cid}.vcf", f":{pos}", "appears twice",
                                                          "different genotypes"), must_not=(second_gt,))


def _alt_dot_case() -> Case:
    def run(tmp: Path) -> Result:
        recs = gene_records("CYP2C19", [("*1", "*1")])
        out = []
        for r in recs:
            cols = r.split("\t")
            if cols[1] == str(CYP2C19_STAR2):
                cols[4], cols[9] = ".", "0/1"  # a reference-only site with a genotype naming an ALT
            out.append("\t".join(cols))
        return _call(write_vcf(tmp / "alt_dot.vcf", ["S0"], out))
    return Case("alt-dot-with-alt-genotype", "vcf-genotype", run, "error",
                must=("alt_dot.vcf", f"chr10:{CYP2C19_STAR2}", "beyond the 0 ALT"))


def _controls() -> list[Case]:
    def g6pd_male(tmp: Path) -> Result:
        return _call(write_vcf(tmp / "male.vcf", ["S0"], gene_records("G6PD", [("B (reference)", None)])
                               + gene_records("CYP2C19", [("*2", "*2")])))

    def split_multiallelic(tmp: Path) -> Result:
        recs = [r for r in gene_records("TPMT", [("*1", "*1")]) if r.split("\t")[1] != str(TPMT_MULTI)]
        recs += [f"chr6\t{TPMT_MULTI}\t.\tT\tC\t.\tPASS\t.\tGT\t0/1", f"chr6\t{TPMT_MULTI}\t.\tT\tG\t.\tPASS\t.\tGT\t0/0"]
        return _call(write_vcf(tmp / "split.vcf", ["S0"], recs))

    def check_g6pd(got: Result) -> None:
        assert got.value[0].genes["G6PD"].status == "called"
        _diplotype("CYP2C19", "*2/*2")(got)

    def check_tpmt(got: Result) -> None:
        assert got.value[0].genes["TPMT"].status in ("called", "ambiguous"), got.value[0].genes["TPMT"]
        assert "*1/*1" not in got.value[0].genes["TPMT"].diplotype_text  # the ALT on the first record counts

    return [Case("control-haploid-chrx-male", "vcf-genotype", g6pd_male, "ok", check=check_g6pd),
            Case("control-split-multiallelic", "vcf-genotype", split_multiallelic, "ok", check=check_tpmt)]


def genotype_cases() -> list[Case]:
    c = [
        _gt_case("cyp2c19-0-2-one-alt", "CYP2C19", CYP2C19_STAR2, "0/2", "allele index beyond", dip=("*2", "*2")),
        _gt_case("cyp2c19-0p2-phased", "CYP2C19", CYP2C19_STAR2, "0|2", "allele index beyond"),
        _gt_case("cyp2c19-2-2", "CYP2C19", CYP2C19_STAR2, "2/2", "allele index beyond"),
        _gt_case("cyp2c19-1-2", "CYP2C19", CYP2C19_STAR2, "1/2", "allele index beyond"),
        _gt_case("cyp2c19-9-0", "CYP2C19", CYP2C19_STAR2, "9/0", "allele index beyond"),
        _gt_case("tpmt-0-3-two-alts", "TPMT", TPMT_MULTI, "0/3", "beyond the 2 ALT", chrom="chr6"),
        _gt_case("ugt1a1-0-4-three-alts", "UGT1A1", UGT1A1_TA, "0/4", "beyond the 3 ALT", chrom="chr2"),
        _gt_case("cyp2c19-ploidy-3", "CYP2C19", CYP2C19_STAR2, "0/1/1", "ploidy above 2"),
        _gt_case("cyp2c19-ploidy-3-phased", "CYP2C19", CYP2C19_STAR2, "0|1|1", "ploidy above 2"),
        _gt_case("cyp2c9-ploidy-4", "CYP2C9", 94938683, "1/1/1/1", "ploidy above 2"),
        _gt_case("dpyd-ploidy-3", "DPYD", 97078987, "0/0/1", "ploidy above 2", dip=("Reference", "Reference"),
                 chrom="chr1"),
        _gt_case("cyp2c19-haploid-alt", "CYP2C19", CYP2C19_STAR2, "1", "haploid GT on autosome"),
        _gt_case("cyp2c19-haploid-ref", "CYP2C19", CYP2C19_STAR2, "0", "haploid GT on autosome"),
        _gt_case("tpmt-haploid", "TPMT", TPMT_MULTI, "1", "haploid GT on autosome", chrom="chr6"),
        _gt_case("dpyd-haploid", "DPYD", 97078987, "0", "haploid GT on autosome", dip=("Reference", "Reference"),
                 chrom="chr1"),
        _gt_case("multisample-second-0-2", "CYP2C19", CYP2C19_STAR2, "0/2", "allele index beyond", n_samples=3,
                 bad_sample=1),
        _gt_case("multisample-third-ploidy", "CYP2C19", CYP2C19_STAR2, "1/1/0", "ploidy above 2", n_samples=3,
                 bad_sample=2),
        _gt_case("multisample-last-haploid", "CYP2C9", 94938683, "1", "haploid GT", n_samples=2, bad_sample=1),
        _dup_case("dup-conflict-cyp2c19", "CYP2C19", CYP2C19_STAR2, "0/0"),
        _dup_case("dup-conflict-cyp2c19-het", "CYP2C19", CYP2C19_STAR2, "0/1"),
        _dup_case("dup-conflict-tpmt", "TPMT", TPMT_MULTI, "0/2", dip=("*1", "*1")),
        _dup_case("dup-identical-cyp2c19", "CYP2C19", CYP2C19_STAR2, None),
        _dup_case("dup-identical-cyp2c9", "CYP2C9", 94938683, None, dip=("*1", "*1")),
        _alt_dot_case(),
    ]
    return c + _controls()


# ------------------------------------------------------------------------------------------------ indexes

def _bgzip(path: Path, index: str | None = "tbi") -> Path:
    gz = Path(str(path) + ".gz")
    pysam.tabix_compress(str(path), str(gz), force=True)
    if index:
        pysam.tabix_index(str(gz), preset="vcf", force=True, csi=index == "csi")
    return gz


def _base_vcf(tmp: Path, name: str, genes=(("CYP2C19", ("*1", "*2")), ("CYP2C9", ("*1", "*3")))) -> Path:
    recs = [r for g, d in genes for r in gene_records(g, [d])]
    return write_vcf(tmp / name, ["S0"], recs)


def _other_vcf(tmp: Path) -> Path:
    # a different file on the same contigs: its index offsets do not match the data's blocks
    recs = []
    for g in ("TPMT", "CYP2C19", "DPYD", "SLCO1B1", "CYP2C9", "NUDT15"):
        recs += gene_records(g, [(load_definitions().genes[g].alleles[0].name,) * 2])
    filler = [f"chr10\t{1000 + i}\t.\tA\tG\t.\tPASS\t.\tGT\t0/1" for i in range(3000)]
    return write_vcf(tmp / "other.vcf", ["X"], recs + filler)


def _index_case(cid: str, spoil: Callable[[Path, Path], None], must: str, csi: bool = False) -> Case:
    def run(tmp: Path) -> Result:
        gz = _bgzip(_base_vcf(tmp, "data.vcf"), "csi" if csi else "tbi")
        spoil(tmp, gz)
        return _call(gz)
    return Case(cid, "vcf-index", run, "warning", must=("streamed instead", must),
                check=lambda got: (_diplotype("CYP2C19", "*1/*2")(got), _diplotype("CYP2C9", "*1/*3")(got)))


def _idx(gz: Path, csi: bool = False) -> Path:
    return Path(str(gz) + (".csi" if csi else ".tbi"))


def _foreign(tmp: Path, gz: Path, csi: bool = False) -> None:
    other = _bgzip(_other_vcf(tmp), "csi" if csi else "tbi")
    os.replace(_idx(other, csi), _idx(gz, csi))
    os.utime(_idx(gz, csi))


def _stale(tmp: Path, gz: Path) -> None:
    st = gz.stat()
    os.utime(_idx(gz), (st.st_atime - 3600, st.st_mtime - 3600))


def _garbage(tmp: Path, gz: Path) -> None:
    _idx(gz).write_bytes(gzip.compress(b"TBI\x01" + os.urandom(200)))


def _empty(tmp: Path, gz: Path) -> None:
    _idx(gz).write_bytes(b"")


def _truncated(tmp: Path, gz: Path) -> None:
    raw = _idx(gz).read_bytes()
    _idx(gz).write_bytes(raw[: len(raw) // 2])


def _not_gzip(tmp: Path, gz: Path) -> None:
    _idx(gz).write_text("this is not an index\n")


def _other_contig_names(tmp: Path, gz: Path) -> None:
    # an index built for the same data written with '10' instead of 'chr10'
    recs = [r[3:] for g, d in (("CYP2C19", ("*1", "*2")), ("CYP2C9", ("*1", "*3"))) for r in gene_records(g, [d])]
    plain = write_vcf(tmp / "nochr.vcf", ["S0"], recs, chr_prefix=False)
    other = _bgzip(plain)
    os.replace(_idx(other), _idx(gz))


def _plain_with_index(cid: str) -> Case:
    def run(tmp: Path) -> Result:
        gz = _bgzip(_base_vcf(tmp, "data.vcf"))
        plain = tmp / "plain.vcf"
        plain.write_bytes(gzip.decompress(gz.read_bytes()))
        os.replace(_idx(gz), Path(str(plain) + ".tbi"))
        os.utime(Path(str(plain) + ".tbi"))
        return _call(plain)
    return Case(cid, "vcf-index", run, "warning", must=("streamed instead", "not bgzip"),
                check=_diplotype("CYP2C19", "*1/*2"))


def _good_index() -> Case:
    def run(tmp: Path) -> Result:
        return _call(_bgzip(_base_vcf(tmp, "data.vcf")))
    return Case("control-own-index", "vcf-index", run, "ok", check=_diplotype("CYP2C19", "*1/*2"))


def index_cases() -> list[Case]:
    return [
        _index_case("foreign-tbi", _foreign, "index"),
        _index_case("foreign-csi", lambda t, g: _foreign(t, g, csi=True), "index", csi=True),
        _index_case("stale-tbi", _stale, "older than the data"),
        _index_case("garbage-tbi", _garbage, "index"),
        _index_case("empty-tbi", _empty, "cannot be read"),
        _index_case("truncated-tbi", _truncated, "index"),
        _index_case("not-gzip-tbi", _not_gzip, "cannot be read"),
        _index_case("contig-names-tbi", _other_contig_names, "index data.vcf.gz.tbi"),
        _plain_with_index("plain-vcf-with-tbi"),
        _good_index(),
    ]


# ------------------------------------------------------------------------------------------------ build

def _write(tmp: Path, name: str, head: str, recs: list[str]) -> Path:
    p = tmp / name
    p.write_text(head + "\n".join(recs) + "\n")
    return p


PLAIN_HEAD = ("##fileformat=VCFv4.2\n##contig=<ID=chr10>\n##contig=<ID=chr6>\n"
              '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS0\n")


def _shifted(gene: str, shift: int) -> list[str]:
    out = []
    for r in gene_records(gene, [("*1", "*1")]):
        cols = r.split("\t")
        cols[1] = str(int(cols[1]) + shift)
        out.append("\t".join(cols))
    return out


def _ref_swapped(gene: str, n: int = 10) -> list[str]:
    gd = load_definitions().genes[gene]
    recs = []
    for p in gd.positions[:n]:
        wrong = next(b for b in "ACGT" if b != p.ref[0])
        recs.append(f"{gd.chromosome}\t{p.pos}\t.\t{wrong}\t{p.ref[0]}\t.\tPASS\t.\tGT\t0/1")
    return recs


def _build_case(cid: str, make: Callable[[Path], Path], must: str) -> Case:
    def run(tmp: Path) -> Result:
        return _call(make(tmp))
    return Case(cid, "vcf-build", run, "error", must=(must,))


def build_cases() -> list[Case]:
    grch37 = {"chr10": 135534747, "chr19": 59128983}
    b37_plain = {"chr10": 135534747}
    recs = gene_records("CYP2C19", [("*1", "*2")])

    def hdr_ref(tag: str) -> Callable[[Path], Path]:
        def make(tmp: Path) -> Path:
            head = header(["S0"]).replace("##reference=GRCh38", f"##reference={tag}")
            return _write(tmp, "ref.vcf", head, recs)
        return make

    return [
        _build_case("grch37-contig-lengths", lambda t: write_vcf(t / "b37.vcf", ["S0"], recs, lengths=grch37),
                    "GRCh37 length"),
        _build_case("grch37-contig-lengths-no-chr", lambda t: write_vcf(t / "b37n.vcf", ["S0"],
                                                                        [r[3:] for r in recs], chr_prefix=False,
                                                                        lengths=b37_plain), "GRCh37 length"),
        _build_case("reference-grch37", hdr_ref("GRCh37"), "GRCh37/hg19"),
        _build_case("reference-hg19", hdr_ref("file:///ref/hg19.fa"), "GRCh37/hg19"),
        _build_case("reference-hs37d5", hdr_ref("file:///ref/hs37d5.fa"), "GRCh37/hg19"),
        _build_case("reference-g1k-v37", hdr_ref("human_g1k_v37.fasta"), "GRCh37/hg19"),
        _build_case("contig-assembly-b37", lambda t: _write(t, "asm.vcf", header(["S0"]).replace(
            "##contig=<ID=chr10,length=133797422>", "##contig=<ID=chr10,length=133797422,assembly=b37>"), recs),
            "GRCh37/hg19"),
        _build_case("no-hint-shifted-positions", lambda t: _write(t, "shift.vcf", PLAIN_HEAD,
                                                                  _shifted("CYP2C19", 7)), "not GRCh38"),
        _build_case("no-hint-shifted-two-genes", lambda t: _write(t, "shift2.vcf", PLAIN_HEAD,
                                                                  _shifted("CYP2C9", -3) + _shifted("TPMT", 11)),
                    "not GRCh38"),
        _build_case("no-hint-ref-disagrees", lambda t: _write(t, "refs.vcf", PLAIN_HEAD, _ref_swapped("CYP2C9")),
                    "REF bases disagree"),
        _build_case("no-hint-ref-disagrees-tpmt", lambda t: _write(t, "reft.vcf", PLAIN_HEAD,
                                                                   _ref_swapped("TPMT", 6)), "REF bases disagree"),
        _build_case("grch38-header-but-shifted", lambda t: _write(t, "lies.vcf", header(["S0"]),
                                                                  _shifted("CYP2C19", 5)), "not GRCh38"),
    ]


def cases() -> list[Case]:
    return genotype_cases() + index_cases() + build_cases()
