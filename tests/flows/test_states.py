"""How a run's outcomes map to the flow's final state (pure: no server)."""

from __future__ import annotations

from ehrgen.pipeline.outcome import SampleOutcome, summarise
from flows.common import PARTIAL, final_state


def _outs(*statuses: str) -> list[SampleOutcome]:
    return [SampleOutcome(f"S{i}", status=s) for i, s in enumerate(statuses)]


def test_all_ok_is_completed():
    st = final_state(summarise(_outs("delivered", "unchanged", "withheld")))
    assert st.is_completed() and st.name == "Completed"


def test_some_failed_is_completed_named_partially_failed():
    s = summarise(_outs("delivered", "failed", "delivery-failed"))
    assert s["failed"] == 2 and s["state"] == "partially failed"
    st = final_state(s)
    assert st.is_completed() and st.name == PARTIAL and "2 of 3" in st.message


def test_all_failed_is_failed():
    st = final_state(summarise(_outs("failed", "failed")))
    assert st.is_failed()
