"""Batch manifests: paths that leave the input folder are refused unopened, duplicate rows planned once or
refused, a missing clinical/ folder is one message (not one failure per sample)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ehrgen.errors import InputError
from ehrgen.pipeline.plan import plan
from tests.hostile.corpus import Case, Result

HEAD = "sample_id,patient_id,vcf,outside_calls\n"


def _folder(tmp: Path, manifest: str | None, clinical: bool = True, vcfs=("a.vcf", "b.vcf")) -> Path:
    folder = tmp / "in"
    (folder / "vcf").mkdir(parents=True)
    for v in vcfs:
        (folder / "vcf" / v).write_text("##fileformat=VCFv4.2\n")
    if clinical:
        (folder / "clinical").mkdir()
    if manifest is not None:
        (folder / "manifest.csv").write_text(manifest)
    (tmp / "secret.vcf").write_text("outside the input folder\n")
    return folder


def _run(manifest: str | None, clinical: bool = True, vcfs=("a.vcf", "b.vcf")) -> Callable[[Path], Result]:
    def run(tmp: Path) -> Result:
        try:
            p = plan(_folder(tmp, manifest, clinical, vcfs))
        except InputError as exc:
            return Result("error", [str(exc)])
        if p.errors:
            return Result("error", p.errors, p)
        return Result("warning" if p.warnings else "ok", p.warnings, p)
    return run


def _planned(*samples: str) -> Callable[[Result], None]:
    def check(got: Result) -> None:
        if got.value is None:
            return
        names = sorted(s.sample for c in got.value.chunks for j in c.jobs for s in (j.samples or []))
        assert names == sorted(samples), names
    return check


def refused(cid: str, rows: str, must: tuple[str, ...], planned: tuple[str, ...] = ("S1",)) -> Case:
    return Case(cid, "manifest", _run(HEAD + "S1,P1,vcf/a.vcf,\n" + rows), "error", must=("manifest.csv",) + must,
                check=_planned(*planned))


def cases() -> list[Case]:
    leaves = "path leaves the input folder"
    c = [
        refused("vcf-dotdot-etc-passwd", "S2,P2,../../etc/passwd,\n", ("manifest.csv:3", "vcf", leaves)),
        refused("vcf-dotdot-sibling", "S2,P2,../secret.vcf,\n", ("manifest.csv:3", leaves)),
        refused("vcf-absolute", "S2,P2,/etc/passwd,\n", ("manifest.csv:3", leaves)),
        refused("vcf-home", "S2,P2,~/x.vcf,\n", ("manifest.csv:3", leaves)),
        refused("vcf-dotdot-inside-then-out", "S2,P2,vcf/../../secret.vcf,\n", ("manifest.csv:3", leaves)),
        refused("outside-calls-escape", "S2,P2,vcf/b.vcf,../../etc/shadow\n", ("manifest.csv:3", "outside_calls",
                                                                                 leaves)),
        refused("outside-calls-absolute", "S2,P2,vcf/b.vcf,/etc/shadow\n", ("manifest.csv:3", "outside_calls")),
        refused("duplicate-different-patient", "S1,P9,vcf/a.vcf,\n", ("manifest.csv:3", "already listed at line 2"),
                planned=()),
        refused("duplicate-different-file", "S1,P1,vcf/b.vcf,\n", ("manifest.csv:3", "both rows refused"),
                planned=()),
        refused("triplicate-after-refusal", "S1,P9,vcf/a.vcf,\nS1,P1,vcf/a.vcf,\n", ("manifest.csv:4",
                                                                                    "listed again"), planned=()),
        refused("empty-sample-id", ",P2,vcf/b.vcf,\n", ("manifest.csv:3", "required")),
        refused("empty-vcf", "S2,P2,,\n", ("manifest.csv:3", "required")),
        Case("duplicate-identical-row", "manifest", _run(HEAD + "S1,P1,vcf/a.vcf,\nS1,P1,vcf/a.vcf,\n"), "warning",
             must=("manifest.csv:3", "planned once"), check=_planned("S1")),
        Case("missing-clinical-folder", "manifest", _run(HEAD + "S1,P1,vcf/a.vcf,\n", clinical=False), "error",
             must=("clinical", "not found", "--clinical")),
        Case("manifest-missing-vcf-column", "manifest", _run("sample_id,patient_id\nS1,P1\n"), "error",
             must=("manifest.csv:1", "lacks column", "vcf")),
        Case("no-manifest-no-vcfs", "manifest", _run(None, vcfs=()), "error", must=("no manifest.csv",)),
        Case("control-two-samples", "manifest", _run(HEAD + "S1,P1,vcf/a.vcf,\nS2,P2,vcf/b.vcf,\n"), "ok",
             check=_planned("S1", "S2")),
    ]
    return c
