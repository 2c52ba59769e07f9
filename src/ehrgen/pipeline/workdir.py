"""Stage files and fingerprints under `<work>/<run>/` so an unchanged stage is skipped on a rerun.

Each stage folder has a `.state/` subfolder with one small JSON per sample/patient holding the
fingerprint of the inputs that produced the stage file (and, for exports, the issued time, so a
re-export of identical content gives identical bytes and the ledger sees "unchanged").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehrgen.pgx.output import atomic_write_text, safe_name


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass(frozen=True)
class RunDirs:
    root: Path

    @property
    def calls(self) -> Path:
        return self.root / "calls"

    @property
    def recommendations(self) -> Path:
        return self.root / "recommendations"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def outcomes(self) -> Path:
        return self.root / "outcomes.json"

    def make(self) -> "RunDirs":
        for d in (self.calls, self.recommendations, self.export):
            (d / ".state").mkdir(parents=True, exist_ok=True)
        return self


def state_path(stage_dir: Path, name: str) -> Path:
    return stage_dir / ".state" / f"{safe_name(name)}.json"


def read_state(stage_dir: Path, name: str) -> dict[str, Any] | None:
    p = state_path(stage_dir, name)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_state(stage_dir: Path, name: str, state: dict[str, Any]) -> None:
    # written after the stage file itself: a crash in between only costs a redo, never a stale skip
    atomic_write_text(state_path(stage_dir, name), json.dumps(state, indent=1, sort_keys=True) + "\n")
