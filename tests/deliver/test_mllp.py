from __future__ import annotations

import socket
import threading

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from hl7apy.mllp import AbstractHandler, MLLPServer

from ehrgen.deliver import MllpTarget, deliver_dir
from ehrgen.deliver.mllp import MllpClient, MllpError, control_id, frame, parse_ack
from ehrgen.store.ledger import Ledger
from tests.net import closed_port

from .conftest import PATIENTS, make_oru

CONSENT = {p: True for p in PATIENTS}
ORU_KEY = "ORU^R01^ORU_R01"  # hl7apy routes on the full MSH-9


def ack_for(message: str, code: str, text: str = "", err: str = "") -> str:
    cid = control_id(message)
    segs = [
        "MSH|^~\\&|EHR|HOSP|EHRGEN|PGXLAB|20261125120001||ACK^R01^ACK|ACK-" + cid + "|P|2.5.1",
        f"MSA|{code}|{cid}|{text}",
    ]
    if err:
        segs.append(f"ERR|||{err}|E||||Result rejected")
    return "\r".join(segs) + "\r"


received: list[str] = []


class AcceptHandler(AbstractHandler):
    def reply(self):
        received.append(self.incoming_message)
        return "\x0b" + ack_for(self.incoming_message, "AA") + "\x1c\r"


class ErrorHandler(AbstractHandler):
    def reply(self):
        received.append(self.incoming_message)
        return "\x0b" + ack_for(self.incoming_message, "AE", "Unknown patient",
                                "204^Unknown key identifier^HL70357") + "\x1c\r"


@pytest.fixture
def mllp_server():
    servers = []

    def start(handler) -> int:
        received.clear()
        srv = MLLPServer("127.0.0.1", 0, {ORU_KEY: (handler,)}, timeout=5)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return srv.server_address[1]

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_frame_control_id_and_ack_parsing():
    msg = make_oru("P1", control_id="C42")
    assert frame(msg) == b"\x0b" + msg.encode() + b"\x1c\r"
    assert control_id(msg) == "C42"
    ack = parse_ack(ack_for(msg, "AE", "Unknown patient", "204^Unknown key identifier^HL70357"))
    assert (ack.code, ack.control_id, ack.accepted) == ("AE", "C42", False)
    assert "Unknown patient" in ack.text and "204 Unknown key identifier" in ack.text
    assert parse_ack(ack_for(msg, "AA")).accepted
    with pytest.raises(MllpError):
        parse_ack("PID|1\r")


def test_round_trip_with_hl7apy_server_reconnects_per_message(export_dir, settings, mllp_server):
    port = mllp_server(AcceptHandler)
    rep = deliver_dir(export_dir, [MllpTarget("127.0.0.1", port)], settings, CONSENT)
    assert rep.ok and [(o.patient_id, o.status, o.response) for o in rep.outcomes] == [
        ("P001", "sent", "ACK AA"), ("P002", "sent", "ACK AA")]
    # the server saw exactly our messages (one each: hl7apy closes after one, we reconnected)
    assert [control_id(m) for m in received] == ["MSG-P001", "MSG-P002"]
    assert received[0] == (export_dir / "P001.oru.hl7").read_bytes().decode()
    led = Ledger(settings.deliver.ledger)
    assert {r.status for r in led.history()} == {"accepted"}
    # rerun: unchanged, nothing sent
    rep2 = deliver_dir(export_dir, [MllpTarget("127.0.0.1", port)], settings, CONSENT)
    assert rep2.counts() == {"unchanged": 2} and len(received) == 2


def test_ae_ack_is_dead_lettered(export_dir, settings, mllp_server):
    port = mllp_server(ErrorHandler)
    rep = deliver_dir(export_dir, [MllpTarget("127.0.0.1", port)], settings, {"P001": True, "P002": False})
    [rej, withheld] = rep.outcomes
    assert (rej.status, rej.response) == ("rejected", "ACK AE") and "Unknown patient" in rej.reason
    assert withheld.status == "withheld"
    assert len(received) == 1  # no retry of a refused message; nothing for the withheld patient
    folder = next(settings.deliver.dead_letter.glob("P001.oru.*"))
    assert (folder / "P001.oru.hl7").read_bytes().decode() == make_oru("P001")
    assert "MSA|AE|MSG-P001" in (folder / "ack.hl7").read_text()
    assert "ACK AE: Unknown patient" in (folder / "reason.txt").read_text()
    assert not rep.ok
    led = Ledger(settings.deliver.ledger)
    [row] = led.history(patient_id="P001")
    assert (row.status, row.response, row.location) == ("dead-lettered", "ACK AE", str(folder))
    # local AuditEvents (no FHIR server on this channel): valid R4, DICOM Export type
    for ae in led.audit_events():
        AuditEvent.model_validate(ae.resource)
        assert ae.resource["type"]["code"] == "110106" and not ae.sent_to_server
    assert [ae.resource["outcome"] for ae in led.audit_events()] == ["4", "4"]


class PersistentListener:
    """An interface-engine-like listener that keeps the connection open for many messages.
    `drop_first` closes the first connection without answering (to exercise the retry)."""

    def __init__(self, drop_first: bool = False, code: str = "AA") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.messages: list[str] = []
        self.drop_first = drop_first
        self.code = code
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.connections == 1 and self._first_connection(conn):
                continue
            threading.Thread(target=self._conn, args=(conn,), daemon=True).start()

    def _first_connection(self, conn: socket.socket) -> bool:
        """True when the first connection was dealt with here (closed), not served."""
        if not self.drop_first:
            return False
        conn.recv(65536)
        conn.close()
        return True

    def _conn(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\x1c\r" in buf:
                    raw, buf = buf.split(b"\x1c\r", 1)
                    msg = raw.lstrip(b"\x0b").decode()
                    self.messages.append(msg)
                    conn.sendall(b"\x0b" + ack_for(msg, self.code).encode() + b"\x1c\r")

    def close(self) -> None:
        self.sock.close()


def test_one_connection_for_a_batch_when_the_peer_keeps_it_open(tmp_path, settings):
    from .conftest import write_export

    export = write_export(tmp_path / "export", patients=[f"P{i:03d}" for i in range(5)])
    peer = PersistentListener()
    try:
        rep = deliver_dir(export, [MllpTarget("127.0.0.1", peer.port)], settings,
                          {f"P{i:03d}": True for i in range(5)})
    finally:
        peer.close()
    assert rep.counts() == {"sent": 5}
    assert peer.connections == 1 and len(peer.messages) == 5


def test_connection_dropped_without_ack_is_retried(settings):
    peer = PersistentListener(drop_first=True)
    try:
        with MllpClient("127.0.0.1", peer.port, timeout_s=2, max_retries=2, backoff_s=0.01) as client:
            ack = client.send(make_oru("P001"))
    finally:
        peer.close()
    assert ack.accepted and peer.connections == 2 and len(peer.messages) == 1


def test_nobody_listening_fails_after_retries(export_dir, settings):
    port = closed_port()
    settings.fhir.backoff_s = 0.01
    rep = deliver_dir(export_dir, [MllpTarget("127.0.0.1", port)], settings, {"P001": True})
    o = rep.outcomes[0]
    assert o.status == "failed" and "could not connect in 3 attempts" in o.reason
    assert o.reason.startswith("target unreachable; queued for the next run")
    assert len(rep.notices) == 1 and "left queued" in rep.notices[0]


def test_ack_timeout_is_retried_then_fails(settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        with MllpClient("127.0.0.1", silent.getsockname()[1], timeout_s=0.2, max_retries=1,
                        backoff_s=0.01) as client:
            with pytest.raises(MllpError, match="no ACK after 2 attempts"):
                client.send(make_oru("P001"))
            assert client.connections_opened == 2
    finally:
        silent.close()


def test_reconnects_before_send_when_peer_closed_after_ack(mllp_server):
    """hl7apy closes after each answer: the client notices before writing, so no attempt is wasted."""
    port = mllp_server(AcceptHandler)

    def no_sleep(_s):
        raise AssertionError("a retry happened: the closed connection was not detected before sending")

    with MllpClient("127.0.0.1", port, timeout_s=2, max_retries=2, sleep=no_sleep) as client:
        for p in ("P001", "P002", "P003"):
            assert client.send(make_oru(p)).accepted
            # give the server thread time to close its side, as it does after every answer
            import time
            time.sleep(0.05)
        assert client.connections_opened == 3
    assert len(received) == 3


class LostAckListener(PersistentListener):
    """Receives (and records) the first message, then closes without an ACK: the ACK was lost, the message
    was not. Later connections ACK normally."""

    def _first_connection(self, conn: socket.socket) -> bool:
        buf = b""
        while b"\x1c\r" not in buf:
            buf += conn.recv(65536)
        self.messages.append(buf.split(b"\x1c\r", 1)[0].lstrip(b"\x0b").decode())
        conn.close()
        return True


def test_resend_after_a_lost_ack_keeps_the_control_id(settings):
    peer = LostAckListener()
    try:
        with MllpClient("127.0.0.1", peer.port, timeout_s=2, max_retries=2, backoff_s=0.01) as client:
            ack = client.send(make_oru("P001"))
    finally:
        peer.close()
    assert ack.accepted and len(peer.messages) == 2  # delivered twice: the receiver must de-duplicate ...
    first, again = peer.messages
    assert control_id(first) == control_id(again) != ""  # ... and MSH-10 lets it (docs/ehr-integration.md)
    assert first == again


def test_a_later_run_resends_the_same_control_id(tmp_path, settings):
    from .conftest import write_export

    export = write_export(tmp_path / "export", patients=["P001"])
    settings.mllp.max_retries = 0  # the first run gives up after the lost ACK
    peer = LostAckListener()
    try:
        first = deliver_dir(export, [MllpTarget("127.0.0.1", peer.port)], settings, {"P001": True})
        second = deliver_dir(export, [MllpTarget("127.0.0.1", peer.port)], settings, {"P001": True})
    finally:
        peer.close()
    assert [o.status for o in first.outcomes] == ["failed"] and [o.status for o in second.outcomes] == ["sent"]
    assert not first.outcomes[0].reason.startswith("target unreachable")  # it connected: no circuit breaker
    assert len(peer.messages) == 2 and control_id(peer.messages[0]) == control_id(peer.messages[1])
