"""Campaign tests' helpers: a fake clock, the dial queue read back, dial contexts, Call Completed events."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from tests.support import constants as c
from voiceagent.campaigns.dialer import DialContext, DialReport, dial_batch
from voiceagent.campaigns.models import CallCompletedEvent, DialMessage
from voiceagent.campaigns.queue import DialQueue
from voiceagent.campaigns.service import campaign_settings
from voiceagent.plivo.rest import plivo_gateway
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store, open_store

FROM = "+14155550199"


@dataclass
class FakeClock:
    """Epoch seconds that move only when someone waits; each dialer thread waits on its own timeline (as
    threads sleeping side by side do); ``now`` is the test's own time."""

    now: float
    waits: list[float] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)

    def __call__(self) -> float:
        return float(getattr(self._local, "now", self.now))

    def sleep_until(self, moment: float) -> None:
        self.waits.append(moment)
        self._local.now = max(self(), moment)

    @property
    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class LateClock(FakeClock):
    """A FakeClock whose first ``late_waits`` waits wake ``late_by`` seconds after the moment (a container
    the machine left waiting)."""

    late_waits: int = 0
    late_by: float = 1.0

    def sleep_until(self, moment: float) -> None:
        late, self.late_waits = self.late_waits > 0, self.late_waits - 1
        self.waits.append(moment)
        self._local.now = max(self(), moment + (self.late_by if late else 0.0))


def at(text: str) -> FakeClock:
    return FakeClock(datetime.fromisoformat(text).timestamp())


def queue() -> DialQueue:
    return DialQueue(c.DIAL_QUEUE_URL)


def drain() -> list[tuple[str, DialMessage]]:
    """Every dial message waiting (delays ignored: moto delivers delayed ones later, so they are read too)."""
    sqs = boto3.client("sqs", region_name=c.REGION)
    found: list[tuple[str, DialMessage]] = []
    while True:
        response = sqs.receive_message(QueueUrl=c.DIAL_QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = response.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append((message["MessageId"], DialMessage.model_validate_json(message["Body"])))
            sqs.delete_message(QueueUrl=c.DIAL_QUEUE_URL, ReceiptHandle=message["ReceiptHandle"])


def context(clock: FakeClock, remaining: float = 50.0) -> DialContext:
    settings = get_settings()
    return DialContext(
        calls=open_store(settings),
        campaigns=open_campaign_store(settings),
        settings=settings,
        queue=queue(),
        gateway=plivo_gateway,
        base_url=f"https://{c.HTTP_API_DOMAIN}/{c.STAGE}",
        campaign_settings=campaign_settings,
        remaining_seconds=lambda: remaining,
        clock=clock,
        sleep_until=clock.sleep_until,
    )


def dial(clock: FakeClock, messages: list[tuple[str, DialMessage]] | None = None) -> DialReport:
    return dial_batch(drain() if messages is None else messages, context(clock))


def completed(
    campaign_id: str, row: int, attempt: int, outcome: str, *, event_id: str | None = None
) -> CallCompletedEvent:
    """A Call Completed event as the bus delivers it (issue #17's contract)."""
    return CallCompletedEvent.model_validate(
        {
            "version": "0",
            "id": event_id or f"ev-{campaign_id}-{row}-{attempt}",
            "source": "plivo-voice-agent",
            "detail-type": "Call Completed",
            "detail": {
                "schema_version": 1,
                "event_id": event_id or f"{campaign_id}-{row}-{attempt}#completed",
                "occurred_at": "2026-06-01T15:00:10.000Z",
                "call_uuid": f"00000000-0000-4000-8000-{row:012d}",
                "placement_id": f"{campaign_id}-{row:07d}-{attempt}",
                "request_uuid": None,
                "stage": "dev",
                "metadata": {
                    "campaign_id": campaign_id,
                    "campaign_row": str(row),
                    "campaign_attempt": str(attempt),
                },
                "outcome": outcome,
                "hangup_cause": "NORMAL_CLEARING",
                "duration_seconds": 12,
                "completed_at": "2026-06-01T15:00:10.000Z",
            },
        }
    )


def sqs_record(event: CallCompletedEvent) -> dict[str, Any]:
    return {
        "messageId": event.id,
        "receiptHandle": "handle",
        "body": json.dumps(event.model_dump(mode="json", by_alias=True)),
        "attributes": {},
        "eventSource": "aws:sqs",
    }


def contacts_of(campaign_id: str) -> Iterator[dict[str, Any]]:
    return open_campaign_store().campaigns.contacts(campaign_id)
