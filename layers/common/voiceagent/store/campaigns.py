"""Campaign state: settings, live state and counters, contacts, the ``Sweep`` index and the pacing ticks.

A contact moves ``pending`` → ``queued`` (sent to the dial queue) → ``dialling`` (an attempt claimed; its
number ``attempts`` and placement id set) → ``pending`` again (a retry, with a due time) or ``done`` (with a
``result``). Every move is conditional on the state (and attempt) it leaves, so a repeated SQS message or
event moves nothing twice; the moves that change the campaign's counters (dispatch, settle) are one
transaction with its ``STATE`` item, so the counters are always the sum of the contacts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from voiceagent.aws import error_code
from voiceagent.clock import iso
from voiceagent.store import keys
from voiceagent.store.dynamo import Table, Update, from_item, serialize, to_item
from voiceagent.store.placements import AlreadyExists

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATE_RUNNING = "running"
STATE_PAUSED = "paused"
STATE_CANCELLED = "cancelled"
STATE_COMPLETED = "completed"
TICK_LIFETIME = timedelta(days=1)
MAX_TRANSACTION_CONTACTS = 90
"""Contacts per transaction (DynamoDB allows 100 items, one is the campaign's STATE)."""


class TransactionFailed(RuntimeError):
    """A transaction did not apply: ``failed`` are the indexes of items whose condition failed (empty when it
    was a conflict with another transaction, worth another try)."""

    def __init__(self, failed: Sequence[int], conflict: bool) -> None:
        super().__init__(f"transaction cancelled (conditions failed: {list(failed)}, conflict: {conflict})")
        self.failed = list(failed)
        self.conflict = conflict


@dataclass(frozen=True)
class DueEntry:
    """A contact listed in the ``Sweep`` index: due (to dial) or to check (an attempt in flight)."""

    row: int
    sort_key: str
    attempts: int
    timezone: str | None = None


@dataclass(frozen=True)
class Settle:
    """One contact leaving ``expected`` (for attempt ``attempt``): to ``pending`` again with ``due_at`` (a
    retry, a deferral), or to ``done`` with ``result``. ``counters`` are added to the campaign's STATE."""

    row: int
    expected: str
    attempt: int | None
    due_at: str | None = None
    result: str | None = None
    history: Mapping[str, Any] | None = None
    facts: Mapping[str, Any] | None = None
    counters: Mapping[str, int] | None = None


class CampaignRepository:
    def __init__(self, table_name: str, client: DynamoDBClient, ttl: timedelta) -> None:
        self._table = Table(table_name, client, ttl)

    @property
    def client(self) -> DynamoDBClient:
        return self._table.client

    # ------------------------------------------------------------------ create

    def create_meta(self, campaign_id: str, meta: Mapping[str, Any], now: datetime) -> None:
        item = {
            **keys.campaign_meta_key(campaign_id),
            **to_item({**meta, keys.TTL_ATTRIBUTE: self._table.expiry(now)}),
        }
        if not self._table.put_once(item):
            raise AlreadyExists(campaign_id)

    def get_meta(self, campaign_id: str) -> dict[str, Any] | None:
        return self._table.get(keys.campaign_meta_key(campaign_id))

    def put_contacts(self, campaign_id: str, contacts: Sequence[Mapping[str, Any]], now: datetime) -> None:
        """Write contacts (before the campaign starts; a repeated creation writes the same ones again)."""
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        **keys.contact_key(campaign_id, int(contact["row"])),
                        **to_item({**contact, keys.TTL_ATTRIBUTE: self._table.expiry(now)}),
                    }
                }
            }
            for contact in contacts
        ]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table.name: requests[start : start + 25]}
            for _ in range(8):
                response = self.client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB kept contacts unprocessed (throttled): try again")

    def start(self, campaign_id: str, state: Mapping[str, Any], now: datetime) -> bool:
        """Create the campaign's STATE: it starts. False when it already had (a repeated creation)."""
        item = {
            **keys.campaign_state_key(campaign_id),
            **to_item(
                {
                    **state,
                    keys.SWEEP_PK: keys.ACTIVE_CAMPAIGNS,
                    keys.SWEEP_SK: campaign_id,
                    keys.TTL_ATTRIBUTE: self._table.expiry(now),
                }
            ),
        }
        return self._table.put_once(item)

    # ------------------------------------------------------------------ read

    def get_state(self, campaign_id: str) -> dict[str, Any] | None:
        return self._table.get(keys.campaign_state_key(campaign_id))

    def get_contact(self, campaign_id: str, row: int) -> dict[str, Any] | None:
        return self._table.get(keys.contact_key(campaign_id, row))

    def contacts(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        """Every contact, in row order (paged)."""
        arguments: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :contact)",
            "ExpressionAttributeNames": {"#pk": keys.PK, "#sk": keys.SK},
            "ExpressionAttributeValues": {
                ":pk": serialize(keys.campaign_partition(campaign_id)),
                ":contact": serialize(keys.CONTACT_PREFIX),
            },
        }
        while True:
            page = self.client.query(**arguments)
            yield from (from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _sweep(self, partition: str, until: str, limit: int) -> list[dict[str, Any]]:
        page = self.client.query(
            TableName=self._table.name,
            IndexName=keys.SWEEP_INDEX,
            KeyConditionExpression="#spk = :pk AND #ssk <= :until",
            ExpressionAttributeNames={"#spk": keys.SWEEP_PK, "#ssk": keys.SWEEP_SK},
            ExpressionAttributeValues={":pk": serialize(partition), ":until": serialize(until + "~")},
            Limit=limit,
        )
        return [from_item(item) for item in page.get("Items", [])]

    def due(self, campaign_id: str, until: datetime, limit: int) -> list[DueEntry]:
        """Contacts waiting to be dialled whose time has come, earliest first (the index lags writes a
        little: every move it leads to is conditional on what it listed)."""
        return self._entries(keys.due_partition(campaign_id), until, limit)

    def to_check(self, campaign_id: str, until: datetime, limit: int) -> list[DueEntry]:
        """Contacts queued or dialling for longer than they should have been."""
        return self._entries(keys.check_partition(campaign_id), until, limit)

    def _entries(self, partition: str, until: datetime, limit: int) -> list[DueEntry]:
        return [
            DueEntry(
                keys.row_of_sweep_key(str(item[keys.SWEEP_SK])),
                str(item[keys.SWEEP_SK]),
                int(item.get("attempts") or 0),
                str(item["timezone"]) if item.get("timezone") else None,
            )
            for item in self._sweep(partition, iso(until), limit)
        ]

    def active_campaigns(self) -> list[str]:
        """Campaigns not yet completed or cancelled."""
        found: list[str] = []
        arguments: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": keys.SWEEP_INDEX,
            "KeyConditionExpression": "#spk = :active",
            "ExpressionAttributeNames": {"#spk": keys.SWEEP_PK},
            "ExpressionAttributeValues": {":active": serialize(keys.ACTIVE_CAMPAIGNS)},
        }
        while True:
            page = self.client.query(**arguments)
            found.extend(str(from_item(item)[keys.SWEEP_SK]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ moves

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = list(exc.response.get("CancellationReasons") or [])  # type: ignore[arg-type]
            failed = [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
            conflict = any(reason.get("Code") == "TransactionConflict" for reason in reasons) or not reasons
            raise TransactionFailed(failed, conflict and not failed) from exc

    def _update_item(
        self,
        key: dict[str, Any],
        update: Update,
        condition: str | None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        arguments = update.arguments()
        arguments["ExpressionAttributeValues"].update({k: serialize(v) for k, v in (values or {}).items()})
        item: dict[str, Any] = {"TableName": self._table.name, "Key": key, **arguments}
        if condition:
            item["ConditionExpression"] = condition
        return {"Update": item}

    def dispatch(
        self, campaign_id: str, entries: Sequence[DueEntry], cap: int, check_at: str, now: datetime
    ) -> None:
        """Move due contacts to ``queued`` and count them in progress, in one transaction, only while the
        campaign runs and stays within its cap (``TransactionFailed`` otherwise)."""
        items = []
        for entry in entries:
            update = Update(now)
            update.set("state", "queued")
            update.set("queued_at", iso(now))
            update.set(keys.SWEEP_PK, keys.check_partition(campaign_id))
            update.set(keys.SWEEP_SK, keys.sweep_sort_key(check_at, entry.row))
            update.set(keys.TTL_ATTRIBUTE, self._table.expiry(now))
            condition = f"{update.name('state')} = :pending AND {update.name(keys.SWEEP_SK)} = :seen"
            items.append(
                self._update_item(
                    keys.contact_key(campaign_id, entry.row),
                    update,
                    condition,
                    {":pending": "pending", ":seen": entry.sort_key},
                )
            )
        state = Update(now)
        state.add("active", len(entries))
        state.add("retries_waiting", -sum(1 for entry in entries if entry.attempts > 0))
        state.set_once("started_at", iso(now))
        condition = f"{state.name('status')} = :running AND {state.name('active')} <= :room"
        items.append(
            self._update_item(
                keys.campaign_state_key(campaign_id),
                state,
                condition,
                {":running": STATE_RUNNING, ":room": cap - len(entries)},
            )
        )
        self._transact(items)

    def claim(
        self, campaign_id: str, row: int, attempt: int, placement_id: str, check_at: str, now: datetime
    ) -> dict[str, Any] | None:
        """``queued`` → ``dialling`` for attempt ``attempt`` (which must follow the last); the contact as
        claimed, or None when this delivery is a duplicate (another took it, or it moved on)."""
        update = Update(now)
        update.set("state", "dialling")
        update.set("attempts", attempt)
        update.set("placement_id", placement_id)
        update.set("claimed_at", iso(now))
        update.remove("placement_status")
        update.set(keys.SWEEP_PK, keys.check_partition(campaign_id))
        update.set(keys.SWEEP_SK, keys.sweep_sort_key(check_at, row))
        response = self._table.update_if(
            keys.contact_key(campaign_id, row),
            update,
            f"{update.name('state')} = :queued AND {update.name('attempts')} = :previous",
            values={":queued": "queued", ":previous": attempt - 1},
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"]) if response else None

    def record_placement(
        self, campaign_id: str, row: int, attempt: int, facts: Mapping[str, Any], now: datetime
    ) -> bool:
        """What placing attempt ``attempt`` gave (status, request uuid), while it is still that attempt."""
        update = Update(now)
        update.set_all(facts)
        response = self._table.update_if(
            keys.contact_key(campaign_id, row),
            update,
            f"{update.name('state')} = :dialling AND {update.name('attempts')} = :attempt",
            values={":dialling": "dialling", ":attempt": attempt},
        )
        return response is not None

    def unplace(self, campaign_id: str, row: int, attempt: int, check_at: str, now: datetime) -> bool:
        """Attempt ``attempt`` was never sent after all (Plivo knows no such call): forget what placing it
        gave, so the dial message resumes it, and check it again at ``check_at``."""
        update = Update(now)
        for name in ("placement_status", "request_uuid", "placed_at"):
            update.remove(name)
        update.set(keys.SWEEP_SK, keys.sweep_sort_key(check_at, row))
        response = self._table.update_if(
            keys.contact_key(campaign_id, row),
            update,
            f"{update.name('state')} = :dialling AND {update.name('attempts')} = :attempt",
            values={":dialling": "dialling", ":attempt": attempt},
        )
        return response is not None

    def recheck(self, campaign_id: str, row: int, expected: str, check_at: str, now: datetime) -> bool:
        """Push a contact's next check later (it is legitimately still queued or in a live call)."""
        update = Update(now)
        update.set(keys.SWEEP_SK, keys.sweep_sort_key(check_at, row))
        return (
            self._table.update_if(
                keys.contact_key(campaign_id, row),
                update,
                f"{update.name('state')} = :expected",
                values={":expected": expected},
            )
            is not None
        )

    def settle(self, campaign_id: str, moves: Sequence[Settle], now: datetime) -> None:
        """Move contacts out of ``queued``/``dialling`` (or ``pending``) and add their counters to STATE,
        in one transaction; ``TransactionFailed`` names the moves whose contact was not as expected."""
        items = []
        totals: dict[str, int] = {}
        for move in moves:
            update = Update(now)
            update.set(keys.TTL_ATTRIBUTE, self._table.expiry(now))
            update.set_all(move.facts)
            values: dict[str, Any] = {":expected": move.expected}
            condition = f"{update.name('state')} = :expected"
            if move.attempt is not None:
                condition += f" AND {update.name('attempts')} = :attempt"
                values[":attempt"] = move.attempt
            if move.history:
                history = update.name("history")
                update.set_raw(f"{history} = list_append(if_not_exists({history}, :empty), :entry)")
                values[":empty"] = []
                values[":entry"] = [dict(move.history)]
            if move.result is not None:
                update.set("state", "done")
                update.set("result", move.result)
                update.set("done_at", iso(now))
                update.remove(keys.SWEEP_PK)
                update.remove(keys.SWEEP_SK)
            else:
                assert move.due_at is not None
                update.set("state", "pending")
                update.set("due_at", move.due_at)
                update.set(keys.SWEEP_PK, keys.due_partition(campaign_id))
                update.set(keys.SWEEP_SK, keys.sweep_sort_key(move.due_at, move.row))
            items.append(
                self._update_item(keys.contact_key(campaign_id, move.row), update, condition, values)
            )
            for name, amount in (move.counters or {}).items():
                totals[name] = totals.get(name, 0) + amount
        state = Update(now)
        for name, amount in sorted(totals.items()):
            if amount:
                state.add(name, amount)
        items.append(self._update_item(keys.campaign_state_key(campaign_id), state, None))
        self._transact(items)

    def set_status(
        self, campaign_id: str, allowed_from: Sequence[str], status: str, now: datetime, **facts: Any
    ) -> dict[str, Any] | None:
        """Change the campaign's status if it is one of ``allowed_from``; the new STATE, or None."""
        update = Update(now)
        update.set("status", status)
        update.set(f"{status}_at", iso(now))
        update.set_all(facts)
        if status in (STATE_CANCELLED, STATE_COMPLETED):
            update.remove(keys.SWEEP_PK)
            update.remove(keys.SWEEP_SK)
        placeholders = {f":s{index}": value for index, value in enumerate(allowed_from)}
        condition = f"{update.name('status')} IN ({', '.join(placeholders)})"
        response = self._table.update_if(
            keys.campaign_state_key(campaign_id),
            update,
            condition,
            values=placeholders,
            ReturnValues="ALL_NEW",
        )
        return from_item(response["Attributes"]) if response else None

    def complete_if_done(self, campaign_id: str, now: datetime) -> bool:
        """The campaign is completed once no contact remains to be called (False while any does)."""
        update = Update(now)
        update.set("status", STATE_COMPLETED)
        update.set("completed_at", iso(now))
        update.remove(keys.SWEEP_PK)
        update.remove(keys.SWEEP_SK)
        condition = f"{update.name('remaining')} <= :zero AND {update.name('status')} IN (:running, :paused)"
        values = {":zero": 0, ":running": STATE_RUNNING, ":paused": STATE_PAUSED}
        return (
            self._table.update_if(keys.campaign_state_key(campaign_id), update, condition, values=values)
            is not None
        )

    # ------------------------------------------------------------------ pacing

    def next_tick(self, campaign_id: str) -> int | None:
        """Where the campaign's pacing allocator stands (a hint: eventually consistent)."""
        item = self._table.get(keys.campaign_pacer_key(campaign_id), consistent=False)
        return int(item["next_tick"]) if item and "next_tick" in item else None

    def reserve_ticks(self, campaign_id: str, count: int, stride: int, earliest: int, now: datetime) -> int:
        """Hand out ``count`` ticks ``stride`` apart, none before ``earliest``, to this caller alone: the
        first of them. One or two conditional writes, never a read (the allocator only moves forward)."""
        span = count * stride
        while True:
            advance = Update(now)
            tick = advance.name("next_tick")
            advance.set_raw(f"{tick} = {tick} + {advance.value(span)}")
            response = self._table.update_if(
                keys.campaign_pacer_key(campaign_id),
                advance,
                f"{tick} >= :earliest",
                values={":earliest": earliest},
                ReturnValues="UPDATED_OLD",
            )
            if response is not None:
                return int(from_item(response["Attributes"])["next_tick"])
            restart = Update(now)
            tick = restart.name("next_tick")
            restart.set("next_tick", earliest + span)
            restart.set(keys.TTL_ATTRIBUTE, self._table.expiry(now))
            condition = f"attribute_not_exists({tick}) OR {tick} < :earliest"
            if self._table.update_if(
                keys.campaign_pacer_key(campaign_id), restart, condition, values={":earliest": earliest}
            ):
                return earliest

    def claim_tick(self, tick: int, owner: str, now: datetime) -> bool:
        """Take the account's tick ``tick`` for one call (False: another campaign has it)."""
        item = {
            **keys.tick_key(tick),
            **to_item({"owner": owner, keys.TTL_ATTRIBUTE: int((now + TICK_LIFETIME).timestamp())}),
        }
        return self._table.put_once(item)
