"""Publishing call events: a batch of DynamoDB stream records in, ``PutEvents`` to the stack's bus out.

Records are handled in stream order, one ``PutEvents`` per record that carries facts (most carry none). The
webhooks that wrote the facts have long answered Plivo: nothing here can block or fail them. A record whose
events cannot be published (after a few quick retries of the failed entries) is reported as the batch's
failure, and the records after it are not published in this invocation: Lambda retries from the failed
record (splitting the batch there), so later records are neither published out of order nor twice. After
the event source mapping's retries the failed records' position goes to the dead-letter queue.

This is why the loop is ours and not Powertools' batch processor, which goes on past a failure (and would
publish the later records again on the retry).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from voiceagent import observability
from voiceagent.aws import error_code
from voiceagent.call_events import schema
from voiceagent.call_events.facts import Context, derive
from voiceagent.clock import parse_iso
from voiceagent.plivo.rest import Deadline
from voiceagent.store.changes import MalformedChange, decode

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

logger = Logger(child=True)

ENTRY_ATTEMPTS = 3
"""Tries of an entry EventBridge refused (throttled, an internal error) within one invocation."""
_sleep = time.sleep  # replaced in tests


def entry(detail: schema.Detail, bus_name: str) -> dict[str, Any]:
    """A ``PutEvents`` entry for one detail."""
    return {
        "Source": schema.SOURCE,
        "DetailType": detail.DETAIL_TYPE,
        "Detail": detail.model_dump_json(by_alias=True),
        "EventBusName": bus_name,
        "Time": parse_iso(detail.occurred_at),
    }


@dataclass
class BatchResult:
    published: list[schema.Detail] = field(default_factory=list)
    failed: str | None = None
    """The sequence number of the first record that could not be published (Lambda retries from it)."""
    skipped: int = 0
    """Records after the failed one, left for the retry."""


@dataclass
class Publisher:
    bus_name: str | None
    """None: events are derived (and logged at debug) but published nowhere (unit tests, old stacks)."""
    stage: str
    call_record: Callable[[str], Mapping[str, Any] | None]
    client: Callable[[], EventBridgeClient]
    deadline: Deadline
    _calls: dict[str, Mapping[str, Any] | None] = field(default_factory=dict)

    def publish(self, records: Iterable[Mapping[str, Any]]) -> BatchResult:
        result = BatchResult()
        context = Context(stage=self.stage, call_record=self._call)
        for record in records:
            sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
            if result.failed is not None:
                result.skipped += 1
                continue
            try:
                details = derive(decode(record), context)
            except (MalformedChange, ValidationError, KeyError, TypeError, ValueError):
                # A record this code cannot read is a bug, not a passing failure: it goes the failure path
                # (retries, then the dead-letter queue) so that it can be replayed once fixed.
                logger.exception("cannot derive events from a stream record", extra={"sequence": sequence})
                observability.add("CallEventsUnreadable")
                result.failed = sequence or "unknown"
                continue
            if details and not self._put(details, sequence):
                result.failed = sequence
                continue
            result.published += details
        if result.failed is not None:
            observability.add("CallEventsPublishFailed")
        return result

    def _call(self, call_uuid: str) -> Mapping[str, Any] | None:
        if call_uuid not in self._calls:
            self._calls[call_uuid] = self.call_record(call_uuid)
        return self._calls[call_uuid]

    def _put(self, details: list[schema.Detail], sequence: str) -> bool:
        """Publish one record's events; False when some could not be (after quick retries)."""
        if not self.bus_name:
            for detail in details:
                logger.debug("event (no bus configured)", extra={"detail_type": detail.DETAIL_TYPE})
            return True
        pending = [entry(detail, self.bus_name) for detail in details]
        delay = 0.1
        for attempt in range(1, ENTRY_ATTEMPTS + 1):
            pending, problem = self._put_entries(pending)
            if not pending:
                observability.add("CallEventsPublished", len(details))
                return True
            pause = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not cryptography
            last = attempt == ENTRY_ATTEMPTS or self.deadline.left() < pause + 1.0
            logger.warning(
                "publishing call events failed",
                extra={"sequence": sequence, "attempt": attempt, "error": problem, "will_retry": not last},
            )
            if last:
                return False
            _sleep(pause)
            delay *= 2
        return False

    def _put_entries(self, entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
        """One ``PutEvents``: the entries EventBridge did not take, and why."""
        try:
            response = self.client().put_events(Entries=entries)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            return entries, error_code(exc) or type(exc).__name__
        results = response.get("Entries") or []
        refused = [
            (sent, answer) for sent, answer in zip(entries, results, strict=False) if answer.get("ErrorCode")
        ]
        if len(results) < len(entries):  # EventBridge answers one result per entry, in order
            refused += [(sent, {"ErrorCode": "NoResult"}) for sent in entries[len(results) :]]
        problem = ", ".join(sorted({str(answer.get("ErrorCode")) for _, answer in refused})) or None
        return [sent for sent, _ in refused], problem


def detail_json(detail: schema.Detail) -> dict[str, Any]:
    """A detail as the consumer reads it (the ``detail`` of the EventBridge event)."""
    parsed: dict[str, Any] = json.loads(detail.model_dump_json(by_alias=True))
    return parsed
