"""Read genotypes at the PGx definition positions from a VCF/BCF/gVCF with cyvcf2.

Expected normalisation: GRCh38, variants at the definitions' positions with their anchor base (as
`bcftools norm -f GRCh38.fa -m+` produces: left-aligned, multi-allelic sites joined). Split multi-allelic
records at one position are joined here. Indels written with a different but equivalent trailing context
(e.g. `C>CAT` for `CAT>CATAT`) are recognised; a record that overlaps a definition position without starting
there is reported as a per-position warning, never silently matched.

Genotype codes per (sample, position) and the per-sample missing reasons are the calling stage's records
(ehrgen.pgx.genotype_codes): the reader writes them, the matcher reads them (data flows ingest -> pgx).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import tempfile
import warnings
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ehrgen.errors import InputError
from ehrgen.ingest import ref_quality, vcf_checks
from ehrgen.pgx.definitions import Definitions
from ehrgen.pgx.genotype_codes import (  # noqa: F401 (re-exported for callers of the reader)
    ABSENT, LOW_REF_GQ, MISSING, NOT_IN_FILE, PARTIAL, PARTIAL_CALL, UNDOC,
)

log = logging.getLogger(__name__)

# GRCh37 vs GRCh38 lengths of contigs that carry PGx genes
GRCH37_LENGTHS = {"1": 249250621, "2": 243199373, "4": 191154276, "6": 171115067, "7": 159138663,
                  "8": 146364022, "10": 135534747, "12": 133851895, "13": 115169878, "16": 90354753,
                  "19": 59128983, "22": 51304566, "X": 155270560}
GRCH38_LENGTHS = {"1": 248956422, "2": 242193529, "4": 190214555, "6": 170805979, "7": 159345973,
                  "8": 145138636, "10": 133797422, "12": 133275309, "13": 114364328, "16": 90338345,
                  "19": 58617616, "22": 50818468, "X": 156040895}
SYMBOLIC_REF_BLOCK = {"<NON_REF>", "<*>", "."}


def norm_chrom(chrom: str) -> str:
    c = chrom[3:] if chrom.lower().startswith("chr") else chrom
    return "M" if c in ("MT", "M") else c


@dataclass
class GeneGenotypes:
    """Genotype codes for one gene: arrays of shape (n_samples, n_positions)."""

    a1: np.ndarray
    a2: np.ndarray
    phased: np.ndarray  # bool
    ps: np.ndarray  # int64 phase set (0 = none given)
    file_missing: dict[int, str] = field(default_factory=dict)  # position index -> reason for all samples
    warnings: list[str] = field(default_factory=list)
    # per (sample, position) reason code (ehrgen.pgx.genotype_codes.SAMPLE_REASONS) for one sample's genotype
    # counted missing: imputed and too uncertain, reference call below min_ref_gq, `0/.`; None when there is none
    low_quality: np.ndarray | None = None


@dataclass
class GenotypeBatch:
    path: str
    samples: list[str]
    genes: dict[str, GeneGenotypes]
    warnings: list[str] = field(default_factory=list)
    gvcf: bool = False  # reference blocks seen: absent positions were not covered
    assumptions: list[str] = field(default_factory=list)  # e.g. absent_is_reference (ehrgen.ingest.absent)
    calling: dict = field(default_factory=dict)  # the calling options the file was read with (-> calls.json)


@dataclass
class _Site:
    gene: str
    index: int


@dataclass
class _RefGq:
    """calling.min_ref_gq for one read, and how many reference calls had no GQ to judge."""

    min_gq: int = 0
    unjudged: int = 0

    def weak(self, rec, a1: np.ndarray, a2: np.ndarray, reorder) -> np.ndarray | None:
        """Samples whose reference call here has GQ below the threshold (None when the check is off)."""
        if self.min_gq <= 0:
            return None
        low, unjudged = ref_quality.low_reference(rec, ref_quality.reference_calls(a1, a2), reorder, self.min_gq)
        self.unjudged += unjudged
        return low


def _set_sample_reasons(gg: GeneGenotypes, i: int, codes: np.ndarray | None) -> None:
    """The per-sample reason codes of position i, replacing any an earlier record or block left there."""
    if codes is None or not codes.any():
        if gg.low_quality is not None:
            gg.low_quality[:, i] = 0
        return
    if gg.low_quality is None:
        gg.low_quality = np.zeros(gg.a1.shape, dtype=np.uint8)
    gg.low_quality[:, i] = codes


# the empty block bgzip writes last; a file cut short lacks it (htslib's own truncation test)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def _check_gzip_complete(path: Path, head: bytes) -> None:
    """A truncated bgzip/gzip file gives a clear message here instead of a C-level abort later."""
    if head[12:14] == b"BC":  # BGZF: look at the end-of-file block only, never decompress the whole file
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - len(BGZF_EOF)))
            if fh.read() != BGZF_EOF:
                raise InputError(str(path), "corrupt or truncated gzip/bgzip data (no BGZF end-of-file block)")
        return
    try:  # plain gzip has no end marker: the stream must decompress to its end
        with gzip.open(path, "rb") as gz:
            while gz.read(1 << 20):
                pass
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(str(path), f"corrupt or truncated gzip/bgzip data ({exc.__class__.__name__})") from None


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(str(path), "file not found")
    if path.is_dir():
        raise InputError(str(path), "is a directory, expected a VCF file")
    with path.open("rb") as fh:
        head = fh.read(18)
    compressed = head[:2] == b"\x1f\x8b"
    if compressed:
        _check_gzip_complete(path, head)
    elif head[:3] == b"BCF":  # uncompressed BCF
        return
    with (gzip.open(path, "rb") if compressed else path.open("rb")) as fh:
        first = fh.readline()
        if first.startswith(b"BCF"):
            return
        if not first.startswith(b"##fileformat=VCF"):
            raise InputError(str(path), "missing VCF header: the first line must be '##fileformat=VCFv4.x'",
                             line=1)
        # the meta lines must end with the #CHROM column line
        for n, line in enumerate(fh, start=2):
            if not line.startswith(b"##"):
                if not line.startswith(b"#CHROM"):
                    raise InputError(str(path), "expected the '#CHROM POS ID REF ALT ...' header line after the "
                                                "'##' meta lines", line=n)
                break


def _check_build(path: Path, raw_header: str) -> None:
    for line in raw_header.splitlines():
        low = line.lower()
        if low.startswith("##reference") or low.startswith("##assembly") or (
                low.startswith("##contig") and "assembly=" in low):
            if any(tag in low for tag in ("grch37", "hg19", "b37", "hs37", "human_g1k_v37")):
                raise InputError(str(path), "GRCh37/hg19 input: ehrgen needs GRCh38 coordinates "
                                            "(lift over or re-align, then normalise)")
        if low.startswith("##contig=<"):
            fields = dict(kv.split("=", 1) for kv in line[10:].rstrip(">").split(",") if "=" in kv)
            c = norm_chrom(fields.get("ID", ""))
            try:
                length = int(fields.get("length", "0"))
            except ValueError:
                continue
            if c in GRCH37_LENGTHS and length == GRCH37_LENGTHS[c] and length != GRCH38_LENGTHS[c]:
                raise InputError(str(path), f"contig {fields.get('ID')} has the GRCh37 length {length}: "
                                            "ehrgen needs GRCh38 input")


def _index_exists(path: Path) -> bool:
    s = str(path)
    return any(os.path.exists(s + ext) for ext in (".tbi", ".csi"))


@contextlib.contextmanager
def _htslib_messages(sink: list[str]):
    """Collect htslib's C-level stderr messages (kept for the error text instead of leaking to the terminal)."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)
            tmp.seek(0)
            sink.extend(l for l in tmp.read().decode(errors="replace").splitlines() if l.strip())


def read_genotypes(path: Path | str, definitions: Definitions, samples: list[str] | None = None,
                   genes: list[str] | None = None, calling=None) -> GenotypeBatch:
    """Read every definition position of `genes` for `samples` (default: all) in one pass over the file.

    `calling` (settings.CallingSettings): imputation thresholds, `min_ref_gq` and `absent_is_reference`
    (defaults when None).
    """
    from ehrgen.ingest import imputed

    messages: list[str] = []
    notes: list[str] = []  # said on stderr as well as kept in the calls: how the file had to be read
    quality = imputed.Thresholds.from_settings(calling) if calling is not None else imputed.Thresholds()
    min_ref_gq = int(getattr(calling, "min_ref_gq", 0) or 0)
    try:
        with _htslib_messages(messages), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cyvcf2 warns on empty regions: not an error here
            try:
                batch = _read_genotypes(path, definitions, samples, genes, quality=quality, notes=notes,
                                        min_ref_gq=min_ref_gq)
            except _IndexDoubt as doubt:
                # the indexed read found nothing at the PGx positions: a streamed read decides (count check)
                messages.clear()
                batch = _read_genotypes(path, definitions, samples, genes, quality=quality, use_index=False,
                                        notes=notes, min_ref_gq=min_ref_gq)
                if doubt.hits_needed(batch):
                    notes.append(f"index {doubt.index} gave no record at the PGx positions but the data has "
                                 f"{doubt.hits_needed(batch)}: the index does not belong to this file; "
                                 "the file was streamed instead")
    except InputError as exc:
        if messages and "malformed" in str(exc):
            raise InputError(str(path), f"malformed VCF record: {messages[0].split('] ', 1)[-1]}") from None
        raise
    for note in notes:
        log.warning("%s: %s", path, note)
    batch.warnings += notes + [f"htslib: {m.split('] ', 1)[-1]}" for m in messages[:5]]
    if calling is not None and getattr(calling, "absent_is_reference", False):
        from ehrgen.ingest.absent import apply_absent_is_reference

        apply_absent_is_reference(batch, definitions)
    batch.calling = {"absent_is_reference": bool(getattr(calling, "absent_is_reference", False)),
                     "min_gp": quality.min_gp, "min_imputation_r2": quality.min_r2, "min_ref_gq": min_ref_gq}
    return batch


class _IndexDoubt(Exception):
    """The indexed read hit no PGx position: maybe a wrong index, maybe no PGx data. Stream to find out."""

    def __init__(self, index: str) -> None:
        super().__init__(index)
        self.index = index

    @staticmethod
    def hits_needed(batch: GenotypeBatch) -> int:
        return batch.__dict__.get("_hits", 0)


def _read_genotypes(path: Path | str, definitions: Definitions, samples: list[str] | None,
                    genes: list[str] | None, quality=None, use_index: bool = True,
                    notes: list[str] | None = None, min_ref_gq: int = 0) -> GenotypeBatch:
    from cyvcf2 import VCF  # imported here: cyvcf2 import is the slow part of start-up

    path = Path(path)
    _check_readable(path)
    try:
        vcf = VCF(str(path), gts012=False, lazy=True, threads=1)
    except Exception as exc:  # cyvcf2 raises a bare Exception for an unparsable header
        raise InputError(str(path), f"cannot be read as VCF/BCF: {exc}") from None
    raw_header = vcf.raw_header
    _check_build(path, raw_header)
    all_samples = list(vcf.samples)
    if not all_samples:
        raise InputError(str(path), "has no samples (no genotype columns after FORMAT)")
    if samples:
        in_file = set(all_samples)
        unknown = [s for s in samples if s not in in_file]
        if unknown:
            raise InputError(str(path), f"sample(s) not found: {', '.join(unknown)} "
                                        f"(file has {len(all_samples)} sample(s))")
        vcf.set_samples(samples)
        chosen = list(samples)
        # cyvcf2 returns columns in file order after set_samples
        wanted = set(samples)  # built once: 200,000 samples made the per-element set and list.index quadratic
        rank = {s: i for i, s in enumerate(s for s in all_samples if s in wanted)}
        reorder = np.array([rank[s] for s in chosen])
    else:
        chosen, reorder = all_samples, None
    n = len(chosen)
    gene_names = [g for g in (genes or definitions.vcf_genes) if definitions.genes[g].call_mode != "outside_only"]

    # site index: chrom -> sorted positions -> sites
    sites: dict[str, dict[int, list[_Site]]] = {}
    out: dict[str, GeneGenotypes] = {}
    for g in gene_names:
        gd = definitions.genes[g]
        p = len(gd.positions)
        out[g] = GeneGenotypes(
            a1=np.full((n, p), MISSING, dtype=np.int8), a2=np.full((n, p), MISSING, dtype=np.int8),
            phased=np.zeros((n, p), dtype=bool), ps=np.zeros((n, p), dtype=np.int64))
        chrom = norm_chrom(gd.chromosome or "")
        for i, pdef in enumerate(gd.positions):
            sites.setdefault(chrom, {}).setdefault(pdef.pos, []).append(_Site(g, i))
    sorted_pos = {c: sorted(d) for c, d in sites.items()}
    seen: dict[tuple[str, int], int] = {}  # (gene, index) -> number of real records seen
    block_filled: set[tuple[str, int]] = set()
    ref_mismatch = [0, 0]
    ref_gq = _RefGq(min_ref_gq)
    batch_warnings: list[str] = []
    gvcf = False

    contig_names = {norm_chrom(c): c for c in (vcf.seqnames or [])}
    site_log = vcf_checks.SiteLog(str(path))
    on_pgx_chroms = hits = 0
    indexed = False
    if use_index and _index_exists(path):
        problem = vcf_checks.index_problem(path, raw_header)
        if problem:  # checked before htslib touches it: a foreign index can crash the process
            (notes if notes is not None else batch_warnings).append(f"{problem}; the file was streamed instead")
            use_index = False
            vcf.close()
            vcf = VCF(str(path), gts012=False, lazy=True, threads=1)
            if samples:
                vcf.set_samples(samples)
    if use_index and _index_exists(path) and contig_names:
        indexed = True
        def regions():
            for c, plist in sorted_pos.items():
                name = contig_names.get(c)
                if name is None:
                    continue
                yield from vcf(f"{name}:{plist[0]}-{plist[-1]}")
        records = regions()
    else:
        records = iter(vcf)

    try:
        for rec in records:
            chrom = norm_chrom(rec.CHROM)
            by_pos = sites.get(chrom)
            if by_pos is None:
                continue
            on_pgx_chroms += 1
            pos = rec.POS
            alts = rec.ALT
            # a gVCF reference block, or a monomorphic (ALT '.') site: reference calls for what it covers
            if not alts or all(a in SYMBOLIC_REF_BLOCK for a in alts):
                plist = sorted_pos[chrom]
                lo, hi = bisect_left(plist, pos), bisect_right(plist, rec.end)
                if lo == hi:
                    continue
                hits += 1
                gvcf = True
                vcf_checks.check_genotypes(str(path), rec, _gt_array(rec, reorder), chosen, chrom)
                _apply_block(rec, plist[lo:hi], by_pos, out, seen, block_filled, reorder, ref_gq)
                continue
            if not gvcf and ("<NON_REF>" in alts or "<*>" in alts):
                gvcf = True
            if pos not in by_pos:
                # a REF spanning a definition position without starting there: cannot be matched safely
                if len(rec.REF) > 1:
                    plist = sorted_pos[chrom]
                    lo, hi = bisect_right(plist, pos), bisect_right(plist, pos + len(rec.REF) - 1)
                    for p in plist[lo:hi]:
                        for s in by_pos[p]:
                            out[s.gene].warnings.append(
                                f"position {p}: a record at {chrom}:{pos} overlaps it without starting there; "
                                "normalise the VCF (bcftools norm -f GRCh38) so it can be matched")
                continue
            hits += 1
            gt_checked = _gt_array(rec, reorder)
            vcf_checks.check_genotypes(str(path), rec, gt_checked, chosen, chrom)
            if site_log.is_duplicate(rec, chrom, gt_checked, chosen):
                continue
            for s in by_pos[pos]:
                pdef = definitions.genes[s.gene].positions[s.index]
                ref_mismatch[1] += 1
                if rec.REF.upper()[0] != pdef.ref.upper()[0]:
                    ref_mismatch[0] += 1
                _apply_record(rec, s, pdef, out[s.gene], seen, reorder, quality, ref_gq)
    except Exception as exc:  # cyvcf2/htslib raise plain exceptions on malformed records
        if isinstance(exc, InputError):
            raise
        raise InputError(str(path), f"malformed VCF record ({exc})") from None

    if indexed and hits == 0:
        raise _IndexDoubt(Path(str(path) + (".tbi" if os.path.exists(str(path) + ".tbi") else ".csi")).name)
    wrong_build = vcf_checks.build_problem(on_pgx_chroms, hits, ref_mismatch[1], ref_mismatch[0])
    if wrong_build:
        raise InputError(str(path), wrong_build)
    batch_warnings += site_log.warnings
    if ref_gq.unjudged:
        batch_warnings.append(ref_quality.unjudged_warning(min_ref_gq, ref_gq.unjudged))
    for g in gene_names:
        gd = definitions.genes[g]
        for i, pdef in enumerate(gd.positions):
            if (g, i) not in seen and (g, i) not in block_filled:
                out[g].file_missing.setdefault(i, NOT_IN_FILE)
    batch = GenotypeBatch(path=str(path), samples=chosen, genes=out, warnings=batch_warnings, gvcf=gvcf)
    batch.__dict__["_hits"] = hits  # for the index count check in read_genotypes
    return batch


def _gt_array(rec, reorder):
    arr = rec.genotype.array() if rec.genotype is not None else None
    if arr is None:
        raise ValueError(f"record {rec.CHROM}:{rec.POS} has no GT field")
    if reorder is not None:
        arr = arr[reorder]
    return arr


def _ps_array(rec, n, reorder):
    try:
        ps = rec.format("PS")
    except KeyError:
        ps = None
    if ps is None:
        return np.zeros(n, dtype=np.int64)
    ps = np.asarray(ps).reshape(len(ps), -1)[:, 0].astype(np.int64)
    ps[ps < 0] = 0
    if reorder is not None:
        ps = ps[reorder]
    return ps


def _apply_record(rec, site: _Site, pdef, gg: GeneGenotypes, seen: dict, reorder, quality=None,
                  ref_gq: _RefGq | None = None) -> None:
    from ehrgen.ingest import imputed

    i = site.index
    key = (site.gene, i)
    filt = rec.FILTER
    low_site = imputed.site_reason(rec, quality) if quality is not None else None
    if low_site:
        gg.warnings.append(imputed.site_warning(rec, pdef.pos, quality))
    if filt not in (None, "PASS", ".") or low_site:
        gg.file_missing[i] = low_site or f"filter:{filt}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 1:
            gg.a1[:, i] = MISSING
            gg.a2[:, i] = MISSING
            _set_sample_reasons(gg, i, None)  # the position-wide reason says why
        return
    # map VCF allele index -> definition code
    vcf_alleles = [rec.REF, *rec.ALT]
    codes = []
    for k, allele in enumerate(vcf_alleles):
        if allele.startswith("<") or allele == "*":
            codes.append(MISSING)
        else:
            codes.append(pdef.code_of(rec.REF, allele) if k else 0)
    if not pdef.ref.upper().startswith(rec.REF.upper()[0]):
        gg.warnings.append(f"position {pdef.pos}: VCF REF does not match the definition's REF")
    lut = np.array(codes + [MISSING], dtype=np.int8)  # index -1 -> MISSING
    gt = _gt_array(rec, reorder)
    c1 = gt[:, 0]
    c2 = gt[:, 1] if gt.shape[1] > 2 else np.full(len(gt), -2)
    # a haploid call has no phase (cyvcf2's flag there is not meaningful)
    phased = gt[:, -1].astype(bool) & (c2 != -2)
    a1 = np.where(c1 >= 0, lut[np.clip(c1, 0, len(codes) - 1)], MISSING).astype(np.int8)
    a2 = np.where(c2 >= 0, lut[np.clip(c2, 0, len(codes) - 1)], np.where(c2 == -2, ABSENT, MISSING)).astype(np.int8)
    # partial genotypes: '0/.' is missing; 'x/.' (x != 0) keeps the ALT with an unknown partner
    part1 = (a1 == MISSING) & (a2 >= 1)
    part2 = (a2 == MISSING) & (a1 >= 1)
    ref_partial = ((a1 == MISSING) & (a2 == 0)) | ((a2 == MISSING) & (a1 == 0))
    a1 = np.where(part1, PARTIAL, a1)
    a2 = np.where(part2, PARTIAL, a2)
    if rec.CHROM in ("chrX", "X"):
        # chrX (G6PD): PharmCAT reads '0/.' as one REF allele, a haploid-looking call, so a woman's other
        # (diploid) calls make the gene not callable (mixed ploidy), never a call from the rest
        a1 = np.where(ref_partial, 0, a1)
        a2 = np.where(ref_partial, ABSENT, a2)
    else:
        a1 = np.where(ref_partial, MISSING, a1)
        a2 = np.where(ref_partial, MISSING, a2)
    reasons = imputed.genotype_reasons(rec, gt, reorder, quality) if quality is not None else None
    if reasons is not None and reasons.any():  # imputed genotypes too uncertain to use: missing, reason kept
        a1 = np.where(reasons > 0, MISSING, a1).astype(np.int8)
        a2 = np.where(reasons > 0, np.where(a2 == ABSENT, ABSENT, MISSING), a2).astype(np.int8)
    weak = ref_gq.weak(rec, a1, a2, reorder) if ref_gq is not None else None
    if ref_partial.any() or (weak is not None and weak.any()):
        reasons = np.zeros(len(a1), dtype=np.uint8) if reasons is None else reasons.astype(np.uint8)
        reasons = np.where(ref_partial & (reasons == 0), PARTIAL_CALL, reasons).astype(np.uint8)
        if weak is not None and weak.any():  # a reference call too weak to count as reference
            a1 = np.where(weak, MISSING, a1).astype(np.int8)
            a2 = np.where(weak & (a2 != ABSENT), MISSING, a2).astype(np.int8)
            reasons = np.where(weak & (reasons == 0), LOW_REF_GQ, reasons).astype(np.uint8)
    ps = _ps_array(rec, len(gt), reorder)
    n_seen = seen.get(key, 0)
    seen[key] = n_seen + 1
    if n_seen == 0 or i in gg.file_missing:
        gg.file_missing.pop(i, None)
        gg.a1[:, i], gg.a2[:, i], gg.phased[:, i], gg.ps[:, i] = a1, a2, phased, ps
        _set_sample_reasons(gg, i, reasons)  # a real record wins over a block, and its reasons too
        return
    # a second record at the same position (split multi-allelic): join the non-reference alleles
    o1, o2 = gg.a1[:, i].copy(), gg.a2[:, i].copy()
    for j in range(len(a1)):
        old, new = (int(o1[j]), int(o2[j])), (int(a1[j]), int(a2[j]))
        if MISSING in old or MISSING in new or PARTIAL in old or PARTIAL in new:
            gg.a1[j, i] = gg.a2[j, i] = MISSING
            continue
        both_phased = bool(gg.phased[j, i] and phased[j])
        merged = vcf_checks.merge_split(old, new, both_phased, ABSENT)
        if merged is None:
            gg.a1[j, i] = gg.a2[j, i] = MISSING
            gg.warnings.append(f"position {pdef.pos}: more alleles than the ploidy across split records")
            continue
        gg.a1[j, i], gg.a2[j, i] = merged
        gg.phased[j, i] = both_phased
    if reasons is not None or gg.low_quality is not None:
        # keep the first record's reason, else this one's, and only where the joined genotype is missing
        old_r = gg.low_quality[:, i] if gg.low_quality is not None else np.zeros(len(a1), dtype=np.uint8)
        new_r = reasons if reasons is not None else np.zeros(len(a1), dtype=np.uint8)
        missing = (gg.a1[:, i] == MISSING) | (gg.a2[:, i] == MISSING)
        _set_sample_reasons(gg, i, np.where(missing, np.where(old_r > 0, old_r, new_r), 0).astype(np.uint8))


def _apply_block(rec, positions: list[int], by_pos, out, seen, block_filled, reorder,
                 ref_gq: _RefGq | None = None) -> None:
    """A gVCF reference block: a reference call at every definition position it covers (not yet seen);
    below calling.min_ref_gq it is missing (reason low_ref_gq), never reference."""
    filt = rec.FILTER
    gt = _gt_array(rec, reorder)
    c1 = gt[:, 0]
    c2 = gt[:, 1] if gt.shape[1] > 2 else np.full(len(gt), -2)
    ok = filt in (None, "PASS", ".")
    a1 = np.where((c1 == 0) & ok, 0, MISSING).astype(np.int8)
    a2 = np.where(c2 == -2, ABSENT, np.where((c2 == 0) & ok, 0, MISSING)).astype(np.int8)
    both_missing = (a1 == MISSING) | (a2 == MISSING)
    a1 = np.where(both_missing, MISSING, a1)
    a2 = np.where(both_missing & (a2 != ABSENT), MISSING, a2)
    weak = ref_gq.weak(rec, a1, a2, reorder) if ref_gq is not None and ok else None
    reasons = None
    if weak is not None and weak.any():
        a1 = np.where(weak, MISSING, a1).astype(np.int8)
        a2 = np.where(weak & (a2 != ABSENT), MISSING, a2).astype(np.int8)
        reasons = np.where(weak, LOW_REF_GQ, 0).astype(np.uint8)
    for p in positions:
        for s in by_pos[p]:
            key = (s.gene, s.index)
            if key in seen:  # a real record wins over a block
                continue
            gg = out[s.gene]
            gg.a1[:, s.index], gg.a2[:, s.index] = a1, a2
            gg.phased[:, s.index] = False
            _set_sample_reasons(gg, s.index, reasons)
            block_filled.add(key)
            if not ok:
                gg.file_missing[s.index] = f"filter:{filt}"
            else:  # a later passing block replaces an earlier filtered one
                gg.file_missing.pop(s.index, None)
