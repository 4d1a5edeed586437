from __future__ import annotations

from voiceagent.media.agent import CallView
from voiceagent.media.audio import EnergyVad
from voiceagent.media.runtime import Session, SessionCache


def session(connection_id: str) -> Session:
    return Session(connection_id, CallView(call_uuid="c", stream_id="s"), EnergyVad())


def test_session_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    cache = SessionCache(max_sessions=2)
    cache.put(session("a"))
    cache.put(session("b"))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put(session("c"))

    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None


def test_dropping_an_unknown_session_is_harmless() -> None:
    cache = SessionCache()
    cache.drop("nope")
    assert len(cache) == 0
