"""The delivery task retries while failures look transient; the flow still finishes with the sample listed."""

from __future__ import annotations

import socket
import sqlite3

from ehrgen.pipeline.run import RunConfig, run_local


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now: connection refused
    return port


def test_unreachable_mllp_is_retried_then_reported(prefect_server, sample_data, tmp_path):
    from prefect import flow

    from flows.common import DELIVERY_RETRIES, deliver

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "S001.vcf").write_bytes((sample_data / "vcf" / "S001.vcf").read_bytes())
    (folder / "manifest.csv").write_text("sample_id,patient_id,vcf\nS001,P001,S001.vcf\n")
    cfg = RunConfig(work_dir=str(tmp_path / "w"), run_name="one", clinical=str(sample_data / "clinical"),
                    mllp=f"127.0.0.1:{_closed_port()}")
    cfg.settings.mllp.max_retries = 0  # the client's own retries: none, so the task's retries are what we count
    cfg.settings.mllp.timeout_s = 2
    outcomes = run_local(folder, cfg, deliver=False)
    assert [o.status for o in outcomes] == ["exported"]

    @flow(validate_parameters=False, persist_result=False)
    def deliver_only(cfg: RunConfig, outcomes):
        return deliver.with_options(retry_delay_seconds=0)(cfg, outcomes)

    done = deliver_only(cfg, outcomes)
    assert done[0].status == "delivery-failed" and "mllp: failed" in done[0].delivered
    with sqlite3.connect(tmp_path / "w" / "ledger.sqlite") as con:
        attempts = con.execute("SELECT count(*) FROM deliveries WHERE kind='oru' AND status='failed'").fetchone()[0]
    assert attempts == 1 + DELIVERY_RETRIES
