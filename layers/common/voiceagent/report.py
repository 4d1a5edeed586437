"""A call's report: its timeline (placed → answered → streams → machine detection → hangup) and one row per
stream, in the terms of Plivo's console stream log, plus our own outcome. Built from one Query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from voiceagent.stream_health import console_hangup_reason, stream_duration

# Call-record timestamps that become timeline entries, with how to describe them.
_CALL_MILESTONES: tuple[tuple[str, str], ...] = (
    ("placed_at", "placed"),
    ("answered_at", "answered"),
    ("stream_connected_at", "stream connected"),
    ("machine_detected_at", "machine detected"),
    ("policy_completed_at", "voicemail policy"),
    ("voicemail_served_at", "voicemail XML served"),
    ("voicemail_played_at", "voicemail played"),
    ("disconnected_at", "stream disconnected"),
    ("completed_at", "hangup"),
)


_COMMON_STREAM_PARAMETERS = frozenset(
    {"CallUUID", "StreamID", "Event", "Timestamp", "From", "To", "ParentAuthID", "ServiceURL"}
)
"""Sent with every stream event; what remains of a DegradedStream is what describes the degradation."""


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


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
    if field == "placed_at":
        return f"policy={call.get('policy')}"
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


def build_report(items: list[dict[str, Any]], stream_timeout_seconds: int) -> dict[str, Any] | None:
    calls = [item for item in items if item.get("sk") == "CALL"]
    if not items:
        return None
    call = calls[0] if calls else {}
    entries: list[dict[str, Any]] = []
    for field, label in _CALL_MILESTONES:
        if call.get(field):
            entries.append({"at": call[field], "event": label, "detail": _milestone_detail(field, call)})
    streams = []
    for item in items:
        sort_key = str(item.get("sk", ""))
        if sort_key.startswith("STREAMEVENT#"):
            entries.append(
                {
                    "at": item["at"],
                    "event": f"stream {item['kind']} ({item['plivo_event']})",
                    "stream_id": item["stream_id"],
                    "detail": _stream_event_detail(item),
                }
            )
        elif sort_key.startswith("RECOVERY#"):
            entries.append(
                {
                    "at": item["at"],
                    "event": f"stream recovery #{item['attempt']}",
                    "detail": f"{item.get('result')} (dropped {item.get('dropped_stream_id')})",
                }
            )
        elif sort_key.startswith("STREAM#"):
            streams.append(
                {
                    "stream_id": item["stream_id"],
                    "start": item.get("started_at"),
                    "end": item.get("ended_at"),
                    "duration_seconds": stream_duration(item),
                    "hangup_reason": console_hangup_reason(item, call, stream_timeout_seconds),
                    "degradations": int(item.get("degradation_count", 0)),
                    "last_degradation_level": item.get("last_degradation_level"),
                    "drops": int(item.get("drop_count", 0)),
                    "last_error": item.get("last_error"),
                }
            )
    entries.sort(key=lambda entry: _parse(entry["at"]))
    if entries:
        origin = _parse(entries[0]["at"])
        for entry in entries:
            entry["offset_seconds"] = round((_parse(entry["at"]) - origin).total_seconds(), 3)
    return {
        "call_uuid": call.get("call_uuid") or (items[0].get("call_uuid") if items else None),
        "state": call.get("state"),
        "outcome": call.get("outcome"),
        "policy": call.get("policy"),
        "from": call.get("from_number"),
        "to": call.get("to_number"),
        "duration_seconds": call.get("duration_seconds"),
        "streams": sorted(streams, key=lambda stream: stream["start"] or ""),
        "timeline": entries,
    }


def render_table(report: dict[str, Any]) -> str:
    """The report as text a person reads in a terminal."""
    lines = [
        f"call {report['call_uuid']}  state={report['state']}  outcome={report['outcome']}"
        f"  policy={report['policy']}",
        f"from {report['from']} to {report['to']}  duration={report['duration_seconds']} s",
        "",
        f"{'+seconds':>9}  {'at':<24}  {'event':<34}  detail",
    ]
    for entry in report["timeline"]:
        offset = f"{entry['offset_seconds']:>9.3f}"
        lines.append(f"{offset}  {entry['at']:<24}  {entry['event']:<34}  {entry.get('detail', '')}")
    lines += ["", f"{'stream':<38}  {'start':<24}  {'end':<24}  {'secs':>5}  {'reason':<16}  degr  drops"]
    for stream in report["streams"]:
        lines.append(
            f"{stream['stream_id']:<38}  {stream['start'] or '-':<24}  {stream['end'] or '-':<24}  "
            f"{stream['duration_seconds'] if stream['duration_seconds'] is not None else '-':>5}  "
            f"{stream['hangup_reason'] or 'running':<16}  {stream['degradations']:>4}  {stream['drops']:>5}"
        )
    return "\n".join(lines)
