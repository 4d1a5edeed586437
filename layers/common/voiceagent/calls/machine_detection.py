"""What happens when Plivo reports an answering machine: apply the call's voicemail policy exactly once.

The transition to ``machine_detected`` is the gate: only the delivery that made it runs the policy, and it
marks the action ``pending`` first. A retry that finds the action still pending long after it was claimed
(its Lambda died mid-way) takes it over with a compare-and-set, so a crash cannot lose the action and a
retry cannot double it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from voiceagent import observability
from voiceagent.calls.placement_join import placement_facts
from voiceagent.clock import iso, seconds_between
from voiceagent.media.connections import StreamConnections
from voiceagent.plivo import stream_protocol
from voiceagent.plivo.rest import ApiResult, Deadline, PlivoApiError, PlivoGateway
from voiceagent.plivo.webhooks import MachineDetectionWebhook
from voiceagent.settings import MachinePolicy
from voiceagent.store import Store
from voiceagent.store.states import VOICEMAIL_MODE, CallState

logger = Logger(child=True)

ACTION_LEASE = timedelta(seconds=30)  # longer than any webhook Lambda runs


@dataclass(frozen=True)
class DetectionOutcome:
    acted: bool
    policy: str | None
    result: str


@dataclass(frozen=True)
class PolicyContext:
    call_uuid: str
    voicemail_url: str
    gateway: Callable[[], PlivoGateway]
    """Built only when the policy calls Plivo (building it reads the auth token and checks the auth id)."""
    connections: StreamConnections
    deadline: Deadline


def _milliseconds_between(start: str | None, end: datetime) -> int | None:
    seconds = seconds_between(start, iso(end))
    return None if seconds is None else int(seconds * 1000)


def handle_machine_detection(
    webhook: MachineDetectionWebhook,
    *,
    placement_id: str | None,
    store: Store,
    context: PolicyContext,
    default_policy: MachinePolicy,
    now: datetime,
) -> DetectionOutcome:
    call_uuid = webhook.call_uuid
    if not webhook.machine:
        # Not documented to happen; if Plivo says "human", note it and do nothing.
        store.calls.update_call(call_uuid, now, facts={"machine_detection_result": "human"})
        return DetectionOutcome(False, None, "human")

    inherited = placement_facts(store.placements, placement_id, call_uuid, now)
    transition = store.calls.transition(
        call_uuid,
        CallState.MACHINE_DETECTED,
        now,
        facts={
            **inherited,
            "machine_detection_result": "machine",
            "if_machine": webhook.if_machine,
            "policy_status": "pending",
            "policy_claimed_at": iso(now),
        },
    )
    call = {**inherited, **transition.previous_item}
    policy = MachinePolicy(call.get("policy") or default_policy)
    if transition.applied:
        store.calls.update_call(
            call_uuid,
            now,
            facts={
                "detection_ms": _milliseconds_between(call.get("answered_at"), now),
                "policy": policy.value,
            },
        )
    elif transition.current is CallState.COMPLETED:
        # Hangup arrived first: the machine is gone too. Correct the outcome, act on nothing.
        store.calls.update_call(call_uuid, now, facts={"machine_detected_after_hangup": iso(now)})
        store.calls.replace_if(call_uuid, "outcome", "human", "voicemail_hangup", now)
        return DetectionOutcome(False, policy.value, "call_already_completed")
    else:
        stale_before = iso(now - ACTION_LEASE)
        if not store.calls.claim_stale_action(
            call_uuid, "policy_status", "policy_claimed_at", stale_before, now
        ):
            observability.add("MachineDetectionDuplicates")
            logger.info(
                "machine detection already handled", extra={"policy_status": call.get("policy_status")}
            )
            return DetectionOutcome(False, policy.value, "duplicate")
        logger.warning("taking over a stalled voicemail action")

    return _apply(policy, call, context, store, now)


def _apply(
    policy: MachinePolicy,
    call: dict[str, Any],
    context: PolicyContext,
    store: Store,
    now: datetime,
) -> DetectionOutcome:
    applied = policy.value
    try:
        if policy is MachinePolicy.HANGUP:
            result = context.gateway().hangup(context.call_uuid, deadline=context.deadline)
        elif policy is MachinePolicy.TRANSFER:
            result = context.gateway().transfer(
                context.call_uuid, context.voicemail_url, deadline=context.deadline
            )
        else:
            result, applied = _agent(call, context, store, now)
    except PlivoApiError as exc:
        observability.add("VoicemailPolicyFailures")
        store.calls.update_call(
            context.call_uuid,
            now,
            overwrite={
                "policy_status": "failed",
                "policy_applied": applied,
                "policy_error": str(exc),
                "policy_attempts": exc.attempts,
                "policy_completed_at": iso(now),
            },
        )
        return DetectionOutcome(True, applied, "failed")
    observability.count("VoicemailPolicyApplied", policy=applied, result=result.outcome)
    store.calls.update_call(
        context.call_uuid,
        now,
        overwrite={
            "policy_status": "done",
            "policy_applied": applied,
            "policy_result": result.outcome,
            "policy_attempts": result.attempts,
            "policy_completed_at": iso(now),
        },
    )
    logger.info("voicemail policy applied", extra={"policy": applied, "result": result.outcome})
    return DetectionOutcome(True, applied, result.outcome)


def _agent(
    call: dict[str, Any], context: PolicyContext, store: Store, now: datetime
) -> tuple[ApiResult, str]:
    """Switch the live stream to voicemail mode; with no live stream, fall back to the transfer policy.

    The request goes to the stream's state, which every frame reads: the media route starts the message at
    the beep (or after the greeting's silence). The frame posted to the connection goes to Plivo and stops
    any agent audio from talking over the greeting.
    """
    store.calls.update_call(context.call_uuid, now, overwrite={"agent_mode": VOICEMAIL_MODE})
    connection_id, stream_id = call.get("connection_id"), call.get("stream_id")
    if isinstance(connection_id, str) and store.connections.request_voicemail(connection_id, now):
        # Stop the agent talking over the greeting. Before the stream's ``start`` nothing is playing yet, and
        # Plivo wants a streamId on clearAudio, so there is nothing to send.
        live = not isinstance(stream_id, str) or context.connections.send(
            connection_id, stream_protocol.clear_audio(stream_id)
        )
        if live:
            return ApiResult("agent_notified", 1, {"connection_id": connection_id}), MachinePolicy.AGENT.value
    logger.info("no live stream for the agent policy; transferring instead")
    result = context.gateway().transfer(context.call_uuid, context.voicemail_url, deadline=context.deadline)
    return result, "transfer_fallback"
