"""Outside calls are clinical input too: grammar, allele names, phenotype terms, activity scores, HLA grammar.

An invalid row is an error of that gene only, with the file and line and the reason (never the genotype);
the gene is then not called and its drugs come out `indeterminate`, never `no_recommendation`."""

from __future__ import annotations

from pathlib import Path

from ehrgen.errors import InputError
from ehrgen.pgx.definitions import load_definitions
from ehrgen.pgx.model import SampleCalls
from ehrgen.pgx.outside import outside_gene_call, parse_outside_calls
from ehrgen.rules.engine import interpret
from tests.hostile.corpus import Case, Result

# a single-gene drug per gene: what a prescriber would see for it
DRUG = {"CYP2D6": "codeine", "HLA-B": "abacavir", "CYP2C19": "clopidogrel", "CYP2C9": "celecoxib",
        "MT-RNR1": "amikacin", "TPMT": "thioguanine", "DPYD": "fluorouracil", "SLCO1B1": "simvastatin",
        "HLA-A": "carbamazepine", "CYP3A5": "tacrolimus", "NUDT15": "thioguanine"}
SAFE = {"indeterminate"}  # what an invalid gene's drugs may say


def _run(gene: str, rows: list[str]):
    def run(tmp: Path) -> Result:
        path = tmp / "outside.tsv"
        path.write_text("# outside calls\n" + "\n".join(rows) + "\n")
        defs = load_definitions()
        try:
            calls = parse_outside_calls(path, defs)
        except InputError as exc:
            return Result("error", [str(exc)])
        gc = outside_gene_call(calls[gene], defs.genes[gene])
        sample = SampleCalls(sample="S0", genes={gene: gc})
        recs = [r for r in interpret(sample, "P0", drugs=[DRUG[gene]]) if gene in r.genes]
        if gc.status == "not_called":
            return Result("error", list(gc.warnings), (gc, recs))
        return Result("warning" if gc.warnings else "ok", list(gc.warnings), (gc, recs))
    return run


def _drugs_indeterminate(got: Result) -> None:
    gc, recs = got.value
    assert recs, "no recommendation for the gene's drug"
    for r in recs:
        assert r.action in SAFE, f"{r.drug} {r.source}: {r.action} for a rejected {gc.gene} call"
        assert r.action != "no_recommendation"


def bad(cid: str, gene: str, row: str, reason: str, echo: tuple[str, ...] = ()) -> Case:
    """A row invalid for its gene: error at line 2 (line 1 is a comment), drugs indeterminate."""
    return Case(cid, "outside-call", _run(gene, [row]), "error", must=("outside.tsv line 2", gene, reason),
                must_not=echo, check=_drugs_indeterminate)


def fatal(cid: str, row: str, reason: str, echo: tuple[str, ...] = ()) -> Case:
    """A row that cannot be read at all: one line naming file:line."""
    return Case(cid, "outside-call", _run("CYP2D6", [row]), "error", must=("outside.tsv:2", reason), must_not=echo)


def cases() -> list[Case]:
    allele = "is not a"  # "... is not a CYP2D6 allele in the definitions" / "... is not an HLA allele name"
    c = [
        # grammar
        bad("cyp2d6-three-alleles", "CYP2D6", "CYP2D6\t*1/*2/*4", "not 'allele/allele'", ("*1/*2/*4",)),
        bad("cyp2d6-empty-second", "CYP2D6", "CYP2D6\t*1/", "not 'allele/allele'"),
        bad("cyp2d6-empty-first", "CYP2D6", "CYP2D6\t/*4", "not 'allele/allele'"),
        bad("cyp2d6-comma", "CYP2D6", "CYP2D6\t*1,*4", "characters an allele name cannot have", ("*1,*4",)),
        bad("cyp2d6-semicolon", "CYP2D6", "CYP2D6\t*1;*4", "characters", ("*1;*4",)),
        bad("cyp2d6-pipe", "CYP2D6", "CYP2D6\t*1|*4", "characters", ("*1|*4",)),
        bad("cyp2d6-plus", "CYP2D6", "CYP2D6\t*1/*4+*10", "characters"),
        bad("cyp2d6-slash-only", "CYP2D6", "CYP2D6\t/", "not 'allele/allele'"),
        bad("cyp2c19-space-inside", "CYP2C19", "CYP2C19\t*1 /*2 x", "characters"),
        # allele names against the definitions
        bad("cyp2d6-star-999", "CYP2D6", "CYP2D6\t*1/*999", allele, ("*999",)),
        bad("cyp2d6-both-unknown", "CYP2D6", "CYP2D6\t*999/*998", allele, ("*999", "*998")),
        bad("cyp2d6-no-star", "CYP2D6", "CYP2D6\t1/4", allele),
        bad("cyp2d6-lowercase-gene-allele", "CYP2D6", "CYP2D6\tCYP2C19*2/*1", allele, ("CYP2C19*2",)),
        bad("cyp2c19-star-999", "CYP2C19", "CYP2C19\t*2/*999", allele, ("*999",)),
        bad("cyp2c9-star-999", "CYP2C9", "CYP2C9\t*1/*999", allele, ("*999",)),
        bad("tpmt-unknown", "TPMT", "TPMT\t*3A/*3Z", allele, ("*3Z",)),
        bad("mt-rnr1-unknown", "MT-RNR1", "MT-RNR1\tm.9999A>G", allele, ("9999",)),
        bad("cyp2d6-copy-of-unknown", "CYP2D6", "CYP2D6\t*999x2/*1", allele),
        # phenotype terms against the phenotype tables
        bad("cyp2d6-super-duper", "CYP2D6", "CYP2D6\t\tSuper Duper Metabolizer", "phenotype is not a term",
            ("Super Duper",)),
        bad("cyp2c19-super-duper", "CYP2C19", "CYP2C19\t\tSuper Duper Metabolizer", "phenotype is not a term",
            ("Super Duper",)),
        bad("cyp2d6-other-genes-term", "CYP2D6", "CYP2D6\t\tPoor Function", "phenotype is not a term"),
        bad("cyp2c9-typo", "CYP2C9", "CYP2C9\t\tIntermediat Metabolizer", "phenotype is not a term"),
        bad("slco1b1-metabolizer", "SLCO1B1", "SLCO1B1\t\tPoor Metabolizer", "phenotype is not a term"),
        bad("dpyd-free-text", "DPYD", "DPYD\t\tprobably fine", "phenotype is not a term", ("probably fine",)),
        bad("cyp2d6-valid-dip-bad-pheno", "CYP2D6", "CYP2D6\t*1/*4\tGreat Metabolizer", "phenotype is not a term",
            ("Great",)),
        # activity scores
        bad("cyp2d6-score-word", "CYP2D6", "CYP2D6\t\t\thigh", "activity score is not a number", ("high",)),
        bad("cyp2d6-score-out-of-table", "CYP2D6", "CYP2D6\t\t\t7.5", "not a value of the CPIC", ("7.5",)),
        bad("cyp2d6-score-negative", "CYP2D6", "CYP2D6\t\t\t-1", "not a value of the CPIC"),
        bad("cyp2c19-score-not-activity-gene", "CYP2C19", "CYP2C19\t\t\t1.0", "has no activity score"),
        bad("dpyd-score-out-of-table", "DPYD", "DPYD\t\t\t3.5", "not a value of the CPIC"),
        # HLA grammar
        bad("hla-b-xx-garbage", "HLA-B", "HLA-B\t*57:01:XX/garbage", "not an HLA allele name", ("XX", "garbage")),
        bad("hla-b-no-colon", "HLA-B", "HLA-B\t*5701/*07:02", "not an HLA allele name", ("*5701",)),
        bad("hla-b-no-star", "HLA-B", "HLA-B\t57:01/07:02", "not an HLA allele name"),
        bad("hla-b-five-fields", "HLA-B", "HLA-B\t*57:01:01:02:03/*07:02", "not an HLA allele name"),
        bad("hla-b-bad-suffix", "HLA-B", "HLA-B\t*57:01Z/*07:02", "not an HLA allele name", ("*57:01Z",)),
        bad("hla-b-status-word", "HLA-B", "HLA-B\t\t*57:01 maybe", "not an allele status", ("maybe",)),
        bad("hla-b-status-no-allele", "HLA-B", "HLA-B\t\tpositive", "not an allele status"),
        bad("hla-b-status-bad-allele", "HLA-B", "HLA-B\t\t*57 positive", "not an allele status"),
        bad("hla-b-tie-row-invalid", "HLA-B", "HLA-B\t*57:01/*07:02\nHLA-B\t*57:01:XX/*07:02",
            "not an HLA allele name", ("XX",)),
        # rows that cannot be read at all
        fatal("unknown-gene", "CYP9Z9\t*1/*1", "unknown gene in column 1"),
        fatal("gene-only", "CYP2D6", "expected a diplotype, phenotype or activity score"),
        fatal("five-columns", "CYP2D6\t*1/*4\t\t\textra", "more than 4 columns"),
    ]
    # the same rows in a tie: one invalid row makes the whole gene an error (fixing the line name)
    c[-4].must = ("outside.tsv line 3", "HLA-B", "not an HLA allele name")

    def valid(cid: str, gene: str, row: str, expect_action: tuple[str, ...]) -> Case:
        def check(got: Result) -> None:
            gc, recs = got.value
            assert recs and all(r.action in expect_action for r in recs), [(r.source, r.action) for r in recs]
        return Case(cid, "outside-call", _run(gene, [row]), "ok", check=check)

    c += [valid("control-hla-b-5701-positive", "HLA-B", "HLA-B\t\t*57:01 positive", ("avoid",)),
          valid("control-cyp2d6-poor", "CYP2D6", "CYP2D6\t*4/*4", ("avoid", "use_alternative"))]
    return c
