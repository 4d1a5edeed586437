"""The table's changes as the call-events publisher gets them, and which changes reach it at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.event_patterns import matches
from tests.support.table_stream import TableStream
from tests.support.template import fact_filter_pattern
from voiceagent.store import keys, open_store
from voiceagent.store.changes import MalformedChange, decode
from voiceagent.store.nonces import StoredAnswer
from voiceagent.store.states import CallState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_the_template_filter_is_the_one_the_store_describes() -> None:
    assert fact_filter_pattern() == keys.fact_change_filter()


def _by_kind(records: list[dict[str, Any]]) -> dict[keys.ItemKind, list[dict[str, Any]]]:
    found: dict[keys.ItemKind, list[dict[str, Any]]] = {}
    for record in records:
        found.setdefault(decode(record).kind, []).append(record)
    return found


def test_only_changes_that_carry_call_facts_pass_the_filter(table_stream: TableStream) -> None:
    """The media route's per-frame stream state, remembered nonces, tokens, stream records and the agent's
    notes never invoke the publisher; calls, placements, stream events and recoveries do."""
    store = open_store()
    store.placements.create("pl-00000001", {"state": "placed"}, NOW)
    store.placements.update("pl-00000001", NOW, state="requested", request_uuid="r1")
    store.calls.transition("c1", CallState.ANSWERED, NOW)
    store.connections.attach("conn-1", "c1", NOW, token_id="0123456789abcdef")
    record = store.connections.load("conn-1")
    assert record is not None
    store.connections.save_state(record, {"stream_id": "s1"}, [], NOW)
    store.nonces.remember("n1", "/plivo/answer", StoredAnswer(200, "application/xml", "<Response/>"), NOW)
    store.streams.put_event("c1", "s1#StartStream#t", {"kind": "started", "stream_id": "s1", "at": "t"}, NOW)
    store.streams.update_stream("c1", "s1", NOW, facts={"started_at": "t"}, overwrite={}, counters={})
    store.calls.add_agent_event("c1", "s1", 1, {"at": "t", "event": "start"}, NOW)
    store.streams.reserve_recovery("c1", 1, NOW)
    store.streams.record_recovery("c1", 1, {"action": "reconnect", "ended_stream_id": "s1"}, NOW)
    store.connections.detach("conn-1", NOW)

    records = table_stream.records()
    passed = _by_kind([record for record in records if matches(fact_filter_pattern(), record)])
    refused = _by_kind([record for record in records if not matches(fact_filter_pattern(), record)])

    assert set(passed) == set(keys.FACT_KINDS)
    assert set(refused) == {keys.ItemKind.OTHER, keys.ItemKind.STREAM, keys.ItemKind.AGENT_EVENT}
    refused_keys = {decode(record).new.get(keys.PK) or decode(record).old.get(keys.PK) for record in records}
    assert {"CONN#conn-1", "NONCE#n1"} <= refused_keys
    assert all(not matches(fact_filter_pattern(), r) for r in records if decode(r).event_name == "REMOVE")


def test_a_change_says_which_facts_appeared(table_stream: TableStream) -> None:
    store = open_store()
    store.calls.transition("c1", CallState.ANSWERED, NOW, facts={"to_number": "+1"})
    store.calls.update_call("c1", NOW, facts={"to_number": "+2", "policy": "agent"})
    # moto records an item that UpdateItem creates as two INSERTs (its keys alone, then the item); DynamoDB as
    # one. The keys-only one carries no fact either way.
    *_, first, second = (decode(record) for record in table_stream.records())

    assert first.event_name == "INSERT"
    assert first.kind is keys.ItemKind.CALL
    assert first.call_uuid == "c1"
    assert first.appeared("answered_at")
    assert second.event_name == "MODIFY"
    assert second.appeared("policy")
    assert not second.appeared("to_number")  # first write wins: it did not change
    assert not second.appeared("answered_at")
    assert second.sequence_number > first.sequence_number


def test_a_placement_is_known_by_its_own_id_until_linked(table_stream: TableStream) -> None:
    store = open_store()
    store.placements.create("pl-00000002", {"state": "placed"}, NOW)
    store.placements.link("pl-00000002", "c9", NOW)
    inserted, linked = (decode(record) for record in table_stream.records())
    assert inserted.kind is keys.ItemKind.PLACEMENT
    assert inserted.call_uuid is None
    assert linked.call_uuid == "c9"


@pytest.mark.parametrize(
    "record",
    [{}, {"dynamodb": {}}, {"dynamodb": {"Keys": "not a map"}}],
)
def test_a_record_without_keys_is_malformed(record: dict[str, Any]) -> None:
    with pytest.raises(MalformedChange):
        decode(record)


def test_a_recovery_is_marked_once_and_only_by_a_new_stream(aws_stack: Any) -> None:
    streams, calls = open_store().streams, open_store().calls
    calls.transition("c1", CallState.ANSWERED, NOW)
    assert streams.reserve_recovery("c1", 2, NOW) == 1
    streams.record_recovery("c1", 1, {"action": "reconnect", "ended_stream_id": "s1"}, NOW)
    streams.record_recovery("c1", 2, {"action": "apology", "ended_stream_id": "s2"}, NOW)

    assert not streams.mark_recovered("c1", 1, "s1", NOW)  # the stream that ended is no recovery
    assert streams.mark_recovered("c1", 1, "s2", NOW)
    assert not streams.mark_recovered("c1", 1, "s3", NOW)  # once
    assert not streams.mark_recovered("c1", 2, "s3", NOW)  # not a reconnect
    assert not streams.mark_recovered("c1", 3, "s3", NOW)  # no such recovery
    history = calls.history("c1")
    assert history is not None
    assert [item.get("recovered_stream_id") for item in history.recoveries] == ["s2", None]


def test_lists_grow_at_their_end_and_naming_a_stream_returns_the_call(aws_stack: Any) -> None:
    calls = open_store().calls
    calls.transition("c1", CallState.ANSWERED, NOW)
    assert calls.update_call("c1", NOW, append={"attempts": [{"n": 1}]})
    assert calls.update_call("c1", NOW, append={"attempts": [{"n": 2}]})
    named = calls.name_stream("c1", "s1", NOW)
    assert named is not None
    assert named["stream_id"] == "s1"
    assert [attempt["n"] for attempt in named["attempts"]] == [1, 2]
    calls.transition("c1", CallState.COMPLETED, NOW)
    assert calls.name_stream("c1", "s2", NOW) is None
