from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from voiceagent.streams.events import (
    StreamEventKind,
    console_hangup_reason,
    degradation_level,
    event_time,
    kind_of,
    stream_duration,
)

RECEIVED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("StartStream", StreamEventKind.STARTED),
        ("started", StreamEventKind.STARTED),
        ("StopStream", StreamEventKind.STOPPED),
        (" STOPPED ", StreamEventKind.STOPPED),
        ("DroppedStream", StreamEventKind.DROPPED),
        ("failed", StreamEventKind.DROPPED),
        ("DegradedStream", StreamEventKind.DEGRADED),
        ("PausedStream", StreamEventKind.UNKNOWN),
    ],
)
def test_both_vocabularies_map_to_one_set_of_kinds(event: str, kind: StreamEventKind) -> None:
    assert kind_of(event) is kind


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-10-14 13:42:33", datetime(2024, 10, 14, 13, 42, 33, tzinfo=UTC)),
        ("2024-10-14T13:42:33.250Z", datetime(2024, 10, 14, 13, 42, 33, 250000, tzinfo=UTC)),
        ("2024-10-14T15:42:33+02:00", datetime(2024, 10, 14, 13, 42, 33, tzinfo=UTC)),
        ("1728913353", datetime(2024, 10, 14, 13, 42, 33, tzinfo=UTC)),
        ("1728913353000", datetime(2024, 10, 14, 13, 42, 33, tzinfo=UTC)),
        ("yesterday", RECEIVED),
        (None, RECEIVED),
    ],
)
def test_event_time_accepts_every_seen_format(raw: str | None, expected: datetime) -> None:
    assert event_time(raw, RECEIVED) == expected


@pytest.mark.parametrize(
    ("parameters", "level"),
    [
        ({"BufferUsagePercentage": "60"}, "60"),
        ({"Level": "90%"}, "90"),
        ({"DegradationLevel": "30.5"}, "30.5"),
        ({"Level": "high"}, "unknown"),
        ({"Something": "1"}, "unknown"),
    ],
)
def test_degradation_level_from_undocumented_fields(parameters: dict[str, str], level: str) -> None:
    assert degradation_level(parameters) == level


START = "2026-11-24T12:00:00.000Z"
END = "2026-11-24T12:01:00.000Z"


@pytest.mark.parametrize(
    ("stream", "call", "reason"),
    [
        ({"started_at": START}, {}, None),
        ({"started_at": START, "ended_at": END, "dropped_at": END}, {}, "Connection error"),
        ({"started_at": START, "stopped_at": END, "stop_reason": "Stream timeout"}, {}, "Stream timeout"),
        ({"started_at": START, "stopped_at": END, "stop_reason": "API request"}, {}, "API request"),
        ({"started_at": START, "stopped_at": END, "stop_reason": "call hangup"}, {}, "Call hangup"),
        ({"started_at": START, "stopped_at": END, "ended_at": END}, {}, "Call hangup"),
        ({"started_at": START, "stopped_at": END, "plivo_duration": 3600}, {}, "Stream timeout"),
        ({"started_at": START, "stopped_at": END}, {"stream_stop_requested_at": END}, "API request"),
    ],
)
def test_console_hangup_reason(stream: dict[str, Any], call: dict[str, Any], reason: str | None) -> None:
    assert console_hangup_reason(stream, call, stream_timeout_seconds=3600) == reason


def test_duration_prefers_plivos_figure() -> None:
    assert stream_duration({"started_at": START, "ended_at": END}) == 60
    assert stream_duration({"started_at": START, "ended_at": END, "plivo_duration": 58}) == 58
    assert stream_duration({"started_at": START}) is None


@pytest.mark.parametrize("raw", ["²", "9" * 15, "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_unrepresentable_timestamps_fall_back_to_the_arrival_time(raw: str) -> None:
    assert event_time(raw, RECEIVED) == RECEIVED
