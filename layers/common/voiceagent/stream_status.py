"""The stream-status webhook's domain logic: record, count, and optionally recover a dropped stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent.clock import iso
from voiceagent.metrics import count
from voiceagent.plivo_api import ApiResult, Deadline, PlivoApiError, PlivoGateway
from voiceagent.repository import CallRepository
from voiceagent.stream_health import StreamEvent, StreamEventKind
from voiceagent.webhooks import StreamStatusWebhook

logger = Logger(child=True)

METRIC_NAMES = {
    StreamEventKind.STARTED: "StreamsStarted",
    StreamEventKind.STOPPED: "StreamsStopped",
    StreamEventKind.DROPPED: "StreamsDropped",
    StreamEventKind.DEGRADED: "StreamsDegraded",
    StreamEventKind.UNKNOWN: "StreamEventsUnknown",
}


@dataclass(frozen=True)
class StreamRestarter:
    """How to start a replacement stream for a call (the same <Stream> settings as the answer XML)."""

    gateway: PlivoGateway
    service_url: str
    status_callback_url: str
    stream_timeout_seconds: int
    content_type: str
    max_attempts: int
    deadline: Deadline


@dataclass(frozen=True)
class StreamStatusResult:
    event: StreamEvent
    new: bool
    recovery: ApiResult | None = None


def record_stream_status(
    webhook: StreamStatusWebhook,
    *,
    repository: CallRepository,
    stage: str,
    now: datetime,
    restarter: StreamRestarter | None = None,
) -> StreamStatusResult:
    event = StreamEvent.from_webhook(webhook, now)
    if not repository.put_stream_event(event, now):
        logger.info("stream event already recorded", extra={"stream_event": event.plivo_event})
        return StreamStatusResult(event, new=False)
    if event.kind is StreamEventKind.UNKNOWN:
        logger.warning("unknown stream event stored", extra={"stream_event": event.plivo_event})
    facts, overwrite, counters = event.stream_changes()
    repository.update_stream(
        event.call_uuid, event.stream_id, now, facts=facts, overwrite=overwrite, counters=counters
    )
    if event.kind is StreamEventKind.STARTED:
        repository.update_call(
            event.call_uuid,
            now,
            facts={"stream_started_at": iso(event.at)},
            overwrite={"stream_id": event.stream_id},
        )
    emit_metrics(event, stage)
    recovery = None
    if event.kind is StreamEventKind.DROPPED and restarter and restarter.max_attempts > 0:
        recovery = recover(event, repository=repository, restarter=restarter, stage=stage, now=now)
    return StreamStatusResult(event, new=True, recovery=recovery)


def emit_metrics(event: StreamEvent, stage: str) -> None:
    """One metric per event kind, by stage; degradations also by buffer level."""
    count(METRIC_NAMES[event.kind], stage)
    if event.kind is StreamEventKind.DEGRADED:
        count("StreamsDegradedByLevel", stage, level=event.stream_changes()[1]["last_degradation_level"])


def recover(
    event: StreamEvent, *, repository: CallRepository, restarter: StreamRestarter, stage: str, now: datetime
) -> ApiResult | None:
    """Start a new stream on a call that is still live, at most ``max_attempts`` times per call."""
    attempt = repository.reserve_stream_recovery(event.call_uuid, restarter.max_attempts, now)
    if attempt is None:
        logger.info("no stream recovery: call over or attempts used up")
        return None
    try:
        result = restarter.gateway.start_stream(
            event.call_uuid,
            service_url=restarter.service_url,
            status_callback_url=restarter.status_callback_url,
            stream_timeout_seconds=restarter.stream_timeout_seconds,
            content_type=restarter.content_type,
            deadline=restarter.deadline,
        )
    except PlivoApiError as exc:
        result = ApiResult("failed", exc.attempts, {"error": str(exc)})
    repository.record_stream_recovery(
        event.call_uuid,
        attempt,
        {
            "dropped_stream_id": event.stream_id,
            "result": result.outcome,
            "plivo_attempts": result.attempts,
            **result.detail,
        },
        now,
    )
    count("StreamRecoveries", stage, result=result.outcome)
    logger.info("stream recovery attempted", extra={"attempt": attempt, "result": result.outcome})
    return result
