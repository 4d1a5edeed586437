"""The call record: reads, state transitions and facts, all conditional where they decide something.

Writes that change state are conditional (see ``states``), so retried or out-of-order webhooks are safe:
facts are first-write-wins, and a transition happens for exactly one delivery.

Every write to the call record bumps its ``version`` (``call_update``; other repositories that touch the
record use it too). A fact derived from the record — the outcome, computed when the call completes — is
written with ``transition_derived``: conditioned on the version it was derived from, and derived again if
another write got in between, so it always agrees with the record it is written into.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import Table, Update, condition_failed, from_item, to_item
from voiceagent.store.states import ALLOWED_FROM, CallState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

VERSION = "version"
"""Bumped by every write to a call record."""
MAX_DERIVED_ATTEMPTS = 5
_ANY_VERSION = object()


class WriteConflict(RuntimeError):
    """Other writes kept changing the call while a derived fact was being written: try again later."""


def call_update(now: datetime) -> Update:
    """An update of a call record: every one bumps the record's version."""
    update = Update(now)
    update.add(VERSION, 1)
    return update


_BATCH_ROUNDS = 5
"""BatchGetItem rounds for keys DynamoDB left unprocessed (throttling) before giving up on them."""


@dataclass(frozen=True)
class Transition:
    """Outcome of a state change: whether this request moved the call, and the state it found."""

    applied: bool
    previous: CallState | None
    current: CallState | None
    previous_item: dict[str, Any] = field(default_factory=dict)
    """The call as it was before this write (what an applied transition replaced, or what blocked it)."""


@dataclass(frozen=True)
class CallHistory:
    """Everything stored under a call: the record, its streams, their status events, recovery attempts."""

    call: dict[str, Any]
    streams: list[dict[str, Any]]
    stream_events: list[dict[str, Any]]
    recoveries: list[dict[str, Any]]
    agent_events: list[dict[str, Any]] = field(default_factory=list)


def _state_of(item: Mapping[str, Any] | None) -> CallState | None:
    raw = (item or {}).get("state", {}).get("S")
    return CallState(raw) if raw else None


class CallRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    def get_call(self, call_uuid: str) -> dict[str, Any] | None:
        return self._table.get(keys.call_key(call_uuid))

    def get_many(self, call_uuids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Call records by CallUUID (at most 100 per request; calls not stored are left out)."""
        found: dict[str, dict[str, Any]] = {}
        pending: dict[str, Any] = {
            self._table.name: {"Keys": [keys.call_key(uuid) for uuid in dict.fromkeys(call_uuids)]}
        }
        for _ in range(_BATCH_ROUNDS):
            if not pending or not pending[self._table.name]["Keys"]:
                break
            response = self._table.client.batch_get_item(RequestItems=pending)
            for item in response.get("Responses", {}).get(self._table.name, []):
                call = from_item(item)
                if call.get("call_uuid"):  # every write of a call record sets it
                    found[str(call["call_uuid"])] = call
            pending = dict(response.get("UnprocessedKeys") or {})
        return found

    def transition(
        self, call_uuid: str, target: CallState, now: datetime, facts: Mapping[str, Any] | None = None
    ) -> Transition:
        """Move the call to ``target`` if its state allows it; record ``facts`` either way.

        Facts are first-write-wins (``if_not_exists``): a retried webhook cannot overwrite what the first
        delivery recorded, and a late one still adds what it knows without moving the state back.
        """
        applied, item = self._move(call_uuid, target, now, facts, _ANY_VERSION)
        return self._applied(item, target) if applied else self._blocked(call_uuid, item, now, facts)

    def transition_derived(
        self,
        call_uuid: str,
        target: CallState,
        now: datetime,
        derive: Callable[[dict[str, Any]], Mapping[str, Any]],
    ) -> tuple[Transition, Mapping[str, Any]]:
        """Like ``transition``, with facts derived from the call as it is read: the write applies only if the
        record is still that version, and is derived again from a fresh read when another write got in
        between. Returns the transition and the facts it carried."""
        for _ in range(MAX_DERIVED_ATTEMPTS):
            call = self.get_call(call_uuid) or {}
            facts = derive(call)
            applied, item = self._move(call_uuid, target, now, facts, call.get(VERSION))
            if applied:
                return self._applied(item, target), facts
            state = _state_of(item)
            if state is not None and state not in ALLOWED_FROM[target]:
                return self._blocked(call_uuid, item, now, facts), facts
        raise WriteConflict(f"call {call_uuid} kept changing while moving to {target.value}")

    def _move(
        self,
        call_uuid: str,
        target: CallState,
        now: datetime,
        facts: Mapping[str, Any] | None,
        expected_version: object,
    ) -> tuple[bool, dict[str, Any]]:
        """One conditional write of the transition: (applied, the raw item it replaced or that blocked it)."""
        move = call_update(now)
        move.set("state", target.value)
        move.set_once(f"{target.value}_at", iso(now))
        move.set("call_uuid", call_uuid)
        move.set(keys.TTL_ATTRIBUTE, self._table.expiry(now))
        move.set_facts(facts)
        allowed = [move.value(state.value) for state in sorted(ALLOWED_FROM[target])]
        condition = f"attribute_not_exists({move.name('state')})"
        if allowed:
            condition += f" OR {move.name('state')} IN ({', '.join(allowed)})"
        if expected_version is not _ANY_VERSION:
            version = move.name(VERSION)
            condition = f"({condition}) AND " + (
                f"attribute_not_exists({version})"
                if expected_version is None
                else f"{version} = {move.value(expected_version)}"
            )
        try:
            response = self._table.client.update_item(
                TableName=self._table.name,
                Key=keys.call_key(call_uuid),
                ConditionExpression=condition,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **move.arguments(),
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
            blocking: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return False, blocking
        return True, dict(response.get("Attributes") or {})

    @staticmethod
    def _applied(old: dict[str, Any], target: CallState) -> Transition:
        return Transition(True, _state_of(old), target, from_item(old))

    def _blocked(
        self, call_uuid: str, blocking: dict[str, Any], now: datetime, facts: Mapping[str, Any] | None
    ) -> Transition:
        current = _state_of(blocking)
        # Not allowed to move: keep what this webhook knows without touching the state.
        self.update_call(call_uuid, now, facts=facts)
        return Transition(False, current, current, from_item(blocking))

    def update_call(
        self,
        call_uuid: str,
        now: datetime,
        *,
        facts: Mapping[str, Any] | None = None,
        overwrite: Mapping[str, Any] | None = None,
        append: Mapping[str, list[Any]] | None = None,
    ) -> bool:
        """Record facts without changing the state: ``facts`` are first-write-wins, ``overwrite`` always wins,
        ``append`` adds to the end of lists (a log, e.g. each attempt to notify an agent).

        Returns False (and writes nothing) when there is nothing to record.
        """
        update = call_update(now)
        has_facts = update.set_facts(facts)
        has_overwrites = update.set_all(overwrite)
        for attribute, items in sorted((append or {}).items()):
            update.append(attribute, items)
        if not has_facts and not has_overwrites and not append:
            return False
        update.set_once(keys.TTL_ATTRIBUTE, self._table.expiry(now))
        update.set_once("call_uuid", call_uuid)
        self._table.client.update_item(
            TableName=self._table.name, Key=keys.call_key(call_uuid), **update.arguments()
        )
        return True

    def name_stream(
        self, call_uuid: str, stream_id: str, now: datetime, facts: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Make ``stream_id`` the call's current stream — unless the call is over: a late StartStream must not
        rewrite a completed call's stream (one that never learnt a stream still does). The call as it is now,
        or None when refused."""
        update = call_update(now)
        update.set("stream_id", stream_id)
        update.set_facts(facts)
        update.set_once(keys.TTL_ATTRIBUTE, self._table.expiry(now))
        update.set_once("call_uuid", call_uuid)
        state, current = update.name("state"), update.name("stream_id")
        condition = (
            f"attribute_not_exists({state}) OR {state} <> :completed OR attribute_not_exists({current})"
        )
        response = self._table.update_if(
            keys.call_key(call_uuid),
            update,
            condition,
            values={":completed": CallState.COMPLETED.value},
            ReturnValues="ALL_NEW",
        )
        return None if response is None else from_item(response["Attributes"])

    def claim_stale_action(
        self, call_uuid: str, status_attribute: str, claimed_attribute: str, stale_before: str, now: datetime
    ) -> bool:
        """Take over a pending side effect whose owner stopped before finishing (e.g. a Lambda timed out).

        Succeeds for exactly one caller, and only while the action is still pending and its claim is older
        than ``stale_before``; everyone else sees False and must not act.
        """
        update = call_update(now)
        update.set(claimed_attribute, iso(now))
        condition = (
            f"{update.name(status_attribute)} = :pending AND {update.name(claimed_attribute)} < :stale"
        )
        response = self._table.update_if(
            keys.call_key(call_uuid),
            update,
            condition,
            values={":pending": "pending", ":stale": stale_before},
        )
        return response is not None

    def replace_if(self, call_uuid: str, attribute: str, expected: Any, value: Any, now: datetime) -> bool:
        """Set ``attribute`` to ``value`` only while it still equals ``expected`` (compare-and-set)."""
        update = call_update(now)
        update.set(attribute, value)
        condition = f"{update.name(attribute)} = :expected"
        response = self._table.update_if(
            keys.call_key(call_uuid), update, condition, values={":expected": expected}
        )
        return response is not None

    def history(self, call_uuid: str) -> CallHistory | None:
        """Every item of a call's partition, grouped by kind; None when nothing is stored for the call."""
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": keys.PK},
            "ExpressionAttributeValues": {":pk": {"S": keys.call_partition(call_uuid)}},
            "ConsistentRead": True,
        }
        while True:
            page = self._table.client.query(**arguments)
            items.extend(from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if not items:
            return None
        grouped: dict[keys.ItemKind, list[dict[str, Any]]] = {kind: [] for kind in keys.ItemKind}
        for item in items:
            grouped[keys.kind_of(item)].append(item)
        return CallHistory(
            call=(grouped[keys.ItemKind.CALL] or [{}])[0],
            streams=grouped[keys.ItemKind.STREAM],
            stream_events=grouped[keys.ItemKind.STREAM_EVENT],
            recoveries=grouped[keys.ItemKind.RECOVERY],
            agent_events=grouped[keys.ItemKind.AGENT_EVENT],
        )

    def add_agent_event(
        self, call_uuid: str, stream_id: str, version: int, event: Mapping[str, Any], now: datetime
    ) -> None:
        """Note what the agent did (once per stream state version: a retried carry-out writes it again)."""
        item = {
            **keys.agent_event_key(call_uuid, stream_id, version),
            **to_item({**event, "stream_id": stream_id, keys.TTL_ATTRIBUTE: self._table.expiry(now)}),
        }
        self._table.client.put_item(TableName=self._table.name, Item=item)
