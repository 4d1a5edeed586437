"""Key shapes, reading a call's history back by kind, streams and connections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voiceagent.store import keys, open_store
from voiceagent.store.states import CallState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (keys.call_key("c1"), keys.ItemKind.CALL),
        (keys.stream_key("c1", "s1"), keys.ItemKind.STREAM),
        (keys.stream_event_key("c1", "s1#StartStream#t"), keys.ItemKind.STREAM_EVENT),
        (keys.recovery_key("c1", 2), keys.ItemKind.RECOVERY),
        (keys.placement_key("p1"), keys.ItemKind.PLACEMENT),
        (keys.connection_key("conn"), keys.ItemKind.OTHER),
        (keys.nonce_key("n1", "/plivo/answer"), keys.ItemKind.OTHER),
        (keys.stream_token_key("c1", "0123456789abcdef"), keys.ItemKind.OTHER),
    ],
)
def test_every_item_of_a_partition_has_a_kind(key: dict[str, Any], kind: keys.ItemKind) -> None:
    assert keys.kind_of({name: value["S"] for name, value in key.items()}) is kind


def test_a_history_groups_a_calls_items_by_kind(aws_stack: Any) -> None:
    store = open_store()
    store.calls.transition("c1", CallState.ANSWERED, NOW)
    assert store.streams.put_event("c1", "s1#StartStream#t1", {"kind": "started", "at": "x"}, NOW)
    assert not store.streams.put_event("c1", "s1#StartStream#t1", {"kind": "started", "at": "y"}, NOW)
    store.streams.update_stream("c1", "s1", NOW, facts={"started_at": "x"}, overwrite={}, counters={})
    attempt = store.streams.reserve_recovery("c1", 1, NOW)
    assert attempt == 1
    store.streams.record_recovery("c1", attempt, {"result": "restarted"}, NOW)

    history = store.calls.history("c1")

    assert history is not None
    assert history.call["state"] == "answered"
    assert [event["at"] for event in history.stream_events] == ["x"]  # stored once, first one kept
    assert [stream["stream_id"] for stream in history.streams] == ["s1"]
    assert [recovery["result"] for recovery in history.recoveries] == ["restarted"]
    assert store.calls.history("nobody") is None


def test_recoveries_stop_at_the_limit_and_once_the_call_is_over(aws_stack: Any) -> None:
    streams, calls = open_store().streams, open_store().calls
    calls.transition("c1", CallState.ANSWERED, NOW)
    assert streams.reserve_recovery("c1", 2, NOW) == 1
    assert streams.reserve_recovery("c1", 2, NOW) == 2
    assert streams.reserve_recovery("c1", 2, NOW) is None
    calls.transition("c2", CallState.COMPLETED, NOW)
    assert streams.reserve_recovery("c2", 2, NOW) is None
    assert streams.reserve_recovery("c1", 0, NOW) is None  # recovery off


def test_a_connection_is_attached_read_back_and_detached(aws_stack: Any) -> None:
    store = open_store()
    store.calls.transition("c1", CallState.ANSWERED, NOW)
    store.connections.attach("conn-1", "c1", NOW, token_id="t1")
    assert store.connections.call_of("conn-1") == "c1"
    assert (store.calls.get_call("c1") or {})["connection_id"] == "conn-1"

    old = store.connections.detach("conn-1", NOW + timedelta(seconds=5))
    assert old is not None
    assert old.call_uuid == "c1"

    call = store.calls.get_call("c1") or {}
    assert "connection_id" not in call
    assert call["disconnected_at"] == "2026-11-24T12:00:05.000Z"
    assert store.connections.call_of("conn-1") is None
    assert store.connections.detach("conn-1", NOW) is None  # twice is harmless


def test_detaching_an_old_connection_keeps_the_newer_one(aws_stack: Any) -> None:
    store = open_store()
    store.calls.transition("c1", CallState.ANSWERED, NOW)
    store.connections.attach("conn-1", "c1", NOW, token_id="t1")
    store.connections.attach("conn-2", "c1", NOW, token_id="t2")
    store.connections.detach("conn-1", NOW)
    assert (store.calls.get_call("c1") or {})["connection_id"] == "conn-2"


def test_a_token_attaches_one_connection_and_only_to_a_live_call(aws_stack: Any) -> None:
    from voiceagent.store.connections import AttachRefused

    store = open_store()
    with pytest.raises(AttachRefused, match="not live"):
        store.connections.attach("conn-0", "c1", NOW, token_id="t0")  # never answered
    store.calls.transition("c1", CallState.ANSWERED, NOW)
    store.connections.attach("conn-1", "c1", NOW, token_id="t1")
    with pytest.raises(AttachRefused, match="already used"):
        store.connections.attach("conn-2", "c1", NOW, token_id="t1")
    store.calls.transition("c1", CallState.COMPLETED, NOW)
    with pytest.raises(AttachRefused, match="not live"):
        store.connections.attach("conn-3", "c1", NOW, token_id="t3")
    assert store.connections.call_of("conn-2") is None
    assert store.connections.call_of("conn-3") is None
