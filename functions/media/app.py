"""WebSocket media route for Plivo audio streams: every frame ($default) goes to the media runtime, which
runs the agent. ($connect and $disconnect are functions/stream_connect's, so rejected connects never run
this function.)"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability
from voiceagent.media.connections import stream_connections
from voiceagent.media.reference_agent import ReferenceAgent
from voiceagent.media.runtime import MediaRuntime, VoicemailRules
from voiceagent.media.speech import speech_for
from voiceagent.media.vad import EnergyVad
from voiceagent.plivo.rest import Deadline, plivo_gateway
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
OK = {"statusCode": 200}


def _runtime() -> MediaRuntime:
    settings = get_settings()
    store = open_store(settings, realtime=True)
    return MediaRuntime(
        agent=ReferenceAgent(speech_for(settings)),
        calls=store.calls,
        connections=store.connections,
        sender=stream_connections(settings, store.connections),
        gateway=plivo_gateway,
        vad=EnergyVad(threshold_dbfs=settings.agent_vad_threshold_dbfs),
        rules=VoicemailRules(
            silence_ms=settings.voicemail_silence_ms, max_wait_ms=settings.voicemail_max_wait_seconds * 1000
        ),
    )


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request_context = event.get("requestContext") or {}
    connection_id = request_context.get("connectionId")
    if not isinstance(connection_id, str):
        logger.warning("event without a connection id")
        return {"statusCode": 400}
    outcome = _runtime().on_frame(
        connection_id, event.get("body"), Deadline.from_lambda(context.get_remaining_time_in_millis())
    )
    logger.debug("frame handled", extra={"outcome": outcome})
    return OK
