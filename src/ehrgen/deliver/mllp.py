"""HL7 v2 over MLLP: frame, send, wait for the ACK, retry on connection loss.

One connection is kept for a batch. Some listeners (hl7apy's MLLPServer among them) answer one
message per connection and then close: before each send the client checks whether the peer has
closed the socket and reconnects, so the message is not written into a dead connection.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\r"


class MllpError(RuntimeError):
    """No usable ACK (connection refused/lost, timeout, garbled frame) after retries."""


class MllpUnreachable(MllpError):
    """No attempt could even connect: nothing was delivered (the caller may stop trying this target)."""


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1: AA/AE/AR (or CA/CE/CR in enhanced mode)
    control_id: str  # MSA-2: echoes MSH-10 of our message
    text: str  # MSA-3 and any ERR segment details
    raw: str

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def frame(message: str) -> bytes:
    return START + message.encode("utf-8") + END


def normalise(message: str) -> str:
    """Segments separated by \\r only, ending with \\r (what MLLP receivers expect)."""
    text = message.replace("\r\n", "\r").replace("\n", "\r").rstrip("\r")
    return text + "\r"


def control_id(message: str) -> str:
    """MSH-10 of an ER7 message."""
    msh = message.split("\r", 1)[0]
    sep = msh[3:4] or "|"
    fields = msh.split(sep)
    # fields[0]='MSH', fields[1]=encoding chars (MSH-2), so MSH-n is fields[n-1]
    return fields[9] if len(fields) > 9 else ""


def parse_ack(text: str) -> Ack:
    segments = [s for s in normalise(text).split("\r") if s]
    if not segments or not segments[0].startswith("MSH"):
        raise MllpError("answer is not an HL7 message")
    sep = segments[0][3:4] or "|"
    comp = segments[0][4:5] or "^"
    msa = next((s.split(sep) for s in segments if s.startswith("MSA")), None)
    if msa is None or len(msa) < 2:
        raise MllpError("answer has no MSA segment")
    details: list[str] = []
    if len(msa) > 3 and msa[3]:
        details.append(msa[3])
    for seg in segments:
        if seg.startswith("ERR"):
            f = seg.split(sep)
            # v2.5 ERR-3 error code (CWE: code^text), ERR-8 user message; ERR-1 (v2.3 style) as fallback
            for idx in (3, 8, 1):
                if len(f) > idx and f[idx]:
                    val = f[idx].replace(comp, " ").strip()
                    if val and val not in details:
                        details.append(val)
    return Ack(
        code=msa[1].strip(),
        control_id=msa[2].strip() if len(msa) > 2 else "",
        text="; ".join(details),
        raw=text,
    )


class MllpClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._sock: socket.socket | None = None
        self.connections_opened = 0  # for tests and diagnostics

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> "MllpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        sock.settimeout(self.timeout_s)
        self.connections_opened += 1
        return sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True if the peer has closed (or reset) this connection since the last exchange."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _socket(self) -> socket.socket:
        if self._sock is not None and self._peer_closed(self._sock):
            self.close()
        if self._sock is None:
            self._sock = self._connect()
        return self._sock

    def send(self, message: str) -> Ack:
        """Send one message and return the receiver's ACK; retries connection loss and timeouts.

        Raises MllpError when every attempt failed. An AE/AR ACK is returned, not raised: the
        receiver understood and refused, which is final for this content.
        """
        msg = normalise(message)
        payload = frame(msg)
        want = control_id(msg)
        last = ""
        connected = False
        for attempt in range(1, self.max_retries + 2):
            try:
                sock = self._socket()
                connected = True
                sock.sendall(payload)
                ack = parse_ack(self._read_frame(sock))
            except (OSError, MllpError) as exc:
                # a timeout is an OSError too; the connection state is unknown, so start afresh
                last = exc.__class__.__name__ if not isinstance(exc, MllpError) else str(exc)
                self.close()
                if attempt <= self.max_retries:
                    delay = self.backoff_s * (2 ** (attempt - 1))
                    log.info("MLLP attempt %d failed (%s); retrying in %.2fs", attempt, last, delay)
                    self._sleep(delay)
                continue
            if want and ack.control_id and ack.control_id != want:
                # an answer to some other message: the exchange is out of step, do not trust it
                self.close()
                raise MllpError(f"ACK for control id {ack.control_id!r}, expected {want!r}")
            return ack
        if not connected:
            raise MllpUnreachable(f"could not connect in {self.max_retries + 1} attempts ({last})")
        raise MllpError(f"no ACK after {self.max_retries + 1} attempts ({last})")

    def _read_frame(self, sock: socket.socket) -> str:
        buf = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                raise MllpError("connection closed before a complete ACK")
            buf += chunk
            end = buf.find(b"\x1c")
            if end != -1:
                start = buf.find(START)
                if start == -1 or start > end:
                    raise MllpError("ACK frame without start block")
                # the trailing \r after 0x1c may arrive in a later packet: it is not needed
                return buf[start + 1:end].decode("utf-8", errors="replace")
