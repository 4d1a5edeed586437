from __future__ import annotations

from typing import Any

import pytest

from functions.media import app
from tests.support import constants as c
from tests.support.events import load_event


def test_connect_with_valid_token_registers_the_connection(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    response = app.lambda_handler(load_event("media_connect"), lambda_context)

    assert response == {"statusCode": 200}
    items = {item["pk"]: item for item in table_items()}
    assert items[f"CONN#{c.CONNECTION_ID}"]["call_uuid"] == c.CALL_UUID
    assert items[f"CALL#{c.CALL_UUID}"]["connection_id"] == c.CONNECTION_ID


@pytest.mark.parametrize(
    "name", ["media_connect_expired_token", "media_connect_forged_token", "media_connect_missing_token"]
)
def test_connect_with_bad_token_is_rejected_and_stores_nothing(
    name: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert app.lambda_handler(load_event(name), lambda_context) == {"statusCode": 403}
    assert table_items() == []


def test_disconnect_removes_the_connection_from_its_call(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    app.lambda_handler(load_event("media_connect"), lambda_context)
    response = app.lambda_handler(load_event("media_disconnect"), lambda_context)

    assert response == {"statusCode": 200}
    (call,) = table_items()
    assert "connection_id" not in call
    assert "disconnected_at" in call


def test_disconnect_keeps_a_newer_connection(aws_stack: Any, lambda_context: Any, table_items: Any) -> None:
    app.lambda_handler(load_event("media_connect"), lambda_context)
    newer = load_event("media_connect")
    newer["requestContext"]["connectionId"] = "NewerConn0000="
    app.lambda_handler(newer, lambda_context)

    app.lambda_handler(load_event("media_disconnect"), lambda_context)

    calls = [item for item in table_items() if item["pk"].startswith("CALL#")]
    assert calls[0]["connection_id"] == "NewerConn0000="


def test_disconnect_of_unknown_connection_is_harmless(
    aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert app.lambda_handler(load_event("media_disconnect"), lambda_context) == {"statusCode": 200}
    assert table_items() == []


@pytest.mark.parametrize("name", ["media_frame_unparsed", "media_frame_malformed"])
def test_frames_are_acknowledged_without_writes(
    name: str, aws_stack: Any, lambda_context: Any, table_items: Any
) -> None:
    assert app.lambda_handler(load_event(name), lambda_context) == {"statusCode": 200}
    assert table_items() == []
