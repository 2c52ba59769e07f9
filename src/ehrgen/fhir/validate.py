"""Offline FHIR profile validation with HAPI's validator (the sandbox jar's Validate class).

Same engine, packages and settings as the sandbox's request validation, so a file that passes here is
accepted by the sandbox (references aside). One JVM validates all files of a call; start-up with the
packages loaded costs ~15 s, each further file a fraction of a second.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from ehrgen.fhir import sandbox
from ehrgen.fhir.sandbox import SandboxError
from ehrgen.settings import SandboxSettings, load_settings

Severity = Literal["information", "warning", "error", "fatal"]
ERROR_SEVERITIES = frozenset({"error", "fatal"})
_JVM_HEAP = "-Xmx1g"


@dataclass(frozen=True)
class ValidationIssue:
    file: str
    severity: str  # information | warning | error | fatal
    location: str  # FHIRPath, e.g. Observation.code or Bundle.entry[1].resource/*Observation/null*/.code
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity in ERROR_SEVERITIES

    def format(self) -> str:
        return f"{self.file}: {self.severity} at {self.location or '(resource)'}: {self.message}"


def has_errors(issues: Iterable[ValidationIssue]) -> bool:
    return any(i.is_error for i in issues)


def parse_issue_lines(text: str) -> list[ValidationIssue]:
    """Issues from the validator's JSON-lines stdout (one object per line)."""
    issues = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            issues.append(ValidationIssue(row["file"], row["severity"], row["location"], row["message"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SandboxError(f"validator output line {n} is not an issue record: {line[:120]!r}") from exc
    return issues


def validate_files(
    paths: Iterable[Path | str],
    min_severity: Severity = "warning",
    settings: SandboxSettings | None = None,
) -> list[ValidationIssue]:
    """Validate FHIR JSON/XML files against their declared profiles (meta.profile) and base R4.

    Returns every issue at `min_severity` or above. A missing or unparsable file is an error issue
    for that file; the other files are still validated. Builds the jar first if needed.
    """
    files = [str(Path(p)) for p in paths]
    if not files:
        return []
    settings = settings or load_settings().sandbox
    jar = sandbox.jar_path()
    ig = sandbox.ig_package(settings)
    if not jar.is_file() or not any(sandbox.packages_dir().glob("*.tgz")) or not ig.is_file():
        sandbox.build(settings)  # also fetches a missing pinned IG package
    if not ig.is_file():
        raise SandboxError(f"{ig}: Genomics Reporting IG package not found (set EHRGEN_SANDBOX__IG_PACKAGE)")

    with tempfile.NamedTemporaryFile("w", suffix=".lst", encoding="utf-8", delete=False) as lst:
        lst.write("\n".join(files) + "\n")
    try:
        cmd = [
            "java", _JVM_HEAP, "-cp", str(jar), sandbox.VALIDATE_MAIN, "--json",
            "--min-severity", min_severity, "--ig", str(ig), "--packages", str(sandbox.packages_dir()),
            "--files-from", lst.name,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600 + 2 * len(files), check=False)
        except FileNotFoundError as exc:
            raise SandboxError("java not found on PATH (the validator needs Java 17)") from exc
    finally:
        Path(lst.name).unlink(missing_ok=True)
    if proc.returncode not in (0, 1):
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise SandboxError(f"validator failed (exit {proc.returncode}): {tail or 'no output'}")
    return parse_issue_lines(proc.stdout)
