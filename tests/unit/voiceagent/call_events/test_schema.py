"""The contract other systems build on: detail-types, the fields every detail has, the outcomes."""

from __future__ import annotations

import re

from tests.support import make_events
from voiceagent.call_events import schema
from voiceagent.calls.outcomes import Outcome
from voiceagent.settings import MachinePolicy

COMMON = {"schema_version", "event_id", "occurred_at", "call_uuid", "placement_id", "request_uuid", "stage"}


def test_outcomes_and_policies_are_the_call_flows_own() -> None:
    assert set(schema.Outcome.__args__) == {outcome.value for outcome in Outcome}  # type: ignore[attr-defined]
    assert set(schema.Policy.__args__) == {policy.value for policy in MachinePolicy}  # type: ignore[attr-defined]


def test_every_detail_type_is_title_case_and_named_once() -> None:
    names = [detail.DETAIL_TYPE for detail in schema.DETAILS]
    facts = [detail.FACT for detail in schema.DETAILS]
    assert len(set(names)) == len(names) == len(set(facts))
    for name in names:
        assert re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)+", name), name
    assert {
        "Call Placed",
        "Call Answered",
        "Machine Detected",
        "Voicemail Left",
        "Voicemail Cut",
        "Stream Started",
        "Stream Stopped",
        "Stream Dropped",
        "Stream Degraded",
        "Stream Recovered",
        "Agent Notified",
        "Call Completed",
    } <= set(names)


def test_every_detail_has_the_common_fields_and_metadata() -> None:
    for detail in schema.DETAILS:
        properties = detail.model_json_schema(by_alias=True)["properties"]
        assert COMMON | {"metadata"} <= set(properties), detail.DETAIL_TYPE
        assert properties["schema_version"]["const"] == 1


def test_call_completed_carries_what_a_campaign_needs() -> None:
    """The fields the campaigns' consumer reads (issue #18), under these names."""
    properties = schema.CallCompleted.model_json_schema(by_alias=True)["properties"]
    assert {
        "outcome",
        "hangup_cause",
        "hangup_cause_code",
        "hangup_source",
        "duration_seconds",
        "bill_duration_seconds",
        "answered_at",
        "completed_at",
        "machine_detected",
        "policy",
        "to",
        "from",
    } <= set(properties)


def test_every_sample_event_is_a_valid_detail_of_its_type() -> None:
    published = make_events.published_details()
    assert {detail.DETAIL_TYPE for detail in published} == {model.DETAIL_TYPE for model in schema.DETAILS}
    by_type = {model.DETAIL_TYPE: model for model in schema.DETAILS}
    for detail in published:
        envelope = make_events.eventbridge_event(detail)
        assert envelope["source"] == schema.SOURCE
        parsed = by_type[envelope["detail-type"]].model_validate(envelope["detail"])
        assert parsed == detail


def test_event_ids_name_the_call_the_fact_and_the_stream() -> None:
    assert schema.event_id("c1", "stream-started", "s1") == "c1:stream-started:s1"
    assert schema.event_id("c1", "call-completed") == "c1:call-completed"
