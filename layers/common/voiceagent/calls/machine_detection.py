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
from voiceagent.agent_urls import shown_url
from voiceagent.agents.notification import AgentNotification, Attempt, Delivery, Notifier, Voicemail
from voiceagent.call_events.facts import machine_detected
from voiceagent.call_events.schema import AgentNotified, event_id
from voiceagent.calls.answering import EXTERNAL_AGENT
from voiceagent.calls.placement_join import placement_facts
from voiceagent.clock import iso, seconds_between
from voiceagent.credentials import SecretNotConfigured, SecretUnavailable
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
class ExternalAgent:
    """What the agent policy needs for a call that streams to your own agent: how to notify it, and the
    stack's defaults for what the notification carries."""

    notifier: Notifier
    webhook_url: str | None
    """The stack's ``AgentWebhookUrl`` (a call's ``agent_webhook_url`` wins)."""
    stage: str
    voicemail_message: str
    voicemail_voice: str
    voicemail_language: str


@dataclass(frozen=True)
class PolicyContext:
    call_uuid: str
    voicemail_url: str
    gateway: Callable[[], PlivoGateway]
    """Built only when the policy calls Plivo (building it reads the auth token and checks the auth id)."""
    connections: StreamConnections
    deadline: Deadline
    agent: ExternalAgent | None = None


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
    detection = {
        "machine_detected_at": call.get("machine_detected_at") or iso(now),
        "if_machine": call.get("if_machine") or webhook.if_machine,
        "detection_ms": _milliseconds_between(call.get("answered_at"), now),
        "policy": policy.value,
    }
    if transition.applied:
        store.calls.update_call(
            call_uuid,
            now,
            facts={"detection_ms": detection["detection_ms"], "policy": policy.value},
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

    return _apply(policy, {**call, **detection}, context, store, now)


def _apply(
    policy: MachinePolicy,
    call: dict[str, Any],
    context: PolicyContext,
    store: Store,
    now: datetime,
) -> DetectionOutcome:
    applied = policy.value
    notes: dict[str, Any] = {}
    """Facts the policy learnt on its way (a notification's outcome), written with its result."""
    try:
        if policy is MachinePolicy.HANGUP:
            result = context.gateway().hangup(context.call_uuid, deadline=context.deadline)
        elif policy is MachinePolicy.TRANSFER:
            result = context.gateway().transfer(
                context.call_uuid, context.voicemail_url, deadline=context.deadline
            )
        else:
            result, applied = _agent(call, context, store, now, notes)
    except PlivoApiError as exc:
        observability.add("VoicemailPolicyFailures")
        store.calls.update_call(
            context.call_uuid,
            now,
            overwrite={
                **notes,
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
            **notes,
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
    call: dict[str, Any], context: PolicyContext, store: Store, now: datetime, notes: dict[str, Any]
) -> tuple[ApiResult, str]:
    """Switch the live stream to voicemail mode; with no live stream, fall back to the transfer policy. A
    call on your own agent's stream: notify the agent instead (``_notify``).

    The request goes to the stream's state, which every frame reads: the media route starts the message at
    the beep (or after the greeting's silence). The frame posted to the connection goes to Plivo and stops
    any agent audio from talking over the greeting.
    """
    store.calls.update_call(context.call_uuid, now, overwrite={"agent_mode": VOICEMAIL_MODE})
    if call.get("stream_to") == EXTERNAL_AGENT:
        delivery = _notify(call, context, store, now, notes)
        if delivery is not None and delivery.delivered:
            return ApiResult("agent_notified", len(delivery.attempts)), MachinePolicy.AGENT.value
        return _transfer_fallback(context, "your agent was not notified")
    connection_id, stream_id = call.get("connection_id"), call.get("stream_id")
    if isinstance(connection_id, str) and store.connections.request_voicemail(connection_id, now):
        # Stop the agent talking over the greeting. Before the stream's ``start`` nothing is playing yet, and
        # Plivo wants a streamId on clearAudio, so there is nothing to send.
        live = not isinstance(stream_id, str) or context.connections.send(
            connection_id, stream_protocol.clear_audio(stream_id)
        )
        if live:
            return ApiResult("agent_notified", 1, {"connection_id": connection_id}), MachinePolicy.AGENT.value
    return _transfer_fallback(context, "no live stream for the agent policy")


def _transfer_fallback(context: PolicyContext, why: str) -> tuple[ApiResult, str]:
    logger.info(f"{why}; transferring instead")
    result = context.gateway().transfer(context.call_uuid, context.voicemail_url, deadline=context.deadline)
    return result, "transfer_fallback"


def _notify(
    call: dict[str, Any], context: PolicyContext, store: Store, now: datetime, notes: dict[str, Any]
) -> Delivery | None:
    """Send your agent the signed voicemail notification (a few bounded retries, each recorded on the call).
    ``notes`` gets the outcome, written with the policy's result; None when nothing could be sent."""
    agent = context.agent
    url = call.get("agent_webhook_url") or (agent.webhook_url if agent else None)
    if agent is None or not url:
        logger.warning("the call streams to your agent, but no agent webhook is configured")
        return None
    call_uuid = context.call_uuid
    detected = machine_detected({**call, "policy_applied": "agent"}, agent.stage, call_uuid)
    audio_url = call.get("voicemail_audio_url")
    notification = AgentNotification(
        **detected.model_dump(),
        notification_id=event_id(call_uuid, AgentNotified.FACT),
        stream_id=call.get("stream_id"),
        voicemail=Voicemail(
            message=None if audio_url else call.get("voicemail_message") or agent.voicemail_message,
            audio_url=audio_url,
            voice=call.get("voicemail_voice") or agent.voicemail_voice,
            language=call.get("voicemail_language") or agent.voicemail_language,
        ),
    )

    def record(attempt: Attempt) -> None:
        store.calls.update_call(call_uuid, now, append={"agent_notification_attempts": [attempt.as_dict()]})

    notes.update(agent_webhook=shown_url(url), agent_notification_completed_at=iso(now))
    try:
        delivery = agent.notifier.send(url, notification, record)
    except (SecretNotConfigured, SecretUnavailable) as exc:
        logger.error("cannot sign the agent notification", extra={"error": str(exc)})
        notes.update(agent_notification_status="failed", agent_notification_result=str(exc))
        return None
    notes.update(
        agent_notification_status="delivered" if delivery.delivered else "failed",
        agent_notification_result=delivery.summary,
    )
    logger.info("agent notification", extra={"result": delivery.summary})
    return delivery
