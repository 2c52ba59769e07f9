"""`ehrgen call`: VCF -> star-allele diplotypes and phenotypes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import examples, err_console, one_line_errors

CALL_EXAMPLES = examples(
    "ehrgen call sample_data/vcf/S001.vcf --out out/calls",
    "ehrgen call tests/data/reference/pharmcat-examples/pharmcat.example.vcf \\",
    "    --outside-calls tests/data/reference/pharmcat-examples/pharmcat.example.outsideCall.tsv --out out/calls",
    "ehrgen call tests/data/1kgp-pgx/1kgp-pgx.sparse.vcf.gz --sample HG00096 --sample HG00097 \\",
    "    --absent-is-reference --out out/cohort",
)


def register(app: typer.Typer) -> None:
    @app.command("call", epilog=CALL_EXAMPLES)
    @one_line_errors
    def call(
        vcf: Path = typer.Argument(..., help="VCF/BCF/gVCF, plain or bgzipped (indexed files are read by region)"),
        out: Path = typer.Option(..., "--out", help="output folder for <sample>.calls.json and calls.tsv"),
        outside_calls: Optional[Path] = typer.Option(
            None, "--outside-calls",
            help="PharmCAT outside-call TSV (applies to every sample), or a folder of <sample>.tsv files"),
        sample: Optional[list[str]] = typer.Option(None, "--sample", help="only these samples (repeatable)"),
        absent_is_reference: bool = typer.Option(
            False, "--absent-is-reference",
            help="joint-called cohort VCF: a PGx position absent from the file is homozygous reference for every "
                 "sample (recorded as an assumption; never applied to gVCFs). Setting calling.absent_is_reference"),
        min_ref_gq: Optional[int] = typer.Option(
            None, "--min-ref-gq", min=0,
            help="gVCF: a reference block (or a 0/0 call) with FORMAT GQ below this counts as missing (reason "
                 "low_ref_gq), never as reference; 0 = PharmCAT's behaviour. Setting calling.min_ref_gq"),
    ) -> None:
        """Call PGx diplotypes and phenotypes for each sample of a VCF (writes calls.json per sample + calls.tsv)."""
        from ehrgen.ingest.vcf import read_genotypes
        from ehrgen.pgx.caller import call_batch, file_sha256
        from ehrgen.pgx.definitions import load_definitions
        from ehrgen.pgx.output import write_calls_tsv, write_sample_calls
        from ehrgen.settings import load_settings

        calling = load_settings().calling
        if absent_is_reference:
            calling.absent_is_reference = True
        if min_ref_gq is not None:
            calling.min_ref_gq = min_ref_gq
        defs = load_definitions()
        batch = read_genotypes(vcf, defs, samples=sample or None, calling=calling)
        outside = load_outside_calls(outside_calls, batch.samples, defs) if outside_calls else None
        results = call_batch(batch, defs, outside, source_sha256=file_sha256(vcf))
        memo: dict[int, dict] = {}  # samples with the same genotype pattern share their gene calls
        for r in results:
            write_sample_calls(r, out, memo)
        write_calls_tsv(results, out / "calls.tsv")
        from ehrgen.cli import lineage

        lineage.record(out, "call", vcf=vcf, outside_calls=outside_calls)
        counts: dict[str, int] = {}
        for r in results:
            for c in r.genes.values():
                counts[c.status] = counts.get(c.status, 0) + 1
        err_console.print(f"called {len(results)} sample(s): "
                          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" -> {out}",
                          highlight=False, soft_wrap=True)


def load_outside_calls(path: Path, samples: list[str], defs) -> dict:
    """sample -> gene -> OutsideCall, from one file (every sample) or a folder of <sample>[.outside].tsv."""
    from ehrgen.errors import InputError
    from ehrgen.pgx.outside import parse_outside_calls

    if path.is_dir():
        found = {}
        for f in sorted(path.glob("*.tsv")):
            name = f.name[: -len(".outside.tsv")] if f.name.endswith(".outside.tsv") else f.stem
            if name in samples:
                found[name] = parse_outside_calls(f, defs)
        return found
    if not path.exists():
        raise InputError(str(path), "outside-call file not found")
    calls = parse_outside_calls(path, defs)
    return {s: calls for s in samples}
