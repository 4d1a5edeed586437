"""POST /calls (IAM): place an outbound call with machine detection and a voicemail policy.
GET /calls/{call_uuid} (IAM): the call's report: timeline, streams and outcome."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import routes
from voiceagent.clock import utcnow
from voiceagent.http_api import body_text, http_app, json_response, public_base_url
from voiceagent.observability import traced
from voiceagent.placing import PlaceCallRequest, place_call
from voiceagent.plivo_api import Deadline, plivo_gateway
from voiceagent.report import build_report
from voiceagent.repository import call_repository
from voiceagent.settings import get_settings
from voiceagent.webhooks import PLIVO_ID

logger = Logger()
metrics = Metrics()
app = http_app([routes.CALLS])


@app.get(routes.CALL)
def get_call(call_uuid: str) -> Response[str]:
    if not PLIVO_ID.fullmatch(call_uuid):
        return json_response(400, {"message": "invalid call_uuid"})
    report = build_report(call_repository().call_items(call_uuid), get_settings().stream_timeout_seconds)
    if report is None:
        return json_response(404, {"message": "no such call"})
    return json_response(200, report)


@app.post(routes.CALLS)
def create_call() -> Response[str]:
    event = app.current_event
    request = PlaceCallRequest.model_validate_json(body_text(event) or "{}")
    result = place_call(
        request,
        repository=call_repository(),
        gateway=plivo_gateway(),
        settings=get_settings(),
        base_url=public_base_url(event),
        now=utcnow(),
        deadline=Deadline.from_lambda(app.lambda_context.get_remaining_time_in_millis()),
    )
    logger.append_keys(placement_id=result.placement_id)
    if result.status == "failed":
        metrics.add_metric(name="CallsPlacementFailed", unit=MetricUnit.Count, value=1)
        logger.error("placing the call failed", extra={"error": result.error, "attempts": result.attempts})
        return json_response(502, result.as_dict())
    metrics.add_metric(name="CallsPlaced", unit=MetricUnit.Count, value=1)
    logger.info("call placed", extra={"request_uuid": result.request_uuid, "attempts": result.attempts})
    return json_response(202, result.as_dict())


@logger.inject_lambda_context(clear_state=True)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
