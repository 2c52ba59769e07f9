"""`ehrgen call`: VCF -> star-allele diplotypes and phenotypes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ehrgen.cli.common import err_console, one_line_errors


def register(app: typer.Typer) -> None:
    @app.command("call")
    @one_line_errors
    def call(
        vcf: Path = typer.Argument(..., help="VCF/BCF/gVCF, plain or bgzipped (indexed files are read by region)"),
        out: Path = typer.Option(..., "--out", help="output folder for <sample>.calls.json and calls.tsv"),
        outside_calls: Optional[Path] = typer.Option(
            None, "--outside-calls",
            help="PharmCAT outside-call TSV (applies to every sample), or a folder of <sample>.tsv files"),
        sample: Optional[list[str]] = typer.Option(None, "--sample", help="only these samples (repeatable)"),
    ) -> None:
        """Call PGx diplotypes and phenotypes for each sample of a VCF (writes calls.json per sample + calls.tsv)."""
        from ehrgen.pgx.caller import call_vcf
        from ehrgen.pgx.definitions import load_definitions
        from ehrgen.pgx.output import write_calls_tsv, write_sample_calls
        from ehrgen.pgx.outside import parse_outside_calls
        from ehrgen.ingest.vcf import read_genotypes  # noqa: F401  (import errors surface early)

        defs = load_definitions()
        outside = None
        if outside_calls is not None:
            outside = _load_outside(outside_calls, defs)
        results = call_vcf(vcf, samples=sample or None, outside=None, definitions=defs)
        if outside is not None:
            from ehrgen.pgx.caller import call_batch  # noqa: F401
            results = _apply_outside(results, outside, defs)
        for r in results:
            write_sample_calls(r, out)
        write_calls_tsv(results, out / "calls.tsv")
        counts: dict[str, int] = {}
        for r in results:
            for c in r.genes.values():
                counts[c.status] = counts.get(c.status, 0) + 1
        err_console.print(f"called {len(results)} sample(s): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                          + f" -> {out}", highlight=False)


def _load_outside(path: Path, defs):
    from ehrgen.pgx.outside import parse_outside_calls

    if path.is_dir():
        found = {}
        for f in sorted(path.iterdir()):
            if f.suffix == ".tsv":
                sample = f.name[: -len(".outside.tsv")] if f.name.endswith(".outside.tsv") else f.stem
                found[sample] = parse_outside_calls(f, defs)
        return ("per-sample", found)
    return ("all", parse_outside_calls(path, defs))


def _apply_outside(results, outside, defs):
    from ehrgen.pgx.caller import call_batch  # noqa: F401
    from ehrgen.pgx.outside import outside_gene_call

    mode, data = outside
    for r in results:
        calls = data if mode == "all" else data.get(r.sample, {})
        for gene, oc in calls.items():
            prev = r.genes.get(gene)
            gc = outside_gene_call(oc, defs.genes[gene])
            if prev is not None and prev.source == "vcf" and prev.status != "no_data":
                gc.warnings.append(f"{gene}: outside call overrides the VCF call ({prev.diplotype_text or prev.status})")
            r.genes[gene] = gc
    return results
