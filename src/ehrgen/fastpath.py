"""One switch for the speed-ups that replace a straightforward implementation (memoised interpretation, fragment
caches, hand-written escaping, ...). Each fast path keeps the plain code it replaces, and `enabled()` picks one:
tests run both and require byte-identical outputs (issue 14: speed never changes a result).

`EHRGEN_FASTPATH=0` selects the straightforward paths everywhere (for those tests, and to rule a speed-up out when
chasing a difference); anything else, or unset, selects the fast ones.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

_override: bool | None = None


def enabled() -> bool:
    if _override is not None:
        return _override
    return os.environ.get("EHRGEN_FASTPATH", "1").strip().lower() not in ("0", "false", "no", "off")


@contextmanager
def straightforward() -> Iterator[None]:
    """Within this block (this process) every fast path is off."""
    global _override
    old, _override = _override, False
    try:
        yield
    finally:
        _override = old
