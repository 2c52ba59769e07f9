"""pgx-pipeline delivering ORU^R01 over MLLP (hl7apy's MLLP server as the EHR's interface engine) plus the outbox."""

from __future__ import annotations

import threading

import pytest
from hl7apy.mllp import AbstractHandler, MLLPServer

from ehrgen.deliver.mllp import control_id

received: list[str] = []


class Accept(AbstractHandler):
    def reply(self):
        received.append(self.incoming_message)
        cid = control_id(self.incoming_message)
        ack = f"MSH|^~\\&|EHR|HOSP|EHRGEN|EHRGEN|20260115083000||ACK^R01^ACK|A{cid}|P|2.5.1\rMSA|AA|{cid}\r"
        return "\x0b" + ack + "\x1c\r"


@pytest.fixture()
def mllp_port():
    received.clear()
    srv = MLLPServer("127.0.0.1", 0, {"ORU^R01^ORU_R01": (Accept,)}, timeout=5)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_run_delivers_oru_over_mllp_and_files_to_outbox(prefect_server, sample_data, tmp_path, mllp_port):
    import json

    from flows.pgx_pipeline import pgx_pipeline

    work = tmp_path / "w"
    state = pgx_pipeline(input_dir=str(sample_data), work_dir=str(work), mllp=f"127.0.0.1:{mllp_port}",
                         outbox=str(work / "outbox"), return_state=True)
    assert state.name == "Partially Failed"
    assert len(received) == 22  # consented, successfully called patients only
    assert all(m.startswith("MSH|") and "ORU^R01" in m for m in received)
    outcomes = json.loads((work / "sample_data" / "outcomes.json").read_text())
    ok = [o for o in outcomes if o["status"] == "delivered"]
    assert len(ok) == 22 and all("mllp: sent" in o["delivered"] and "outbox: sent" in o["delivered"] for o in ok)
