"""A call's streams: status events (stored once each), per-stream records, and what was done each time a
stream ended while its call went on (recovery attempts and fallbacks)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.calls import call_update
from voiceagent.store.dynamo import Table, Update, from_item, to_item
from voiceagent.store.states import LIVE_STATES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class StreamRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def put_event(
        self, call_uuid: str, idempotency_key: str, attributes: Mapping[str, Any], now: datetime
    ) -> bool:
        """Store a stream status event once; False when this idempotency key was already stored."""
        item = {
            **keys.stream_event_key(call_uuid, idempotency_key),
            **to_item({**attributes, "received_at": iso(now), keys.TTL_ATTRIBUTE: self._table.expiry(now)}),
        }
        return self._table.put_once(item)

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
        update = Update(now)
        update.set_facts({**facts, "stream_id": stream_id, "call_uuid": call_uuid})
        update.set_all(overwrite)
        for name, amount in sorted(counters.items()):
            update.add(name, amount)
        update.set_once(keys.TTL_ATTRIBUTE, self._table.expiry(now))
        self._table.client.update_item(
            TableName=self._table.name, Key=keys.stream_key(call_uuid, stream_id), **update.arguments()
        )

    def get_stream(self, call_uuid: str, stream_id: str) -> dict[str, Any] | None:
        return self._table.get(keys.stream_key(call_uuid, stream_id))

    def count_stream_end(self, call_uuid: str, now: datetime) -> dict[str, Any] | None:
        """Count one more end of a stream of a known call; the call as it is now (None: no such call)."""
        update = call_update(now)
        update.add("stream_end_count", 1)
        response = self._table.update_if(
            keys.call_key(call_uuid),
            update,
            f"attribute_exists({update.name(keys.PK)})",
            ReturnValues="ALL_NEW",
        )
        return None if response is None else from_item(response["Attributes"])

    def reserve_recovery(self, call_uuid: str, max_attempts: int, now: datetime) -> int | None:
        """Count one more recovery for a live call; None when the call is over or out of attempts."""
        if max_attempts <= 0:
            return None
        update = call_update(now)
        update.add("stream_recoveries", 1)
        count, state = update.name("stream_recoveries"), update.name("state")
        condition = f"(attribute_not_exists({count}) OR {count} < :max) AND {state} IN (:s0, :s1)"
        response = self._table.update_if(
            keys.call_key(call_uuid),
            update,
            condition,
            values={":max": max_attempts, ":s0": LIVE_STATES[0].value, ":s1": LIVE_STATES[1].value},
            ReturnValues="UPDATED_NEW",
        )
        if response is None:
            return None
        return int(from_item(response["Attributes"])["stream_recoveries"])

    def mark_recovered(self, call_uuid: str, attempt: int, stream_id: str, now: datetime) -> bool:
        """A stream started after the ``attempt``-th end of a stream was answered with a reconnect: that
        recovery worked. Once per recovery (the first new stream), never for the stream that ended."""
        update = Update(now)
        update.set("recovered_at", iso(now))
        update.set("recovered_stream_id", stream_id)
        action, recovered = update.name("action"), update.name("recovered_at")
        ended = update.name("ended_stream_id")
        condition = (
            f"{action} = :reconnect AND attribute_not_exists({recovered}) AND "
            f"(attribute_not_exists({ended}) OR {ended} <> :stream)"
        )
        response = self._table.update_if(
            keys.recovery_key(call_uuid, attempt),
            update,
            condition,
            values={":reconnect": "reconnect", ":stream": stream_id},
        )
        return response is not None

    def record_recovery(
        self, call_uuid: str, attempt: int, details: Mapping[str, Any], now: datetime
    ) -> None:
        """What was done about the ``attempt``-th end of a stream (a reconnect or a fallback)."""
        self._table.client.put_item(
            TableName=self._table.name,
            Item={
                **keys.recovery_key(call_uuid, attempt),
                **to_item(
                    {
                        **details,
                        "attempt": attempt,
                        "at": iso(now),
                        keys.TTL_ATTRIBUTE: self._table.expiry(now),
                    }
                ),
            },
        )
