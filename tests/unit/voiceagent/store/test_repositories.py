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
