"""Network helpers for tests."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A local port nothing listens on (bound, then closed again: connecting is refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
