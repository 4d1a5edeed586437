"""Reports as text a person reads in a terminal."""

from __future__ import annotations

from typing import Any


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
