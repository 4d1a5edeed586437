"""Call state in DynamoDB: the only module that knows the table's key shapes.

One table, partitioned by call: the call record, and later its stream records and timeline events, share the
partition ``CALL#<CallUUID>`` so a call's whole history is one Query. Every item has ``expires_at`` (TTL).
Writes that change state are conditional (see ``states``), so retried or out-of-order webhooks are safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent import aws
from voiceagent.clock import iso
from voiceagent.settings import get_settings
from voiceagent.states import ALLOWED_FROM, CallState

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from mypy_boto3_dynamodb import DynamoDBClient

    from voiceagent.stream_health import StreamEvent

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
CALL_SK = "CALL"


@lru_cache(maxsize=1)
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    # boto3's DynamoDB type codec, imported on first use: importing boto3 costs ~150 ms of a cold start.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _serialize(value: Any) -> Any:
    return _codec()[0].serialize(value)


def call_key(call_uuid: str) -> dict[str, Any]:
    return {PK: {"S": f"CALL#{call_uuid}"}, SK: {"S": CALL_SK}}


def placement_key(placement_id: str) -> dict[str, Any]:
    return {PK: {"S": f"PLACEMENT#{placement_id}"}, SK: {"S": "PLACEMENT"}}


class AlreadyExists(Exception):
    """A record that must be created once already exists."""


@dataclass(frozen=True)
class Transition:
    """Outcome of a state change: whether this request moved the call, and the state it found."""

    applied: bool
    previous: CallState | None
    current: CallState | None
    previous_item: dict[str, Any] = field(default_factory=dict)
    """The call as it was before this write (what an applied transition replaced, or what blocked it)."""


def _to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serialize(value) for key, value in values.items() if value is not None}


def _from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def _condition_failed(exc: ClientError) -> bool:
    """The write's condition did not hold: the expected outcome of a retry or a race, not an error."""
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _state_of(item: Mapping[str, Any] | None) -> CallState | None:
    raw = (item or {}).get("state", {}).get("S")
    return CallState(raw) if raw else None


class CallRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = table_name
        self._client = client
        self._ttl = ttl

    def _expiry(self, now: datetime) -> int:
        return int((now + self._ttl).timestamp())

    def get_call(self, call_uuid: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=call_key(call_uuid), ConsistentRead=True)
        item = response.get("Item")
        return _from_item(item) if item else None

    def transition(
        self, call_uuid: str, target: CallState, now: datetime, facts: Mapping[str, Any] | None = None
    ) -> Transition:
        """Move the call to ``target`` if its state allows it; record ``facts`` either way.

        Facts are first-write-wins (``if_not_exists``): a retried webhook cannot overwrite what the first
        delivery recorded, and a late one still adds what it knows without moving the state back.
        """
        move = _Update(now)
        move.set("state", target.value)
        move.set_once(f"{target.value}_at", iso(now))
        move.set("call_uuid", call_uuid)
        move.set(TTL_ATTRIBUTE, self._expiry(now))
        move.set_facts(facts)
        allowed = [move.value(state.value) for state in sorted(ALLOWED_FROM[target])]
        condition = f"attribute_not_exists({move.name('state')})"
        if allowed:
            condition += f" OR {move.name('state')} IN ({', '.join(allowed)})"
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=call_key(call_uuid),
                ConditionExpression=condition,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **move.arguments(),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            blocking: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
        else:
            old = response.get("Attributes") or {}
            return Transition(True, _state_of(old), target, _from_item(old))
        current = _state_of(blocking)
        # Not allowed to move: keep what this webhook knows without touching the state.
        self.update_call(call_uuid, now, facts=facts)
        return Transition(False, current, current, _from_item(blocking))

    def _put_once(self, item: dict[str, Any]) -> bool:
        """Create an item unless one with its key exists; False when it did (a retry, or a duplicate)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True

    def update_call(
        self,
        call_uuid: str,
        now: datetime,
        *,
        facts: Mapping[str, Any] | None = None,
        overwrite: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record facts without changing the state: ``facts`` are first-write-wins, ``overwrite`` always wins.

        Returns False (and writes nothing) when there is nothing to record.
        """
        update = _Update(now)
        has_facts = update.set_facts(facts)
        present = {name: value for name, value in (overwrite or {}).items() if value is not None}
        for name, value in sorted(present.items()):
            update.set(name, value)
        if not has_facts and not present:
            return False
        update.set_once(TTL_ATTRIBUTE, self._expiry(now))
        update.set_once("call_uuid", call_uuid)
        self._client.update_item(TableName=self._table, Key=call_key(call_uuid), **update.arguments())
        return True

    def claim_stale_action(
        self, call_uuid: str, status_attribute: str, claimed_attribute: str, stale_before: str, now: datetime
    ) -> bool:
        """Take over a pending side effect whose owner stopped before finishing (e.g. a Lambda timed out).

        Succeeds for exactly one caller, and only while the action is still pending and its claim is older
        than ``stale_before``; everyone else sees False and must not act.
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key=call_key(call_uuid),
                UpdateExpression="SET #claimed = :now, #updated = :now",
                ConditionExpression="#status = :pending AND #claimed < :stale",
                ExpressionAttributeNames={
                    "#claimed": claimed_attribute,
                    "#status": status_attribute,
                    "#updated": "updated_at",
                },
                ExpressionAttributeValues=_to_item(
                    {":now": iso(now), ":pending": "pending", ":stale": stale_before}
                ),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True

    def replace_if(self, call_uuid: str, attribute: str, expected: Any, value: Any, now: datetime) -> bool:
        """Set ``attribute`` to ``value`` only while it still equals ``expected`` (compare-and-set)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=call_key(call_uuid),
                UpdateExpression="SET #attr = :value, #updated = :now",
                ConditionExpression="#attr = :expected",
                ExpressionAttributeNames={"#attr": attribute, "#updated": "updated_at"},
                ExpressionAttributeValues=_to_item(
                    {":value": value, ":expected": expected, ":now": iso(now)}
                ),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return False
        return True

    # ------------------------------------------------------------------ streams of a call

    def put_stream_event(self, event: StreamEvent, now: datetime) -> bool:
        """Store a stream status event once; False when this (stream, event, timestamp) was already stored."""
        item = {
            PK: {"S": f"CALL#{event.call_uuid}"},
            SK: {"S": f"STREAMEVENT#{event.idempotency_key}"},
            **_to_item(
                {
                    "kind": event.kind.value,
                    "plivo_event": event.plivo_event,
                    "stream_id": event.stream_id,
                    "at": iso(event.at),
                    "parameters": event.parameters,
                    "received_at": iso(now),
                    TTL_ATTRIBUTE: self._expiry(now),
                }
            ),
        }
        return self._put_once(item)

    def update_stream(
        self,
        call_uuid: str,
        stream_id: str,
        now: datetime,
        *,
        facts: Mapping[str, Any],
        overwrite: Mapping[str, Any],
        counters: Mapping[str, int],
    ) -> None:
        update = _Update(now)
        update.set_facts({**facts, "stream_id": stream_id, "call_uuid": call_uuid})
        for name, value in sorted(overwrite.items()):
            if value is not None:
                update.set(name, value)
        for name, amount in sorted(counters.items()):
            update.add(name, amount)
        update.set_once(TTL_ATTRIBUTE, self._expiry(now))
        self._client.update_item(
            TableName=self._table,
            Key={PK: {"S": f"CALL#{call_uuid}"}, SK: {"S": f"STREAM#{stream_id}"}},
            **update.arguments(),
        )

    def reserve_stream_recovery(self, call_uuid: str, max_attempts: int, now: datetime) -> int | None:
        """Count one more recovery for a live call; None when the call is over or out of attempts."""
        live = sorted(state.value for state in (CallState.ANSWERED, CallState.MACHINE_DETECTED))
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=call_key(call_uuid),
                UpdateExpression="SET #updated = :now ADD #count :one",
                ConditionExpression=(
                    "(attribute_not_exists(#count) OR #count < :max) AND #state IN (:s0, :s1)"
                ),
                ExpressionAttributeNames={
                    "#count": "stream_recoveries",
                    "#updated": "updated_at",
                    "#state": "state",
                },
                ExpressionAttributeValues=_to_item(
                    {":now": iso(now), ":one": 1, ":max": max_attempts, ":s0": live[0], ":s1": live[1]}
                ),
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
            return None
        return int(_from_item(response["Attributes"])["stream_recoveries"])

    def record_stream_recovery(
        self, call_uuid: str, attempt: int, details: Mapping[str, Any], now: datetime
    ) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                PK: {"S": f"CALL#{call_uuid}"},
                SK: {"S": f"RECOVERY#{attempt:03d}"},
                **_to_item({**details, "attempt": attempt, "at": iso(now), TTL_ATTRIBUTE: self._expiry(now)}),
            },
        )

    def call_items(self, call_uuid: str) -> list[dict[str, Any]]:
        """Every item of a call's partition: the call, its streams, stream events and recoveries."""
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": PK},
            "ExpressionAttributeValues": {":pk": {"S": f"CALL#{call_uuid}"}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            items.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ placements (calls we asked Plivo for)

    def create_placement(self, placement_id: str, record: Mapping[str, Any], now: datetime) -> None:
        item = {
            **placement_key(placement_id),
            **_to_item(
                {
                    **record,
                    "placement_id": placement_id,
                    "placed_at": iso(now),
                    "updated_at": iso(now),
                    TTL_ATTRIBUTE: self._expiry(now),
                }
            ),
        }
        if not self._put_once(item):
            raise AlreadyExists(placement_id)

    def update_placement(self, placement_id: str, now: datetime, **values: Any) -> None:
        update = _Update(now)
        for name, value in sorted(values.items()):
            if value is not None:
                update.set(name, value)
        self._client.update_item(
            TableName=self._table,
            Key=placement_key(placement_id),
            ConditionExpression="attribute_exists(#pk)",
            **_with_name(update.arguments(), "#pk", PK),
        )

    def link_placement(self, placement_id: str, call_uuid: str, now: datetime) -> None:
        """Note which Plivo call a placement became (first link wins; unknown placements are ignored)."""
        update = _Update(now)
        update.set_once("call_uuid", call_uuid)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=placement_key(placement_id),
                ConditionExpression="attribute_exists(#pk)",
                **_with_name(update.arguments(), "#pk", PK),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise

    def get_placement(self, placement_id: str) -> dict[str, Any] | None:
        response = self._client.get_item(
            TableName=self._table, Key=placement_key(placement_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _from_item(item) if item else None


def _with_name(arguments: dict[str, Any], placeholder: str, attribute: str) -> dict[str, Any]:
    return {
        **arguments,
        "ExpressionAttributeNames": {**arguments["ExpressionAttributeNames"], placeholder: attribute},
    }


class _Update:
    """One UpdateExpression with placeholder names and values, so attribute names never need escaping."""

    def __init__(self, now: datetime) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        self._clauses: list[str] = []
        self._additions: list[str] = []
        self.set("updated_at", iso(now))

    def name(self, attribute: str) -> str:
        for placeholder, existing in self._names.items():
            if existing == attribute:
                return placeholder
        placeholder = f"#n{len(self._names)}"
        self._names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = _serialize(value)
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self._clauses.append(f"{self.name(attribute)} = {self.value(value)}")

    def set_once(self, attribute: str, value: Any) -> None:
        name = self.name(attribute)
        self._clauses.append(f"{name} = if_not_exists({name}, {self.value(value)})")

    def set_facts(self, facts: Mapping[str, Any] | None) -> bool:
        """Add first-write-wins facts; returns whether there were any."""
        present = sorted((name, value) for name, value in (facts or {}).items() if value is not None)
        for name, value in present:
            self.set_once(name, value)
        return bool(present)

    def add(self, attribute: str, amount: int) -> None:
        self._additions.append(f"{self.name(attribute)} {self.value(amount)}")

    def arguments(self) -> dict[str, Any]:
        additions = f" ADD {', '.join(self._additions)}" if self._additions else ""
        return {
            "UpdateExpression": "SET " + ", ".join(self._clauses) + additions,
            "ExpressionAttributeNames": self._names,
            "ExpressionAttributeValues": self._values,
        }


def call_repository() -> CallRepository:
    settings = get_settings()
    return CallRepository(
        table_name=settings.calls_table_name,
        client=aws.dynamodb(),
        ttl=timedelta(days=settings.record_ttl_days),
    )


def connection_key(connection_id: str) -> dict[str, Any]:
    return {PK: {"S": f"CONN#{connection_id}"}, SK: {"S": "CONN"}}


class ConnectionRepository:
    """Which live WebSocket connection carries which call's stream (written on connect/disconnect only)."""

    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = table_name
        self._client = client
        self._ttl = ttl

    def attach(self, connection_id: str, call_uuid: str, now: datetime) -> None:
        expires = int((now + self._ttl).timestamp())
        on_call = _Update(now)
        on_call.set("connection_id", connection_id)
        on_call.set_once("call_uuid", call_uuid)
        on_call.set_once(TTL_ATTRIBUTE, expires)
        on_call.set_once("stream_connected_at", iso(now))
        update = on_call.arguments()
        self._client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **connection_key(connection_id),
                            **_to_item(
                                {
                                    "call_uuid": call_uuid,
                                    "connected_at": iso(now),
                                    TTL_ATTRIBUTE: expires,
                                }
                            ),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": call_key(call_uuid),
                        "UpdateExpression": update["UpdateExpression"],
                        "ExpressionAttributeNames": update["ExpressionAttributeNames"],
                        "ExpressionAttributeValues": update["ExpressionAttributeValues"],
                    }
                },
            ]
        )

    def call_of(self, connection_id: str) -> str | None:
        """The call a live connection carries (a cold container's first frame of a connection asks this)."""
        response = self._client.get_item(TableName=self._table, Key=connection_key(connection_id))
        call_uuid = _from_item(response.get("Item") or {}).get("call_uuid")
        return call_uuid if isinstance(call_uuid, str) else None

    def detach(self, connection_id: str, now: datetime) -> str | None:
        """Forget the connection; clear it from its call unless a newer connection replaced it."""
        response = self._client.delete_item(
            TableName=self._table, Key=connection_key(connection_id), ReturnValues="ALL_OLD"
        )
        old = _from_item(response.get("Attributes") or {})
        call_uuid = old.get("call_uuid")
        if not isinstance(call_uuid, str):
            return None
        try:
            self._client.update_item(
                TableName=self._table,
                Key=call_key(call_uuid),
                UpdateExpression="REMOVE #conn SET #updated = :now, #disconnected = :now",
                ConditionExpression="#conn = :conn",
                ExpressionAttributeNames={
                    "#conn": "connection_id",
                    "#updated": "updated_at",
                    "#disconnected": "disconnected_at",
                },
                ExpressionAttributeValues=_to_item({":conn": connection_id, ":now": iso(now)}),
            )
        except ClientError as exc:
            if not _condition_failed(exc):
                raise
        return call_uuid


def connection_repository() -> ConnectionRepository:
    settings = get_settings()
    return ConnectionRepository(
        table_name=settings.calls_table_name,
        client=aws.dynamodb(),
        ttl=timedelta(days=settings.record_ttl_days),
    )
