"""Live stream connections: which call a WebSocket connection carries, and the stream's state between frames.

One item per connection (``CONN#<connectionId>``). ``$connect`` attaches it only with a stream token that has
never opened one, and only while its call is live: the token's claim, the connection and the call's update
are one transaction with those conditions. Every frame reads it (one strongly consistent read: the frame that
follows ``$connect`` by milliseconds must see it) and writes it back only when it changed the stream's state —
with a condition on the version it read, so two frames of one call in flight on two containers never both
act. Side effects a frame commits to (frames to Plivo, a REST hangup) are written with the state as *outbox*
entries, so a container that dies before carrying them out leaves them for the next frame to finish. Machine
detection asks for a voicemail here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.calls import call_update
from voiceagent.store.dynamo import Table, Update, condition_failed, from_item, serialize, to_item
from voiceagent.store.states import LIVE_STATES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OUTBOX_PREFIX = "ob_"
"""Outbox entries are top-level attributes ``ob_<version>``: added with the state that decided them,
removed by whoever carried them out, never rewritten by a later state write."""

# The state and outbox entries are stored as compact JSON strings, not DynamoDB maps: the same size and price,
# and nothing ever reads or updates a part of them, while maps cost every frame a deeper (de)serialisation.


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else {}


@dataclass(frozen=True)
class OutboxEntry:
    version: int
    actions: list[dict[str, Any]]
    created_ms: int
    """Wall time (epoch ms) the entry was written or last claimed: a lease for whoever carries it out."""

    @property
    def attribute(self) -> str:
        return f"{OUTBOX_PREFIX}{self.version}"


@dataclass(frozen=True)
class ConnectionRecord:
    connection_id: str
    call_uuid: str
    version: int
    state: dict[str, Any]
    voicemail_requested_at: str | None = None
    outbox: list[OutboxEntry] = field(default_factory=list)
    last_sent: int = 0
    """The version of the newest outbox entry whose frames reached Plivo: an older entry left by a dead
    container would now be heard out of order."""


def _record(connection_id: str, item: dict[str, Any]) -> ConnectionRecord | None:
    call_uuid = item.get("call_uuid")
    if not isinstance(call_uuid, str):
        return None
    outbox = []
    for name, value in item.items():
        if name.startswith(OUTBOX_PREFIX):
            entry = _load(value)
            outbox.append(
                OutboxEntry(
                    int(name[len(OUTBOX_PREFIX) :]), list(entry.get("actions") or []), int(entry.get("at", 0))
                )
            )
    return ConnectionRecord(
        connection_id=connection_id,
        call_uuid=call_uuid,
        version=int(item.get("version", 0)),
        state=dict(_load(item.get("state"))),
        voicemail_requested_at=item.get("voicemail_requested_at"),
        outbox=sorted(outbox, key=lambda entry: entry.version),
        last_sent=int(item.get("last_sent", 0)),
    )


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
                                    "version": 0,
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

    def load(self, connection_id: str) -> ConnectionRecord | None:
        """The connection and its stream's state, read consistently; None for an unknown connection."""
        item = self._table.get(keys.connection_key(connection_id))
        return _record(connection_id, item) if item else None

    def call_of(self, connection_id: str) -> str | None:
        record = self.load(connection_id)
        return record.call_uuid if record else None

    def save_state(
        self, record: ConnectionRecord, state: dict[str, Any], outbox: list[dict[str, Any]], now: datetime
    ) -> tuple[bool, ConnectionRecord | None]:
        """Write the stream's next state, and the actions it commits to, if nobody wrote since ``record`` was
        read. Returns (True, the record as written), or (False, the record as it is now) when another frame
        or machine detection wrote first — no second read needed to try again; (False, None) when the
        connection is gone."""
        version = record.version + 1
        update = Update(now)
        update.set("state", _dump(state))
        update.set("version", version)
        if outbox:
            update.set(f"{OUTBOX_PREFIX}{version}", _dump({"actions": outbox, "at": _epoch_ms(now)}))
        arguments = update.arguments()
        arguments["ExpressionAttributeValues"][":read"] = serialize(record.version)
        try:
            response = self._table.client.update_item(
                TableName=self._table.name,
                Key=keys.connection_key(record.connection_id),
                ConditionExpression=f"{update.name('version')} = :read",
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **arguments,
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            current: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return False, (_record(record.connection_id, from_item(current)) if current else None)
        return True, _record(record.connection_id, from_item(response.get("Attributes") or {}))

    def clear_outbox(self, connection_id: str, entry: OutboxEntry, now: datetime, *, sent: bool) -> None:
        """The entry's actions were carried out: forget it (harmless if it is already gone); ``sent``: frames
        went to Plivo, so the stream's audio is now this entry's."""
        update = Update(now)
        update.remove(entry.attribute)
        if sent:
            update.set("last_sent", entry.version)
        self._table.update_if(
            keys.connection_key(connection_id), update, f"attribute_exists({update.name(entry.attribute)})"
        )

    def claim_outbox(self, connection_id: str, entry: OutboxEntry, now: datetime) -> bool:
        """Take over an entry whose owner stopped before carrying it out; True for exactly one caller."""
        update = Update(now)
        update.set(entry.attribute, _dump({"actions": entry.actions, "at": _epoch_ms(now)}))
        response = self._table.update_if(
            keys.connection_key(connection_id),
            update,
            f"{update.name(entry.attribute)} = :seen",
            values={":seen": _dump({"actions": entry.actions, "at": entry.created_ms})},
        )
        return response is not None

    def request_voicemail(self, connection_id: str, now: datetime) -> bool:
        """Ask the stream on this connection to leave a voicemail (machine detection, agent policy). Bumps
        the version, so a frame that read the state before this cannot write over it. False when the
        connection is gone."""
        update = Update(now)
        update.set_once("voicemail_requested_at", iso(now))
        update.add("version", 1)
        response = self._table.update_if(
            keys.connection_key(connection_id), update, "attribute_exists(#pk)", names={"#pk": keys.PK}
        )
        return response is not None

    def detach(self, connection_id: str, now: datetime) -> ConnectionRecord | None:
        """Forget the connection; clear it from its call unless a newer connection replaced it. Returns what
        the connection held (its call and final stream state), or None if it was unknown."""
        response = self._table.client.delete_item(
            TableName=self._table.name, Key=keys.connection_key(connection_id), ReturnValues="ALL_OLD"
        )
        old = _record(connection_id, from_item(response.get("Attributes") or {}))
        if old is None:
            return None
        call_uuid = old.call_uuid
        update = call_update(now)
        update.set("disconnected_at", iso(now))
        update.remove("connection_id")
        self._table.update_if(
            keys.call_key(call_uuid),
            update,
            f"{update.name('connection_id')} = :conn",
            values={":conn": connection_id},
        )
        return old


def _epoch_ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


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
