"""Calling windows: a daily time range in the callee's own time zone (IANA, through ``zoneinfo``).

A contact is called only while its local wall clock is inside ``[start, end)``. Reading the wall clock of
the instant in question makes the rule immune to daylight saving time: on a change day the window still
opens at 09:00 local time, an hour closer to or further from the UTC one. The next opening is found the same
way: today's or tomorrow's ``start`` in that zone; a ``start`` that does not exist that day (inside a
spring-forward gap) opens at the first instant after the gap, and one that exists twice (fall back) at the
first of the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


class UnknownTimeZone(ValueError):
    """Not an IANA time zone name."""


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name`` (``America/New_York``); ``UnknownTimeZone`` otherwise."""
    if name not in _known_zones():
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone such as America/New_York or Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # listed but not loadable: no data on this system
        raise UnknownTimeZone(f"{name!r}: no time zone data for it here") from exc


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@dataclass(frozen=True)
class CallingWindow:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> CallingWindow:
        """``HH:MM-HH:MM`` (already checked by the settings or request pattern)."""
        first, _, second = text.partition("-")
        window = cls(time.fromisoformat(first), time.fromisoformat(second))
        if window.start >= window.end:
            raise ValueError(f"a calling window starts before it ends: {text}")
        return window

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def is_open(self, moment: datetime, zone_name: str) -> bool:
        local = moment.astimezone(zone(zone_name)).time()
        return self.start <= local < self.end

    def next_open(self, moment: datetime, zone_name: str) -> datetime:
        """The first instant at or after ``moment`` when the window is open (``moment`` itself if it is)."""
        if self.is_open(moment, zone_name):
            return moment
        tz = zone(zone_name)
        today = moment.astimezone(tz).date()
        for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
            opening = _wall_time(day, self.start, tz)
            if opening > moment:
                return opening
        raise AssertionError("a daily window opens within two days")  # pragma: no cover


def _wall_time(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant at which the wall clock in ``tz`` reads ``at`` or later on ``day``: ``at``
    itself, the first of two in a repeated hour, or the end of the gap that skipped it."""
    first = datetime.combine(day, at, tzinfo=tz)  # fold=0: the earlier of two, in a repeated hour
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == first.replace(tzinfo=None):
        return instant
    # ``at`` does not exist that day (spring forward). The fold=1 reading is before the gap, the fold=0 one
    # after it: the clock jumps somewhere between; open at the first minute whose wall clock reads >= at.
    probe = first.replace(fold=1).astimezone(UTC)
    while probe < instant:
        local = probe.astimezone(tz)
        if local.date() == day and local.time() >= at:
            return probe
        probe += timedelta(minutes=1)
    return instant
