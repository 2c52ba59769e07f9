"""The delivery task retries while failures look transient (the target answered, e.g. 503); a target that
cannot be reached at all opens the circuit instead: no task retries, the samples stay queued for the next run."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ehrgen.deliver.model import QUEUED
from ehrgen.pipeline.run import RunConfig, run_local
from tests.net import closed_port


def _one_sample(sample_data, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "S001.vcf").write_bytes((sample_data / "vcf" / "S001.vcf").read_bytes())
    (folder / "manifest.csv").write_text("sample_id,patient_id,vcf\nS001,P001,S001.vcf\n")
    return folder


def _deliver_only(cfg, outcomes):
    from prefect import flow

    from flows.common import deliver

    @flow(validate_parameters=False, persist_result=False)
    def deliver_only(cfg: RunConfig, outcomes):
        return deliver.with_options(retry_delay_seconds=0)(cfg, outcomes)

    return deliver_only(cfg, outcomes)


def _attempts(tmp_path, kind: str) -> int:
    with sqlite3.connect(tmp_path / "w" / "ledger.sqlite") as con:
        return con.execute("SELECT count(*) FROM deliveries WHERE kind=? AND status='failed'", (kind,)).fetchone()[0]


def test_unreachable_mllp_is_not_retried_and_left_queued(prefect_server, sample_data, tmp_path):
    cfg = RunConfig(work_dir=str(tmp_path / "w"), run_name="one", clinical=str(sample_data / "clinical"),
                    mllp=f"127.0.0.1:{closed_port()}")
    cfg.settings.mllp.max_retries = 0
    cfg.settings.mllp.timeout_s = 2
    outcomes = run_local(_one_sample(sample_data, tmp_path), cfg, deliver=False)
    assert [o.status for o in outcomes] == ["exported"]
    t0 = time.monotonic()
    done = _deliver_only(cfg, outcomes)
    assert time.monotonic() - t0 < 30
    assert done[0].status == "delivery-failed" and done[0].reason.startswith(QUEUED)
    assert _attempts(tmp_path, "oru") == 1  # the circuit opened: the task did not retry


def test_transient_5xx_is_retried_by_the_task(prefect_server, sample_data, tmp_path):
    from flows.common import DELIVERY_RETRIES

    class Busy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            raw = json.dumps({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                                                                              "code": "transient"}]}).encode()
            self.send_response(503)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        cfg = RunConfig(work_dir=str(tmp_path / "w"), run_name="one", clinical=str(sample_data / "clinical"),
                        fhir_url=f"http://127.0.0.1:{httpd.server_address[1]}/fhir")
        cfg.settings.fhir.max_retries = 0  # the client's own retries: none, so the task's retries are what we count
        outcomes = run_local(_one_sample(sample_data, tmp_path), cfg, deliver=False)
        done = _deliver_only(cfg, outcomes)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done[0].status == "delivery-failed" and not done[0].reason.startswith(QUEUED)
    assert _attempts(tmp_path, "fhir-bundle") == 1 + DELIVERY_RETRIES
