"""Placements: the calls we asked Plivo for, known by our own id until the answer webhook gives a CallUUID."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import Table, Update, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class AlreadyExists(Exception):
    """A record that must be created once already exists."""


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
                }
            ),
        }
        if not self._table.put_once(item):
            raise AlreadyExists(placement_id)

    def update(self, placement_id: str, now: datetime, **values: Any) -> None:
        update = Update(now)
        update.set_all(values)
        self._table.update_if(
            keys.placement_key(placement_id), update, "attribute_exists(#pk)", names={"#pk": keys.PK}
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
