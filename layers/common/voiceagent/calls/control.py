"""``POST /calls/{id}/hangup``: end a call at whatever stage it is, through the one Plivo gateway.

- answered (Plivo gave a CallUUID): ``DELETE Call/{uuid}/``; a 404 means it already ended;
- still ringing (only a RequestUUID): ``DELETE Request/{uuid}/`` cancels it; if Plivo says the request is no
  longer pending, the call was answered meanwhile and is hung up by its CallUUID once a webhook linked it;
- over, never placed (Plivo refused it), or still being placed: nothing to do, and the answer says which.

Who asked, when and with what result goes on the call (or the placement), so the report shows it. Your own
agent, having left the voicemail message on its stream, says so with ``{"voicemail_left": true}``: the call
records the message as played before it is hung up, so its outcome is ``voicemail_left`` as on our route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from voiceagent.calls.lookup import FoundCall
from voiceagent.clock import iso
from voiceagent.plivo.rest import Deadline, PlivoApiError, PlivoGateway
from voiceagent.store import Store
from voiceagent.store.states import CallState


class HangupResult(StrEnum):
    HUNG_UP = "hung_up"
    CANCELLED = "cancelled"
    """It was still ringing: Plivo cancelled the request, nobody answered."""
    ALREADY_ENDED = "already_ended"
    NOT_PLACED = "not_placed"
    """Plivo refused the placement: there is no call to end."""
    PLACING = "placing"
    """POST /calls is still asking Plivo: try again in a moment."""


class HangupBody(BaseModel):
    """The optional JSON body of ``POST /calls/{id}/hangup``."""

    model_config = ConfigDict(extra="forbid")

    voicemail_left: bool = Field(
        default=False,
        description="true when your own agent left the whole voicemail message (the call's outcome becomes "
        "voicemail_left); only on a call where a machine was detected",
    )


class NoMachine(Exception):
    """``voicemail_left`` on a call where no answering machine was detected (answered 409)."""


@dataclass(frozen=True)
class HangupRequest:
    store: Store
    gateway: Callable[[], PlivoGateway]
    deadline: Deadline
    now: datetime
    requested_by: str
    """Who asked (the IAM caller's ARN), for the record."""
    voicemail_left: bool = False


def hang_up(found: FoundCall, request: HangupRequest) -> HangupResult:
    """End the call; ``PlivoApiError`` when Plivo could not be asked (recorded on the call first)."""
    if found.call.get("state") == CallState.COMPLETED:
        return HangupResult.ALREADY_ENDED
    if request.voicemail_left:
        if not found.call_uuid or found.call.get("machine_detection_result") != "machine":
            raise NoMachine("no answering machine was detected on this call: there is no voicemail to leave")
        request.store.calls.update_call(
            found.call_uuid,
            request.now,
            facts={"voicemail_played_at": iso(request.now), "voicemail_reported_by": request.requested_by},
        )
    if found.call_uuid:
        return _hang_up_call(found.call_uuid, request)
    placement = found.placement or {}
    if placement.get("state") == "failed":
        return HangupResult.NOT_PLACED
    request_uuid, placement_id = placement.get("request_uuid"), str(placement.get("placement_id"))
    if not request_uuid:
        return HangupResult.PLACING
    result = request.gateway().cancel(str(request_uuid), deadline=request.deadline)
    request.store.placements.update(
        placement_id,
        request.now,
        cancel_requested_at=iso(request.now),
        cancel_requested_by=request.requested_by,
        cancel_result=result.outcome,
    )
    if result.outcome == "cancelled":
        return HangupResult.CANCELLED
    fresh = request.store.placements.get(placement_id) or {}
    if fresh.get("call_uuid"):  # answered between our read and the cancel
        return _hang_up_call(str(fresh["call_uuid"]), request)
    return HangupResult.ALREADY_ENDED


def _hang_up_call(call_uuid: str, request: HangupRequest) -> HangupResult:
    facts = {"hangup_requested_at": iso(request.now), "hangup_requested_by": request.requested_by}
    try:
        result = request.gateway().hangup(call_uuid, deadline=request.deadline)
    except PlivoApiError as exc:
        request.store.calls.update_call(
            call_uuid, request.now, facts={**facts, "hangup_request_result": f"failed: {exc}"}
        )
        raise
    request.store.calls.update_call(
        call_uuid, request.now, facts={**facts, "hangup_request_result": result.outcome}
    )
    return HangupResult(result.outcome)
