"""Reports and lists as text a person reads in a terminal."""

from __future__ import annotations

from typing import Any


def _or(value: Any, placeholder: str = "-") -> str:
    return placeholder if value is None or value == "" else str(value)


def render_entry(entry: dict[str, Any]) -> str:
    """One timeline entry: offset, time, event, detail."""
    offset = f"{entry.get('offset_seconds', 0):>9.3f}"
    return f"{offset}  {entry['at']:<24}  {entry['event']:<34}  {entry.get('detail') or ''}"


def _status(report: dict[str, Any]) -> str:
    if report.get("in_progress"):
        return f"state={report['state']} (in progress)  outcome=(not yet)"
    return f"state={report['state']}  outcome={_or(report.get('outcome'))}"


def render_table(report: dict[str, Any]) -> str:
    """The report as text a person reads in a terminal."""
    ids = report.get("ids") or {"call_uuid": report.get("call_uuid")}
    hangup = report.get("hangup") or {}
    lines = [
        f"call {_or(ids.get('call_uuid'), '(no CallUUID yet)')}  placement {_or(ids.get('placement_id'))}"
        f"  request {_or(ids.get('request_uuid'))}",
        f"{_status(report)}  answered by {_or(report.get('answered_by'))}"
        f"  policy={_or(report.get('policy'))}",
        f"from {_or(report.get('from'))} to {_or(report.get('to'))}  placed {_or(report.get('placed_at'))}"
        f"  answered {_or(report.get('answered_at'))}  ended {_or(report.get('ended_at'))}"
        f"  duration={_or(report.get('duration_seconds'))} s",
    ]
    if hangup:
        lines.append(
            f"hung up by {_or(hangup.get('by'))} (HangupSource {_or(hangup.get('source'))}); cause "
            f"{_or(hangup.get('cause'))} ({_or(hangup.get('cause_code'))})"
        )
    if report.get("error"):
        lines.append(f"error: {report['error']}")
    lines += ["", f"{'+seconds':>9}  {'at':<24}  {'event':<34}  detail"]
    lines += [render_entry(entry) for entry in report["timeline"]]
    if report["streams"]:
        lines += ["", f"{'stream':<38}  {'start':<24}  {'end':<24}  {'secs':>5}  {'reason':<16}  degr  drops"]
    for stream in report["streams"]:
        lines.append(
            f"{stream['stream_id']:<38}  {stream['start'] or '-':<24}  {stream['end'] or '-':<24}  "
            f"{stream['duration_seconds'] if stream['duration_seconds'] is not None else '-':>5}  "
            f"{stream['hangup_reason'] or 'running':<16}  {stream['degradations']:>4}  {stream['drops']:>5}"
        )
    return "\n".join(lines)


def render_calls(page: dict[str, Any]) -> str:
    """A page of ``GET /calls`` as a table, newest first."""
    header = (
        f"{'placed':<24}  {'id (placement)':<35}  {'to':<16}  {'state':<16}  {'outcome':<16}  "
        f"{'answered by':<11}  {'secs':>5}  call uuid"
    )
    lines = [f"calls placed from {page['since']} to {page['until']}: {page['count']}", header]
    for row in page["calls"]:
        state = f"{row['state']}{'…' if row.get('in_progress') else ''}"
        lines.append(
            f"{_or(row.get('placed_at')):<24}  {_or(row.get('placement_id')):<35}  {_or(row.get('to')):<16}  "
            f"{state:<16}  {_or(row.get('outcome'), '(not yet)'):<16}  {_or(row.get('answered_by')):<11}  "
            f"{_or(row.get('duration_seconds')):>5}  {_or(row.get('call_uuid'))}"
        )
    return "\n".join(lines)
