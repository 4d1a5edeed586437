"""The call lifecycle as an explicit state machine.

Plivo retries webhooks and does not promise their order, so a transition is allowed only from the states
listed here and is applied with a conditional write: a late or repeated webhook can add facts to a call but
never move it backwards, and the side effect tied to a transition (a hangup, a transfer) runs once.
"""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    PLACED = "placed"  # we asked Plivo to dial (known by our placement id and Plivo's RequestUUID)
    ANSWERED = "answered"  # the answer webhook arrived; the stream XML was served
    MACHINE_DETECTED = "machine_detected"  # Plivo reported an answering machine; the voicemail policy ran
    COMPLETED = "completed"  # the hangup webhook arrived; final


LIVE_STATES = (CallState.ANSWERED, CallState.MACHINE_DETECTED)
"""States in which a call is up and its audio may stream."""

VOICEMAIL_MODE = "voicemail"
"""``agent_mode`` of a call whose live stream must leave a voicemail (set by the agent policy)."""

ALLOWED_FROM: dict[CallState, frozenset[CallState]] = {
    CallState.PLACED: frozenset(),
    CallState.ANSWERED: frozenset({CallState.PLACED}),
    CallState.MACHINE_DETECTED: frozenset({CallState.PLACED, CallState.ANSWERED}),
    CallState.COMPLETED: frozenset({CallState.PLACED, CallState.ANSWERED, CallState.MACHINE_DETECTED}),
}
"""For each target state, the states it may be entered from. A call with no state yet may enter any."""
