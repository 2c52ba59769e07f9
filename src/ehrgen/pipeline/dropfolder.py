"""Drop folder: pick up finished VCF and clinical files from inbox/, process them as one batch, then move
each VCF to processed/ or failed/. Restart-safe: a journal records every batch before any file moves.

Layout under the drop root:
  inbox/                 where the lab/LIS copies files
  processing/<batch>/    VCFs of a batch being processed (moved here by atomic rename)
  processed/             VCFs done; processed/clinical/<batch>/ clinical files (all batches are merged, in order)
  failed/                VCFs with a sample that could not be processed, plus <file>.reason.txt
  dropfolder.json        the journal: batch -> state (claiming, claimed, settling, done) and its files

A file is picked up only when finished: it has a `<name>.ready` marker, or its size and mtime did not
change across two checks `settle_s` apart (and its mtime is at least settle_s old). Names ending in
.part/.tmp/.partial/.crdownload/.filepart or starting with '.' are never picked up.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from ehrgen.errors import InputError
from ehrgen.pgx.output import atomic_write_text
from ehrgen.pipeline.outcome import SampleOutcome
from ehrgen.pipeline.plan import VCF_SUFFIXES

IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".filepart", ".ready")
INDEX_SUFFIXES = (".tbi", ".csi")
CLINICAL_SUFFIXES = (".csv", ".hl7", ".json", ".ndjson")


def _is_vcf(name: str) -> bool:
    return any(name.endswith(s) for s in VCF_SUFFIXES)


@dataclass(frozen=True)
class DropFolder:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def clinical(self) -> Path:
        return self.processed / "clinical"

    @property
    def journal_path(self) -> Path:
        return self.root / "dropfolder.json"

    def make(self) -> "DropFolder":
        for d in (self.inbox, self.processing, self.processed, self.failed, self.clinical):
            d.mkdir(parents=True, exist_ok=True)
        return self

    # -- journal ---------------------------------------------------------------------------------------
    def journal(self) -> dict[str, dict]:
        try:
            return json.loads(self.journal_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def _save(self, journal: dict[str, dict]) -> None:
        atomic_write_text(self.journal_path, json.dumps(journal, indent=1, sort_keys=True) + "\n")

    def _set(self, batch: str, **fields) -> None:
        j = self.journal()
        j.setdefault(batch, {}).update(fields)
        self._save(j)

    def pending(self) -> list[str]:
        """Batches a crash left unfinished (oldest first): resume these before claiming new files."""
        return sorted(b for b, e in self.journal().items() if e.get("state") != "done")

    def batch_dir(self, batch: str) -> Path:
        return self.processing / batch

    @contextmanager
    def sweep_lock(self) -> Iterator[None]:
        """One sweep at a time per drop folder (deployments also set concurrency_limit=1). A lock left by a
        process that no longer runs (crash, reboot) is taken over."""
        lock = self.root / ".sweep.lock"
        while True:
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise InputError(str(lock), f"another sweep (process {pid}) is working on this drop folder")
                lock.unlink(missing_ok=True)
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signature(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def ready_files(inbox: Path, settle_s: float = 2.0, sleep=time.sleep) -> list[Path]:
    """Files in inbox/ that are complete (see module doc), in name order; index files ride with their VCF."""
    names = {p.name for p in inbox.iterdir() if p.is_file()}
    markers = {n[: -len(".ready")] for n in names if n.endswith(".ready")}
    cands = [inbox / n for n in sorted(names)
             if not n.startswith(".") and not n.endswith(IN_PROGRESS_SUFFIXES) and not n.endswith(INDEX_SUFFIXES)
             and (_is_vcf(n) or n.lower().endswith(CLINICAL_SUFFIXES))]
    first = {p: _signature(p) for p in cands}
    if any(p.name not in markers for p in cands) and settle_s > 0:
        sleep(settle_s)
    now = time.time_ns()
    ready = []
    for p in cands:
        sig = _signature(p)
        if sig is None:
            continue
        if p.name in markers:
            ready.append(p)
        elif sig == first[p] and now - sig[1] >= settle_s * 1e9:
            ready.append(p)
    return ready


def _companions(vcf: Path) -> list[Path]:
    return [vcf.with_name(vcf.name + s) for s in INDEX_SUFFIXES if vcf.with_name(vcf.name + s).is_file()]


def claim(df: DropFolder, files: list[Path], batch: str | None = None) -> str | None:
    """Journal a new batch, then move its files out of inbox/ (VCFs to processing/<batch>/, clinical files to
    processed/clinical/<batch>/). Returns the batch id, or None when there is nothing to claim."""
    if not files:
        return None
    batch = batch or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    vcfs = [p.name for p in files if _is_vcf(p.name)]
    clinical = [p.name for p in files if not _is_vcf(p.name)]
    extra = [c.name for v in files if _is_vcf(v.name) for c in _companions(v)]
    df._set(batch, state="claiming", vcfs=vcfs, clinical=clinical, extra=extra,
            claimed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    _finish_claim(df, batch)
    return batch


def _finish_claim(df: DropFolder, batch: str) -> None:
    """Move whatever of the batch is still in inbox/ (idempotent: a crash midway is finished on restart)."""
    e = df.journal()[batch]
    bdir = df.batch_dir(batch)
    bdir.mkdir(parents=True, exist_ok=True)
    (df.clinical / batch).mkdir(parents=True, exist_ok=True)
    for name in e.get("vcfs", []) + e.get("extra", []):
        _move(df.inbox / name, bdir / name)
    for name in e.get("clinical", []):
        _move(df.inbox / name, df.clinical / batch / name)
    for name in e.get("vcfs", []) + e.get("clinical", []):
        marker = df.inbox / f"{name}.ready"
        if marker.exists():
            marker.unlink()
    df._set(batch, state="claimed")


def _move(src: Path, dest: Path) -> bool:
    """Atomic rename when src exists; a missing src means an earlier (crashed) attempt already moved it."""
    if not src.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return True


def recover(df: DropFolder) -> list[str]:
    """Finish interrupted claims; return every unfinished batch (to process or settle again)."""
    pending = df.pending()
    for b in pending:
        if df.journal()[b].get("state") == "claiming":
            _finish_claim(df, b)
    return pending


def _unique(dest: Path) -> Path:
    if not dest.exists():
        return dest
    stem, n = dest.name, 1
    while (dest.parent / f"{stem}.{n}").exists():
        n += 1
    return dest.parent / f"{stem}.{n}"


def settle(df: DropFolder, batch: str, outcomes: list[SampleOutcome]) -> dict[str, str]:
    """Move each VCF of the batch to processed/ (all its samples went through) or failed/ (with reasons).
    Idempotent: files already moved (before a crash) are skipped, so nothing is lost or duplicated."""
    e = df.journal()[batch]
    df._set(batch, state="settling")
    bdir = df.batch_dir(batch)
    where: dict[str, str] = dict(e.get("placed", {}))
    for name in e.get("vcfs", []):
        src = bdir / name
        if name in where or not src.exists():
            continue
        bad = [o for o in outcomes if o.vcf == name and o.status == "failed"]
        dest_dir = df.failed if bad or not any(o.vcf == name for o in outcomes) else df.processed
        dest = _unique(dest_dir / name)
        if dest_dir == df.failed:
            reasons = [f"{o.sample}: {o.stage}: {o.reason}" for o in bad] or ["no sample of this file was processed"]
            atomic_write_text(dest.with_name(dest.name + ".reason.txt"), "\n".join(reasons) + "\n")
        for comp in _companions(src):
            _move(comp, dest.with_name(dest.name + comp.name[len(name):]))
        _move(src, dest)
        where[name] = "failed" if dest_dir == df.failed else "processed"
        df._set(batch, placed=where)  # after every move: a restart knows exactly what is left
    df._set(batch, state="done", settled_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    shutil.rmtree(bdir, ignore_errors=True)
    return where
