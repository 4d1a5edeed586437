"""What every Plivo webhook does the same way: rebuild the public URL, parse the body, check the signature,
answer replays from memory, and map errors to clear HTTP answers. Handlers get a ready resolver from
``http_app()`` and register each webhook with ``plivo_webhook``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from voiceagent import observability
from voiceagent.aws import is_transient
from voiceagent.clock import utcnow
from voiceagent.credentials import SecretUnavailable, plivo_auth_token
from voiceagent.plivo.signature import NONCE_HEADER, SignatureError, verify_v3
from voiceagent.plivo.webhooks import WebhookT, parse_webhook
from voiceagent.settings import ConfigurationError, get_settings
from voiceagent.store import open_store
from voiceagent.store.calls import WriteConflict
from voiceagent.store.nonces import StoredAnswer
from voiceagent.validation import InvalidRequest, problems

logger = Logger(child=True)

MAX_BODY_BYTES = 64 * 1024
MAX_FORM_FIELDS = 200
XML = "application/xml"
EMPTY_XML = "<Response></Response>"
"""What a webhook whose body Plivo ignores answers: an empty document keeps Plivo's logs clean."""

FormParams = dict[str, list[str]]


class MalformedRequest(Exception):
    """The body cannot be read as the webhook it claims to be: answered with 400, nothing is stored."""


class PayloadTooLarge(MalformedRequest):
    """Bodies larger than any Plivo webhook: answered with 413."""


def route_path(event: APIGatewayProxyEventV2) -> str:
    """The route path without the stage prefix that HTTP API puts in ``rawPath`` for named stages."""
    raw_path = event.raw_path or "/"
    stage = event.request_context.stage
    prefix = f"/{stage}"
    if stage and stage != "$default" and (raw_path == prefix or raw_path.startswith(prefix + "/")):
        return raw_path[len(prefix) :] or "/"
    return raw_path


def public_base_url(event: APIGatewayProxyEventV2) -> str:
    """The base URL Plivo uses to reach this API: configured, or rebuilt from the request context."""
    configured = get_settings().public_base
    if configured:
        return configured
    stage = event.request_context.stage
    stage_path = f"/{stage}" if stage and stage != "$default" else ""
    return f"https://{event.request_context.domain_name}{stage_path}"


def public_url(event: APIGatewayProxyEventV2, path: str, query: str = "") -> str:
    url = public_base_url(event) + path
    return f"{url}?{query}" if query else url


def request_url(event: APIGatewayProxyEventV2) -> str:
    """The URL Plivo called (and signed): public base + route path + raw query string."""
    return public_url(event, route_path(event), event.raw_query_string or "")


def body_text(event: APIGatewayProxyEventV2, limit: int = MAX_BODY_BYTES) -> str:
    body = event.body or ""
    raw: bytes
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequest("body is not valid base64") from exc
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > limit:
        raise PayloadTooLarge(f"body exceeds {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("body is not UTF-8") from exc


def _json_params(text: str) -> FormParams:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedRequest("body is neither a form nor JSON") from exc
    if not isinstance(document, dict):
        raise MalformedRequest("JSON body must be an object")
    if len(document) > MAX_FORM_FIELDS:
        raise MalformedRequest("too many fields")
    params: FormParams = {}
    for key, value in document.items():
        if isinstance(value, (dict, list)):
            params[key] = [json.dumps(value, separators=(",", ":"), sort_keys=True)]
        elif value is None:
            params[key] = [""]
        elif isinstance(value, bool):
            params[key] = ["true" if value else "false"]
        else:
            params[key] = [str(value)]
    return params


def form_params(event: APIGatewayProxyEventV2) -> FormParams:
    """Parse a webhook body: form-encoded (Plivo's default), or a JSON object as a fallback."""
    text = body_text(event)
    content_type = (event.headers or {}).get("content-type", "").lower()
    if "json" in content_type or text.lstrip().startswith("{"):
        return _json_params(text)
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:  # raised past max_num_fields
        raise MalformedRequest("too many fields") from exc


def verified_params(event: APIGatewayProxyEventV2) -> tuple[FormParams, str]:
    """Parse the body and prove it came from Plivo: (the form, its V3 nonce). Raises before anything is
    stored."""
    params = form_params(event)
    headers = {key.lower(): value for key, value in (event.headers or {}).items()}
    verify_v3(
        method=event.request_context.http.method,
        url=request_url(event),
        headers=headers,
        params=params,
        auth_token=plivo_auth_token(),
    )
    return params, headers[NONCE_HEADER].strip()


WebhookHandler = Callable[[WebhookT, APIGatewayProxyEventV2], Response[str]]
"""A webhook's logic: the verified, parsed form and the request it came in (read once, here)."""


def plivo_webhook(
    app: APIGatewayHttpResolver, model: type[WebhookT], *paths: str
) -> Callable[[WebhookHandler[WebhookT]], WebhookHandler[WebhookT]]:
    """Register a signed Plivo webhook at POST ``paths``: the handler gets the verified, parsed form and the
    request.

    A request whose nonce already took effect on this route is a replay: it is answered with the response
    stored for that nonce, and nothing else happens (metric ``WebhookReplays``). A nonce is remembered only
    after its request succeeded (200), with the response it got, so a Plivo retry after a failure still runs
    and one that reuses the nonce of a success gets the very same answer.
    """

    def register(handler: WebhookHandler[WebhookT]) -> WebhookHandler[WebhookT]:
        def route() -> Response[str]:
            received = utcnow()  # the nonce lives as long as the records this request writes
            event = app.current_event
            path = route_path(event)
            params, nonce = verified_params(event)
            webhook = parse_webhook(model, params)
            nonces = open_store().nonces
            replayed = nonces.answer_for(nonce, path)
            if replayed is not None:
                observability.add("WebhookReplays")
                logger.warning(
                    "replayed webhook answered with its first response",
                    extra={"path": path, "call_uuid": getattr(webhook, "call_uuid", None)},
                )
                return Response(replayed.status_code, replayed.content_type, replayed.body)
            response = handler(webhook, event)
            if response.status_code == 200:
                _remember(nonce, path, response, received)
            return response

        for path in paths:
            app.post(path)(route)
        return handler

    return register


def _remember(nonce: str, path: str, response: Response[str], received: datetime) -> None:
    """Remember a request that took effect. If that fails the action still happened: answer Plivo anyway
    (the nonce stays open to a replay, which every transition's condition keeps harmless), and say so."""
    body = response.body if isinstance(response.body, str) else ""
    content_type = str(response.headers.get("Content-Type") or XML)
    try:
        open_store().nonces.remember(
            nonce, path, StoredAnswer(response.status_code, content_type, body), received
        )
    except (ClientError, BotoCoreError) as exc:
        observability.add("WebhookNonceNotRemembered")
        logger.error(
            "could not remember the webhook's nonce", extra={"path": path, "error": type(exc).__name__}
        )


def query_param(event: APIGatewayProxyEventV2, name: str) -> str | None:
    return (event.query_string_parameters or {}).get(name) or None


def xml_response(body: str) -> Response[str]:
    return Response(status_code=200, content_type=XML, body=body)


def _error(status_code: int, message: str, headers: Mapping[str, str] | None = None) -> Response[str]:
    response = json_response(status_code, {"message": message})
    response.headers.update(headers or {})
    return response


def invalid_response(exc: InvalidRequest) -> Response[str]:
    """400 naming each bad field, the value given (shortened) and what is allowed."""
    return json_response(
        400, {"message": str(exc), "errors": [problem.as_dict() for problem in exc.problems]}
    )


def http_app(paths: Sequence[str]) -> APIGatewayHttpResolver:
    """A resolver with the shared error mapping: 403 bad signature, 400 bad body, 405 wrong method."""
    app = APIGatewayHttpResolver()
    known_paths = frozenset(paths)

    def _forbidden(exc: SignatureError) -> Response[str]:
        logger.warning("rejected request: bad signature", extra={"reason": str(exc), "path": _path(app)})
        return _error(403, "forbidden")

    def _too_large(exc: PayloadTooLarge) -> Response[str]:
        logger.warning("rejected request: body too large", extra={"path": _path(app)})
        return _error(413, str(exc))

    def _malformed(exc: MalformedRequest) -> Response[str]:
        logger.warning("rejected request: malformed body", extra={"reason": str(exc), "path": _path(app)})
        return _error(400, str(exc))

    def _invalid(exc: ValidationError | InvalidRequest) -> Response[str]:
        invalid = exc if isinstance(exc, InvalidRequest) else InvalidRequest(problems(exc))
        fields = ", ".join(problem.field for problem in invalid.problems)
        logger.warning("rejected request: invalid fields", extra={"fields": fields, "path": _path(app)})
        return invalid_response(invalid)

    def _unavailable(exc: Exception) -> Response[str]:
        # A dependency (DynamoDB, SSM) is throttling or unreachable: nothing was done, so ask the caller to
        # retry. Plivo retries webhooks; a clear 503 beats an unexplained 500. Any other AWS error is a bug
        # and stays a 500 (retrying would not help).
        if isinstance(exc, ClientError) and not is_transient(exc):
            raise exc
        logger.error("dependency unavailable", extra={"error": type(exc).__name__, "path": _path(app)})
        return _error(503, "temporarily unavailable, retry", headers={"Retry-After": "1"})

    def _misconfigured(exc: ConfigurationError) -> Response[str]:
        # The deployment is wrong (a missing SSM parameter, an invalid variable): say so once, loudly, with
        # what to fix; a retry cannot help, so no 503 and no Retry-After.
        observability.configuration_error(logger, exc, path=_path(app))
        return _error(500, "service misconfigured")

    def _not_found(_exc: Exception) -> Response[str]:
        if route_path(app.current_event) in known_paths:
            return _error(405, "method not allowed", headers={"Allow": "POST"})
        return _error(404, "not found")

    # Registered by call rather than as decorators: Powertools' decorators are untyped.
    app.exception_handler(SignatureError)(_forbidden)
    app.exception_handler(PayloadTooLarge)(_too_large)
    app.exception_handler(MalformedRequest)(_malformed)
    app.exception_handler([ValidationError, InvalidRequest])(_invalid)
    app.exception_handler([ClientError, BotoCoreError, SecretUnavailable, WriteConflict])(_unavailable)
    app.exception_handler(ConfigurationError)(_misconfigured)
    app.not_found(_not_found)
    return app


def _path(app: APIGatewayHttpResolver) -> str:
    return route_path(app.current_event)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):  # numbers read back from DynamoDB
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(status_code: int, body: Mapping[str, Any]) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=_json_default),
    )
