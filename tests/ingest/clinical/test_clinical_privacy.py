"""Names and dates of birth from the fixtures must never reach log records or error text."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from ehrgen.ingest import load_clinical


def _names_and_birth_dates(data_dir: Path) -> set[str]:
    """Every family/given name and birth date written in the fixtures (read from the files, not the parser)."""
    secrets: set[str] = set()
    for f in data_dir.rglob("*"):
        if not f.is_file():
            continue
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r'"family":\s*"([^"]+)"', text):
            secrets.add(m.group(1))
        for m in re.finditer(r'"given":\s*\[([^\]]*)\]', text):
            secrets.update(re.findall(r'"([^"]+)"', m.group(1)))
        for m in re.finditer(r'"birthDate":\s*"([^"]+)"', text):
            secrets.add(m.group(1))
        for m in re.finditer(r"^PID\|(?:[^|\r\n]*\|){4}([^|\r\n]*)\|[^|\r\n]*\|([^|\r\n]*)", text, re.M):
            secrets.update(p for p in m.group(1).split("^") if len(p) > 1)
            secrets.add(m.group(2))
        if f.name == "patients.csv":
            for line in text.splitlines()[1:]:
                cells = line.split(",")
                secrets.update(c for c in cells[3:6] if c)
    secrets = {s for s in secrets if len(s) > 3}
    assert len(secrets) > 30  # the scan found the fixtures' names and dates
    return secrets


def test_no_names_or_birth_dates_in_logs_or_errors(tmp_path, data_dir, caplog):
    for f in data_dir.rglob("*"):
        if f.is_file():
            shutil.copy(f, tmp_path / f"{f.parent.name}_{f.name}")
    for sub in ("csv", "csv_bad"):  # the CSVs are recognised by name, so load them as folders too
        shutil.copytree(data_dir / sub, tmp_path / sub)
    caplog.set_level(logging.DEBUG)
    results = [load_clinical(tmp_path), load_clinical(tmp_path / "csv"), load_clinical(tmp_path / "csv_bad")]
    text = "\n".join(r.getMessage() for r in caplog.records)
    errors = "\n".join(str(e) + repr(e) for data in results for e in data.errors)
    assert sum(len(d.errors) for d in results) > 15
    secrets = _names_and_birth_dates(data_dir)
    compact_dates = {s.replace("-", "") for s in secrets if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s)}
    leaked = [s for s in secrets | compact_dates if s in text or s in errors]
    assert leaked == []
    # and the patients themselves print without personal fields
    assert not [s for s in secrets if any(s in repr(p) for d in results for p in d.patients.values())]
