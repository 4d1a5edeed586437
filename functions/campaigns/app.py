"""The campaigns API (IAM): POST /campaigns creates a campaign from a contact list and starts it;
GET /campaigns/{id} is its progress; GET /campaigns/{id}/results.csv its contacts' results;
POST /campaigns/{id}/pause|resume|cancel. And the do-not-call list: GET, POST /dnc, DELETE /dnc/{number}."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from voiceagent import observability, routes
from voiceagent.campaigns import donotcall
from voiceagent.campaigns.manage import (
    CampaignConflict,
    CampaignNotFound,
    StatusConflict,
    change_status,
    create_campaign,
    results_csv,
    status,
)
from voiceagent.campaigns.models import CAMPAIGN_ID, IDEMPOTENCY_HEADER, MAX_BODY_BYTES, CreateCampaignRequest
from voiceagent.campaigns.service import dial_queue
from voiceagent.clock import utcnow
from voiceagent.http_api import body_text, http_app, json_response
from voiceagent.settings import get_settings
from voiceagent.store import open_campaign_store
from voiceagent.validation import InvalidRequest, Problem, shown, validate

logger = Logger()
app = http_app([routes.CAMPAIGNS, routes.DNC])
ACTIONS = ("pause", "resume", "cancel")


def _campaign_id(campaign_id: str) -> str:
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        raise InvalidRequest([Problem("campaign_id", shown(campaign_id), "cmp- and 16 hex digits")])
    return campaign_id


def _caller() -> str:
    return app.current_event.request_context.authorizer.iam.user_arn or "an unsigned local request"


@app.post(routes.CAMPAIGNS)
def create() -> Response[str]:
    event = app.current_event
    request = validate(
        CreateCampaignRequest,
        body_text(event, MAX_BODY_BYTES) or "{}",
        json_text=True,
        context={IDEMPOTENCY_HEADER: event.headers.get("idempotency-key")},
    )
    try:
        created = create_campaign(
            request, store=open_campaign_store(), queue=dial_queue(), settings=get_settings(), now=utcnow()
        )
    except CampaignConflict as exc:
        return json_response(409, {"message": str(exc)})
    logger.info(
        "campaign created",
        extra={
            "campaign_id": created.campaign_id,
            "contacts": created.contacts,
            "repeated": created.repeated,
        },
    )
    if created.do_not_call:
        observability.add("CampaignDncSkipped", created.do_not_call)
    return json_response(200 if created.repeated else 201, created.as_dict())


@app.get(routes.CAMPAIGN)
def get(campaign_id: str) -> Response[str]:
    try:
        body = status(open_campaign_store(), _campaign_id(campaign_id), get_settings(), utcnow())
    except CampaignNotFound:
        return json_response(404, {"message": f"no campaign {campaign_id}"})
    return json_response(200, body)


@app.get(routes.CAMPAIGN_RESULTS)
def results(campaign_id: str) -> Response[str]:
    try:
        text = "".join(results_csv(open_campaign_store(), _campaign_id(campaign_id)))
    except CampaignNotFound:
        return json_response(404, {"message": f"no campaign {campaign_id}"})
    return Response(
        200, "text/csv", text, headers={"Content-Disposition": f"attachment; filename={campaign_id}.csv"}
    )


@app.post(routes.CAMPAIGN_ACTION)
def act(campaign_id: str, action: str) -> Response[str]:
    if action not in ACTIONS:
        raise InvalidRequest([Problem("action", shown(action), "one of: " + ", ".join(ACTIONS))])
    try:
        body = change_status(open_campaign_store(), dial_queue(), _campaign_id(campaign_id), action, utcnow())
    except CampaignNotFound:
        return json_response(404, {"message": f"no campaign {campaign_id}"})
    except StatusConflict as exc:
        return json_response(409, {"message": str(exc)})
    logger.info("campaign status changed", extra={**body, "by": _caller()})
    return json_response(200, body)


@app.get(routes.DNC)
def dnc_list() -> Response[str]:
    query = validate(donotcall.ListQuery, app.current_event.query_string_parameters or {})
    return json_response(200, donotcall.page(open_campaign_store().dnc, query))


@app.post(routes.DNC)
def dnc_add() -> Response[str]:
    body = validate(donotcall.AddNumbers, body_text(app.current_event) or "{}", json_text=True)
    added = donotcall.add(open_campaign_store().dnc, body, added_by=_caller(), now=utcnow())
    logger.info("numbers added to the do-not-call list", extra={"count": added["added"], "by": _caller()})
    return json_response(200, added)


@app.delete(routes.DNC_NUMBER)
def dnc_remove(number: str) -> Response[str]:
    removed = donotcall.remove(open_campaign_store().dnc, unquote(number))
    logger.info("number removed from the do-not-call list", extra={**removed, "by": _caller()})
    return json_response(200 if removed["removed"] else 404, removed)


@observability.instrumented(logger)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
