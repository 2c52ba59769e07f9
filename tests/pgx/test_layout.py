"""Data flows one way, ingest -> pgx: the calling science never imports the reader.

Only the caller (the calling stage's I/O edge: it reads VCFs via ehrgen.ingest.vcf) may import ingest; the
matcher, definitions, records, QC and reason naming must not, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ehrgen.pgx

PGX = Path(ehrgen.pgx.__file__).parent
EDGE = {"caller.py"}  # reads the VCF: the one place pgx meets the reader


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative, from inside ehrgen/pgx/
            package = ["ehrgen", "pgx"][: max(0, 3 - node.level)]
            base = ".".join(package + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
    return found


def _imports_ingest(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if m == "ehrgen.ingest" or m.startswith("ehrgen.ingest."))


def test_pgx_science_does_not_import_the_reader():
    files = sorted(PGX.glob("*.py"))
    assert any(f.name == "matcher.py" for f in files)
    offenders = {f.name: _imports_ingest(imported_modules(f)) for f in files if f.name not in EDGE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_an_ingest_import(tmp_path):
    """The check above can fail: a lazy import inside a function is found too."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from ehrgen.ingest.vcf import MISSING\n    return MISSING\n")
    assert _imports_ingest(imported_modules(f)) == ["ehrgen.ingest.vcf", "ehrgen.ingest.vcf.MISSING"]
    f.write_text("from ehrgen import ingest\n")
    assert _imports_ingest(imported_modules(f)) == ["ehrgen.ingest"]
    f.write_text("from ..ingest import vcf\n")
    assert _imports_ingest(imported_modules(f)) == ["ehrgen.ingest", "ehrgen.ingest.vcf"]


def test_genotype_codes_are_the_ones_the_reader_writes():
    from ehrgen.ingest import vcf
    from ehrgen.pgx import genotype_codes

    for name in ("ABSENT", "MISSING", "PARTIAL", "UNDOC"):
        assert getattr(vcf, name) == getattr(genotype_codes, name)
