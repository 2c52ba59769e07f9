"""Faults at the FHIR target: a dead endpoint trips the circuit breaker (fast, one notice, everything queued and
delivered exactly once by a later run); a bundle committed while the client saw an error is reported sent,
"confirmed on retry", never "unchanged"."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ehrgen.deliver import FhirTarget, deliver_dir
from ehrgen.deliver.model import QUEUED
from ehrgen.settings import Settings
from ehrgen.store.ledger import Ledger
from tests.net import closed_port

from .conftest import transaction_response, write_export

N = 40


def _real_settings(tmp_path) -> Settings:
    """Shipped retry/backoff/timeout defaults (not the fast test ones): the timing claim is about those."""
    s = Settings()
    s.deliver.dead_letter = tmp_path / "dead-letter"
    s.deliver.ledger = tmp_path / "ledger.sqlite"
    return s


class StubFhir:
    """A FHIR endpoint on a given port that stores transaction bundles by patient (idempotent, as the conditional
    updates are on a real server). `drop_first`: the first N transaction POSTs are committed, then the
    connection is closed without an answer (the client sees an error after the commit)."""

    def __init__(self, port: int = 0, drop_first: int = 0, delay_s: float = 0.0) -> None:
        self.stored: dict[str, int] = {}  # patient -> times committed
        self.posts = 0
        self.drop_first = drop_first
        self.delay_s = delay_s
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/fhir":  # AuditEvent
                    self.send_response(201)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                bundle = json.loads(body)
                patient = next(e["resource"]["identifier"][0]["value"] for e in bundle["entry"]
                               if e["resource"]["resourceType"] == "Patient")
                stub.posts += 1
                stub.stored[patient] = stub.stored.get(patient, 0) + 1  # committed
                if stub.delay_s:
                    time.sleep(stub.delay_s)
                if stub.posts <= stub.drop_first:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # committed, but no answer
                    return
                raw = json.dumps(transaction_response(bundle)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        for _ in range(50):  # the port was just closed by the dead-target run: rebinding it may need a moment
            try:
                self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                time.sleep(0.1)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"

    def __enter__(self) -> "StubFhir":
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _patients(export) -> list[str]:
    return sorted(p.name.split(".")[0] for p in export.glob("*.bundle.json"))


def test_dead_target_fails_fast_queues_everything_and_a_later_run_delivers_once(tmp_path, caplog):
    export = write_export(tmp_path / "export", patients=[f"P{i:03d}" for i in range(N)])
    consent = {p: True for p in _patients(export)}
    settings = _real_settings(tmp_path)
    port = closed_port()
    target = FhirTarget(f"http://127.0.0.1:{port}/fhir")

    t0 = time.monotonic()
    with caplog.at_level("ERROR", logger="ehrgen.deliver.api"):
        rep = deliver_dir(export, [target], settings, consent)
    elapsed = time.monotonic() - t0
    assert elapsed < 30, f"a dead target took {elapsed:.1f} s"
    bundles = [o for o in rep.outcomes if o.kind == "fhir-bundle"]
    assert len(bundles) == N and all(o.status == "failed" and o.reason.startswith(QUEUED) for o in bundles)
    assert len(rep.notices) == 1 and "left queued for the next run" in rep.notices[0] and str(N) in rep.notices[0]
    assert len([r for r in caplog.records if "left queued" in r.getMessage()]) == 1  # one message, not 40
    with Ledger(settings.deliver.ledger) as led:
        assert not [r for r in led.history() if r.status in ("sent", "accepted")]

    with StubFhir(port) as srv:  # the target is back, on the same address
        rep2 = deliver_dir(export, [target], settings, consent)
        assert [o.status for o in rep2.outcomes if o.kind == "fhir-bundle"] == ["sent"] * N
        rep3 = deliver_dir(export, [target], settings, consent)
        assert [o.status for o in rep3.outcomes if o.kind == "fhir-bundle"] == ["unchanged"] * N
    assert srv.posts == N and sorted(srv.stored.values()) == [1] * N  # each patient exactly once


def test_target_dying_mid_run_opens_the_circuit(tmp_path):
    export = write_export(tmp_path / "export", patients=[f"P{i:03d}" for i in range(6)])
    settings = _real_settings(tmp_path)
    settings.fhir.backoff_s = 0.01
    with StubFhir() as srv:
        target = FhirTarget(srv.base)
        consent = {p: True for p in _patients(export)}
        srv.httpd.shutdown()
        srv.httpd.server_close()  # gone before the first bundle
        rep = deliver_dir(export, [target], settings, consent)
    statuses = [o.reason for o in rep.outcomes if o.kind == "fhir-bundle"]
    assert all(r.startswith(QUEUED) for r in statuses) and len(rep.notices) == 1


def test_committed_but_answer_lost_is_confirmed_on_retry_in_the_same_run(tmp_path):
    export = write_export(tmp_path / "export", patients=["P001"])
    settings = _real_settings(tmp_path)
    settings.fhir.backoff_s = 0.01
    with StubFhir(drop_first=1) as srv:
        rep = deliver_dir(export, [FhirTarget(srv.base)], settings, {"P001": True})
    [o] = [o for o in rep.outcomes if o.kind == "fhir-bundle"]
    assert o.status == "sent" and "confirmed on retry" in o.response
    assert srv.stored == {"P001": 2}  # committed twice, stored once (conditional update on a real server)


def test_committed_but_answer_lost_is_reported_delivered_by_the_next_run(tmp_path):
    export = write_export(tmp_path / "export", patients=["P001"])
    settings = _real_settings(tmp_path)
    settings.fhir.max_retries = 0  # the client gives up after the lost answer
    with StubFhir(drop_first=1) as srv:
        first = deliver_dir(export, [FhirTarget(srv.base)], settings, {"P001": True})
        [o1] = [o for o in first.outcomes if o.kind == "fhir-bundle"]
        assert o1.status == "failed" and not o1.reason.startswith(QUEUED)  # it reached the server: no breaker
        assert srv.stored == {"P001": 1}  # ... which did commit it
        second = deliver_dir(export, [FhirTarget(srv.base)], settings, {"P001": True})
    [o2] = [o for o in second.outcomes if o.kind == "fhir-bundle"]
    assert o2.status == "sent" and "confirmed on retry" in o2.response  # not "unchanged"
    with Ledger(settings.deliver.ledger) as led:
        rows = led.history(patient_id="P001", kind="fhir-bundle")
    assert [r.status for r in rows] == ["failed", "accepted"] and "may have been committed" in rows[0].response


def test_pipeline_run_against_a_dead_target_then_a_live_one(tmp_path):
    """The whole batch (library path of `ehrgen run`): dead target -> every sample queued, fast; the next run with
    the target up delivers every consenting patient exactly once; a third run sends nothing."""
    from pathlib import Path

    from ehrgen.pipeline.run import RunConfig, run_local

    repo = Path(__file__).resolve().parents[2] / "sample_data"
    folder = tmp_path / "in"
    (folder / "vcf").mkdir(parents=True)
    rows = ["sample_id,patient_id,vcf"]
    for i in range(1, 7):
        (folder / "vcf" / f"S00{i}.vcf").write_bytes((repo / "vcf" / f"S00{i}.vcf").read_bytes())
        rows.append(f"S00{i},P00{i},vcf/S00{i}.vcf")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    port = closed_port()

    def run(name: str):  # the same batch rerun (one run folder); `name` only labels the step
        cfg = RunConfig(work_dir=str(tmp_path / "w"), run_name="batch", clinical=str(repo / "clinical"),
                        fhir_url=f"http://127.0.0.1:{port}/fhir")
        return run_local(folder, cfg)

    t0 = time.monotonic()
    first = run("one")
    assert time.monotonic() - t0 < 30
    released = [o for o in first if o.status != "withheld"]
    assert released and all(o.status == "delivery-failed" and o.reason.startswith(QUEUED) for o in released)
    with StubFhir(port) as srv:
        second = run("two")
        assert all(o.status == "delivered" for o in second if o.patient in {r.patient for r in released})
        third = run("three")
        assert all(o.status in ("unchanged", "withheld") for o in third), [(o.sample, o.status) for o in third]
    assert srv.posts == len(released) and set(srv.stored.values()) == {1}


KILLED_DELIVERY = """
import sys
from pathlib import Path
from ehrgen.deliver import FhirTarget, deliver_dir
from ehrgen.settings import Settings
s = Settings()
s.deliver.ledger = Path(sys.argv[2]) / "ledger.sqlite"
s.deliver.dead_letter = Path(sys.argv[2]) / "dead-letter"
export = Path(sys.argv[1])
consent = {p.name.split(".")[0]: True for p in export.glob("*.bundle.json")}
deliver_dir(export, [FhirTarget(sys.argv[3])], s, consent)
"""


def test_kill_9_mid_batch_then_rerun_delivers_every_patient(tmp_path):
    """kill -9 while delivering: the rerun sends what the ledger does not show as delivered, so every patient
    arrives, and at most the bundle in flight at the kill is sent twice (a no-op conditional update)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    export = write_export(tmp_path / "export", patients=[f"P{i:03d}" for i in range(N)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "src"), str(repo)])}
    with StubFhir(delay_s=0.05) as srv:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_DELIVERY, str(export), str(tmp_path), srv.base],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while srv.posts < N // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = srv.posts
        assert 0 < before < N, f"the kill came at {before} of {N}"
        settings = _real_settings(tmp_path)
        rep = deliver_dir(export, [FhirTarget(srv.base)], settings, {p: True for p in _patients(export)})
    assert sorted(srv.stored) == _patients(export)  # nobody lost
    assert srv.posts - N <= 1 and max(srv.stored.values()) <= 2  # at most the in-flight bundle resent
    assert {o.status for o in rep.outcomes if o.kind == "fhir-bundle"} <= {"sent", "unchanged"}
