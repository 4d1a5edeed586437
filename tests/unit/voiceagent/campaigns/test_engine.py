"""The campaign engine end to end in moto: create, dispatch within the cap, dial once on ticks, settle each
attempt once, retry as the rules say, do-not-call, windows, pause/resume/cancel, the sweeper."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import responses
from responses import matchers

from tests.support import campaigns as support
from tests.support import plivo_api as api
from voiceagent.campaigns import manage
from voiceagent.campaigns.dialer import DialReport
from voiceagent.campaigns.models import CreateCampaignRequest
from voiceagent.campaigns.outcomes import apply_outcomes
from voiceagent.campaigns.service import campaign_settings
from voiceagent.campaigns.sweeper import sweep
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store, open_store
from voiceagent.validation import InvalidRequest

NOON_NEW_YORK = "2026-06-01T15:00:00+00:00"  # 11:00 in New York (EDT): inside 09:00-20:00
CSV = "number,name,plan\n+1 415 555 0100,Ada,gold\n(415) 555-0193,Bob,silver\n415.555.0100,Dup,\n"


def _create(**extra: Any) -> manage.Created:
    body = {
        "from": support.FROM,
        "contacts_csv": CSV,
        "timezone": "America/New_York",
        "default_country_code": "1",
        "pace": 10,
        "max_in_progress": 5,
        **extra,
    }
    request = CreateCampaignRequest.model_validate(body)
    clock = support.at(NOON_NEW_YORK)
    return manage.create_campaign(
        request, store=open_campaign_store(), queue=support.queue(), settings=get_settings(), now=clock.moment
    )


def _state(campaign_id: str) -> dict[str, Any]:
    return open_campaign_store().campaigns.get_state(campaign_id) or {}


def _outcome(campaign_id: str, row: int, attempt: int, outcome: str, now: Any) -> Counter[str]:
    event = support.completed(campaign_id, row, attempt, outcome)
    counts, failed = apply_outcomes(
        [(event.id, event)],
        store=open_campaign_store(),
        queue=support.queue(),
        campaign_settings=campaign_settings,
        now=now,
    )
    assert failed == []
    return counts


def _sweep(clock: support.FakeClock) -> Counter[str]:
    return sweep(
        calls=open_store(),
        campaigns=open_campaign_store(),
        queue=support.queue(),
        settings=get_settings(),
        campaign_settings=campaign_settings,
        now=clock.moment,
    )


@pytest.fixture
def plivo(plivo_rest: responses.RequestsMock) -> responses.RequestsMock:
    plivo_rest.post(api.CREATE_CALL, json=api.created(), status=201)
    return plivo_rest


def test_a_csv_becomes_e164_contacts_without_duplicates_and_dispatches_within_the_cap(aws_stack: Any) -> None:
    created = _create()

    assert created.contacts == 2
    assert created.duplicates == [{"row": 4, "value": "415.555.0100", "reason": "the same number as row 2"}]
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert {row: contact["number"] for row, contact in rows.items()} == {2: "+14155550100", 3: "+14155550193"}
    assert rows[2]["fields"] == {"plan": "gold"}
    assert {contact["state"] for contact in rows.values()} == {"queued"}
    messages = support.drain()
    assert sorted((m.row, m.attempt) for _, m in messages) == [(2, 1), (3, 1)]
    assert _state(created.campaign_id)["active"] == 2


def test_invalid_rows_refuse_the_list_naming_each_row_unless_skipped(aws_stack: Any) -> None:
    bad = "number,timezone\n+1 415 555 0100,America/New_York\n12,America/New_York\n+14155550101,Mars/Base\n"
    with pytest.raises(InvalidRequest) as refused:
        _create(contacts_csv=bad)
    assert [problem.field for problem in refused.value.problems] == ["row 3", "row 4"]
    assert "not an E.164 number" in refused.value.problems[0].allowed
    assert "not an IANA time zone" in refused.value.problems[1].allowed

    created = _create(contacts_csv=bad, skip_invalid=True)
    assert created.contacts == 1
    assert [row["row"] for row in created.rejected] == [3, 4]


def test_each_attempt_is_placed_once_even_when_its_message_comes_twice(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create()
    messages = support.drain()
    clock = support.at(NOON_NEW_YORK)

    first = support.dial(clock, messages)
    again = support.dial(clock, messages)  # SQS delivered the batch again

    assert first.counts["dialled"] == 2
    assert again.counts["dialled"] == 0
    assert again.counts["duplicates"] == 2
    sent = [api.json_body(request) for request in api.requests_to(plivo, "POST", api.CREATE_CALL)]
    assert len(sent) == 2
    assert {request["to"] for request in sent} == {"+14155550100", "+14155550193"}
    placements = {
        contact["row"]: contact["placement_id"] for contact in support.contacts_of(created.campaign_id)
    }
    assert placements[2] == f"{created.campaign_id}-0000002-1"
    assert all("campaign_id=" not in request["answer_url"] for request in sent)


def test_calls_start_on_ticks_at_least_one_account_tick_apart(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    _create(pace=50)
    clock = support.at(NOON_NEW_YORK)

    report = support.dial(clock)

    times = sorted(report.dial_times)
    assert len(times) == 2
    tick = (1000 + get_settings().pacing_guard_ms) / get_settings().account_calls_per_second / 1000
    assert times[1] - times[0] >= tick - 1e-6  # epoch floats: microsecond resolution


def _dies_in(
    monkeypatch: pytest.MonkeyPatch, where: str, clock: support.FakeClock, messages: Any
) -> DialReport:
    """Dial ``messages`` with the container gone at ``where`` (a dialer function): nothing after it runs."""

    def container_gone(*_: Any, **__: Any) -> None:
        raise RuntimeError("container gone")

    with monkeypatch.context() as patch:
        patch.setattr(f"voiceagent.campaigns.dialer.{where}", container_gone)
        return support.dial(clock, messages)


def _placement(campaign_id: str, row: int, attempt: int = 1) -> dict[str, Any]:
    return open_store().placements.get(f"{campaign_id}-{row:07d}-{attempt}") or {}


def test_a_tick_reached_late_is_not_used_and_the_call_goes_out_on_a_later_one(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create(contacts_csv="number\n+14155550100\n")
    clock = support.LateClock(support.at(NOON_NEW_YORK).now, late_waits=2)  # arming and the tick: late

    report = support.dial(clock)

    assert report.counts["dialled"] == 1
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 1
    assert len(clock.waits) == 4  # arm + tick (late: held), then arm + tick on a fresh one
    fresh_tick = clock.waits[3]
    assert fresh_tick > clock.waits[1] + clock.late_by - 1e-6
    assert 0 <= report.dial_times[0] - fresh_tick <= get_settings().pacing_guard_ms / 1000
    assert _placement(created.campaign_id, 2)["state"] != "not_sent"


def test_a_call_late_for_every_tick_is_held_and_its_message_resumes_it_once(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create(contacts_csv="number\n+14155550100\n")
    clock = support.LateClock(support.at(NOON_NEW_YORK).now, late_waits=6)

    report = support.dial(clock)

    assert report.counts["late"] == 1
    assert api.requests_to(plivo, "POST", api.CREATE_CALL) == []
    assert _placement(created.campaign_id, 2)["state"] == "not_sent"
    (contact,) = support.contacts_of(created.campaign_id)
    assert contact["state"] == "dialling"
    assert "placement_status" not in contact
    resumed = support.dial(support.at(NOON_NEW_YORK))  # the message it sent back
    assert resumed.counts["dialled"] == 1
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 1


def test_a_dialer_that_dies_before_arming_leaves_nothing_in_doubt(
    aws_stack: Any, plivo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _create()
    messages = support.drain()

    crashed = _dies_in(monkeypatch, "_fire", support.at(NOON_NEW_YORK), messages)
    assert len(crashed.failed_message_ids) == 2
    assert {_placement(created.campaign_id, row)["state"] for row in (2, 3)} == {"not_sent"}

    again = support.dial(support.at(NOON_NEW_YORK), messages)  # the batch, after its visibility timeout

    assert again.counts["dialled"] == 2
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 2


def test_a_placement_armed_when_its_dialer_died_is_never_sent_again(
    aws_stack: Any, plivo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _create(contacts_csv="number\n+14155550100\n")
    messages = support.drain()
    clock = support.at(NOON_NEW_YORK)

    _dies_in(monkeypatch, "send_placement", clock, messages)  # armed, then gone: the POST may have left
    assert _placement(created.campaign_id, 2)["state"] == "placed"

    again = support.dial(clock, messages)

    assert again.counts["repeated"] == 1
    assert api.requests_to(plivo, "POST", api.CREATE_CALL) == []
    (contact,) = support.contacts_of(created.campaign_id)
    assert contact["placement_status"] == "unconfirmed"  # the sweeper settles it after the attempt timeout


def _in_doubt(monkeypatch: pytest.MonkeyPatch) -> tuple[str, support.FakeClock]:
    """One contact whose placement was armed when its dialer died, redelivered (unconfirmed), and the
    attempt timeout past."""
    created = _create(
        contacts_csv="number\n+14155550100\n", retry={"failed": {"delay_seconds": 60, "attempts": 1}}
    )
    messages = support.drain()
    clock = support.at(NOON_NEW_YORK)

    _dies_in(monkeypatch, "send_placement", clock, messages)
    support.dial(clock, messages)
    clock.now += get_settings().campaign_attempt_timeout_seconds + 60
    return created.campaign_id, clock


def _plivo_lists(plivo: responses.RequestsMock, ended: list[dict[str, Any]], live: list[str]) -> None:
    plivo.get(
        api.CREATE_CALL,
        match=[matchers.query_param_matcher({"status": "live"}, strict_match=False)],
        json={"calls": live},
    )
    plivo.get(
        api.CREATE_CALL,
        match=[matchers.query_param_matcher({"status": "queued"}, strict_match=False)],
        json={"calls": []},
    )
    plivo.get(api.CREATE_CALL, json={"meta": {"count": len(ended)}, "objects": ended})


def test_a_placement_in_doubt_that_plivo_never_saw_is_sent_once_after_all(
    aws_stack: Any, plivo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_id, clock = _in_doubt(monkeypatch)
    _plivo_lists(plivo, ended=[], live=[])

    counts = _sweep(clock)

    assert counts["resent"] == 1
    assert counts["settled"] == 0
    lookups = [call.request for call in plivo.calls if call.request.method == "GET"]
    assert len(lookups) == 3  # ended, live and queued calls
    assert all("to_number=14155550100" in str(request.url) for request in lookups)
    assert _placement(campaign_id, 2)["state"] == "not_sent"
    resumed = support.dial(clock)  # the message the sweeper sent
    assert resumed.counts["dialled"] == 1
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 1
    (contact,) = support.contacts_of(campaign_id)
    assert (contact["state"], contact["attempts"]) == ("dialling", 1)


@pytest.mark.parametrize("listed", ["ended", "live"])
def test_a_placement_in_doubt_that_plivo_lists_a_call_for_is_settled_lost_not_sent_again(
    aws_stack: Any, plivo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, listed: str
) -> None:
    campaign_id, clock = _in_doubt(monkeypatch)
    if listed == "ended":
        _plivo_lists(plivo, ended=[{"call_uuid": "c-1", "to_number": "14155550100"}], live=[])
    else:
        _plivo_lists(plivo, ended=[], live=["c-1"])

    counts = _sweep(clock)

    assert (counts["resent"], counts["settled"]) == (0, 1)
    assert api.requests_to(plivo, "POST", api.CREATE_CALL) == []
    (contact,) = support.contacts_of(campaign_id)
    assert (contact["state"], contact["result"]) == ("done", "lost")


@pytest.mark.parametrize(("status", "body"), [(500, '{"error": "down"}'), (200, "<html>maintenance</html>")])
def test_a_placement_in_doubt_stays_lost_when_plivo_cannot_be_asked(
    aws_stack: Any, plivo: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, status: int, body: str
) -> None:
    campaign_id, clock = _in_doubt(monkeypatch)
    plivo.get(api.CREATE_CALL, body=body, status=status)

    counts = _sweep(clock)

    assert (counts["resent"], counts["settled"]) == (0, 1)
    assert api.requests_to(plivo, "POST", api.CREATE_CALL) == []
    assert _placement(campaign_id, 2)["state"] == "placed"


def test_an_outcome_settles_its_attempt_once_and_retries_as_the_rule_says(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create(retry={"busy": {"delay_seconds": 60, "attempts": 2}})
    clock = support.at(NOON_NEW_YORK)
    support.dial(clock)

    busy = _outcome(created.campaign_id, 3, 1, "busy", clock.moment)
    repeated = _outcome(created.campaign_id, 3, 1, "busy", clock.moment)
    human = _outcome(created.campaign_id, 2, 1, "human", clock.moment)

    assert (busy["settled"], busy["retries"]) == (1, 1)
    assert repeated["duplicates"] == 1
    assert human["settled"] == 1
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert rows[2]["state"] == "done"
    assert rows[2]["result"] == "human"
    assert rows[3]["state"] == "pending"
    assert rows[3]["due_at"] == "2026-06-01T15:01:10.000Z"  # completed_at + 60 s
    state = _state(created.campaign_id)
    assert (state["active"], state["remaining"], state["retries_waiting"]) == (0, 1, 1)

    clock.now += 120  # the retry is due: the sweeper dispatches it, the second busy ends the contact
    _sweep(clock)
    (message,) = [m for _, m in support.drain()]
    assert (message.row, message.attempt) == (3, 2)
    support.dial(clock, [("retry", message)])
    _outcome(created.campaign_id, 3, 2, "busy", clock.moment)

    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert rows[3]["result"] == "busy"
    assert [entry["result"] for entry in rows[3]["history"]] == ["busy", "busy"]
    status = manage.status(open_campaign_store(), created.campaign_id, get_settings(), clock.moment)
    assert status["status"] == "completed"
    assert status["results"] == {"human": 1, "busy": 1}
    assert status["outcomes"] == {"human": 1, "busy": 2}
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 3


def test_a_number_added_to_the_do_not_call_list_mid_campaign_is_never_dialled(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create()
    clock = support.at(NOON_NEW_YORK)
    open_campaign_store().dnc.add(["+14155550193"], clock.moment, reason="asked", added_by="test")

    report = support.dial(clock)

    assert report.counts["do_not_call"] == 1
    assert [api.json_body(r)["to"] for r in api.requests_to(plivo, "POST", api.CREATE_CALL)] == [
        "+14155550100"
    ]
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert rows[3]["result"] == "do_not_call"


def test_numbers_on_the_list_at_upload_are_done_at_once(aws_stack: Any) -> None:
    open_campaign_store().dnc.add(
        ["+14155550100"], support.at(NOON_NEW_YORK).moment, reason=None, added_by="t"
    )

    created = _create()

    assert created.do_not_call == 1
    assert [m.row for _, m in support.drain()] == [3]


def test_outside_the_calling_window_contacts_wait_for_its_opening(aws_stack: Any) -> None:
    created = _create(window="18:00-20:00")  # 11:00 in New York: closed until 18:00 EDT = 22:00 UTC

    assert support.drain() == []
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert {contact["due_at"] for contact in rows.values()} == {"2026-06-01T22:00:00.000Z"}
    assert _state(created.campaign_id)["window_deferred"] == 2


def test_cancel_stops_what_is_not_dialled_and_is_final(aws_stack: Any, plivo: responses.RequestsMock) -> None:
    created = _create()
    clock = support.at(NOON_NEW_YORK)
    store = open_campaign_store()

    manage.change_status(store, support.queue(), created.campaign_id, "cancel", clock.moment)
    report = support.dial(clock)

    assert report.counts["cancelled"] == 2
    assert api.requests_to(plivo, "POST", api.CREATE_CALL) == []
    with pytest.raises(manage.StatusConflict):
        manage.change_status(store, support.queue(), created.campaign_id, "resume", clock.moment)
    text = "".join(manage.results_csv(store, created.campaign_id))
    assert text.count(",cancelled,") == 2


def test_pause_returns_queued_contacts_and_resume_dispatches_them(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create()
    clock = support.at(NOON_NEW_YORK)
    store = open_campaign_store()

    manage.change_status(store, support.queue(), created.campaign_id, "pause", clock.moment)
    paused = support.dial(clock)
    manage.change_status(store, support.queue(), created.campaign_id, "resume", clock.moment)
    resumed = support.dial(clock)

    assert paused.counts["paused"] == 2
    assert resumed.counts["dialled"] == 2


def test_the_sweeper_settles_an_attempt_plivo_never_reported(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create(retry={"failed": {"delay_seconds": 60, "attempts": 1}})
    clock = support.at(NOON_NEW_YORK)
    support.dial(clock)
    clock.now += get_settings().campaign_attempt_timeout_seconds + 60

    counts = _sweep(clock)

    assert counts["settled"] == 2
    assert counts["completed"] == 1
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert {contact["result"] for contact in rows.values()} == {"lost"}


def test_an_event_under_another_placement_id_never_settles_a_contact(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    """POST /calls may carry any metadata: only the dialer's own placement id for the attempt settles it."""
    created = _create()
    clock = support.at(NOON_NEW_YORK)
    support.dial(clock)
    genuine = support.completed(created.campaign_id, 2, 1, "human")
    forged = genuine.model_copy(
        update={"detail": genuine.detail.model_copy(update={"placement_id": "someone-elses-call-1"})}
    )

    counts, failed = apply_outcomes(
        [(forged.id, forged)],
        store=open_campaign_store(),
        queue=support.queue(),
        campaign_settings=campaign_settings,
        now=clock.moment,
    )

    assert (counts["not_ours"], counts["settled"], failed) == (1, 0, [])
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert rows[2]["state"] == "dialling"
    assert _outcome(created.campaign_id, 2, 1, "human", clock.moment)["settled"] == 1


def test_an_outcome_of_an_unknown_campaign_is_dropped_not_retried(aws_stack: Any) -> None:
    counts = _outcome("cmp-00000000000000aa", 1, 1, "busy", support.at(NOON_NEW_YORK).moment)
    assert (counts["unknown_campaign"], counts["settled"]) == (1, 0)


def test_after_cancel_calls_in_progress_finish_and_nothing_is_retried(
    aws_stack: Any, plivo: responses.RequestsMock
) -> None:
    created = _create(retry={"busy": {"delay_seconds": 60, "attempts": 3}})
    clock = support.at(NOON_NEW_YORK)
    support.dial(clock)
    manage.change_status(open_campaign_store(), support.queue(), created.campaign_id, "cancel", clock.moment)

    counts = _outcome(created.campaign_id, 3, 1, "busy", clock.moment)

    assert (counts["settled"], counts["retries"]) == (1, 0)
    rows = {contact["row"]: contact for contact in support.contacts_of(created.campaign_id)}
    assert (rows[3]["state"], rows[3]["result"]) == ("done", "busy")
    assert len(api.requests_to(plivo, "POST", api.CREATE_CALL)) == 2
