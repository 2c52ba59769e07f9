"""Progress of a batch, per chunk: run_chunk reports after each sample; listeners (the terminal progress bar of
`ehrgen run`) add it up. Listeners live in this process: with Dask, chunks run elsewhere and progress arrives
when each chunk completes (the flow reports that too). Counts only, never identifiers."""

from __future__ import annotations

import threading
from typing import Callable

Listener = Callable[[int, int], None]  # (chunk index, samples of that chunk done so far)

_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(fn: Listener) -> None:
    with _lock:
        _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    with _lock:
        if fn in _listeners:
            _listeners.remove(fn)


def report(chunk_index: int, done: int) -> None:
    with _lock:
        listeners = list(_listeners)
    for fn in listeners:
        try:
            fn(chunk_index, done)
        except Exception:  # a display problem never fails a run
            pass


class Tally:
    """Samples done across chunks; a chunk's count only grows (per-sample reports and the chunk's completion
    may both arrive, in either order)."""

    def __init__(self) -> None:
        self._done: dict[int, int] = {}
        self._lock = threading.Lock()

    def update(self, chunk_index: int, done: int) -> int:
        with self._lock:
            self._done[chunk_index] = max(done, self._done.get(chunk_index, 0))
            return sum(self._done.values())
