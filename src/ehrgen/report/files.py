"""Atomic writes for the binary outputs (PDF, PNG): the one writer the calling stage uses, re-exported here."""

from __future__ import annotations

from ehrgen.pgx.output import atomic_write_bytes

__all__ = ["atomic_write_bytes"]
