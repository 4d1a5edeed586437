"""Restarting a dropped stream through Plivo's Start Stream API, at most a configured number of times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent import observability
from voiceagent.credentials import stream_token_key
from voiceagent.plivo.rest import ApiResult, Deadline, PlivoApiError, PlivoGateway, plivo_gateway
from voiceagent.plivo.xml import StreamOptions
from voiceagent.settings import Settings
from voiceagent.store.streams import StreamRepository
from voiceagent.streams import tokens
from voiceagent.streams.events import StreamEvent

logger = Logger(child=True)


@dataclass(frozen=True)
class StreamRestarter:
    """How to start a replacement stream for a call (the same ``StreamOptions`` as the answer XML)."""

    gateway: Callable[[], PlivoGateway]
    options: Callable[[], StreamOptions]
    """Built only when a stream really drops: a fresh token needs the stream-token key from SSM."""
    max_attempts: int
    deadline: Deadline


def restarter_for(
    settings: Settings, call_uuid: str, *, status_callback_url: str, deadline: Deadline, now: datetime
) -> StreamRestarter | None:
    """The restarter the settings ask for, or None when recovery is off."""
    if settings.stream_recovery_max_attempts <= 0:
        return None

    def options() -> StreamOptions:
        service_url = tokens.stream_url(
            settings.websocket_url,
            stream_token_key(),
            call_uuid,
            int(now.timestamp()),
            settings.stream_token_ttl_seconds,
        )
        return StreamOptions(service_url, status_callback_url, settings.stream_timeout_seconds)

    return StreamRestarter(plivo_gateway, options, settings.stream_recovery_max_attempts, deadline)


def recover(
    event: StreamEvent, *, streams: StreamRepository, restarter: StreamRestarter, now: datetime
) -> ApiResult | None:
    """Start a new stream on a call that is still live, at most ``max_attempts`` times per call."""
    if restarter.max_attempts <= 0:
        return None
    attempt = streams.reserve_recovery(event.call_uuid, restarter.max_attempts, now)
    if attempt is None:
        logger.info("no stream recovery: call over or attempts used up")
        return None
    try:
        result = restarter.gateway().start_stream(
            event.call_uuid, restarter.options(), deadline=restarter.deadline
        )
    except PlivoApiError as exc:
        result = ApiResult("failed", exc.attempts, {"error": str(exc)})
    streams.record_recovery(
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
    observability.count("StreamRecoveries", result=result.outcome)
    logger.info("stream recovery attempted", extra={"attempt": attempt, "result": result.outcome})
    return result
