from __future__ import annotations

from typing import Any

import pytest
import responses

from functions.hangup import app
from tests.support import constants as c
from tests.support import seed
from tests.support.events import load_event
from voiceagent.clock import utcnow
from voiceagent.store import open_store


def hang_up(lambda_context: Any, name: str) -> dict[str, Any]:
    response: dict[str, Any] = app.lambda_handler(load_event(name), lambda_context)
    return response


def call() -> dict[str, Any]:
    record = open_store().calls.get_call(c.CALL_UUID)
    assert record is not None
    return record


def test_answered_call_ends_as_human_with_cause_and_durations(aws_stack: Any, lambda_context: Any) -> None:
    seed.placement("hangup")
    seed.answered(lambda_context)

    assert hang_up(lambda_context, "hangup_human")["statusCode"] == 200

    record = call()
    assert record["state"] == "completed"
    assert record["outcome"] == "human"
    assert record["hangup_cause"] == "NORMAL_CLEARING"
    assert record["hangup_cause_code"] == 4000
    assert (record["duration_seconds"], record["bill_duration_seconds"]) == (62, 62)
    assert record["answer_time"] == "2024-11-24 12:30:08"


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("hangup_machine_detected", "machine_hangup"),
        ("hangup_no_answer", "no_answer"),
        ("hangup_busy", "busy"),
        ("hangup_failed", "failed"),
    ],
)
def test_unanswered_and_machine_hangups_get_their_outcome(
    name: str, outcome: str, aws_stack: Any, lambda_context: Any
) -> None:
    seed.placement("hangup")

    hang_up(lambda_context, name)

    record = call()
    assert record["outcome"] == outcome
    assert record["placement_id"] == c.PLACEMENT_ID  # a call never answered still joins its placement
    placement = open_store().placements.get(c.PLACEMENT_ID)
    assert placement is not None
    assert placement["call_uuid"] == c.CALL_UUID


def test_transferred_voicemail_that_was_served_is_voicemail_left(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    from functions.machine_detection import app as md_app
    from functions.voicemail import app as vm_app
    from tests.support import plivo_api as api

    seed.placement("transfer")
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    vm_app.lambda_handler(load_event("voicemail"), lambda_context)

    hang_up(lambda_context, "hangup_end_of_xml")  # Plivo played our voicemail XML to its end

    assert call()["outcome"] == "voicemail_left"


def test_transferred_voicemail_the_machine_hung_up_on_is_voicemail_cut(
    aws_stack: Any, plivo_rest: responses.RequestsMock, lambda_context: Any
) -> None:
    from functions.machine_detection import app as md_app
    from functions.voicemail import app as vm_app
    from tests.support import plivo_api as api

    seed.placement("transfer")
    seed.answered(lambda_context)
    plivo_rest.post(api.call_url(), json={"message": "call transferred"}, status=202)
    md_app.lambda_handler(load_event("machine_detection_machine"), lambda_context)
    vm_app.lambda_handler(load_event("voicemail"), lambda_context)

    hang_up(lambda_context, "hangup_human")  # the callee's side ended it while the XML ran

    assert call()["outcome"] == "voicemail_cut"


def test_agent_voicemail_cut_short_by_a_hangup_is_voicemail_cut(aws_stack: Any, lambda_context: Any) -> None:
    open_store().calls.update_call(
        c.CALL_UUID,
        utcnow(),
        facts={"machine_detection_result": "machine", "agent_mode": "voicemail", "voicemail_started_at": "t"},
    )

    hang_up(lambda_context, "hangup_human")

    assert call()["outcome"] == "voicemail_cut"


def test_machine_hung_up_on_by_policy_is_voicemail_hangup(aws_stack: Any, lambda_context: Any) -> None:
    open_store().calls.update_call(
        c.CALL_UUID, utcnow(), facts={"machine_detection_result": "machine", "policy_result": "hung_up"}
    )

    hang_up(lambda_context, "hangup_human")

    assert call()["outcome"] == "voicemail_hangup"


def test_agent_voicemail_that_played_is_voicemail_left(aws_stack: Any, lambda_context: Any) -> None:
    open_store().calls.update_call(
        c.CALL_UUID,
        utcnow(),
        facts={"machine_detection_result": "machine", "agent_mode": "voicemail", "voicemail_played_at": "t"},
    )

    hang_up(lambda_context, "hangup_human")

    assert call()["outcome"] == "voicemail_left"


def test_repeated_hangup_webhook_keeps_the_first_record(aws_stack: Any, lambda_context: Any) -> None:
    seed.answered(lambda_context)
    hang_up(lambda_context, "hangup_human")
    first = call()

    hang_up(lambda_context, "hangup_busy")  # a stray, different duplicate must not rewrite history

    second = call()
    assert second["outcome"] == first["outcome"] == "human"
    assert second["completed_at"] == first["completed_at"]
    assert second["hangup_cause"] == "NORMAL_CLEARING"


def test_hangup_before_answer_then_late_answer_stays_completed(aws_stack: Any, lambda_context: Any) -> None:
    hang_up(lambda_context, "hangup_human")
    seed.answered(lambda_context)

    assert call()["state"] == "completed"


@pytest.mark.parametrize(
    ("name", "status"), [("hangup_bad_signature", 403), ("hangup_invalid_duration", 400)]
)
def test_bad_requests_change_nothing(
    name: str, status: int, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert hang_up(lambda_context, name)["statusCode"] == status
    assert table_items() == []


def test_the_outcome_is_counted_as_a_dimension(
    aws_stack: Any, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    hang_up(lambda_context, "hangup_busy")

    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    (outcome,) = [m for m in metrics if "CallOutcomes" in m]
    assert (outcome["outcome"], outcome["stage"]) == ("busy", c.STAGE)
