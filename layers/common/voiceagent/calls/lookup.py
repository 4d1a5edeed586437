"""Finding a call by any id its user was given: the placement id ``POST /calls`` answered, Plivo's
RequestUUID (also in that answer), or Plivo's CallUUID (from the webhooks, the report or Plivo's console)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from voiceagent.store import Store
from voiceagent.store.calls import CallHistory
from voiceagent.validation import InvalidRequest, Problem, shown

CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
"""Any of the three ids: letters, digits, '-', '_' and '.', up to 64 characters (safe in keys and URLs)."""
CALL_ID_WORDS = (
    "the placement id (pl-…), the request_uuid POST /calls answered, or the CallUUID: letters, digits, "
    "'-', '_' and '.', up to 64 characters"
)


@dataclass(frozen=True)
class FoundCall:
    """What is stored about a call: its placement (if we placed it), its history (once Plivo called back)."""

    placement: dict[str, Any] | None
    history: CallHistory | None

    @property
    def call(self) -> dict[str, Any]:
        return self.history.call if self.history else {}

    @property
    def call_uuid(self) -> str | None:
        value = self.call.get("call_uuid") or (self.placement or {}).get("call_uuid")
        return str(value) if value else None

    @property
    def request_uuid(self) -> str | None:
        value = self.call.get("request_uuid") or (self.placement or {}).get("request_uuid")
        return str(value) if value else None

    @property
    def ids(self) -> dict[str, str | None]:
        placement_id = self.call.get("placement_id") or (self.placement or {}).get("placement_id")
        return {
            "placement_id": str(placement_id) if placement_id else None,
            "request_uuid": self.request_uuid,
            "call_uuid": self.call_uuid,
        }


def checked_id(call_id: str) -> str:
    if not CALL_ID.fullmatch(call_id):
        raise InvalidRequest([Problem("id", shown(call_id), CALL_ID_WORDS)])
    return call_id


def find_call(store: Store, call_id: str) -> FoundCall | None:
    """The call with this id, whichever of the three it is; None when nothing is stored under it.

    Tried in order: a CallUUID (one Query, which the report needs anyway), a placement id, a RequestUUID.
    """
    checked_id(call_id)
    history = store.calls.history(call_id)
    if history is not None:
        placement_id = history.call.get("placement_id")
        placement = store.placements.get(str(placement_id)) if placement_id else None
        return FoundCall(placement, history)
    placement = store.placements.get(call_id) or store.placements.by_request(call_id)
    if placement is None:
        return None
    call_uuid = placement.get("call_uuid")
    return FoundCall(placement, store.calls.history(str(call_uuid)) if call_uuid else None)
