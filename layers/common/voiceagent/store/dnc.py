"""The do-not-call list: numbers (E.164) that no campaign ever dials, in a table of their own.

Its own table because it outlives campaigns and calls (no TTL, kept when the stack is deleted) and because
whoever manages it needs no access to call records. Checked when a list is uploaded and again at dial time,
so a number added while a campaign runs is never dialled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import from_item, serialize, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_BATCH_ROUNDS = 5


class DoNotCallRepository:
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self._name = table_name
        self._client = client

    def add(self, numbers: Iterable[str], now: datetime, *, reason: str | None, added_by: str) -> int:
        """Add numbers (adding one already listed refreshes it); how many were written."""
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **keys.dnc_key(number),
                        **to_item({"added_at": iso(now), "added_by": added_by, "reason": reason}),
                    }
                }
            }
            for number in dict.fromkeys(numbers)
        ]
        self._write(requests)
        return len(requests)

    def remove(self, number: str) -> bool:
        """Take a number off the list; False when it was not on it."""
        response = self._client.delete_item(
            TableName=self._name, Key=keys.dnc_key(number), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def listed(self, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` are on the list (strongly consistent: an addition a moment ago counts)."""
        wanted = list(dict.fromkeys(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), 100):
            pending: dict[str, Any] = {
                self._name: {
                    "Keys": [keys.dnc_key(number) for number in wanted[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            for _ in range(_BATCH_ROUNDS):
                response = self._client.batch_get_item(RequestItems=pending)
                found.update(
                    str(from_item(item)[keys.DNC_NUMBER]) for item in response["Responses"][self._name]
                )
                pending = dict(response.get("UnprocessedKeys") or {})
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB kept do-not-call keys unprocessed (throttled): try again")
        return found

    def page(self, limit: int, after: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the list (a scan: the table holds nothing else), and where the next one starts."""
        arguments: dict[str, Any] = {"TableName": self._name, "Limit": limit}
        if after:
            arguments["ExclusiveStartKey"] = {keys.DNC_NUMBER: serialize(after)}
        response = self._client.scan(**arguments)
        last = response.get("LastEvaluatedKey")
        entries = sorted(
            (from_item(item) for item in response.get("Items", [])), key=lambda e: e[keys.DNC_NUMBER]
        )
        return entries, str(from_item(last)[keys.DNC_NUMBER]) if last else None

    def _write(self, requests: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._name: requests[start : start + 25]}
            for _ in range(8):
                response = self._client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB kept do-not-call writes unprocessed (throttled): try again")
