"""Changes to the table as DynamoDB Streams delivers them: which item changed, what it was and what it is.

The publisher of call events (``functions/call_events``) reads facts from these, never from the webhooks: each
fact is written by exactly one conditional write, so it appears in exactly one change however often Plivo
retried the webhook behind it. Only this package knows the key shapes; the publisher gets an item's kind and
its call, and the images as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voiceagent.store import keys
from voiceagent.store.dynamo import from_item


class MalformedChange(ValueError):
    """A stream record without the keys or images every DynamoDB stream record of this table has."""


@dataclass(frozen=True)
class Change:
    """One stream record: an item inserted, modified or removed, with its images (NEW_AND_OLD_IMAGES)."""

    event_name: str
    """``INSERT``, ``MODIFY`` or ``REMOVE``."""
    kind: keys.ItemKind
    sequence_number: str
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)

    @property
    def call_uuid(self) -> str | None:
        """The call of an item of a call's partition (its key says so even when its image does not)."""
        partition = str((self.new or self.old).get(keys.PK, ""))
        prefix = keys.call_partition("")
        if partition.startswith(prefix) and self.kind is not keys.ItemKind.PLACEMENT:
            return partition[len(prefix) :] or None
        value = self.new.get("call_uuid") or self.old.get("call_uuid")
        return str(value) if value else None

    def appeared(self, attribute: str) -> bool:
        """Whether this write gave the item ``attribute`` (absent before, present now): a new fact."""
        return self.old.get(attribute) in (None, "") and self.new.get(attribute) not in (None, "")


def decode(record: Mapping[str, Any]) -> Change:
    """A DynamoDB stream record (as Lambda delivers it) as a ``Change``."""
    body = record.get("dynamodb")
    if not isinstance(body, Mapping) or not isinstance(body.get("Keys"), Mapping):
        raise MalformedChange("a DynamoDB stream record without dynamodb.Keys")
    new = from_item(body.get("NewImage") or {})
    old = from_item(body.get("OldImage") or {})
    key = from_item(body["Keys"])
    return Change(
        event_name=str(record.get("eventName", "")),
        kind=keys.kind_of(key),
        sequence_number=str(body.get("SequenceNumber", "")),
        old={**key, **old} if old else {},
        new={**key, **new} if new else {},
    )
