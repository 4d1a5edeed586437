"""The DynamoDB plumbing every repository shares: the item codec, one UpdateExpression builder, and one
predicate for "the write's condition did not hold" (the expected outcome of a retry or a race)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent.aws import error_code
from voiceagent.clock import iso
from voiceagent.store.keys import PK

if TYPE_CHECKING:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
    from mypy_boto3_dynamodb import DynamoDBClient


@lru_cache(maxsize=1)
def _codec() -> tuple[TypeSerializer, TypeDeserializer]:
    # boto3's DynamoDB type codec, imported on first use: importing boto3 costs ~150 ms of a cold start.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _decimals(value: Any) -> Any:
    """Floats as Decimals (boto3's serializer refuses floats: DynamoDB numbers are exact decimals)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _decimals(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals(item) for item in value]
    return value


def serialize(value: Any) -> Any:
    return _codec()[0].serialize(_decimals(value))


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values in DynamoDB's wire format; None values are left out (DynamoDB has no "unset")."""
    return {key: serialize(value) for key, value in values.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {key: deserializer.deserialize(value) for key, value in item.items()}


def condition_failed(exc: ClientError) -> bool:
    """The write's condition did not hold: a retry or a race lost, not an error."""
    return error_code(exc) == "ConditionalCheckFailedException"


class Update:
    """One UpdateExpression with placeholder names and values, so attribute names never need escaping."""

    def __init__(self, now: datetime) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        self._clauses: list[str] = []
        self._additions: list[str] = []
        self._removals: list[str] = []
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
        self._values[placeholder] = serialize(value)
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self._clauses.append(f"{self.name(attribute)} = {self.value(value)}")

    def set_raw(self, clause: str) -> None:
        """A SET clause written with this update's own ``name``/``value`` placeholders (arithmetic,
        ``list_append``)."""
        self._clauses.append(clause)

    def set_once(self, attribute: str, value: Any) -> None:
        name = self.name(attribute)
        self._clauses.append(f"{name} = if_not_exists({name}, {self.value(value)})")

    def set_facts(self, facts: Mapping[str, Any] | None) -> bool:
        """Add first-write-wins facts; returns whether there were any."""
        present = sorted((name, value) for name, value in (facts or {}).items() if value is not None)
        for name, value in present:
            self.set_once(name, value)
        return bool(present)

    def set_all(self, values: Mapping[str, Any] | None) -> bool:
        """Overwrite each non-None value; returns whether there were any."""
        present = sorted((name, value) for name, value in (values or {}).items() if value is not None)
        for name, value in present:
            self.set(name, value)
        return bool(present)

    def append(self, attribute: str, items: list[Any]) -> None:
        """Add ``items`` to the end of a list attribute (created when absent)."""
        name = self.name(attribute)
        self._clauses.append(
            f"{name} = list_append(if_not_exists({name}, {self.value([])}), {self.value(items)})"
        )

    def add(self, attribute: str, amount: int) -> None:
        self._additions.append(f"{self.name(attribute)} {self.value(amount)}")

    def remove(self, attribute: str) -> None:
        self._removals.append(self.name(attribute))

    def arguments(self) -> dict[str, Any]:
        expression = "SET " + ", ".join(self._clauses)
        if self._additions:
            expression += f" ADD {', '.join(self._additions)}"
        if self._removals:
            expression += f" REMOVE {', '.join(self._removals)}"
        return {
            "UpdateExpression": expression,
            "ExpressionAttributeNames": dict(self._names),
            "ExpressionAttributeValues": dict(self._values),
        }


class Table:
    """A repository's handle on the table: name, client, record lifetime, and the writes they all need."""

    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self.name = table_name
        self.client = client
        self.ttl = ttl

    def expiry(self, now: datetime) -> int:
        return int((now + self.ttl).timestamp())

    def get(self, key: dict[str, Any], *, consistent: bool = True) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        item = response.get("Item")
        return from_item(item) if item else None

    def put_once(self, item: dict[str, Any]) -> bool:
        """Create an item unless one with its key exists; False when it did (a retry, or a duplicate)."""
        try:
            self.client.put_item(
                TableName=self.name,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return False
        return True

    def update_if(
        self,
        key: dict[str, Any],
        update: Update,
        condition: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any] | None:
        """A conditional update: the response, or None when the condition did not hold.

        ``names`` and ``values`` are placeholders the condition uses beyond the update's own (values are
        serialised here).
        """
        arguments = update.arguments()
        arguments["ExpressionAttributeNames"].update(names or {})
        arguments["ExpressionAttributeValues"].update({k: serialize(v) for k, v in (values or {}).items()})
        try:
            response: dict[str, Any] = self.client.update_item(  # type: ignore[assignment]
                TableName=self.name, Key=key, ConditionExpression=condition, **arguments, **extra
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            return None
        return response
