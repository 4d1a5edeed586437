"""URLs of Plivo's REST API as the SDK calls them, for intercepting with `responses`."""

from __future__ import annotations

import json
from typing import Any

import responses

from tests.support import constants as c

ACCOUNT = f"https://api.plivo.com/v1/Account/{c.TEST_AUTH_ID}"
CREATE_CALL = f"{ACCOUNT}/Call/"


def call_url(call_uuid: str = c.CALL_UUID) -> str:
    return f"{ACCOUNT}/Call/{call_uuid}/"


def requests_to(mock: responses.RequestsMock, method: str, url: str) -> list[Any]:
    return [call.request for call in mock.calls if call.request.method == method and call.request.url == url]


def json_body(request: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.body)
    return body


def created(request_uuid: str = c.REQUEST_UUID) -> dict[str, Any]:
    return {
        "api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb",
        "message": "call fired",
        "request_uuid": request_uuid,
    }
