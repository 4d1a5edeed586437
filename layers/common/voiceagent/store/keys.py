"""Every key shape of the one table, in one place.

A call's partition ``CALL#<CallUUID>`` holds the call record, its streams, their status events and recovery
attempts, so a call's whole history is one Query. Other records (placements, live connections, remembered
webhook nonces) have partitions of their own. A placement's RequestUUID points back at it
(``REQUEST#<uuid>``), and placements are listed newest first through the ``ByTime`` index: one partition per
UTC day (``CALLS#<yyyy-mm-dd>``), sorted by the time the call was placed.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

PK = "pk"
SK = "sk"
TTL_ATTRIBUTE = "expires_at"
LIST_INDEX = "ByTime"
"""The global secondary index that lists placements by the time they were placed (template.yaml)."""
LIST_PK = "list_pk"
LIST_SK = "list_sk"


class ItemKind(StrEnum):
    """What an item is (read back by the report, and by the publisher of call events)."""

    CALL = "call"
    STREAM = "stream"
    STREAM_EVENT = "stream_event"
    RECOVERY = "recovery"
    AGENT_EVENT = "agent_event"
    PLACEMENT = "placement"
    OTHER = "other"


_CALL_SK = "CALL"
_PLACEMENT_SK = "PLACEMENT"
_PREFIXES = (
    ("STREAMTOKEN#", ItemKind.OTHER),
    ("STREAMEVENT#", ItemKind.STREAM_EVENT),
    ("STREAM#", ItemKind.STREAM),
    ("RECOVERY#", ItemKind.RECOVERY),
    ("AGENT#", ItemKind.AGENT_EVENT),
)


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {PK: {"S": pk}, SK: {"S": sk}}


def call_partition(call_uuid: str) -> str:
    return f"CALL#{call_uuid}"


def call_key(call_uuid: str) -> dict[str, Any]:
    return _key(call_partition(call_uuid), _CALL_SK)


def stream_key(call_uuid: str, stream_id: str) -> dict[str, Any]:
    return _key(call_partition(call_uuid), f"STREAM#{stream_id}")


def stream_event_key(call_uuid: str, idempotency_key: str) -> dict[str, Any]:
    return _key(call_partition(call_uuid), f"STREAMEVENT#{idempotency_key}")


def recovery_key(call_uuid: str, attempt: int) -> dict[str, Any]:
    return _key(call_partition(call_uuid), f"RECOVERY#{attempt:03d}")


def agent_event_key(call_uuid: str, stream_id: str, version: int) -> dict[str, Any]:
    """What the agent did on a stream, one item per state version that carried out actions."""
    return _key(call_partition(call_uuid), f"AGENT#{stream_id}#{version:06d}")


def placement_key(placement_id: str) -> dict[str, Any]:
    return _key(f"PLACEMENT#{placement_id}", _PLACEMENT_SK)


def request_key(request_uuid: str) -> dict[str, Any]:
    """The pointer from Plivo's RequestUUID to the placement it answered."""
    return _key(f"REQUEST#{request_uuid}", "REQUEST")


def list_partition(day: date) -> str:
    return f"CALLS#{day.isoformat()}"


def list_attributes(placed_at: str, placement_id: str) -> dict[str, str]:
    """The ``ByTime`` index keys of a placement: its UTC day, then its ISO time and id (newest sort last)."""
    return {
        LIST_PK: list_partition(date.fromisoformat(placed_at[:10])),
        LIST_SK: f"{placed_at}#{placement_id}",
    }


def connection_key(connection_id: str) -> dict[str, Any]:
    return _key(f"CONN#{connection_id}", "CONN")


def stream_token_key(call_uuid: str, token_id: str) -> dict[str, Any]:
    """A stream token that opened a connection (each opens one)."""
    return _key(call_partition(call_uuid), f"STREAMTOKEN#{token_id}")


def nonce_key(nonce: str, route: str) -> dict[str, Any]:
    """A signed webhook request that took effect: Plivo's V3 nonce, on the route it was sent to."""
    return _key(f"NONCE#{nonce}", f"ROUTE#{route}")


def kind_of(item: dict[str, Any]) -> ItemKind:
    """The kind of a (deserialised) item: one of a call's partition, or a placement."""
    sort_key = str(item.get(SK, ""))
    if sort_key == _CALL_SK:
        return ItemKind.CALL
    if sort_key == _PLACEMENT_SK:
        return ItemKind.PLACEMENT
    for prefix, kind in _PREFIXES:
        if sort_key.startswith(prefix):
            return kind
    return ItemKind.OTHER


# ---------------------------------------------------------------- the campaigns table (and do-not-call)
# A campaign's partition ``CAMPAIGN#<id>`` holds its settings (``META``, written once), its live state
# (``STATE``: status and counters, written in the same transaction as every contact that changes them), its
# pacing allocator (``PACER``) and its contacts (``CONTACT#<row>``), so results are one Query. The account's
# pacing ticks are ``TICK#<n>``: one item per call ever placed by a campaign. The ``Sweep`` index lists what
# waits for a time: contacts due to be dialled (``DUE#<campaign>``), attempts to check (``CHECK#<campaign>``)
# and the campaigns still running (``ACTIVE``).

SWEEP_INDEX = "Sweep"
SWEEP_PK = "sweep_pk"
SWEEP_SK = "sweep_sk"
ACTIVE_CAMPAIGNS = "ACTIVE"
DNC_NUMBER = "number"
"""The do-not-call table's only key: the number in E.164 form."""


def campaign_partition(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def campaign_meta_key(campaign_id: str) -> dict[str, Any]:
    return _key(campaign_partition(campaign_id), "META")


def campaign_state_key(campaign_id: str) -> dict[str, Any]:
    return _key(campaign_partition(campaign_id), "STATE")


def campaign_pacer_key(campaign_id: str) -> dict[str, Any]:
    return _key(campaign_partition(campaign_id), "PACER")


CONTACT_PREFIX = "CONTACT#"


def contact_sort_key(row: int) -> str:
    return f"{CONTACT_PREFIX}{row:07d}"


def contact_key(campaign_id: str, row: int) -> dict[str, Any]:
    return _key(campaign_partition(campaign_id), contact_sort_key(row))


def tick_key(tick: int) -> dict[str, Any]:
    return _key(f"TICK#{tick}", "TICK")


def due_partition(campaign_id: str) -> str:
    return f"DUE#{campaign_id}"


def check_partition(campaign_id: str) -> str:
    return f"CHECK#{campaign_id}"


def sweep_sort_key(at: str, row: int) -> str:
    """When (ISO time, sorts as text), then which contact."""
    return f"{at}#{row:07d}"


def row_of_sweep_key(sort_key: str) -> int:
    return int(sort_key.rpartition("#")[2])


def dnc_key(number: str) -> dict[str, Any]:
    return {DNC_NUMBER: {"S": number}}


FACT_KINDS = (ItemKind.CALL, ItemKind.PLACEMENT, ItemKind.STREAM_EVENT, ItemKind.RECOVERY)
"""The items whose writes carry call and stream facts: the only ones whose changes invoke the publisher of
call events. Connections (a write per few media frames), remembered nonces, stream tokens, stream records
and the agent's own notes never do."""


def fact_change_filter() -> dict[str, Any]:
    """The event source mapping's filter (template.yaml ``FilterCriteria``, which a test keeps equal to this):
    inserts and updates of ``FACT_KINDS`` items, by their sort key. TTL deletions are left out."""
    prefixes = {kind: prefix for prefix, kind in _PREFIXES}
    sort_keys: list[Any] = [_CALL_SK, _PLACEMENT_SK]
    sort_keys += [{"prefix": prefixes[kind]} for kind in (ItemKind.STREAM_EVENT, ItemKind.RECOVERY)]
    return {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {SK: {"S": sort_keys}}}}
