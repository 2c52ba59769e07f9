#!/usr/bin/env python3
"""Differential testing of ehrgen's calls against PharmCAT 3.1.1 (the oracle in ../shared/oracles).

    python tools/pharmcat_diff.py random   [--seed 1] [--samples 1100]   # generated cases
    python tools/pharmcat_diff.py examples                                # PharmCAT's example VCFs
    python tools/pharmcat_diff.py 1kgp     [--full]                       # the 1000 Genomes cohort
    python tools/pharmcat_diff.py regressions                             # tests/pgx/oracle_regressions

Per sample and gene it compares the whole set of top-scoring diplotypes (allele names as PharmCAT writes
them), each diplotype's phenotype and activity score, and (SLCO1B1) the rs4149056 fallback. A difference
that `accepted()` explains (ehrgen saying less than PharmCAT, never more) is counted apart; any other is
printed and makes the exit code 1.

Cases are generated from PharmCAT's own allele definitions (not ehrgen's tables, so a position ehrgen's
tables lose is still exercised): random pairs of named alleles, seeded, with random perturbations (missing
records, no-calls, partial calls, phased/unphased, haploid chrX, homozygous, multi-allelic sites, novel
alleles at defined positions).

PharmCAT runs as BatchPharmCAT over a folder of small multi-sample VCFs (PharmCAT re-reads a multi-sample
file once per sample, so files are kept to ~20 samples). Its answers are cached per input file under
$EHRGEN_ORACLE_CACHE (default ~/.cache/ehrgen-oracle), keyed by the file's SHA-256 and the oracle version:
reruns only call ehrgen. Delete the folder to force a cold run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ORACLE_VERSION = "3.1.1"
SHARED = Path(os.environ.get("EHRGEN_SHARED", ROOT.parent / "shared"))
ORACLE = SHARED / "oracles" / f"pharmcat-{ORACLE_VERSION}"
REFERENCE = SHARED / "reference" / f"pharmcat-{ORACLE_VERSION}"
EXAMPLES = SHARED / "reference" / "pharmcat-examples"
COHORT = SHARED / "data" / "1kgp-pgx" / "1kgp-pgx.dense.vcf.gz"
CACHE = Path(os.environ.get("EHRGEN_ORACLE_CACHE", "~/.cache/ehrgen-oracle")).expanduser()
REGRESSIONS = ROOT / "tests" / "pgx" / "oracle_regressions"
CACHE_FORMAT = 2  # bump when the summary kept per file changes

VCF_GENES = ["ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP3A4", "CYP3A5", "CYP4F2", "DPYD",
             "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT", "UGT1A1", "VKORC1"]
CONTIGS = {"chr1": 248956422, "chr2": 242193529, "chr4": 190214555, "chr6": 170805979, "chr7": 159345973,
           "chr8": 145138636, "chr10": 133797422, "chr12": 133275309, "chr13": 114364328, "chr16": 90338345,
           "chr19": 58617616, "chr22": 50818468, "chrX": 156040895}
IUPAC = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT",
         "V": "ACG", "N": "ACGT"}
SAMPLES_PER_FILE = 20
COSTLY_UNPHASED = {"RYR1"}
ORACLE_CHUNK = 8  # files per BatchPharmCAT run (each chunk is cached when done)


def oracle_available() -> bool:
    return (ORACLE / f"pharmcat-{ORACLE_VERSION}.jar").is_file() and shutil.which("java") is not None


# ----------------------------------------------------------------------------------------------- oracle

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _classpath() -> str:
    home = subprocess.run(["bash", str(ORACLE / "setup.sh")], check=True, capture_output=True,
                          text=True).stdout.strip()
    return f"{home}/pharmcat-{ORACLE_VERSION}.jar:{home}/lib/*"


_REF_NAMES: dict[str, str] = {}


def reference_name(gene: str) -> str:
    if not _REF_NAMES:
        for g in VCF_GENES:
            t = json.loads((REFERENCE / "definition" / "alleles" / f"{g}_translation.json").read_text())
            _REF_NAMES[g] = next(a["name"] for a in t["namedAlleles"] if a.get("reference"))
    return _REF_NAMES[gene]


NOT_CALLED = "(not called)"


def canonical(gene: str, label: str) -> str:
    """One spelling for a diplotype on both sides: allele names sorted, joined by '/'; PharmCAT's report
    labels 'X (heterozygous)' / 'X (homozygous)' are its matcher's 'Reference/X' / 'X/X'."""
    if "Unknown" in label.split("/") or label == "Unknown":
        return NOT_CALLED
    if label.endswith(" (heterozygous)"):
        names = [reference_name(gene), label[: -len(" (heterozygous)")]]
    elif label.endswith(" (homozygous)"):
        names = [label[: -len(" (homozygous)")]] * 2
    else:
        names = label.split("/")
    return "/".join(sorted(names))


def _gene_summary(gene: str, report: dict | None, match: dict | None) -> dict:
    """What we compare for one gene, from PharmCAT's match.json result and phenotype.json gene report."""
    out: dict = {"diplotypes": [], "phenotypes": {}, "activity": {}, "recommendation": [], "messages": [],
                 "labels": []}
    names = [d["name"] for d in (match or {}).get("diplotypes") or []]
    variants = [h.get("name") for h in (match or {}).get("haplotypeMatches") or []]
    if report is not None:
        out["labels"] = [d["label"] for d in report.get("sourceDiplotypes") or []]
        for d in report.get("recommendationDiplotypes") or []:
            out["recommendation"].append([d["label"], (d.get("phenotypes") or [None])[0], d.get("activityScore")])
        for d in [*(report.get("recommendationDiplotypes") or []), *(report.get("sourceDiplotypes") or [])]:
            key = canonical(gene, d["label"])
            out["phenotypes"][key] = (d.get("phenotypes") or [None])[0]
            out["activity"][key] = d.get("activityScore")
        out["messages"] = sorted({m.get("rule_name") or "" for m in report.get("messages") or []})
    if names:
        out["diplotypes"] = names
    elif variants and out["recommendation"]:
        # DPYD/RYR1 unphased: the matcher lists variants; the phenotype comes from the inferred pair
        out["diplotypes"] = [r[0] for r in out["recommendation"]]
        out["variants"] = sorted(variants)
    else:
        out["diplotypes"] = [NOT_CALLED]
    out["diplotypes"] = sorted({canonical(gene, d) for d in out["diplotypes"]})
    if match is not None:
        out["match_warnings"] = [w.get("message", "") if isinstance(w, dict) else str(w)
                                 for w in match.get("warnings") or []]
    return out


def _read_outputs(out_dir: Path, base: str, samples: list[str]) -> dict:
    result = {}
    for s in samples:
        stem = out_dir / (f"{base}.{s}" if len(samples) > 1 else base)
        pheno = json.loads(Path(f"{stem}.phenotype.json").read_text())
        match = json.loads(Path(f"{stem}.match.json").read_text())
        warn_file = Path(f"{stem}.match_warnings.txt")
        reports = pheno.get("geneReports", {})
        matches = {r["gene"]: r for r in match.get("results", [])}
        genes = {g: _gene_summary(g, reports.get(g), matches.get(g)) for g in VCF_GENES
                 if g in reports or g in matches}
        result[s] = {"genes": genes,
                     "vcf_warnings": warn_file.read_text().splitlines() if warn_file.is_file() else []}
    return result


def _samples_of(vcf: Path) -> list[str]:
    opener = gzip.open if vcf.suffix == ".gz" else open
    with opener(vcf, "rt") as fh:
        for line in fh:
            if line.startswith("#CHROM"):
                return line.rstrip("\n").split("\t")[9:]
    raise ValueError(f"{vcf}: no #CHROM line")


def _run_chunk(todo: dict[Path, Path], jobs: int) -> dict[Path, dict]:
    answers = {}
    with tempfile.TemporaryDirectory(prefix="ehrgen-oracle-") as tmp:
        inp, out = Path(tmp) / "in", Path(tmp) / "out"
        inp.mkdir()
        names = {}
        for k, v in enumerate(todo):
            # unique base names; PharmCAT reads .vcf and .vcf.gz
            name = f"f{k:05d}" + (".vcf.gz" if v.suffix == ".gz" else ".vcf")
            shutil.copy(v, inp / name)
            names[v] = name
        cmd = ["nice", "java", "-Xmx2g", "-cp", _classpath(), "org.pharmgkb.pharmcat.BatchPharmCAT",
               "-i", str(inp), "-o", str(out), "-matcher", "-phenotyper", "-cp", str(jobs)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"PharmCAT failed ({proc.returncode}): {proc.stderr[-2000:]}")
        for v, cached in todo.items():
            base = names[v].split(".vcf")[0]
            ans = _read_outputs(out, base, _samples_of(v))
            cached.write_text(json.dumps(ans))
            answers[v] = ans
    return answers


def run_oracle(vcfs: list[Path], jobs: int = 2, log=print) -> dict[Path, dict]:
    """PharmCAT's answers per file -> sample -> gene, from the cache or one BatchPharmCAT run."""
    CACHE.mkdir(parents=True, exist_ok=True)
    answers: dict[Path, dict] = {}
    todo: dict[Path, Path] = {}
    for v in vcfs:
        key = f"{_sha256(v)}.pharmcat-{ORACLE_VERSION}.f{CACHE_FORMAT}.json"
        cached = CACHE / key
        if cached.is_file():
            answers[v] = json.loads(cached.read_text())
        else:
            todo[v] = cached
    if todo:
        t0 = time.time()
        items = list(todo.items())
        # chunks of files, each cached as soon as PharmCAT has answered: an interrupted run resumes
        for c in range(0, len(items), ORACLE_CHUNK):
            answers.update(_run_chunk(dict(items[c:c + ORACLE_CHUNK]), jobs))
            log(f"PharmCAT: {min(c + ORACLE_CHUNK, len(items))}/{len(items)} file(s), {time.time() - t0:.0f} s")
        log(f"PharmCAT ran on {len(todo)} file(s) in {time.time() - t0:.1f} s")
    return answers


# ----------------------------------------------------------------------------------------------- ehrgen

def ehrgen_answers(vcf: Path) -> dict:
    from ehrgen.pgx.caller import call_vcf
    from ehrgen.pgx.definitions import load_definitions
    from ehrgen.pgx.matcher import unassessable_alleles

    defs = load_definitions()
    out = {}
    for sc in call_vcf(vcf):
        genes = {}
        for g in VCF_GENES:
            c = sc.genes.get(g)
            if c is None:
                continue
            genes[g] = {
                "status": c.status,
                "diplotypes": sorted({canonical(g, d.name) for d in c.diplotypes}) or [NOT_CALLED],
                "phenotypes": {canonical(g, d.name): d.phenotype for d in c.diplotypes},
                "activity": {canonical(g, d.name): d.activity_score for d in c.diplotypes},
                "fallback": c.lookup.get("fallback"), "phenotype": c.phenotype,
                "warnings": c.warnings,
                "unassessable": sorted(unassessable_alleles(defs.genes[g], c.missing_positions)),
            }
        out[sc.sample] = genes
    return out


# ------------------------------------------------------------------------------------------- comparison

def _norm_pheno(p: str | None) -> str | None:
    return None if p in (None, "", "n/a", "No Result", INDETERMINATE_PC) else p


INDETERMINATE_PC = "Indeterminate"
MORE_CANDIDATES = "diplotypes (ehrgen also lists unassessable alleles)"


def _num(x) -> float | None:
    if x in (None, "", "n/a"):
        return None
    try:
        return float(str(x).replace("≥", ""))
    except ValueError:
        return None


@dataclass
class Difference:
    source: str
    file: str
    sample: str
    gene: str
    what: str
    ehrgen: object
    pharmcat: object
    accepted: str | None = None

    def line(self) -> str:
        tag = f"ACCEPTED ({self.accepted})" if self.accepted else "DIFF"
        return (f"{tag} {self.source} {Path(self.file).name} {self.sample} {self.gene} {self.what}: "
                f"ehrgen={self.ehrgen!r} pharmcat={self.pharmcat!r}")


def compare_gene(ours: dict, theirs: dict) -> list[tuple[str, object, object]]:
    """(what, ehrgen, pharmcat) for every disagreement in one gene call."""
    diffs = []
    od, td = ours["diplotypes"], theirs["diplotypes"]
    if od != td:
        unassessable = set(ours.get("unassessable") or [])
        extra = set(od) - set(td)
        if (NOT_CALLED not in td and set(td) <= set(od)
                and all(set(e.split("/")) & unassessable for e in extra)):
            # ehrgen says less: it also lists diplotypes with an allele whose every defining position is
            # missing, which PharmCAT leaves out; the diplotypes both list are still compared below
            diffs.append((MORE_CANDIDATES, od, td))
        else:
            diffs.append(("diplotypes", od, td))
            return diffs
    for o in td:
        if o == NOT_CALLED:
            continue
        po, pt = _norm_pheno(ours["phenotypes"].get(o)), _norm_pheno(theirs["phenotypes"].get(o))
        if pt is None and not theirs["phenotypes"] and theirs.get("table_phenotypes") is not None:
            pt = _norm_pheno(theirs["table_phenotypes"].get(o))
        if po != pt:
            diffs.append((f"phenotype of {o}", po, pt))
        ao, at = _num(ours["activity"].get(o)), _num(theirs["activity"].get(o))
        if ao != at:
            diffs.append((f"activity score of {o}", ours["activity"].get(o), theirs["activity"].get(o)))
    if od == [NOT_CALLED]:
        # PharmCAT's fallback (SLCO1B1 rs4149056): the recommendation diplotype carries the phenotype
        rec = [r for r in theirs.get("recommendation", []) if canonical("", r[0]) != NOT_CALLED]
        rec_pheno = _norm_pheno(rec[0][1]) if rec else None
        our_pheno = _norm_pheno(ours.get("phenotype")) if ours.get("fallback") else None
        if rec_pheno != our_pheno:
            diffs.append(("fallback phenotype", our_pheno, rec_pheno))
    return diffs


def accepted(gene: str, what: str, ours: dict, theirs: dict, vcf_warnings: list[str]) -> str | None:
    """The reason when a difference is a documented, deliberate one (ehrgen says less, never more), or one of
    PharmCAT's output files that another of its own files contradicts."""
    if what == MORE_CANDIDATES:
        return ("every defining position of an allele is missing: ehrgen keeps it as a candidate (never "
                "assumed absent), PharmCAT leaves it out")
    if (gene == "CFTR" and what.startswith("phenotype of ")
            and what.endswith("ivacaftor non-responsive CFTR sequence/ivacaftor non-responsive CFTR sequence")):
        # PharmCAT's phenotype.json leaves the reference CFTR result empty; its own report.tsv says
        # "ivacaftor non-responsive in CF patients", which is what ehrgen writes (not a matcher difference)
        return "CFTR reference: PharmCAT's report.tsv gives the same phenotype its phenotype.json leaves empty"
    return None


_TABLES: dict[str, dict[str, str | None]] = {}


def pharmcat_phenotype_table(gene: str) -> dict[str, str | None]:
    """PharmCAT's own diplotype -> phenotype table (used where its report leaves a gene out, e.g. NAT2, which
    no guideline in its prescribing data uses, so the phenotyper writes no gene report for it)."""
    if gene not in _TABLES:
        f = REFERENCE / "phenotype" / f"{gene}.json"
        table: dict[str, str | None] = {}
        if f.is_file():
            for d in json.loads(f.read_text())["diplotypes"]:
                names = [a for a, n in d["diplotypekey"].items() for _ in range(int(n))]
                table["/".join(sorted(names))] = d.get("generesult") or d.get("phenotype")
        _TABLES[gene] = table
    return _TABLES[gene]


def compare(source: str, vcf: Path, ours: dict, theirs: dict) -> tuple[int, list[Difference]]:
    n, out = 0, []
    for sample, tgenes in theirs.items():
        ogenes = ours.get(sample, {})
        for gene in VCF_GENES:
            if gene not in ogenes or gene not in tgenes["genes"]:
                continue
            n += 1
            theirs_gene = dict(tgenes["genes"][gene])
            if not theirs_gene["labels"]:
                theirs_gene["table_phenotypes"] = pharmcat_phenotype_table(gene)
            for what, o, t in compare_gene(ogenes[gene], theirs_gene):
                out.append(Difference(source, str(vcf), sample, gene, what, o, t,
                                      accepted(gene, what, ogenes[gene], tgenes["genes"][gene],
                                               tgenes.get("vcf_warnings", []))))
    return n, out


def diff_files(source: str, vcfs: list[Path], log=print, oracle_input: dict[Path, Path] | None = None
               ) -> tuple[int, list[Difference]]:
    """ehrgen on each file against PharmCAT on the same file, or on its preprocessed form (`oracle_input`)."""
    oracle_input = oracle_input or {}
    theirs = run_oracle([oracle_input.get(v, v) for v in vcfs], log=log)
    total, diffs = 0, []
    for v in vcfs:
        n, d = compare(source, v, ehrgen_answers(v), theirs[oracle_input.get(v, v)])
        total += n
        diffs += d
    return total, diffs


# ------------------------------------------------------------------------------------ case generation

@dataclass
class GeneDef:
    gene: str
    chrom: str
    variants: list[dict]
    alleles: list[dict]  # name, bases (None = reference's base), reference
    ref_index: int


def load_oracle_definitions() -> dict[str, GeneDef]:
    ex = json.loads((REFERENCE / "definition" / "alleles" / "exemptions.json").read_text())
    out = {}
    for g in VCF_GENES:
        t = json.loads((REFERENCE / "definition" / "alleles" / f"{g}_translation.json").read_text())
        ignored = set(ex.get(g, {}).get("ignoredAlleles", []))
        alleles = [{"name": a["name"], "bases": a["alleles"], "reference": bool(a.get("reference"))}
                   for a in t["namedAlleles"] if a["name"] not in ignored and not a.get("structuralVariant")]
        ref = next(k for k, a in enumerate(alleles) if a["reference"])
        out[g] = GeneDef(g, t["chromosome"], t["variants"], alleles, ref)
    return out


def _concrete(gd: GeneDef, allele: dict, i: int, rng: random.Random) -> str:
    v = gd.variants[i]
    b = allele["bases"][i] or gd.alleles[gd.ref_index]["bases"][i] or v["ref"]
    if len(b) == 1 and b in IUPAC:
        choices = [x for x in [v["ref"], *v["alts"]] if x in IUPAC[b]]
        b = rng.choice(choices) if choices else v["ref"]
    return b


def _novel(v: dict, rng: random.Random) -> str | None:
    if len(v["ref"]) != 1 or any(len(a) != 1 for a in v["alts"]):
        return None
    left = [b for b in "ACGT" if b != v["ref"] and b not in v["alts"]]
    return rng.choice(left) if left else None


def generate_case_files(out_dir: Path, seed: int, n_samples: int, defs: dict[str, GeneDef] | None = None
                        ) -> list[Path]:
    """Seeded VCFs of ~SAMPLES_PER_FILE samples each; every sample has every gene."""
    defs = defs or load_oracle_definitions()
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for f in range((n_samples + SAMPLES_PER_FILE - 1) // SAMPLES_PER_FILE):
        n = min(SAMPLES_PER_FILE, n_samples - f * SAMPLES_PER_FILE)
        samples = [f"S{seed}_{f:04d}_{k:02d}" for k in range(n)]
        male = [rng.random() < 0.4 for _ in samples]
        records = []
        for g in VCF_GENES:
            gd = defs[g]
            nv = len(gd.variants)
            drop: set[int] = set()
            if rng.random() < 0.3:  # records absent from the file
                drop = set(rng.sample(range(nv), min(nv, rng.choice([1, 1, 2, 3]))))
            gts: list[list[str]] = [[] for _ in range(nv)]
            extra_alts: list[list[str]] = [[] for _ in range(nv)]
            for k in range(n):
                haploid = gd.chrom == "chrX" and male[k]
                scen = rng.random()
                a1 = rng.choice(gd.alleles) if rng.random() < 0.85 else gd.alleles[gd.ref_index]
                # PharmCAT spends ~5 s CPU on an unphased RYR1 sample with two variants (1 ms otherwise):
                # such cases stay, but fewer, so that a CI run keeps 20,000+ cases in minutes
                second = 0.15 if g in COSTLY_UNPHASED and not 0.1 <= scen < 0.3 else 0.8
                a2 = a1 if scen < 0.1 else (rng.choice(gd.alleles) if rng.random() < second
                                            else gd.alleles[gd.ref_index])
                phased = 0.1 <= scen < 0.3
                nocalls = set(rng.sample(range(nv), min(nv, rng.choice([1, 2])))) if 0.3 <= scen < 0.4 else set()
                partial = rng.randrange(nv) if 0.4 <= scen < 0.45 else None
                novel = rng.randrange(nv) if 0.45 <= scen < 0.5 else None
                # one multi-allelic site: two different ALTs (PharmCAT's matcher is exponential in
                # heterozygous sites, so perturbations stay few)
                multis = [i for i, v in enumerate(gd.variants) if len(v["alts"]) >= 2]
                multi = rng.choice(multis) if 0.5 <= scen < 0.55 and multis else None
                for i, v in enumerate(gd.variants):
                    alleles = [v["ref"], *v["alts"], *extra_alts[i]]
                    b1, b2 = _concrete(gd, a1, i, rng), _concrete(gd, a2, i, rng)
                    if multi == i:
                        b1, b2 = v["alts"][0], v["alts"][1]
                    if novel == i:
                        nb = _novel(v, rng)
                        if nb is not None:
                            if nb not in alleles:
                                extra_alts[i].append(nb)
                                alleles.append(nb)
                            b2 = nb
                    c1, c2 = alleles.index(b1), alleles.index(b2)
                    if i in nocalls:
                        gt = "." if haploid else "./."
                    elif haploid:
                        gt = str(c1)
                    elif partial == i:
                        gt = rng.choice(["0/.", "./0", f"{c2}/.", f".|{c1}" if phased else f"./{c1}"])
                    else:
                        gt = f"{c1}{'|' if phased else '/'}{c2}"
                    gts[i].append(gt)
            for i, v in enumerate(gd.variants):
                if i in drop:
                    continue
                alts = ",".join([*v["alts"], *extra_alts[i]])
                records.append((gd.chrom, v["position"], "\t".join(
                    [gd.chrom, str(v["position"]), v.get("rsid") or ".", v["ref"], alts, ".", "PASS", ".", "GT",
                     *gts[i]])))
        path = out_dir / f"random_{seed}_{f:04d}.vcf"
        _write_vcf(path, samples, records)
        files.append(path)
    return files


def _write_vcf(path: Path, samples: list[str], records: list[tuple[str, int, str]]) -> None:
    order = list(CONTIGS)
    records.sort(key=lambda r: (order.index(r[0]), r[1]))
    head = ["##fileformat=VCFv4.2", "##reference=GRCh38", "##source=ehrgen tools/pharmcat_diff.py"]
    head += [f"##contig=<ID={c},length={n},assembly=GRCh38>" for c, n in CONTIGS.items()]
    head += ['##FILTER=<ID=PASS,Description="All filters passed">',
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)]
    path.write_text("\n".join(head + [r[2] for r in records]) + "\n")


# ------------------------------------------------------------------------------------------- 1kgp cohort

def cohort_files(out_dir: Path, full: bool = False) -> tuple[list[Path], dict[str, list[str]]]:
    """The cohort as small VCFs. Default: one pseudo-sample per distinct per-gene genotype pattern (PharmCAT
    calls each gene on its own, so every person's call is that of the pseudo-sample carrying their pattern);
    `full`: every person. Returns the files and, per pseudo-sample, the people it stands for (for counting)."""
    defs = load_oracle_definitions()
    with gzip.open(COHORT, "rt") as fh:
        lines = fh.read().splitlines()
    meta = [l for l in lines if l.startswith("##")]
    people = next(l for l in lines if l.startswith("#CHROM")).split("\t")[9:]
    recs = [l.split("\t") for l in lines if not l.startswith("#")]
    out_dir.mkdir(parents=True, exist_ok=True)
    # gene of each record (by the gene's span of definition positions)
    spans = {g: (d.chrom, min(v["position"] for v in d.variants) - 50, max(v["position"] for v in d.variants) + 50)
             for g, d in defs.items()}
    rec_gene = []
    for r in recs:
        c = r[0] if r[0].startswith("chr") else "chr" + r[0]
        rec_gene.append(next((g for g, (sc, lo, hi) in spans.items() if sc == c and lo <= int(r[1]) <= hi), None))
    columns: list[dict[str | None, int]] = []
    names: list[str] = []
    stands_for: dict[str, dict[str, list[str]]] = {}
    if full:
        for j, p in enumerate(people):
            names.append(p)
            columns.append({g: j for g in [*VCF_GENES, None]})
            stands_for[p] = {g: [p] for g in VCF_GENES}
    else:
        patterns: dict[str, dict[tuple, list[int]]] = {g: {} for g in VCF_GENES}
        for j in range(len(people)):
            per_gene: dict[str, list[str]] = {}
            for r, g in zip(recs, rec_gene):
                if g:
                    per_gene.setdefault(g, []).append(r[9 + j])
            for g, key in per_gene.items():
                patterns[g].setdefault(tuple(key), []).append(j)
        groups = {g: list(p.values()) for g, p in patterns.items() if p}
        # pseudo-sample k takes the k-th distinct pattern of every gene (cycling for genes with fewer)
        for k in range(max(len(v) for v in groups.values())):
            name = f"P{k:04d}"
            names.append(name)
            col: dict[str | None, int] = {g: v[k % len(v)][0] for g, v in groups.items()}
            col[None] = 0
            columns.append(col)
            stands_for[name] = {g: [people[j] for j in v[k]] for g, v in groups.items() if k < len(v)}
    files = []
    for f in range(0, len(names), SAMPLES_PER_FILE):
        chunk = list(range(f, min(f + SAMPLES_PER_FILE, len(names))))
        body = []
        for r, g in zip(recs, rec_gene):
            vals = [r[9 + columns[k].get(g, columns[k][None])] for k in chunk]
            body.append("\t".join(r[:9] + vals))
        path = out_dir / f"1kgp_{'full' if full else 'patterns'}_{f // SAMPLES_PER_FILE:04d}.vcf"
        path.write_text("\n".join(meta + ["\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
                                                     "FORMAT", *[names[k] for k in chunk]])] + body) + "\n")
        files.append(path)
    return files, stands_for


# ------------------------------------------------------------------------------- PharmCAT's preprocessing

def _trim(ref: str, alt: str) -> tuple[int, str, str]:
    """An allele pair with shared suffix, then shared prefix (one anchor base kept), removed. Written apart
    from ehrgen.pgx.definitions.canonical on purpose: the oracle's input must not be shaped by the code under
    test."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    off = 0
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, off = ref[1:], alt[1:], off + 1
    return off, ref, alt


def normalise_for_pharmcat(src: Path, dst: Path, defs: dict[str, GeneDef]) -> Path:
    """What PharmCAT's preprocessor (bcftools norm -m+ against GRCh38) would do to a file, for the few cases
    the 1000 Genomes files need: records split at one position are merged into one multi-allelic record, and an
    allele written with another REF than PharmCAT's definition is rewritten in the definition's form. PharmCAT
    itself discards such records ("REF does not match", "first valid entry trumps others"), which would
    compare ehrgen's reading of the data against PharmCAT not reading it."""
    want = {(d.chrom, v["position"]): v for d in defs.values() for v in d.variants}
    lines = src.read_text().splitlines()
    head = [l for l in lines if l.startswith("#")]
    groups: dict[tuple[str, int], list[list[str]]] = {}
    order: list[tuple[str, int]] = []
    for l in lines:
        if l.startswith("#"):
            continue
        f = l.split("\t")
        chrom = f[0] if f[0].startswith("chr") else "chr" + f[0]
        key = (chrom, int(f[1]))
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(f)
    body = []
    for key in order:
        recs = groups[key]
        ref = max((r[3] for r in recs), key=len)
        alts: list[str] = []
        maps = []
        for r in recs:
            tail = ref[len(r[3]):] if ref.startswith(r[3]) else None
            m = [0]
            for a in r[4].split(","):
                a2 = a + tail if tail is not None and a not in ("*", ".") and not a.startswith("<") else a
                if a2 not in alts:
                    alts.append(a2)
                m.append(alts.index(a2) + 1)
            maps.append(m)
        v = want.get(key)
        if v is not None and ref != v["ref"]:
            # rewrite into the definition's representation where each allele means the same change
            rewritten = []
            for a in alts:
                t = _trim(ref, a)
                hit = next((x for x in v["alts"] if _trim(v["ref"], x) == t), None)
                rewritten.append(hit)
            if all(x is not None for x in rewritten) and len(set(rewritten)) == len(rewritten):
                ref, alts = v["ref"], rewritten
        n = len(recs[0]) - 9
        gts = []
        for k in range(n):
            per = [re.split(r"([/|])", r[9 + k].split(":")[0]) for r in recs]
            slots = per[0][::2]
            seps = per[0][1::2]
            merged = []
            for j in range(len(slots)):
                vals = [p[::2][j] if j < len(p[::2]) else "." for p in per]
                nonref = [maps[i][int(x)] for i, x in enumerate(vals) if x not in (".", "0")]
                if len(set(nonref)) > 1:
                    merged.append(".")  # two different ALTs on one haplotype: conflicting records, unknown
                else:
                    merged.append(str(nonref[0]) if nonref else ("0" if all(x == "0" for x in vals) else
                                                                 ("0" if "0" in vals else ".")))
            gts.append("".join(m + (seps[j] if j < len(seps) else "") for j, m in enumerate(merged)))
        r0 = recs[0]
        body.append("\t".join([r0[0], r0[1], r0[2], ref, ",".join(alts), r0[5], r0[6], ".", "GT", *gts]))
    dst.write_text("\n".join(head + body) + "\n")
    return dst


# ------------------------------------------------------------------------------------------------- main

def preprocessed(files: list[Path], work: Path | None = None) -> dict[Path, Path]:
    """Each file -> its PharmCAT-preprocessed twin (see normalise_for_pharmcat), beside it or under `work`."""
    defs = load_oracle_definitions()
    out = {}
    for f in files:
        d = (work or f.parent) / "pharmcat-input"
        d.mkdir(parents=True, exist_ok=True)
        out[f] = normalise_for_pharmcat(f, d / f.name, defs)
    return out


def regression_files() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.vcf"))


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.vcf"))


def save_regressions(diffs: list[Difference], out_dir: Path = REGRESSIONS) -> list[Path]:
    """Each sample with an unexplained difference as its own one-sample VCF (the fixed regression set: every
    difference ever found is replayed against PharmCAT by the `regressions` mode and its test)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    defs = load_oracle_definitions()
    written = []
    for vcf, sample in sorted({(d.file, d.sample) for d in diffs if not d.accepted}):
        opener = gzip.open if vcf.endswith(".gz") else open
        with opener(vcf, "rt") as fh:
            lines = fh.read().splitlines()
        header = next(l for l in lines if l.startswith("#CHROM")).split("\t")
        col = header.index(sample)
        genes = sorted({d.gene for d in diffs if d.file == vcf and d.sample == sample and not d.accepted})
        keep = {(defs[g].chrom, v["position"]) for g in genes for v in defs[g].variants}
        body = ["\t".join(header[:9] + [sample])]
        for l in lines:
            if l.startswith("#"):
                continue
            f = l.split("\t")
            if ((f[0] if f[0].startswith("chr") else "chr" + f[0]), int(f[1])) in keep:  # the genes' records
                body.append("\t".join(f[:9] + [f[col]]))
        text = "\n".join([l for l in lines if l.startswith("##")] + body) + "\n"
        name = f"{'-'.join(genes)}_{hashlib.sha256(text.encode()).hexdigest()[:10]}.vcf"
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    return written


def report(source: str, n: int, diffs: list[Difference], seconds: float, log=print) -> int:
    unexplained = [d for d in diffs if not d.accepted]
    for d in diffs:
        log(d.line())
    log(f"{source}: {n} gene-level cases, {len(unexplained)} unexplained difference(s), "
        f"{len(diffs) - len(unexplained)} accepted, {seconds:.1f} s")
    return 1 if unexplained else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["random", "examples", "1kgp", "regressions"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--samples", type=int, default=1100)
    ap.add_argument("--full", action="store_true", help="1kgp: every person, not one per distinct pattern")
    ap.add_argument("--save-regressions", action="store_true",
                    help="write every sample with an unexplained difference to tests/pgx/oracle_regressions")
    ap.add_argument("--work", type=Path, default=None, help="where generated VCFs go (default: a temp folder)")
    args = ap.parse_args(argv)
    if not oracle_available():
        print(f"PharmCAT oracle not found at {ORACLE} (or no java)", file=sys.stderr)
        return 2
    t0 = time.time()
    oracle_input = None
    work = args.work or Path(tempfile.mkdtemp(prefix="ehrgen-diff-"))
    if args.what == "random":
        files = generate_case_files(work, args.seed, args.samples)
    elif args.what == "examples":
        files = example_files()
    elif args.what == "regressions":
        files = regression_files()
        oracle_input = preprocessed(files, Path(work))
    else:
        files, _ = cohort_files(work, full=args.full)
        oracle_input = preprocessed(files)
    n, diffs = diff_files(args.what, files, oracle_input=oracle_input)
    if args.save_regressions:
        for p in save_regressions(diffs):
            print(f"regression case: {p.relative_to(ROOT)}")
    return report(args.what, n, diffs, time.time() - t0)


if __name__ == "__main__":
    raise SystemExit(main())
