"""The campaign functions on their sample events: the campaigns API (every answer and refusal), the dialer,
the outcomes consumer and the sweeper."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from functions.campaign_dialer import app as dialer
from functions.campaign_outcomes import app as outcomes
from functions.campaign_sweeper import app as sweeper
from functions.campaigns import app
from tests.support import campaigns as support
from tests.support import plivo_api as api
from tests.support.events import load_event
from tests.support.make_events import _campaign_id
from voiceagent.store import open_campaign_store


def call(name: str, lambda_context: Any) -> tuple[int, Any]:
    response = app.lambda_handler(load_event(name), lambda_context)
    body = response["body"]
    return response["statusCode"], json.loads(body) if body.startswith("{") else body


def test_a_campaign_is_created_dispatched_and_repeated_by_key(aws_stack: Any, lambda_context: Any) -> None:
    status, body = call("campaigns_create", lambda_context)
    again, repeated = call("campaigns_create", lambda_context)

    assert status == 201
    assert body["campaign_id"] == _campaign_id()
    assert (body["contacts"], body["status"], body["repeated"]) == (2, "running", False)
    assert (again, repeated["repeated"], repeated["campaign_id"]) == (200, True, _campaign_id())
    assert len(support.drain()) == 2  # the cap is 2: both queued once, not twice


def test_a_json_list_in_several_zones(aws_stack: Any, lambda_context: Any) -> None:
    status, body = call("campaigns_create_json", lambda_context)

    assert status == 201
    numbers = {contact["number"]: contact for contact in support.contacts_of(body["campaign_id"])}
    assert set(numbers) == {"+14155550142", "+442079460000"}
    assert numbers["+14155550142"]["fields"] == {"plan": "gold"}
    assert numbers["+442079460000"]["timezone"] == "Europe/London"


def test_invalid_rows_are_named_in_a_400(aws_stack: Any, lambda_context: Any) -> None:
    status, body = call("campaigns_create_invalid_rows", lambda_context)

    assert status == 400
    assert [error["field"] for error in body["errors"]] == ["row 2", "row 3"]
    assert "E.164" in body["errors"][0]["allowed"]
    assert "IANA" in body["errors"][1]["allowed"]


def test_a_pace_above_the_accounts_is_refused(aws_stack: Any, lambda_context: Any) -> None:
    status, body = call("campaigns_create_pace_too_high", lambda_context)

    assert status == 400
    assert body["errors"][0]["field"] == "pace"
    assert "AccountCallsPerSecond" in body["errors"][0]["allowed"]


def test_a_body_that_is_not_json_is_refused(aws_stack: Any, lambda_context: Any) -> None:
    status, body = call("campaigns_create_not_json", lambda_context)

    assert status == 400
    assert body["errors"][0]["allowed"] == "not JSON: send a JSON object"


def test_progress_results_pause_and_cancel(aws_stack: Any, lambda_context: Any) -> None:
    call("campaigns_create", lambda_context)

    status, progress = call("campaigns_status", lambda_context)
    results_status, results = call("campaigns_results", lambda_context)
    paused_status, paused = call("campaigns_pause", lambda_context)
    cancelled_status, cancelled = call("campaigns_cancel", lambda_context)
    refused_status, refused = call("campaigns_unknown_action", lambda_context)

    assert status == 200
    assert progress["counts"]["contacts"] == 2
    assert progress["counts"]["in_progress"] == 2
    assert progress["effective_pace"] == 0.98  # 1 call/s on the tests' 50 calls/s account, less the guard
    assert results_status == 200
    assert results.splitlines()[0].startswith("row,number,name,timezone,state,result,attempts")
    assert results.count("+1415555014") == 2
    assert (paused_status, paused["status"]) == (200, "paused")
    assert (cancelled_status, cancelled["status"]) == (200, "cancelled")
    assert refused_status == 400
    assert refused["errors"][0]["field"] == "action"


def test_unknown_and_malformed_campaign_ids(aws_stack: Any, lambda_context: Any) -> None:
    assert call("campaigns_status_unknown", lambda_context)[0] == 404
    status, body = call("campaigns_status_invalid_id", lambda_context)
    assert status == 400
    assert body["errors"][0]["field"] == "campaign_id"


def test_cancelled_is_final(aws_stack: Any, lambda_context: Any) -> None:
    call("campaigns_create", lambda_context)
    call("campaigns_cancel", lambda_context)

    event = load_event("campaigns_pause")
    status, body = json.loads(json.dumps(app.lambda_handler(event, lambda_context)))["statusCode"], None
    resume = load_event("campaigns_pause")
    resume["rawPath"] = resume["rawPath"].replace("/pause", "/resume")
    resume["pathParameters"]["action"] = "resume"
    resumed = app.lambda_handler(resume, lambda_context)

    assert status == 409
    assert body is None
    assert resumed["statusCode"] == 409
    assert "cancelled" in json.loads(resumed["body"])["message"]


def test_the_do_not_call_list(aws_stack: Any, lambda_context: Any) -> None:
    added_status, added = call("dnc_add", lambda_context)
    invalid_status, invalid = call("dnc_add_invalid", lambda_context)
    listed_status, listed = call("dnc_list", lambda_context)
    removed_status, removed = call("dnc_remove", lambda_context)
    again_status, _ = call("dnc_remove", lambda_context)

    assert (added_status, added["numbers"]) == (200, ["+14155550142", "+14155550143"])
    assert invalid_status == 400
    assert [error["field"] for error in invalid["errors"]] == ["numbers[0]"]
    assert listed_status == 200
    assert [entry["number"] for entry in listed["numbers"]] == ["+14155550142", "+14155550143"]
    assert listed["numbers"][0]["added_by"] == "arn:aws:iam::123456789012:user/campaign-runner"
    assert (removed_status, removed) == (200, {"number": "+14155550142", "removed": True})
    assert again_status == 404


def test_the_dialer_places_each_queued_contact_once(
    aws_stack: Any, lambda_context: Any, plivo_rest: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dialer's own timeout (60 s): time for a fresh tick when a busy test machine wakes a thread late.
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 60_000)
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    call("campaigns_create", lambda_context)
    support.drain()

    first = dialer.lambda_handler(load_event("campaign_dialer_batch"), lambda_context)
    again = dialer.lambda_handler(load_event("campaign_dialer_batch"), lambda_context)

    assert first == again == {"batchItemFailures": []}
    sent = [api.json_body(request) for request in api.requests_to(plivo_rest, "POST", api.CREATE_CALL)]
    assert sorted(request["to"] for request in sent) == ["+14155550142", "+14155550143"]
    metadata = sent[0]["answer_url"]
    assert f"placement={_campaign_id()}-000000" in metadata


def test_a_malformed_dial_message_is_dropped(aws_stack: Any, lambda_context: Any) -> None:
    assert dialer.lambda_handler(load_event("campaign_dialer_malformed"), lambda_context) == {
        "batchItemFailures": []
    }


def test_an_outcome_settles_its_attempt_and_others_are_dropped(
    aws_stack: Any, lambda_context: Any, plivo_rest: responses.RequestsMock
) -> None:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    call("campaigns_create", lambda_context)
    support.drain()
    dialer.lambda_handler(load_event("campaign_dialer_batch"), lambda_context)

    settled = outcomes.lambda_handler(load_event("campaign_outcomes_call_completed"), lambda_context)
    repeated = outcomes.lambda_handler(load_event("campaign_outcomes_call_completed"), lambda_context)
    foreign = outcomes.lambda_handler(load_event("campaign_outcomes_not_ours"), lambda_context)
    malformed = outcomes.lambda_handler(load_event("campaign_outcomes_malformed"), lambda_context)

    assert settled == repeated == foreign == malformed == {"batchItemFailures": []}
    contact = open_campaign_store().campaigns.get_contact(_campaign_id(), 2) or {}
    # No answer: retried an hour after the call ended (its rule: 2 attempts). That hour is long past for the
    # sample event (2024), so the freed slot queued the retry at once.
    assert contact["due_at"] == "2024-11-24T13:31:10.000Z"
    assert contact["state"] == "queued"
    assert [entry["result"] for entry in contact["history"]] == ["no_answer"]
    state = open_campaign_store().campaigns.get_state(_campaign_id()) or {}
    assert state["outcome_no_answer"] == 1  # once, though the event came twice


def test_the_sweeper_runs_every_campaign(aws_stack: Any, lambda_context: Any) -> None:
    call("campaigns_create", lambda_context)

    response = sweeper.lambda_handler(load_event("campaign_sweeper_scheduled"), lambda_context)

    assert response == {"counts": {}}  # nothing due yet: both contacts were queued at creation
