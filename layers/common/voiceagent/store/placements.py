"""Placements: the calls we asked Plivo for, known by our own id until the answer webhook gives a CallUUID.

Each placement is listed in the ``ByTime`` index under the day it was placed, and once Plivo answers the
create with a RequestUUID a pointer item leads from that id back to the placement, so a call can be found by
any id the user was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import Table, Update, from_item, serialize, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AlreadyExists(Exception):
    """A record that must be created once already exists."""


Position = dict[str, str]
"""Where a listing stopped: the index and table keys of the last placement read (plain strings)."""
_POSITION_ATTRIBUTES = (keys.PK, keys.SK, keys.LIST_PK, keys.LIST_SK)


@dataclass(frozen=True)
class ListedDay:
    """One page of one day's placements, newest first; ``last`` is where to go on within the day."""

    placements: list[dict[str, Any]]
    last: Position | None


class PlacementRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def create(self, placement_id: str, record: Mapping[str, Any], now: datetime) -> None:
        item = {
            **keys.placement_key(placement_id),
            **to_item(
                {
                    **record,
                    "placement_id": placement_id,
                    "placed_at": iso(now),
                    "updated_at": iso(now),
                    keys.TTL_ATTRIBUTE: self._table.expiry(now),
                    **keys.list_attributes(iso(now), placement_id),
                }
            ),
        }
        if not self._table.put_once(item):
            raise AlreadyExists(placement_id)

    def update(self, placement_id: str, now: datetime, **values: Any) -> None:
        """Overwrite values of a placement. When it gets its RequestUUID, the pointer from that id back to
        the placement is written first, so a report by RequestUUID works as soon as anyone has the id."""
        if values.get("request_uuid"):
            self._table.client.put_item(
                TableName=self._table.name,
                Item={
                    **keys.request_key(str(values["request_uuid"])),
                    **to_item({"placement_id": placement_id, keys.TTL_ATTRIBUTE: self._table.expiry(now)}),
                },
            )
        update = Update(now)
        update.set_all(values)
        self._table.update_if(
            keys.placement_key(placement_id), update, "attribute_exists(#pk)", names={"#pk": keys.PK}
        )

    def hold(self, placement_id: str, now: datetime) -> bool:
        """A prepared placement is not sent after all (its pacing tick passed): ``placed`` → ``not_sent``.
        Only the dialer that prepared it, and decided not to send, calls this."""
        return self._move(placement_id, "placed", "not_sent", now)

    def rearm(self, placement_id: str, now: datetime) -> bool:
        """A held placement will be sent on a new tick: ``not_sent`` → ``placed`` (for one dialer only)."""
        return self._move(placement_id, "not_sent", "placed", now)

    def release(self, placement_id: str, now: datetime) -> bool:
        """A placement in doubt (armed or unconfirmed) that Plivo lists no call for was never sent:
        ``placed``/``unconfirmed`` → ``not_sent``, so it can be sent (once) after all."""
        return any(self._move(placement_id, doubt, "not_sent", now) for doubt in ("placed", "unconfirmed"))

    def _move(self, placement_id: str, expected: str, state: str, now: datetime) -> bool:
        update = Update(now)
        update.set("state", state)
        condition = f"{update.name('state')} = :expected"
        return (
            self._table.update_if(
                keys.placement_key(placement_id), update, condition, values={":expected": expected}
            )
            is not None
        )

    def link(self, placement_id: str, call_uuid: str, now: datetime) -> None:
        """Note which Plivo call a placement became (first link wins; unknown placements are ignored).

        A placement whose create was ``unconfirmed`` (Plivo may or may not have had it) is now ``confirmed``:
        a webhook carrying its id proves Plivo placed it.
        """
        update = Update(now)
        update.set_once("call_uuid", call_uuid)
        self._table.update_if(
            keys.placement_key(placement_id), update, "attribute_exists(#pk)", names={"#pk": keys.PK}
        )
        confirm = Update(now)
        confirm.set("state", "confirmed")
        confirm.set("confirmed_at", iso(now))
        self._table.update_if(
            keys.placement_key(placement_id),
            confirm,
            f"{confirm.name('state')} = :unconfirmed",
            values={":unconfirmed": "unconfirmed"},
        )

    def get(self, placement_id: str) -> dict[str, Any] | None:
        return self._table.get(keys.placement_key(placement_id))

    def by_request(self, request_uuid: str) -> dict[str, Any] | None:
        """The placement Plivo gave this RequestUUID (None when no placement of ours got it)."""
        pointer = self._table.get(keys.request_key(request_uuid))
        return self.get(str(pointer["placement_id"])) if pointer else None

    def list_day(
        self, day: date, since: str, until: str, *, limit: int, after: Position | None = None
    ) -> ListedDay:
        """Placements of one UTC day placed from ``since`` to ``until`` (ISO times), newest first."""
        arguments: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": keys.LIST_INDEX,
            "KeyConditionExpression": "#lpk = :day AND #lsk BETWEEN :since AND :until",
            "ExpressionAttributeNames": {"#lpk": keys.LIST_PK, "#lsk": keys.LIST_SK},
            "ExpressionAttributeValues": {
                ":day": serialize(keys.list_partition(day)),
                ":since": serialize(since),
                ":until": serialize(until + "~"),  # "~" sorts after the "#<id>" that follows the time
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            arguments["ExclusiveStartKey"] = {name: serialize(after[name]) for name in _POSITION_ATTRIBUTES}
        page = self._table.client.query(**arguments)
        last = page.get("LastEvaluatedKey")
        return ListedDay(
            [from_item(item) for item in page.get("Items", [])],
            {name: str(value) for name, value in from_item(last).items()} if last else None,
        )

    @staticmethod
    def position(placement: Mapping[str, Any]) -> Position:
        """Where a listing that stopped after ``placement`` goes on from."""
        return {name: str(placement[name]) for name in _POSITION_ATTRIBUTES}

    @staticmethod
    def valid_position(position: object) -> bool:
        """Whether ``position`` has the shape ``position`` gives (a cursor read back from a client)."""
        return (
            isinstance(position, dict)
            and set(position) == set(_POSITION_ATTRIBUTES)
            and all(isinstance(value, str) and 0 < len(value) <= 200 for value in position.values())
        )
