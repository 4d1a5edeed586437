"""Which live WebSocket connection carries which call's stream (written on connect and disconnect only)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.calls import call_update
from voiceagent.store.dynamo import Table, from_item, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class ConnectionRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def attach(self, connection_id: str, call_uuid: str, now: datetime) -> None:
        expires = self._table.expiry(now)
        on_call = call_update(now)
        on_call.set("connection_id", connection_id)
        on_call.set_once("call_uuid", call_uuid)
        on_call.set_once(keys.TTL_ATTRIBUTE, expires)
        on_call.set_once("stream_connected_at", iso(now))
        update = on_call.arguments()
        self._table.client.transact_write_items(
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
                        "UpdateExpression": update["UpdateExpression"],
                        "ExpressionAttributeNames": update["ExpressionAttributeNames"],
                        "ExpressionAttributeValues": update["ExpressionAttributeValues"],
                    }
                },
            ]
        )

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
