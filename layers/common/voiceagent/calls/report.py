"""A call's report: the ids the user was given, where the call stands (``summary``), its timeline (placed →
answered → streams → machine detection → what the agent did → hangup) and one row per stream, in the terms of
Plivo's console stream log, plus our own outcome. Built from one Query, and the placement when we placed it
(a call Plivo refused, or one still ringing, has only that)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voiceagent.agent_urls import shown_url
from voiceagent.calls.answering import EXTERNAL_AGENT
from voiceagent.calls.summary import summarize
from voiceagent.clock import parse_iso
from voiceagent.store.calls import CallHistory
from voiceagent.streams.events import console_hangup_reason, stream_duration

# Call-record timestamps that become timeline entries, with how to describe them.
_CALL_MILESTONES: tuple[tuple[str, str], ...] = (
    ("placed_at", "placed"),
    ("answered_at", "answered"),
    ("stream_connected_at", "stream connected"),
    ("machine_detected_at", "machine detected"),
    ("agent_notification_completed_at", "your agent notified"),
    ("policy_completed_at", "voicemail policy"),
    ("voicemail_served_at", "voicemail XML served"),
    ("beep_heard_at", "beep heard"),
    ("voicemail_started_at", "voicemail message started"),
    ("voicemail_played_at", "voicemail message finished"),
    ("hangup_requested_at", "hangup requested (POST /calls/{id}/hangup)"),
    ("disconnected_at", "stream disconnected"),
    ("completed_at", "hangup"),
)
_PLACEMENT_MILESTONES: tuple[tuple[str, str], ...] = (
    ("placed_at", "placed"),
    ("cancel_requested_at", "cancel requested (POST /calls/{id}/hangup)"),
)
"""A placement's own moments, for a call that has no record yet (ringing, or refused by Plivo)."""


_COMMON_STREAM_PARAMETERS = frozenset(
    {"CallUUID", "StreamID", "Event", "Timestamp", "From", "To", "ParentAuthID", "ServiceURL"}
)
"""Sent with every stream event; what remains of a DegradedStream is what describes the degradation."""


def _milestone_detail(field: str, call: dict[str, Any]) -> str:
    if field == "machine_detected_at":
        parts = [f"IfMachine={call.get('if_machine')}"]
        if call.get("detection_ms") is not None:
            parts.append(f"{call['detection_ms']} ms after answer")
        return ", ".join(parts)
    if field == "policy_completed_at":
        result = call.get("policy_result") or call.get("policy_error") or call.get("policy_status")
        return f"{call.get('policy_applied')}: {result} ({call.get('policy_attempts')} attempt(s))"
    if field == "completed_at":
        cause = f"{call.get('hangup_cause')} ({call.get('hangup_cause_code')})"
        durations = f"duration={call.get('duration_seconds')} s, billed={call.get('bill_duration_seconds')} s"
        return f"outcome={call.get('outcome')}, cause={cause}, {durations}"
    if field == "agent_notification_completed_at":
        result = call.get("agent_notification_result") or call.get("agent_notification_status")
        fallback = "" if call.get("agent_notification_status") == "delivered" else "; transfer policy instead"
        return f"{call.get('agent_webhook')}: {result}{fallback}"
    if field == "voicemail_played_at" and call.get("voicemail_reported_by"):
        return f"reported by your agent ({call['voicemail_reported_by']})"
    if field == "placed_at":
        return f"policy={call.get('policy')}, to {call.get('to_number')}"
    if field == "hangup_requested_at":
        return f"by {call.get('hangup_requested_by')}: {call.get('hangup_request_result')}"
    if field == "cancel_requested_at":
        return f"by {call.get('cancel_requested_by')}: {call.get('cancel_result')}"
    if field == "beep_heard_at":
        hz, ms, level = call.get("beep_frequency_hz"), call.get("beep_ms"), call.get("beep_level_dbfs")
        return f"{hz} Hz, {ms} ms, {level} dBFS"
    if field == "voicemail_started_at":
        trigger = call.get("voicemail_trigger")
        beep = "after the beep" if trigger in ("beep", "late_beep") else "no beep"
        return f"{trigger} ({beep}), {call.get('voicemail_wait_ms')} ms after the request"
    return ""


def _stream_event_detail(item: dict[str, Any]) -> str:
    parameters = item.get("parameters") or {}
    kind = item.get("kind")
    if kind == "degraded":
        levels = {k: v for k, v in parameters.items() if k not in _COMMON_STREAM_PARAMETERS}
        return ", ".join(f"{key}={value}" for key, value in sorted(levels.items()))
    if kind == "dropped":
        return str(parameters.get("Error") or parameters.get("StatusReason") or "")
    if kind == "stopped":
        return str(parameters.get("StatusReason") or "")
    return ""


_AGENT_EVENTS = {
    "start": "stream started",
    "media": "heard the callee",
    "voicemail": "voicemail time",
    "played": "our audio played",
    "cleared": "audio cleared",
    "stop": "stream stopped",
}
"""How the media route's decisions read on the timeline (a DTMF reads as itself: ``dtmf 5``)."""


def _stream_row(stream: dict[str, Any], call: dict[str, Any], stream_timeout_seconds: int) -> dict[str, Any]:
    return {
        "stream_id": stream["stream_id"],
        "start": stream.get("started_at"),
        "end": stream.get("ended_at"),
        "duration_seconds": stream_duration(stream),
        "hangup_reason": console_hangup_reason(stream, call, stream_timeout_seconds),
        "degradations": int(stream.get("degradation_count", 0)),
        "last_degradation_level": stream.get("last_degradation_level"),
        "drops": int(stream.get("drop_count", 0)),
        "last_error": stream.get("last_error"),
    }


def _milestones(record: Mapping[str, Any], milestones: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    return [
        {"at": record[field], "event": label, "detail": _milestone_detail(field, dict(record))}
        for field, label in milestones
        if record.get(field)
    ]


def _placement_timeline(placement: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = _milestones(placement, _PLACEMENT_MILESTONES)
    if placement.get("state") == "failed":
        entries.append(
            {"at": placement["updated_at"], "event": "not placed", "detail": placement.get("error")}
        )
    elif placement.get("request_uuid"):
        entries.append(
            {
                "at": placement["placed_at"],  # the create is answered within the POST /calls request
                "event": "Plivo accepted the call",
                "detail": f"request_uuid={placement['request_uuid']}",
            }
        )
    return entries


def _timeline(history: CallHistory | None, placement: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if history is None:
        entries = _placement_timeline(placement or {})
        _offsets(entries)
        return entries
    entries = _milestones(history.call, _CALL_MILESTONES) + _milestones(
        placement or {}, _PLACEMENT_MILESTONES[1:]
    )
    entries += [
        {
            "at": event["at"],
            "event": f"stream {event['kind']} ({event['plivo_event']})",
            "stream_id": event["stream_id"],
            "detail": _stream_event_detail(event),
        }
        for event in history.stream_events
    ]
    entries += [
        {
            "at": recovery["at"],
            "event": f"stream ended #{recovery['attempt']}: {recovery.get('action')}",
            "stream_id": recovery.get("ended_stream_id"),
            "detail": str(recovery.get("reason") or ""),
        }
        for recovery in history.recoveries
    ]
    entries += [
        {
            "at": event["at"],
            "event": f"agent: {_AGENT_EVENTS.get(event['event'], event['event'])}",
            "detail": event.get("detail", ""),
        }
        for event in history.agent_events
    ]
    _offsets(entries)
    return entries


def _offsets(entries: list[dict[str, Any]]) -> None:
    """Sort the entries by time and give each its offset from the first."""
    entries.sort(key=lambda entry: parse_iso(entry["at"]))
    if entries:
        origin = parse_iso(entries[0]["at"])
        for entry in entries:
            entry["offset_seconds"] = round((parse_iso(entry["at"]) - origin).total_seconds(), 3)


def build_report(
    history: CallHistory | None, stream_timeout_seconds: int, placement: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The report of a call known by its history, its placement, or both."""
    call = history.call if history else {}
    streams = (
        [_stream_row(stream, call, stream_timeout_seconds) for stream in history.streams] if history else []
    )
    summary = summarize(placement, call)
    if summary["call_uuid"] is None and history:
        summary["call_uuid"] = next((item.get("call_uuid") for item in history.streams), None)
    return {
        **summary,
        "ids": {name: summary[name] for name in ("placement_id", "request_uuid", "call_uuid")},
        "voicemail": _voicemail(call),
        "agent": _agent(call),
        "streams": sorted(streams, key=lambda stream: stream["start"] or ""),
        "timeline": _timeline(history, placement),
    }


def _agent(call: dict[str, Any]) -> dict[str, Any] | None:
    """Your own agent, for a call that streamed to it: where, and how the voicemail notification went."""
    if call.get("stream_to") != EXTERNAL_AGENT:
        return None
    stream_url = call.get("stream_url")
    return {
        "stream_url": shown_url(str(stream_url)) if stream_url else "the stack's AgentStreamUrl",
        "webhook": call.get("agent_webhook"),
        "notification": call.get("agent_notification_status"),
        "notification_result": call.get("agent_notification_result"),
        "attempts": list(call.get("agent_notification_attempts") or []),
    }


def _voicemail(call: dict[str, Any]) -> dict[str, Any] | None:
    """How the message went, for a call that reached a machine: the beep (or none), start, finish."""
    if call.get("machine_detection_result") != "machine":
        return None
    beep = (
        {
            "heard_at": call["beep_heard_at"],
            "frequency_hz": call.get("beep_frequency_hz"),
            "length_ms": call.get("beep_ms"),
            "level_dbfs": call.get("beep_level_dbfs"),
        }
        if call.get("beep_heard_at")
        else None
    )
    report = {
        "machine_detected_at": call.get("machine_detected_at"),
        "policy": call.get("policy_applied") or call.get("policy"),
        "beep": beep or "no beep",
        "trigger": call.get("voicemail_trigger"),
        "message_started_at": call.get("voicemail_started_at"),
        "message_finished_at": call.get("voicemail_played_at"),
        "outcome": call.get("outcome"),
    }
    if call.get("voicemail_served_at"):
        # Transferred: Plivo's <Wait> listens, not us; when the message starts is Plivo's to know.
        mode = call.get("voicemail_wait_mode")
        report |= {"beep": f"Plivo's <Wait {mode}>", "xml_served_at": call["voicemail_served_at"]}
    return report
