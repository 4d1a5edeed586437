"""The campaign engine's pure rules, with fixed clocks: calling windows across daylight-saving changes, retry
rules per outcome, number normalisation and its refusals, the pacing grid and the arming lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from voiceagent.campaigns.dialer import ARM_LEAD_SECONDS, MAX_ARM_LEAD_SECONDS, ArmLead
from voiceagent.campaigns.numbers import InvalidNumber, normalise
from voiceagent.campaigns.pacing import PaceGrid
from voiceagent.campaigns.rules import AttemptResult, RetryRule, RetryRules, next_attempt_at
from voiceagent.campaigns.windows import CallingWindow, UnknownTimeZone, zone

WINDOW = CallingWindow.parse("09:00-20:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---------------------------------------------------------------- calling windows


@pytest.mark.parametrize(
    ("moment", "zone_name", "open_"),
    [
        ("2026-06-01T13:00:00", "America/New_York", True),  # 09:00 EDT: the window opens
        ("2026-06-01T12:59:59", "America/New_York", False),  # 08:59:59 EDT
        ("2026-06-02T00:00:00", "America/New_York", False),  # 20:00 EDT: the end is not in the window
        ("2026-06-01T23:59:59", "America/New_York", True),  # 19:59:59 EDT
        ("2026-06-01T13:00:00", "Asia/Kolkata", True),  # 18:30 IST: another contact, its own clock
        ("2026-06-01T15:00:00", "Asia/Kolkata", False),  # 20:30 IST
    ],
)
def test_the_window_is_read_on_the_contacts_own_clock(moment: str, zone_name: str, open_: bool) -> None:
    assert WINDOW.is_open(utc(moment), zone_name) is open_


def test_a_contact_outside_the_window_waits_for_its_next_opening_not_dropped() -> None:
    evening = utc("2026-06-02T01:00:00")  # 21:00 EDT on 1 June
    assert WINDOW.next_open(evening, "America/New_York") == utc("2026-06-02T13:00:00")  # 09:00 EDT, 2 June
    early = utc("2026-06-01T11:00:00")  # 07:00 EDT
    assert WINDOW.next_open(early, "America/New_York") == utc("2026-06-01T13:00:00")
    inside = utc("2026-06-01T15:00:00")
    assert WINDOW.next_open(inside, "America/New_York") == inside


def test_the_window_opens_at_nine_local_time_on_both_sides_of_a_dst_change() -> None:
    # New York springs forward on 8 March 2026 (EST, UTC-5 → EDT, UTC-4) and falls back on 1 November.
    # 21:00 EST on 7 March → 09:00 EDT on 8 March (13:00 UTC, not 14:00 as the day before)
    assert WINDOW.next_open(utc("2026-03-08T02:00:00"), "America/New_York") == utc("2026-03-08T13:00:00")
    assert WINDOW.next_open(utc("2026-03-07T01:00:00"), "America/New_York") == utc("2026-03-07T14:00:00")
    # 21:00 EDT on 31 October → 09:00 EST on 1 November (14:00 UTC)
    assert WINDOW.next_open(utc("2026-11-01T01:00:00"), "America/New_York") == utc("2026-11-01T14:00:00")
    assert WINDOW.is_open(utc("2026-03-08T13:30:00"), "America/New_York")  # 09:30 EDT
    assert not WINDOW.is_open(utc("2026-03-09T12:30:00"), "America/New_York")  # 08:30 EDT


def test_a_start_inside_a_spring_forward_gap_opens_when_the_gap_ends() -> None:
    # 02:30 does not exist in New York on 8 March 2026 (02:00 EST is 03:00 EDT).
    window = CallingWindow.parse("02:30-05:00")
    opening = window.next_open(utc("2026-03-08T05:00:00"), "America/New_York")  # 00:00 EST
    assert opening == utc("2026-03-08T07:00:00")  # 03:00 EDT, the first wall clock at or after 02:30
    assert window.is_open(opening, "America/New_York")


def test_a_start_in_a_repeated_hour_opens_at_its_first_occurrence() -> None:
    # 01:30 happens twice in New York on 1 November 2026: first at 05:30 UTC (EDT), then 06:30 UTC (EST).
    window = CallingWindow.parse("01:30-04:00")
    assert window.next_open(utc("2026-11-01T03:00:00"), "America/New_York") == utc("2026-11-01T05:30:00")


def test_a_window_that_ends_before_it_starts_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="starts before it ends"):
        CallingWindow.parse("20:00-09:00")
    with pytest.raises(UnknownTimeZone, match="not an IANA time zone"):
        zone("Mars/Base")
    assert str(WINDOW) == "09:00-20:00"


# ---------------------------------------------------------------- retry rules

RULES = RetryRules(
    no_answer=RetryRule(delay_seconds=3600, attempts=3),
    busy=RetryRule(delay_seconds=600, attempts=2),
    failed=RetryRule(delay_seconds=60, attempts=2),
    machine=RetryRule(delay_seconds=86400, attempts=2),
)
DONE_AT = utc("2026-06-01T15:00:00")


@pytest.mark.parametrize(
    ("result", "attempts_made", "delay"),
    [
        (AttemptResult.NO_ANSWER, 1, 3600),
        (AttemptResult.NO_ANSWER, 2, 3600),
        (AttemptResult.NO_ANSWER, 3, None),  # three calls in all
        (AttemptResult.BUSY, 1, 600),
        (AttemptResult.BUSY, 2, None),
        (AttemptResult.FAILED, 1, 60),
        (AttemptResult.NOT_PLACED, 1, 60),  # Plivo refused it: the failed rule
        (AttemptResult.LOST, 1, 60),  # nobody heard of it again: the failed rule
        (AttemptResult.LOST, 2, None),
        (AttemptResult.VOICEMAIL_LEFT, 1, 86400),  # every voicemail outcome: the machine rule
        (AttemptResult.VOICEMAIL_CUT, 1, 86400),
        (AttemptResult.VOICEMAIL_HANGUP, 1, 86400),
        (AttemptResult.MACHINE_HANGUP, 1, 86400),
        (AttemptResult.MACHINE_HANGUP, 2, None),
        (AttemptResult.HUMAN, 1, None),  # a person who answered is never called again
        (AttemptResult.UNKNOWN, 1, None),  # it may have been answered
    ],
)
def test_each_outcome_follows_its_rule(result: AttemptResult, attempts_made: int, delay: int | None) -> None:
    expected = None if delay is None else DONE_AT + timedelta(seconds=delay)
    assert next_attempt_at(RULES, result, attempts_made, DONE_AT) == expected


def test_a_kind_left_out_keeps_its_default_rule() -> None:
    rules = RetryRules.model_validate({"busy": {"delay_seconds": 5, "attempts": 2}})
    assert rules.busy == RetryRule(delay_seconds=5, attempts=2)
    assert rules.failed == RetryRules().failed
    assert next_attempt_at(rules, AttemptResult.FAILED, 1, DONE_AT) == DONE_AT + timedelta(seconds=1800)
    assert next_attempt_at(rules, AttemptResult.VOICEMAIL_LEFT, 1, DONE_AT) is None  # machine: 1 attempt


@pytest.mark.parametrize(
    "body",
    [
        {"busy": {"delay_seconds": 0, "attempts": 2}},
        {"busy": {"delay_seconds": 5, "attempts": 11}},
        {"busy": {"delay_seconds": 5, "attempts": 0}},
        {"human": {"delay_seconds": 5, "attempts": 2}},
        {"busy": {"delay": 5}},
    ],
)
def test_rules_out_of_bounds_or_unknown_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):  # the API answers 400 naming the field
        RetryRules.model_validate(body)


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "country", "number"),
    [
        ("+1 415 555 0100", None, "+14155550100"),
        ("(415) 555-0100", "1", "+14155550100"),
        ("415.555.0100", "1", "+14155550100"),
        ("0044 20 7946 0000", None, "+442079460000"),
        ("+44 (0)20 7946 0000", None, "+442079460000"),
        ("020 7946 0000", "44", "+442079460000"),
    ],
)
def test_numbers_are_normalised_to_e164(text: str, country: str | None, number: str) -> None:
    assert normalise(text, country) == number


@pytest.mark.parametrize(
    ("text", "country", "reason"),
    [
        ("", None, "no number"),
        ("415 555 0100", None, "no country code"),
        ("+1 415 555 01OO", None, "only digits"),
        ("+12", None, "not an E.164 number"),
        ("+1 015 555 0100", None, "not a North American number"),
        ("+1 415 555 010", None, "not a North American number"),
    ],
)
def test_numbers_that_cannot_be_dialled_say_why(text: str, country: str | None, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        normalise(text, country)


def test_the_arm_lead_follows_the_stores_latency_within_its_bounds() -> None:
    lead = ArmLead()
    assert lead.seconds() == ARM_LEAD_SECONDS
    for _ in range(40):
        lead.observe(0.2)  # a slow store: arm 3 x 200 ms ahead
    assert lead.seconds() == pytest.approx(0.6, abs=0.01)
    for _ in range(40):
        lead.observe(5.0)
    assert lead.seconds() == MAX_ARM_LEAD_SECONDS
    for _ in range(80):
        lead.observe(0.005)
    assert lead.seconds() == ARM_LEAD_SECONDS


@pytest.mark.parametrize(
    ("account", "pace", "guard_ms"), [(50, 50, 20), (50, 7, 20), (2, 1, 100), (10, 3, 0)]
)
def test_calls_sent_within_the_guard_of_their_ticks_never_exceed_the_pace_in_any_second(
    account: float, pace: float, guard_ms: int
) -> None:
    grid = PaceGrid.of(account, pace, guard_ms)
    ticks = grid.ticks(grid.first_tick(1_780_000_000.0), 200)
    latest = [grid.start_of(tick) + guard_ms / 1000 for tick in ticks]  # each as late as allowed
    earliest = [grid.start_of(tick) for tick in ticks]
    allowed = min(account, pace)
    for index in range(len(ticks) - int(allowed)):
        # the (allowed + 1)-th call after one sent at its latest still starts a second or more later
        assert earliest[index + int(allowed)] - latest[index] >= 1.0 - 1e-9
    assert grid.calls_per_second <= allowed
