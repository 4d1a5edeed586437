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


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def render_progress(status: dict[str, Any], *, width: int = 30, eta_seconds: float | None = None) -> str:
    """One line: a bar of contacts done, then what is in progress, the pace and the time left."""
    counts = status.get("counts") or {}
    total, done = int(counts.get("contacts") or 0), int(counts.get("done") or 0)
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "." * (width - filled)
    parts = [
        f"[{bar}] {done}/{total} done",
        f"{counts.get('in_progress', 0)} in progress",
        f"{counts.get('retries_waiting', 0)} retries waiting",
    ]
    if status.get("calls_per_second_so_far"):
        parts.append(f"{status['calls_per_second_so_far']:.2f} calls/s")
    if status.get("status") != "running":
        parts.append(str(status.get("status")))
    elif eta_seconds is not None:
        parts.append(f"ETA {_duration(eta_seconds)}")
    return "  ".join(parts)


def render_campaign(status: dict[str, Any]) -> str:
    """The summary table: the campaign, then contacts by result and attempts by outcome."""
    counts = status.get("counts") or {}
    lines = [
        f"campaign {status['campaign_id']}  {status.get('name') or ''}".rstrip(),
        f"status={status.get('status')}  pace={status.get('pace')} calls/s (effective "
        f"{status.get('effective_pace')})  max in progress={status.get('max_in_progress')}  "
        f"window={status.get('window')} {status.get('timezone') or '(each contact its zone)'}",
        f"started {_or(status.get('started_at'))}  "
        f"ended {_or(status.get('completed_at') or status.get('cancelled_at'))}",
        f"contacts {counts.get('contacts', 0)}: done {counts.get('done', 0)}, in progress "
        f"{counts.get('in_progress', 0)}, waiting {counts.get('waiting', 0)} (of which retries "
        f"{counts.get('retries_waiting', 0)}); attempts {counts.get('attempts', 0)}, retries scheduled "
        f"{counts.get('retries_scheduled', 0)}",
        "",
        f"{'result':<18}  {'contacts':>8}    {'outcome':<18}  {'attempts':>8}",
    ]
    results = sorted((status.get("results") or {}).items(), key=lambda item: -item[1])
    outcomes = sorted((status.get("outcomes") or {}).items(), key=lambda item: -item[1])
    for index in range(max(len(results), len(outcomes), 1)):
        left = f"{results[index][0]:<18}  {results[index][1]:>8}" if index < len(results) else " " * 28
        right = f"{outcomes[index][0]:<18}  {outcomes[index][1]:>8}" if index < len(outcomes) else ""
        lines.append(f"{left}    {right}".rstrip())
    if status.get("rejected_rows") or status.get("duplicate_rows"):
        lines.append(
            f"rows left out at upload: {status.get('rejected_rows', 0)} invalid, "
            f"{status.get('duplicate_rows', 0)} duplicates"
        )
    return "\n".join(lines)
