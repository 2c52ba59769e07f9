"""Drive the EHR sandbox (a HAPI FHIR JPA server in ehr-sandbox/) through its shell scripts.

The scripts own the behaviour (build caching, pid/log files under ehr-sandbox/run/, readiness wait);
this module only runs them and turns failures into one-line errors.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ehrgen.errors import EhrgenError
from ehrgen.paths import project_root
from ehrgen.settings import SandboxSettings, load_settings

IG_PACKAGE_NAME = "hl7.fhir.uv.genomics-reporting-3.0.0.tgz"
JAR_NAME = "ehr-sandbox.jar"
VALIDATE_MAIN = "org.ehrgen.sandbox.Validate"
# generous: a cold Maven build downloads ~300 MB of dependencies
_BUILD_TIMEOUT_S = 1200.0


class SandboxError(EhrgenError):
    """The sandbox could not be built, started or queried (message names the step and the log)."""


def sandbox_dir() -> Path:
    return project_root() / "ehr-sandbox"


def jar_path() -> Path:
    return sandbox_dir() / "target" / JAR_NAME


def packages_dir() -> Path:
    """The IG's dependency packages (npm tarballs) fetched by build.sh."""
    return sandbox_dir() / "packages"


def ig_dir() -> Path:
    """The project's pinned Genomics Reporting IG package (committed; re-fetched by build.sh, checksum-checked)."""
    return sandbox_dir() / "ig"


def ig_package(settings: SandboxSettings | None = None) -> Path:
    """The Genomics Reporting IG npm package: settings (EHRGEN_SANDBOX__IG_PACKAGE) or the project's copy."""
    settings = settings or load_settings().sandbox
    return Path(settings.ig_package) if settings.ig_package else ig_dir() / IG_PACKAGE_NAME


def _script_env(settings: SandboxSettings) -> dict[str, str]:
    env = dict(os.environ)
    env["EHRGEN_GENOMICS_IG"] = str(ig_package(settings))
    env["SANDBOX_START_TIMEOUT"] = str(int(settings.start_timeout_s))
    return env


def _run(script: str, args: list[str], timeout_s: float, settings: SandboxSettings) -> subprocess.CompletedProcess:
    path = sandbox_dir() / script
    if not path.is_file():
        raise SandboxError(f"{path}: sandbox script missing")
    try:
        return subprocess.run(
            ["bash", str(path), *args], cwd=sandbox_dir(), env=_script_env(settings),
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"{script} did not finish within {timeout_s:.0f} s") from exc


def _failure(script: str, proc: subprocess.CompletedProcess) -> SandboxError:
    tail = " | ".join(line for line in proc.stderr.strip().splitlines()[-3:] if line.strip())
    return SandboxError(f"{script} failed (exit {proc.returncode}): {tail or 'no output'}")


def build(settings: SandboxSettings | None = None) -> Path:
    """Build the jar if its sources changed and fetch the IG's dependency packages; returns the jar."""
    settings = settings or load_settings().sandbox
    proc = _run("build.sh", [], _BUILD_TIMEOUT_S, settings)
    if proc.returncode != 0:
        raise _failure("build.sh", proc)
    return jar_path()


def start(port: int | None = None, settings: SandboxSettings | None = None) -> str:
    """Start the sandbox in the background (building first if needed); returns the FHIR base URL.

    Already running: returns its URL without starting a second one.
    """
    settings = settings or load_settings().sandbox
    port = port or settings.port
    proc = _run("start.sh", ["--port", str(port)], _BUILD_TIMEOUT_S + settings.start_timeout_s, settings)
    if proc.returncode != 0:
        raise _failure("start.sh", proc)
    lines = proc.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("http"):
        raise SandboxError(f"start.sh printed no base URL (stdout: {proc.stdout.strip()[:200]!r})")
    return lines[-1].strip()


def stop(settings: SandboxSettings | None = None) -> None:
    settings = settings or load_settings().sandbox
    proc = _run("stop.sh", [], 60.0, settings)
    if proc.returncode != 0:
        raise _failure("stop.sh", proc)


def status(settings: SandboxSettings | None = None) -> str | None:
    """The base URL if the sandbox runs and answers /metadata, else None."""
    settings = settings or load_settings().sandbox
    proc = _run("status.sh", [], 30.0, settings)
    if proc.returncode != 0:
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[-1].strip() if lines else None
