"""The calls API (IAM): POST /calls places an outbound call with machine detection and a voicemail policy;
GET /calls lists calls; GET /calls/{id} is a call's report (timeline, streams, outcome) by its placement id,
RequestUUID or CallUUID; POST /calls/{id}/hangup ends it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.calls.control import HangupBody, HangupRequest, HangupResult, NoMachine, hang_up
from voiceagent.calls.listing import ListQuery, list_calls
from voiceagent.calls.lookup import checked_id, find_call
from voiceagent.calls.placing import IDEMPOTENCY_KEY, PlaceCallRequest, PlacementConflict, place_call
from voiceagent.calls.report import build_report
from voiceagent.clock import utcnow
from voiceagent.credentials import cursor_key
from voiceagent.http_api import body_text, http_app, json_response, public_base_url
from voiceagent.plivo.rest import Deadline, PlivoApiError, plivo_gateway
from voiceagent.settings import get_settings
from voiceagent.store import open_store
from voiceagent.validation import validate

logger = Logger()
app = http_app([routes.CALLS])

NO_SUCH_CALL = {"message": "no such call: give the placement id, the request_uuid or the CallUUID"}
HANGUP_STATUS = {
    HangupResult.HUNG_UP: 200,
    HangupResult.CANCELLED: 200,
    HangupResult.ALREADY_ENDED: 200,
    HangupResult.NOT_PLACED: 409,
    HangupResult.PLACING: 409,
}


def _deadline() -> Deadline:
    return Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis())


@app.get(routes.CALL)
def get_call(call_id: str) -> Response[str]:
    settings = get_settings()
    found = find_call(open_store(settings), checked_id(call_id))
    if found is None:
        return json_response(404, NO_SUCH_CALL)
    return json_response(200, build_report(found.history, settings.stream_timeout_seconds, found.placement))


@app.get(routes.CALLS)
def get_calls() -> Response[str]:
    query = validate(ListQuery, app.current_event.query_string_parameters or {})
    page = list_calls(query, store=open_store(), cursor_key=cursor_key(), now=utcnow())
    return json_response(200, page)


@app.post(routes.CALL_HANGUP)
def hangup_call(call_id: str) -> Response[str]:
    body = validate(HangupBody, body_text(app.current_event) or "{}", json_text=True)
    store = open_store()
    found = find_call(store, checked_id(call_id))
    if found is None:
        return json_response(404, NO_SUCH_CALL)
    # The IAM caller API Gateway authorised (the local stack has none).
    requested_by = app.current_event.request_context.authorizer.iam.user_arn or "an unsigned local request"
    request = HangupRequest(store, plivo_gateway, _deadline(), utcnow(), requested_by, body.voicemail_left)
    try:
        result = hang_up(found, request)
    except NoMachine as exc:
        return json_response(409, {"message": str(exc), **found.ids})
    except PlivoApiError as exc:
        logger.error("hangup request failed", extra={"error": str(exc)})
        return json_response(502, {"message": f"Plivo did not hang up: {exc}"})
    logger.info("hangup requested", extra={"result": result.value, "call_uuid": found.call_uuid})
    return json_response(HANGUP_STATUS[result], {"result": result.value, **found.ids})


@app.post(routes.CALLS)
def create_call() -> Response[str]:
    event = app.current_event
    request = validate(
        PlaceCallRequest,
        body_text(event) or "{}",
        json_text=True,
        context={IDEMPOTENCY_KEY: event.headers.get("idempotency-key")},
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
            deadline=_deadline(),
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
