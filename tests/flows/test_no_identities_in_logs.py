"""The sample batch, with every log record captured (DEBUG, every logger) and the process's own stdout/stderr:
no patient name, birth date or MRN from sample_data/clinical appears anywhere. The batch includes a malformed
VCF (S017), a patient without consent and rejected outside calls, so error paths are exercised too."""

from __future__ import annotations

import csv
import logging

from ehrgen.pipeline.run import RunConfig, run_local


def _identities(sample_data) -> set[str]:
    out: set[str] = set()
    with (sample_data / "clinical" / "patients.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            for col in ("family", "given", "identifier_value"):
                if row.get(col):
                    out.add(row[col])
            if row.get("birth_date"):
                out |= {row["birth_date"], row["birth_date"].replace("-", "")}  # ISO and HL7 forms
    return {s for s in out if len(s) > 3}


def test_sample_batch_logs_no_name_birth_date_or_mrn(sample_data, tmp_path, caplog, capfd):
    secrets = _identities(sample_data)
    assert len(secrets) > 60  # 24 patients: names, MRNs, dates in two forms
    caplog.set_level(logging.DEBUG)
    cfg = RunConfig(work_dir=str(tmp_path / "w"), run_name="sample", clinical=str(sample_data / "clinical"))
    outcomes = run_local(sample_data, cfg)
    assert {o.status for o in outcomes} & {"failed"} and {o.status for o in outcomes} & {"delivered"}
    captured = capfd.readouterr()
    text = "\n".join(r.getMessage() for r in caplog.records) + captured.out + captured.err
    assert len(caplog.records) > 5  # the run did log (clinical files, chunks, delivery counts)
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    # the test can fail: the same scan finds the identities in the clinical data itself
    assert [s for s in secrets if s in (sample_data / "clinical" / "patients.csv").read_text()]
