"""The hostile-input corpus: every case names its family, builds its input in a temp folder, runs the product
piece that reads it, and says what must come out: a clear error naming the file and the line/record, or an
explicit warning plus the correct result (never a silent wrong answer, never a silent loss).

Each family module (cases_*.py) contributes a list of Case; test_corpus.py runs them all and reports counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

Kind = Literal["error", "warning", "ok"]


@dataclass
class Result:
    """What the product said: `kind` and its messages (error lines or warnings), plus the value it produced."""

    kind: Kind
    messages: list[str] = field(default_factory=list)
    value: Any = None

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@dataclass
class Case:
    id: str
    family: str
    run: Callable[[Path], Result]
    kind: Kind  # what must come out
    must: tuple[str, ...] = ()  # substrings of one message (case-insensitive): file, record, what was expected
    must_not: tuple[str, ...] = ()  # never in any message (a genotype, an identifier ...)
    check: Callable[[Result], None] | None = None  # the correct result, for warnings and ok cases
    one_line: bool = True  # every message is one line

    def verify(self, got: Result) -> None:
        assert got.kind == self.kind, f"{self.id}: expected {self.kind}, got {got.kind}: {got.text}"
        if self.must:
            low = [m.lower() for m in got.messages]
            assert any(all(s.lower() in m for s in self.must) for m in low), \
                f"{self.id}: no message holds all of {self.must}: {got.messages}"
        for s in self.must_not:
            assert s not in got.text, f"{self.id}: a message echoes {s!r}: {got.text}"
        if self.one_line:
            for m in got.messages:
                assert "\n" not in m.strip() and "Traceback" not in m, f"{self.id}: not one line: {m!r}"
        if self.check is not None:
            self.check(got)


def counts(cases: list[Case]) -> dict[str, int]:
    return dict(sorted(Counter(c.family for c in cases).items()))
