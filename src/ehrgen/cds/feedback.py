"""CDS Hooks feedback: what happened to each card (accepted / overridden, with the override reason).

Appended to a local JSONL file, one line per feedback item. Only what the site needs to tune its alerts is
kept: service, card uuid, outcome, accepted suggestion ids, override reason code, and (from the service's
own record of the card) drug, indicator, card kind, sources, rule ids. No patient data: the free-text
override comment is not stored (it may name the patient); only whether one was given.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ehrgen.cds.cards import CardMeta

OUTCOMES = ("accepted", "overridden")


class FeedbackError(ValueError):
    """Malformed feedback (HTTP 400); the message names the item and field."""


class CardRegistry:
    """uuid -> CardMeta for recently issued cards (bounded; feedback for older cards is still recorded)."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._cards: OrderedDict[str, CardMeta] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, card_uuid: str, meta: CardMeta) -> None:
        with self._lock:
            self._cards[card_uuid] = meta
            while len(self._cards) > self.size:
                self._cards.popitem(last=False)

    def get(self, card_uuid: str) -> CardMeta | None:
        with self._lock:
            return self._cards.get(card_uuid)


def parse_feedback(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise FeedbackError("body must be a JSON object with a non-empty 'feedback' array")
    items = []
    for i, f in enumerate(body["feedback"]):
        if not isinstance(f, dict):
            raise FeedbackError(f"feedback[{i}] must be an object")
        if not isinstance(f.get("card"), str) or not f["card"]:
            raise FeedbackError(f"feedback[{i}].card (the card uuid) is required")
        if f.get("outcome") not in OUTCOMES:
            raise FeedbackError(f"feedback[{i}].outcome must be one of {', '.join(OUTCOMES)}")
        if not isinstance(f.get("outcomeTimestamp"), str):
            raise FeedbackError(f"feedback[{i}].outcomeTimestamp is required")
        items.append(f)
    return items


class FeedbackLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, service: str, items: list[dict[str, Any]], registry: CardRegistry) -> int:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        lines = []
        for f in items:
            reason = ((f.get("overrideReason") or {}).get("reason") or {}) if f["outcome"] == "overridden" else {}
            rec: dict[str, Any] = {
                "received": now, "service": service, "card": f["card"], "outcome": f["outcome"],
                "outcome_timestamp": f["outcomeTimestamp"],
                "accepted_suggestions": [s.get("id") for s in f.get("acceptedSuggestions") or [] if isinstance(s, dict)],
                "override_reason": reason.get("code"), "override_system": reason.get("system"),
                "override_comment_given": bool((f.get("overrideReason") or {}).get("userComment")),
            }
            meta = registry.get(f["card"])
            rec["card_meta"] = asdict(meta) if meta else None
            lines.append(json.dumps(rec, sort_keys=True))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        return len(lines)
