"""Which live WebSocket connection carries which call's stream (written on connect and disconnect only).

A connection is attached only by a stream token that has never opened one, and only while its call is live:
the token's claim, the connection and the call's update are one transaction with those conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.calls import call_update
from voiceagent.store.dynamo import Table, from_item, to_item
from voiceagent.store.states import LIVE_STATES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AttachRefused(Exception):
    """The token already opened a connection, or its call is not live (not answered, or over)."""


class ConnectionRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def attach(self, connection_id: str, call_uuid: str, now: datetime, *, token_id: str) -> None:
        """Register the connection against its live call, claiming the token that admitted it (once)."""
        expires = self._table.expiry(now)
        on_call = call_update(now)
        on_call.set("connection_id", connection_id)
        on_call.set_once("call_uuid", call_uuid)
        on_call.set_once(keys.TTL_ATTRIBUTE, expires)
        on_call.set_once("stream_connected_at", iso(now))
        live = ", ".join(on_call.value(state.value) for state in LIVE_STATES)
        call_is_live = f"{on_call.name('state')} IN ({live})"
        update = on_call.arguments()
        _refused_on_failed_conditions(self._table.client.transact_write_items)(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": {
                            **keys.connection_key(connection_id),
                            **to_item(
                                {
                                    "call_uuid": call_uuid,
                                    "connected_at": iso(now),
                                    keys.TTL_ATTRIBUTE: expires,
                                }
                            ),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table.name,
                        "Key": keys.call_key(call_uuid),
                        "ConditionExpression": call_is_live,
                        "UpdateExpression": update["UpdateExpression"],
                        "ExpressionAttributeNames": update["ExpressionAttributeNames"],
                        "ExpressionAttributeValues": update["ExpressionAttributeValues"],
                    }
                },
                self._token_claim(call_uuid, token_id, connection_id, now),
            ]
        )

    def _token_claim(
        self, call_uuid: str, token_id: str, connection_id: str, now: datetime
    ) -> dict[str, Any]:
        """The transaction item that spends a stream token: it opens this connection and no other."""
        return {
            "Put": {
                "TableName": self._table.name,
                "Item": {
                    **keys.stream_token_key(call_uuid, token_id),
                    **to_item(
                        {
                            "connection_id": connection_id,
                            "used_at": iso(now),
                            keys.TTL_ATTRIBUTE: self._table.expiry(now),
                        }
                    ),
                },
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PK},
            }
        }

    def call_of(self, connection_id: str) -> str | None:
        """The call a live connection carries (read consistently: ``start`` follows ``$connect`` at once)."""
        call_uuid = (self._table.get(keys.connection_key(connection_id)) or {}).get("call_uuid")
        return call_uuid if isinstance(call_uuid, str) else None

    def detach(self, connection_id: str, now: datetime) -> str | None:
        """Forget the connection; clear it from its call unless a newer connection replaced it."""
        response = self._table.client.delete_item(
            TableName=self._table.name, Key=keys.connection_key(connection_id), ReturnValues="ALL_OLD"
        )
        call_uuid = from_item(response.get("Attributes") or {}).get("call_uuid")
        if not isinstance(call_uuid, str):
            return None
        update = call_update(now)
        update.set("disconnected_at", iso(now))
        update.remove("connection_id")
        self._table.update_if(
            keys.call_key(call_uuid),
            update,
            f"{update.name('connection_id')} = :conn",
            values={":conn": connection_id},
        )
        return call_uuid


_REFUSALS = {1: "the call is not live (not answered yet, or over)", 2: "the stream token was already used"}
"""Why ``attach``'s transaction was cancelled, by the position of the item whose condition failed."""


def _refused_on_failed_conditions(transact: Callable[..., Any]) -> Callable[..., Any]:
    """``transact`` raising ``AttachRefused`` when an item's condition failed; any other cancellation (a
    conflict, throttling: transient) is raised as it is."""

    def call(**arguments: Any) -> Any:
        try:
            return transact(**arguments)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            failed = [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
            if not failed:
                raise
            raise AttachRefused("; ".join(_REFUSALS.get(i, "condition failed") for i in failed)) from None

    return call
