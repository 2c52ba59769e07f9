"""What every chunk needs loaded once per process: allele definitions, rule set, drug table, clinical data."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ehrgen.ingest.clinical.model import ClinicalData
from ehrgen.pgx.definitions import Definitions, load_definitions
from ehrgen.rules.ruleset import RuleSet, load

_lock = threading.Lock()
_clinical_cache: dict[tuple[str, tuple], ClinicalData] = {}


@dataclass
class Context:
    definitions: Definitions
    ruleset: RuleSet
    clinical: ClinicalData

    @property
    def rules_fp(self) -> str:
        """sha256 of the rules file as read (the header's content_sha256 is not re-checked on hand edits)."""
        return _file_sha(str(self.ruleset.path)) if self.ruleset.path else self.ruleset.content_sha256

    @property
    def ruleset_meta(self) -> dict[str, Any]:
        return {"version": self.ruleset.version, "generated": self.ruleset.content_sha256[:12],
                "sources": {"CPIC": self.ruleset.version, "DPWG": self.ruleset.version}}


@lru_cache(maxsize=2)
def _definitions() -> Definitions:
    return load_definitions()


@lru_cache(maxsize=4)
def _ruleset(path: str, stamp: tuple) -> RuleSet:
    return load(path)


@lru_cache(maxsize=8)
def _file_sha_stamped(path: str, stamp: tuple) -> str:
    from ehrgen.pgx.caller import file_sha256

    return file_sha256(path)


def _file_sha(path: str) -> str:
    return _file_sha_stamped(path, _stamp(Path(path)))


def _stamp(path: Path) -> tuple:
    """Change marker for a file or folder (names, sizes, mtimes), so edited inputs are re-read."""
    if not path.exists():
        return ()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)


def load_ruleset(rules_dir: str | None) -> RuleSet:
    from ehrgen.paths import rules_dir as default_rules_dir

    p = Path(rules_dir) if rules_dir else default_rules_dir()
    f = p / "rules.tsv" if p.is_dir() else p
    return _ruleset(str(p), _stamp(f))


def _load_merged(folder: Path) -> ClinicalData:
    """Every non-empty subfolder of `folder` in name order (drop-folder batches), later ones updating earlier."""
    from ehrgen.ingest import load_clinical

    data = ClinicalData()
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if any(f.is_file() for f in sub.iterdir()):
            data.update(load_clinical(sub, check_references=False))
    data.check_references()  # across batches: a later batch may hold the patient an earlier one links to
    return data


def load_clinical_cached(path: str | None, merge_subdirs: bool = False) -> ClinicalData:
    if not path:
        return ClinicalData()
    from ehrgen.ingest import load_clinical

    key = (path, (merge_subdirs,) + _stamp(Path(path)))
    with _lock:
        hit = _clinical_cache.get(key)
        if hit is None:
            hit = _load_merged(Path(path)) if merge_subdirs else load_clinical(Path(path))
            _clinical_cache.clear()
            _clinical_cache[key] = hit
    return hit


def load_context(clinical: str | None, rules_dir: str | None, merge_subdirs: bool = False) -> Context:
    with _lock:
        defs = _definitions()
        rs = load_ruleset(rules_dir)
    return Context(defs, rs, load_clinical_cached(clinical, merge_subdirs))
