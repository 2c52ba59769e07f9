"""Call every gene for every sample of a VCF: read once, compute each distinct genotype pattern once.

The I/O edge of the calling stage: it reads VCFs through ehrgen.ingest (`call_vcf`) and takes the reader's
GenotypeBatch; the science it calls (matcher, reasons, outside calls) never imports the reader.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np

from ehrgen import __version__
from ehrgen.ingest.vcf import GenotypeBatch, read_genotypes
from ehrgen.pgx.definitions import Definitions, load_definitions
from ehrgen.pgx.matcher import Pattern, call_gene
from ehrgen.pgx.model import GeneCall, SampleCalls
from ehrgen.pgx.outside import OutsideCall, outside_gene_call
from ehrgen.pgx.reasons import call_with_reasons


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pattern_key(a1: np.ndarray, a2: np.ndarray, phased: np.ndarray, ps: np.ndarray) -> bytes:
    if not phased.any():
        return a1.tobytes() + a2.tobytes()
    # phase sets only matter by equality: renumber them so equal structures share a key
    _, ps_rank = np.unique(ps, return_inverse=True)
    return a1.tobytes() + a2.tobytes() + phased.tobytes() + ps_rank.astype(np.int16).tobytes()


def _call_gene_column(gd, gg) -> list[GeneCall]:
    """One gene for all samples: each distinct genotype pattern is matched once."""
    n = gg.a1.shape[0]
    if n == 0:
        return []
    if gg.low_quality is not None and gg.low_quality.any():
        # per-sample reasons (imputation quality, low-GQ reference, 0/.): named on the positions afterwards
        return call_with_reasons(gd, gg.low_quality, lambda: _call_gene_column_plain(gd, gg))
    return _call_gene_column_plain(gd, gg)


def _call_gene_column_plain(gd, gg) -> list[GeneCall]:
    n = gg.a1.shape[0]
    if not gg.phased.any():
        rows = np.ascontiguousarray(np.concatenate([gg.a1, gg.a2], axis=1))
        uniq, first, inverse = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(),
                                         return_index=True, return_inverse=True)
        calls = [call_gene(gd, Pattern(gg.a1[k], gg.a2[k], gg.phased[k], gg.ps[k]), gg.file_missing, gg.warnings)
                 for k in first]
        return [calls[i] for i in inverse.ravel()]
    # phased data: phase sets only matter by equality, so each row's PS values become their rank within the row
    # (vectorised; the same keys _pattern_key gives one row at a time), then distinct rows are matched once
    ranks = _row_ranks(gg.ps)
    rows = np.ascontiguousarray(np.concatenate(
        [gg.a1.astype(np.int16), gg.a2.astype(np.int16), gg.phased.astype(np.int16),
         np.where(gg.phased.any(axis=1)[:, None], ranks, 0).astype(np.int16)], axis=1))
    uniq, first, inverse = np.unique(rows.view(np.dtype((np.void, rows.shape[1] * 2))).ravel(),
                                     return_index=True, return_inverse=True)
    calls = [call_gene(gd, Pattern(gg.a1[k], gg.a2[k], gg.phased[k], gg.ps[k]), gg.file_missing, gg.warnings)
             for k in first]
    return [calls[i] for i in inverse.ravel()]


def _row_ranks(ps: np.ndarray) -> np.ndarray:
    """Per row, each value's rank among the row's distinct values (np.unique's inverse, for every row at once)."""
    if ps.size == 0:
        return ps.astype(np.int64)
    order = np.argsort(ps, axis=1, kind="stable")
    srt = np.take_along_axis(ps, order, axis=1)
    step = np.concatenate([np.zeros((ps.shape[0], 1), dtype=np.int64),
                           (np.diff(srt, axis=1) != 0).astype(np.int64)], axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.cumsum(step, axis=1), axis=1)
    return ranks


def call_batch(batch: GenotypeBatch, definitions: Definitions | None = None,
               outside: dict[str, dict[str, OutsideCall]] | None = None,
               source_sha256: str = "") -> list[SampleCalls]:
    """Calls for every sample in `batch`; `outside` maps sample -> gene -> outside call (overrides)."""
    defs = definitions or load_definitions()
    per_gene = {gene: _call_gene_column(defs.genes[gene], gg) for gene, gg in batch.genes.items()}
    untested = {gene: GeneCall(gene=gene, status="no_data", source="outside",
                               warnings=[f"{gene}: not tested (needs an outside call)"])
                for gene, gd in defs.genes.items() if gd.call_mode == "outside_only"}
    results: list[SampleCalls] = []
    for j, sample in enumerate(batch.samples):
        # GeneCalls are shared between samples with the same pattern: treated as immutable
        genes: dict[str, GeneCall] = {gene: col[j] for gene, col in per_gene.items()}
        for gene, oc in (outside or {}).get(sample, {}).items():
            oc_call = outside_gene_call(oc, defs.genes[gene])
            if gene in genes and genes[gene].status not in ("no_data",):
                oc_call = copy.copy(oc_call)
                oc_call.warnings = oc_call.warnings + [
                    f"{gene}: outside call overrides the VCF call ({genes[gene].diplotype_text or genes[gene].status})"]
            genes[gene] = oc_call
        for gene, placeholder in untested.items():
            genes.setdefault(gene, placeholder)
        results.append(SampleCalls(sample=sample, genes=genes, source_file=batch.path,
                                   source_sha256=source_sha256, ehrgen_version=__version__,
                                   mappings_version=defs.version, warnings=list(batch.warnings),
                                   assumptions=list(batch.assumptions), calling=dict(batch.calling)))
    return results


def call_vcf(path: Path | str, samples: list[str] | None = None,
             outside: dict[str, dict[str, OutsideCall]] | None = None,
             definitions: Definitions | None = None, calling=None) -> list[SampleCalls]:
    defs = definitions or load_definitions()
    batch = read_genotypes(path, defs, samples=samples, calling=calling)
    return call_batch(batch, defs, outside, source_sha256=file_sha256(path))
