"""Batch plan: which VCF files to read for which samples, grouped so each VCF is read once, packed in chunks.

Input folder layout (as sample_data/): `manifest.csv` (sample_id, patient_id, vcf, outside_calls; paths
relative to the folder) and `clinical/`. Without a manifest every *.vcf, *.vcf.gz, *.bcf in the folder
(or its vcf/ subfolder) is planned for all its samples, with patients found through the clinical links.

Manifest rows are checked before anything is read: a path that leaves the input folder (`../`, absolute) is
refused, never opened; a sample listed twice is planned once when the rows agree and refused (both rows)
when they name different patients or files. A missing clinical folder stops the run with one message.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from ehrgen.errors import InputError

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("sample_id", "vcf")  # required; patient_id and outside_calls are optional
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf", ".g.vcf", ".g.vcf.gz")
DEFAULT_CHUNK = 500


def is_vcf(path: Path) -> bool:
    return path.is_file() and any(path.name.endswith(s) for s in VCF_SUFFIXES)


@dataclass(frozen=True)
class SampleJob:
    sample: str
    patient: str | None = None  # from the manifest; else from the clinical links at run time
    outside_calls: str | None = None  # path


@dataclass
class VcfJob:
    """One VCF and the samples to call from it; samples=None reads every sample in the file."""

    vcf: str
    samples: list[SampleJob] | None = None

    @property
    def size(self) -> int:
        return len(self.samples) if self.samples is not None else 1


@dataclass
class Chunk:
    index: int
    jobs: list[VcfJob] = field(default_factory=list)
    # samples whose calls a call-ahead group (call_groups) stored during this run: not "skipped" in their outcome
    called_ahead: frozenset[str] = frozenset()

    @property
    def size(self) -> int:
        return sum(j.size for j in self.jobs)


@dataclass
class Plan:
    input_dir: str
    chunks: list[Chunk]
    clinical: str | None  # folder or file for ehrgen.ingest.load_clinical
    errors: list[str] = field(default_factory=list)  # manifest rows that could not be planned (one line each)
    warnings: list[str] = field(default_factory=list)  # rows planned with a remark (a repeated identical row)

    @property
    def n_files(self) -> int:
        return sum(len(c.jobs) for c in self.chunks)


def inside(base: Path, relative: str) -> Path | None:
    """`base/relative` when it stays inside `base` (checked on the text: no '..' escape, not absolute), else
    None. Symbolic links the operator placed inside the folder are followed as usual."""
    if not relative or os.path.isabs(relative) or relative.startswith("~"):
        return None
    joined = os.path.normpath(os.path.join(str(base), relative))
    root = os.path.normpath(str(base))
    if os.path.commonpath([root, joined]) != root:
        return None
    return Path(joined).resolve()


def read_manifest(path: Path, warnings: list[str] | None = None) -> tuple[list[VcfJob], list[str]]:
    """VCF jobs in manifest order (one per distinct VCF); bad rows are reported (one line each), not fatal."""
    base = path.parent
    errors: list[str] = []
    rows: dict[str, tuple[int, str, SampleJob]] = {}  # sample -> (line, vcf, job)
    refused: set[str] = set()
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(str(path), f"manifest header lacks column(s) {', '.join(missing)}", 1)
        for line, row in enumerate(reader, start=2):
            sample = (row.get("sample_id") or "").strip()
            vcf = (row.get("vcf") or "").strip()
            if not sample or not vcf:
                errors.append(f"{path.name}:{line}: sample_id and vcf are required")
                continue
            outside = (row.get("outside_calls") or "").strip()
            vpath = inside(base, vcf)
            if vpath is None:
                errors.append(f"{path.name}:{line}: vcf: path leaves the input folder (expected a path inside "
                              f"{base.name}/); row refused, file not opened")
                continue
            opath = inside(base, outside) if outside else None
            if outside and opath is None:
                errors.append(f"{path.name}:{line}: outside_calls: path leaves the input folder; row refused")
                continue
            job = SampleJob(sample, (row.get("patient_id") or "").strip() or None, str(opath) if opath else None)
            if sample in refused:
                errors.append(f"{path.name}:{line}: sample_id: sample listed again; refused")
                continue
            if sample in rows:
                first_line, first_vcf, first_job = rows[sample]
                if (first_vcf, first_job) == (str(vpath), job):
                    if warnings is not None:
                        warnings.append(f"{path.name}:{line}: sample_id: same row as line {first_line}; "
                                        "planned once")
                    continue
                errors.append(f"{path.name}:{line}: sample_id: sample already listed at line {first_line} with a "
                              "different patient or file; both rows refused")
                del rows[sample]
                refused.add(sample)
                continue
            rows[sample] = (line, str(vpath), job)
    jobs: dict[str, VcfJob] = {}
    for _line, vcf_path, job in rows.values():
        jobs.setdefault(vcf_path, VcfJob(vcf_path, [])).samples.append(job)
    return list(jobs.values()), errors


def scan_vcfs(folder: Path) -> list[VcfJob]:
    where = folder / "vcf" if (folder / "vcf").is_dir() else folder
    return [VcfJob(str(p.resolve()), None) for p in sorted(where.iterdir()) if is_vcf(p)]


def pack(jobs: list[VcfJob], chunk_size: int = DEFAULT_CHUNK) -> list[Chunk]:
    """Pack whole VCF jobs into chunks of about chunk_size samples; a VCF with more samples than that is
    split into several jobs (each chunk reads only its own samples) so big cohorts still run in parallel."""
    chunk_size = max(1, chunk_size)
    split: list[VcfJob] = []
    for j in jobs:
        if j.samples is not None and len(j.samples) > chunk_size:
            split += [VcfJob(j.vcf, j.samples[i:i + chunk_size]) for i in range(0, len(j.samples), chunk_size)]
        else:
            split.append(j)
    chunks: list[Chunk] = []
    current = Chunk(0)
    for j in split:
        if current.jobs and current.size + j.size > chunk_size:
            chunks.append(current)
            current = Chunk(len(chunks))
        current.jobs.append(j)
    if current.jobs:
        chunks.append(current)
    return chunks


def call_groups(chunks: list[Chunk], group_size: int) -> list[VcfJob]:
    """The VCFs whose samples are spread over several chunks, regrouped in jobs of up to group_size samples (in
    plan order), to be called before the chunks run: each chunk would otherwise read the whole file again for its
    own samples, which grows as N x N / chunk size. Empty when group_size is 0 or no VCF spans two chunks."""
    if group_size <= 0:
        return []
    samples: dict[str, list[SampleJob]] = {}
    chunks_of: dict[str, set[int]] = {}
    for ch in chunks:
        for j in ch.jobs:
            if j.samples is not None:
                samples.setdefault(j.vcf, []).extend(j.samples)
                chunks_of.setdefault(j.vcf, set()).add(ch.index)
    return [VcfJob(vcf, s[i:i + group_size]) for vcf, s in samples.items() if len(chunks_of[vcf]) > 1
            for i in range(0, len(s), group_size)]


def mark_called_ahead(chunks: list[Chunk], called: set[str]) -> None:
    for ch in chunks:
        ch.called_ahead = frozenset(s.sample for j in ch.jobs for s in (j.samples or []) if s.sample in called)


def plan(input_dir: Path | str, chunk_size: int = DEFAULT_CHUNK, clinical: Path | str | None = None) -> Plan:
    """The batch plan for a folder laid out like sample_data/ (manifest optional)."""
    folder = Path(input_dir)
    if not folder.is_dir():
        raise InputError(str(folder), "expected a folder with manifest.csv and/or VCF files")
    errors: list[str] = []
    warnings: list[str] = []
    if (folder / MANIFEST).is_file():
        jobs, errors = read_manifest(folder / MANIFEST, warnings)
    else:
        jobs = scan_vcfs(folder)
    if not jobs and not errors:
        raise InputError(str(folder), "no manifest.csv and no VCF files (*.vcf, *.vcf.gz, *.bcf) found")
    clin = Path(clinical) if clinical else folder / "clinical"
    if not clin.exists():
        # one message instead of a "no patient" failure per sample
        raise InputError(str(clin), "clinical data not found: expected a clinical/ folder (patients, samples, "
                                    "consent, medications) in the input folder, or --clinical PATH")
    return Plan(str(folder.resolve()), pack(jobs, chunk_size), str(clin.resolve()), errors, warnings)
