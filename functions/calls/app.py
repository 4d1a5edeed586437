"""POST /calls (IAM): place an outbound call with machine detection and a voicemail policy.
GET /calls/{call_uuid} (IAM): the call's report: timeline, streams and outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.placing import IDEMPOTENCY_KEY, PlaceCallRequest, PlacementConflict, place_call
from voiceagent.calls.report import build_report
from voiceagent.clock import utcnow
from voiceagent.http_api import body_text, http_app, json_response, public_base_url
from voiceagent.plivo.rest import Deadline, plivo_gateway
from voiceagent.plivo.webhooks import PLIVO_ID
from voiceagent.settings import get_settings
from voiceagent.store import open_store

logger = Logger()
app = http_app([routes.CALLS])


@app.get(routes.CALL)
def get_call(call_uuid: str) -> Response[str]:
    if not PLIVO_ID.fullmatch(call_uuid):
        return json_response(400, {"message": "invalid call_uuid"})
    settings = get_settings()
    history = open_store(settings).calls.history(call_uuid)
    if history is None:
        return json_response(404, {"message": "no such call"})
    return json_response(200, build_report(history, settings.stream_timeout_seconds))


@app.post(routes.CALLS)
def create_call() -> Response[str]:
    event = app.current_event
    request = PlaceCallRequest.model_validate_json(
        body_text(event) or "{}", context={IDEMPOTENCY_KEY: event.headers.get("idempotency-key")}
    )
    settings = get_settings()
    try:
        result = place_call(
            request,
            placements=open_store(settings).placements,
            gateway=plivo_gateway,
            settings=settings,
            base_url=public_base_url(event),
            now=utcnow(),
            deadline=Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis()),
        )
    except PlacementConflict as exc:
        logger.warning("idempotency key reused with another request", extra={"error": str(exc)})
        return json_response(409, {"message": str(exc)})
    logger.append_keys(placement_id=result.placement_id)
    extra = {"status": result.status, "attempts": result.attempts, "repeated": bool(result.repeated)}
    if result.status == "failed":
        observability.add("CallsPlacementFailed")
        logger.error("placing the call failed", extra={**extra, "error": result.error})
        return json_response(502, result.as_dict())
    if result.repeated:
        observability.add("CallsPlacementRepeated")
    elif result.status == "unconfirmed":
        observability.add("CallsPlacementUnconfirmed")
        logger.warning("Plivo may have the call; not dialling again", extra={**extra, "error": result.error})
    else:
        observability.add("CallsPlaced")
    logger.info("call placed", extra={**extra, "request_uuid": result.request_uuid})
    return json_response(202, result.as_dict())


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
