"""Atomic file writes for the outbox and the dead-letter folder.

A consumer polling the outbox must never see half a file: write to a temp file in the same folder
(same filesystem, so the rename is atomic), fsync it, os.replace it over the final name, then fsync
the folder so the rename itself survives a crash.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, sync: bool = True) -> Path:
    """sync=False: the caller makes the file durable later (sync_files) and before it records it anywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a leading dot keeps the temp file out of typical `*.json`/`*.hl7` pickup globs
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        _fsync_dir(path.parent)
    return path


def sync_files(paths: list[Path]) -> None:
    """fsync each file, then each of their folders once (so the renames survive a crash too)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for d in dict.fromkeys(p.parent for p in paths):
        _fsync_dir(d)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
