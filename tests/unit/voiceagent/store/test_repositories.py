from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from voiceagent.store import open_store
from voiceagent.store.placements import AlreadyExists
from voiceagent.store.states import ALLOWED_FROM, CallState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)


def test_first_transition_creates_the_call_with_ttl(aws_stack: Any) -> None:
    repository = open_store().calls
    result = repository.transition("call-1", CallState.ANSWERED, NOW, {"from_number": "1415"})

    assert (result.applied, result.previous, result.current) == (True, None, CallState.ANSWERED)
    call = repository.get_call("call-1")
    assert call is not None
    assert call["state"] == "answered"
    assert call["answered_at"] == "2026-11-24T12:00:00.000Z"
    assert call["expires_at"] == int((NOW + timedelta(days=30)).timestamp())


@pytest.mark.parametrize(
    ("path", "final"),
    [
        (
            [CallState.PLACED, CallState.ANSWERED, CallState.MACHINE_DETECTED, CallState.COMPLETED],
            CallState.COMPLETED,
        ),
        ([CallState.COMPLETED, CallState.ANSWERED], CallState.COMPLETED),  # hangup first, late answer
        ([CallState.MACHINE_DETECTED, CallState.ANSWERED], CallState.MACHINE_DETECTED),
        ([CallState.ANSWERED, CallState.PLACED], CallState.ANSWERED),
    ],
)
def test_calls_never_move_backwards(aws_stack: Any, path: list[CallState], final: CallState) -> None:
    repository = open_store().calls
    for state in path:
        repository.transition("call-1", state, NOW)
    call = repository.get_call("call-1")
    assert call is not None
    assert call["state"] == final.value


def test_a_repeated_transition_applies_once_and_keeps_first_facts(aws_stack: Any) -> None:
    repository = open_store().calls
    first = repository.transition("call-1", CallState.COMPLETED, NOW, {"hangup_cause": "NORMAL_CLEARING"})
    second = repository.transition("call-1", CallState.COMPLETED, LATER, {"hangup_cause": "OTHER"})

    assert first.applied
    assert not second.applied
    assert second.previous is CallState.COMPLETED
    call = repository.get_call("call-1")
    assert call is not None
    assert call["hangup_cause"] == "NORMAL_CLEARING"
    assert call["completed_at"] == "2026-11-24T12:00:00.000Z"


def test_a_refused_transition_still_records_new_facts(aws_stack: Any) -> None:
    repository = open_store().calls
    repository.transition("call-1", CallState.COMPLETED, NOW)
    result = repository.transition("call-1", CallState.ANSWERED, LATER, {"to_number": "1999", "none": None})

    assert not result.applied
    call = repository.get_call("call-1")
    assert call is not None
    assert call["to_number"] == "1999"
    assert "none" not in call
    assert "answered_at" not in call  # the state was never entered


def test_unknown_call_reads_as_none(aws_stack: Any) -> None:
    assert open_store().calls.get_call("nobody") is None


def test_other_dynamodb_errors_propagate(aws_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = open_store().calls

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "UpdateItem")

    monkeypatch.setattr(repository._table.client, "update_item", throttled)
    with pytest.raises(ClientError):
        repository.transition("call-1", CallState.ANSWERED, NOW)


@pytest.mark.parametrize("target", list(CallState))
def test_no_state_may_be_re_entered_or_left_for_an_earlier_one(target: CallState) -> None:
    order = list(CallState)
    assert target not in ALLOWED_FROM[target]
    assert all(order.index(source) < order.index(target) for source in ALLOWED_FROM[target])


def test_a_placement_is_created_once(aws_stack: Any) -> None:
    placements = open_store().placements
    placements.create("pl-1", {"policy": "hangup"}, NOW)
    with pytest.raises(AlreadyExists):
        placements.create("pl-1", {"policy": "agent"}, LATER)
    placement = placements.get("pl-1")
    assert placement is not None
    assert placement["policy"] == "hangup"


def test_linking_an_unknown_placement_creates_nothing(aws_stack: Any) -> None:
    placements = open_store().placements
    placements.link("pl-unknown", "call-1", NOW)
    assert placements.get("pl-unknown") is None


def test_a_derived_transition_derives_again_when_another_write_got_in_between(aws_stack: Any) -> None:
    repository = open_store().calls
    repository.transition("call-1", CallState.ANSWERED, NOW)
    seen: list[Any] = []

    def derive(call: dict[str, Any]) -> dict[str, Any]:
        seen.append(call.get("machine"))
        if len(seen) == 1:  # another webhook writes after this read, before the completing write
            repository.update_call("call-1", NOW, facts={"machine": True})
        return {"outcome": "machine" if call.get("machine") else "human"}

    transition, facts = repository.transition_derived("call-1", CallState.COMPLETED, LATER, derive)

    assert transition.applied
    assert seen == [None, True]
    assert facts == {"outcome": "machine"}
    call = repository.get_call("call-1")
    assert call is not None
    assert (call["state"], call["outcome"]) == ("completed", "machine")


def test_a_derived_transition_that_never_settles_is_a_write_conflict(aws_stack: Any) -> None:
    from voiceagent.store.calls import MAX_DERIVED_ATTEMPTS, WriteConflict

    repository = open_store().calls
    attempts: list[int] = []

    def derive(call: dict[str, Any]) -> dict[str, Any]:
        attempts.append(1)
        repository.update_call("call-1", NOW, overwrite={"noise": len(attempts)})
        return {}

    with pytest.raises(WriteConflict):
        repository.transition_derived("call-1", CallState.COMPLETED, LATER, derive)
    assert len(attempts) == MAX_DERIVED_ATTEMPTS
    call = repository.get_call("call-1")
    assert call is not None
    assert "state" not in call


def test_a_derived_transition_the_state_forbids_keeps_the_first_facts(aws_stack: Any) -> None:
    repository = open_store().calls
    repository.transition("call-1", CallState.COMPLETED, NOW, {"outcome": "human"})

    transition, _ = repository.transition_derived(
        "call-1", CallState.COMPLETED, LATER, lambda call: {"outcome": "busy"}
    )

    assert not transition.applied
    call = repository.get_call("call-1")
    assert call is not None
    assert call["outcome"] == "human"


def test_every_write_to_a_call_record_bumps_its_version(
    aws_stack: Any, lambda_context: Any, plivo_rest: Any
) -> None:
    """A whole call through every handler that writes the call record (and the repositories' other writers):
    each UpdateItem of a CALL item, alone or in a transaction, adds to ``version``."""
    from functions.hangup import app as hangup_app
    from functions.machine_detection import app as md_app
    from functions.stream_connect import app as connect_app
    from functions.stream_status import app as stream_status_app
    from tests.support import plivo_api as api
    from tests.support import seed
    from tests.support.events import load_event
    from voiceagent import aws

    call_writes: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        writes = [params, *(next(iter(item.values())) for item in params.get("TransactItems", []))]
        for write in writes:
            key = write.get("Key") or write.get("Item") or {}
            is_write = "UpdateExpression" in write or "Item" in write
            if is_write and key.get("sk", {}).get("S") == "CALL":
                call_writes.append(write)

    client = aws.dynamodb()
    client.meta.events.register("provide-client-params.dynamodb.*", record)
    plivo_rest.delete(api.call_url(), status=204)
    try:
        seed.placement("hangup")
        seed.answered(lambda_context)
        seed.streaming(lambda_context)
        stream_status_app.lambda_handler(load_event("stream_status_start_stream"), lambda_context)
        md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
        open_store().streams.reserve_recovery("6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", 1, NOW)
        connect_app.lambda_handler(load_event("stream_disconnect"), lambda_context)
        hangup_app.lambda_handler(load_event("hangup_human"), lambda_context)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)

    assert len(call_writes) >= 8
    for write in call_writes:
        assert "UpdateExpression" in write  # never a blind Put over the record
        names = write["ExpressionAttributeNames"]
        version = next(placeholder for placeholder, name in names.items() if name == "version")
        assert f" ADD {version} " in f" {write['UpdateExpression']} ", write["UpdateExpression"]
