"""Remembered webhook nonces: which signed Plivo requests already took effect, and what they were answered.

Plivo's V3 signatures carry a nonce but no time, so a captured request stays valid forever. A nonce is
remembered only once its request has succeeded, together with the response it got: a replay (or a Plivo
retry that reuses the nonce) is answered with that very response — the same XML, never a fresh stream token
or a second action — while a request that failed is not remembered, so Plivo's retry of it still runs.
Items live as long as call records (the table's TTL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import Table, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class StoredAnswer:
    """The response a request got the first time."""

    status_code: int
    content_type: str
    body: str


class NonceRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def answer_for(self, nonce: str, route: str) -> StoredAnswer | None:
        """The response of the request that first used ``nonce`` on ``route``; None if none took effect."""
        item = self._table.get(keys.nonce_key(nonce, route))
        if item is None:
            return None
        return StoredAnswer(int(item["status_code"]), str(item["content_type"]), str(item.get("body", "")))

    def remember(self, nonce: str, route: str, answer: StoredAnswer, now: datetime) -> bool:
        """Remember a request that took effect; False when its nonce was already remembered (a race)."""
        item: dict[str, Any] = {
            **keys.nonce_key(nonce, route),
            **to_item(
                {
                    "status_code": answer.status_code,
                    "content_type": answer.content_type,
                    "body": answer.body,
                    "remembered_at": iso(now),
                    keys.TTL_ATTRIBUTE: self._table.expiry(now),
                }
            ),
        }
        return self._table.put_once(item)
