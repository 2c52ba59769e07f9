"""Checks that keep a VCF from being read as something it is not (called from ingest/vcf.py).

- genotypes that cannot be what they say: an allele index beyond the record's ALT count, ploidy above 2,
  a haploid call on an autosome;
- duplicate records at one position: the same alleles twice is a duplicate (identical genotypes: a warning;
  different genotypes: an error), never merged as if it were a split multi-allelic site;
- an index that does not belong to its data (older than the data, contigs the header does not know, offsets
  that do not land on a record of the named contig): the caller streams the file instead and says so;
- a file in another build without header hints: records on the PGx chromosomes but none at a defining position.

Messages name the file and the record (CHROM:POS, sample) but never the genotype itself.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ehrgen.errors import InputError

# chromosomes where a haploid call is expected (males on X/Y, mitochondria)
HAPLOID_OK = frozenset({"X", "Y", "M"})
VECTOR_END = -2  # cyvcf2's padding for an allele slot a sample does not have


def _sample(samples: list[str], j: int) -> str:
    return f"sample {samples[j]!r}" if j < len(samples) else f"sample #{j + 1}"


def check_genotypes(path: str, rec, gt: np.ndarray, samples: list[str], chrom: str) -> None:
    """Raise InputError for a genotype this record cannot hold. `gt` is cyvcf2's genotype.array()
    (allele columns, then the phase flag), rows in the order of `samples`."""
    if gt.size == 0:
        return
    where = f"record {rec.CHROM}:{rec.POS}"
    alleles = gt[:, :-1]
    n_alt = len(rec.ALT)
    too_big = np.argwhere(alleles > n_alt)
    if len(too_big):
        j = int(too_big[0][0])
        raise InputError(path, f"{where}, {_sample(samples, j)}: GT names an allele index beyond the "
                               f"{n_alt} ALT allele(s) of the record")
    if alleles.shape[1] > 2:
        extra = np.argwhere((alleles[:, 2:] != VECTOR_END).any(axis=1))
        if len(extra):
            j = int(extra[0][0])
            raise InputError(path, f"{where}, {_sample(samples, j)}: GT has more than 2 alleles "
                                   "(ploidy above 2 is not supported)")
    if chrom not in HAPLOID_OK and alleles.shape[1] >= 1:
        second = alleles[:, 1] if alleles.shape[1] > 1 else np.full(len(alleles), VECTOR_END)
        haploid = np.argwhere((second == VECTOR_END) & (alleles[:, 0] != VECTOR_END))
        if len(haploid):
            j = int(haploid[0][0])
            raise InputError(path, f"{where}, {_sample(samples, j)}: haploid GT on autosome {rec.CHROM} "
                                   "(expected two alleles)")


@dataclass
class SiteLog:
    """Records already applied per (chrom, pos): to tell a duplicate from a split multi-allelic record."""

    path: str
    seen: dict[tuple[str, int], list[tuple[str, tuple[str, ...], bytes]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def is_duplicate(self, rec, chrom: str, gt: np.ndarray, samples: list[str]) -> bool:
        """True when this record repeats an earlier one (same REF and ALT) with identical genotypes: the
        caller skips it (a warning is kept). Different genotypes for the same alleles raise InputError."""
        key = (chrom, rec.POS)
        alleles = (rec.REF.upper(), tuple(a.upper() for a in rec.ALT))
        fingerprint = np.ascontiguousarray(gt[:, :-1]).tobytes()
        for ref, alts, fp in self.seen.get(key, []):
            if (ref, alts) != alleles:
                continue
            if fp == fingerprint:
                self.warnings.append(f"record {rec.CHROM}:{rec.POS} appears twice with the same alleles and "
                                     "genotypes; the duplicate was ignored")
                return True
            raise InputError(self.path, f"record {rec.CHROM}:{rec.POS} appears twice with the same alleles and "
                                        "different genotypes: remove the duplicate (a split multi-allelic site "
                                        "has a different ALT in each record)")
        self.seen.setdefault(key, []).append((alleles[0], alleles[1], fingerprint))
        return False


def merge_split(old: tuple[int, int], new: tuple[int, int], phased: bool, absent: int) -> tuple[int, int] | None:
    """Join one sample's genotype codes from two records at one position (split multi-allelic).

    Phased: strand by strand (a record's first allele is strand 1), so `0|1` + `1|0` is not swapped.
    Unphased: the non-reference alleles of both. None when the records hold more ALT alleles than the ploidy.
    """
    haploid = absent in old or absent in new
    if phased and not haploid:
        out = []
        for o, n in zip(old, new):
            nonref = [x for x in (o, n) if x != 0]
            if len(nonref) > 1:
                return None
            out.append(nonref[0] if nonref else 0)
        return out[0], out[1]
    nonref = [x for x in (*old, *new) if x not in (0, absent)]
    slots = 1 if haploid else 2
    if len(nonref) > slots:
        return None
    merged = nonref + [0] * (slots - len(nonref))
    return (merged[0], merged[1] if slots == 2 else absent)


# ------------------------------------------------------------------------------------------- indexes

def index_path(path: Path) -> Path | None:
    for ext in (".tbi", ".csi"):
        p = Path(str(path) + ext)
        if p.exists():
            return p
    return None


def _header_contigs(raw_header: str) -> set[str]:
    out = set()
    for line in raw_header.splitlines():
        if line.startswith("##contig=<"):
            for kv in line[10:].rstrip(">").split(","):
                if kv.startswith("ID="):
                    out.add(kv[3:])
    return out


def _parse_index(raw: bytes) -> tuple[list[str], list[list[int]]]:
    """(contig names, per contig the chunk-start virtual offsets) from a .tbi or a tabix-style .csi."""
    names: list[str] = []
    if raw[:4] == b"TBI\x01":
        n_ref, _fmt, _cs, _cb, _ce, _meta, _skip, l_nm = struct.unpack_from("<8i", raw, 4)
        names = [n.decode(errors="replace") for n in raw[36:36 + l_nm].split(b"\0") if n]
        off = 36 + l_nm
        bin_chunk_extra = 0
        pseudo = 37450
    elif raw[:4] == b"CSI\x01":
        _min_shift, depth, l_aux = struct.unpack_from("<3i", raw, 4)
        pseudo = ((1 << ((depth + 1) * 3)) - 1) // 7 + 1
        aux = raw[16:16 + l_aux]
        if len(aux) >= 28:
            l_nm = struct.unpack_from("<i", aux, 24)[0]
            names = [n.decode(errors="replace") for n in aux[28:28 + l_nm].split(b"\0") if n]
        off = 16 + l_aux
        n_ref = struct.unpack_from("<i", raw, off)[0]
        off += 4
        bin_chunk_extra = 8  # loffset after each bin id
    else:
        raise ValueError("not a tabix or CSI index")
    if n_ref < 0 or n_ref > 100_000 or (names and len(names) != n_ref):
        raise ValueError("inconsistent reference count")
    chunks: list[list[int]] = []
    for _ in range(n_ref):
        n_bin = struct.unpack_from("<i", raw, off)[0]
        off += 4
        starts: list[int] = []
        for _b in range(n_bin):
            bin_id = struct.unpack_from("<I", raw, off)[0]
            off += 4 + bin_chunk_extra
            n_chunk = struct.unpack_from("<i", raw, off)[0]
            off += 4
            pairs = struct.unpack_from(f"<{2 * n_chunk}Q", raw, off)
            off += 16 * n_chunk
            if bin_id != pseudo:  # the pseudo-bin holds counts, not offsets
                starts += list(pairs[0::2])
        if raw[:4] == b"TBI\x01":
            n_intv = struct.unpack_from("<i", raw, off)[0]
            off += 4 + 8 * n_intv
        chunks.append(sorted(set(starts)))
    return names, chunks


def _block_at(fh, coffset: int, size: int) -> bytes | None:
    """The decompressed BGZF block starting at `coffset`, or None when no block starts there."""
    if coffset >= size:
        return None
    fh.seek(coffset)
    head = fh.read(18)
    if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
        return None
    bsize = struct.unpack_from("<H", head, 16)[0] + 1
    fh.seek(coffset)
    block = fh.read(bsize)
    try:
        return zlib.decompress(block[18:-8], -15)
    except zlib.error:
        return None


def index_problem(path: Path, raw_header: str, max_checks: int = 200) -> str | None:
    """Why the index next to `path` cannot be trusted for this file, or None. Checked before htslib uses it:
    a foreign index can make htslib read garbage (or crash the process)."""
    idx = index_path(path)
    if idx is None:
        return None
    try:
        if int(idx.stat().st_mtime) < int(path.stat().st_mtime):
            return f"index {idx.name} is older than the data"
        with path.open("rb") as fh:
            if fh.read(4) != b"\x1f\x8b\x08\x04":
                return f"index {idx.name} belongs to a bgzip file, but the data is not bgzip-compressed"
        raw = gzip.decompress(idx.read_bytes())
        names, chunks = _parse_index(raw)
        if not any(chunks):
            return f"index {idx.name} holds no record offsets"
    except (OSError, ValueError, EOFError, OverflowError, MemoryError, struct.error, zlib.error) as exc:
        return f"index {idx.name} cannot be read ({exc.__class__.__name__})"
    known = _header_contigs(raw_header)
    if names and known:
        foreign = [n for n in names if n not in known]
        if foreign:
            return f"index {idx.name} names contig(s) the VCF header does not declare ({', '.join(foreign[:3])})"
    size = path.stat().st_size
    checked = 0
    with path.open("rb") as fh:
        for ref_i, starts in enumerate(chunks):
            name = names[ref_i] if ref_i < len(names) else None
            for voff in starts[:max(1, max_checks // max(1, len(chunks)))]:
                coff, uoff = voff >> 16, voff & 0xFFFF
                data = _block_at(fh, coff, size)
                if data is None or uoff >= max(len(data), 1):
                    return f"index {idx.name} points outside the data's compressed blocks"
                if uoff > 0 and data[uoff - 1:uoff] != b"\n":
                    return f"index {idx.name} points into the middle of a record"
                line_chrom = data[uoff:].split(b"\t", 1)[0].decode(errors="replace")
                if name is not None and line_chrom != name:
                    return f"index {idx.name} points at contig {line_chrom!r} where it expects {name!r}"
                checked += 1
                if checked >= max_checks:
                    return None
    return None


# ------------------------------------------------------------------------------------------- build

def build_problem(records_on_pgx_chroms: int, hits: int, ref_checked: int, ref_mismatch: int) -> str | None:
    """Why the file looks like another build (no header hint needed), or None."""
    if hits == 0 and records_on_pgx_chroms >= 5:
        return (f"none of the {records_on_pgx_chroms} records on the PGx chromosomes is at a PGx defining "
                "position: the file is probably not GRCh38 (lift over or re-align, then normalise)")
    if ref_checked >= 2 and ref_mismatch / ref_checked > 0.5:
        return (f"REF bases disagree with GRCh38 at {ref_mismatch} of {ref_checked} PGx positions: the file is "
                "probably not GRCh38")
    if 0 < hits <= 2 and ref_mismatch == ref_checked == hits and records_on_pgx_chroms >= 5:
        # almost nothing hit, and what did hit is a coincidence: its REF is another build's base
        return (f"only {hits} of the {records_on_pgx_chroms} records on the PGx chromosomes are at a PGx defining "
                "position and their REF bases disagree with GRCh38: the file is probably not GRCh38 (lift over or "
                "re-align, then normalise)")
    return None
