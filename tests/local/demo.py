"""`make demo`: start the local stack, play every scenario end to end at real-time pace (a few at a time,
as a paced campaign would), print each call's timeline and outcome and what the callee's line heard, stop
everything. Exits non-zero if any misbehaves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.local.campaign_demo import play_campaign
from tests.local.console import CallLines
from tests.local.scenarios import AT_ONCE, SCENARIOS, Result, play_all
from tests.local.stack import LocalConfig, LocalStack, run
from voiceagent.clock import parse_iso
from voiceagent_cli.tables import render_table


def _print(result: Result) -> None:
    mark = "PASS" if result.passed else "FAIL"
    print(f"\n=== {mark}  {result.scenario}: {result.title}  ({result.seconds} s)")
    if result.report.get("timeline"):
        print(render_table(result.report))
    if result.line:
        print(f"  on the callee's line: {line_story(result.line)}")
    if result.events:
        print("  on the bus (call events, the order the facts happened):")
        origin = parse_iso(result.events[0]["detail"]["occurred_at"])
        for event in result.events:
            detail = event["detail"]
            offset = (parse_iso(detail["occurred_at"]) - origin).total_seconds()
            print(f"    {offset:8.3f}  {event['detail-type']:<22}  {detail['event_id']}")
    for problem in result.problems:
        print(f"  problem: {problem}")
    scenario = next(scenario for scenario in SCENARIOS if scenario.name == result.scenario)
    print(f"  by hand, against `make local`: {scenario.by_hand()}")


LINE_MOMENTS = (
    ("machine_detected", "Plivo detected the machine"),
    ("greeting_end", "the greeting ended"),
    ("beep_start", "the beep began"),
    ("beep_end", "the beep ended"),
    ("message_started", "our message began"),
)


def line_story(marks: dict[str, int]) -> str:
    """What the callee heard and when (ms into the call's audio), in the order it happened."""
    known = sorted((marks[name], words) for name, words in LINE_MOMENTS if name in marks)
    story = ", ".join(f"{words} at {ms / 1000:.2f} s" for ms, words in known)
    if "beep_end" in marks and "message_started" in marks:
        story += f" ({marks['message_started'] - marks['beep_end']} ms after the beep)"
    return story


async def _run(ephemeral: bool, json_path: Path | None) -> int:
    lines = CallLines()
    stack = LocalStack(LocalConfig.from_env(ephemeral=ephemeral, simulated_only=True), observer=lines)
    started = time.monotonic()
    try:
        await stack.start()
        print(stack.describe(), flush=True)
        print(f"\nplaying {len(SCENARIOS)} calls, {AT_ONCE} at a time, in real time:", flush=True)
        results = await play_all(stack, lines=lines)
        print(
            "\na small campaign: 10 contacts, a duplicate row, one on the do-not-call list, 2 calls/s:",
            flush=True,
        )
        campaign = await play_campaign(stack)
    finally:
        await stack.stop()
    for result in results:
        _print(result)
    print(
        f"\n=== {'FAIL' if campaign['problems'] else 'PASS'}  campaign {campaign['campaign_id']} "
        f"({campaign['seconds']} s, at most {campaign['max_calls_in_any_second_window']} calls in any second "
        f"at pace {campaign['pace']})"
    )
    print(campaign["summary"])
    for problem in campaign["problems"]:
        print(f"  problem: {problem}")
    passed = sum(result.passed for result in results)
    lost = stack.plivo.lost_callbacks
    events = len(stack.events.events)
    print(f"\n{len(SCENARIOS)} scenarios in {time.monotonic() - started:.1f} s; callbacks refused: {lost}")
    agent = stack.agent.stats
    print(
        f"call events on the bus: {events}; the example agent: {agent.connects} streams "
        f"({agent.connects_refused} refused), {agent.notifications} notifications, "
        f"{agent.voicemails_left} voicemails left"
    )
    print(f"{passed} passed, {len(results) - passed} failed")
    if json_path:
        frames = sorted(stack.gateway.frame_latencies)
        json_path.write_text(
            json.dumps(
                {
                    "results": [result.as_dict() for result in results],
                    "lost_callbacks": lost,
                    "invocations": stack.gateway.invocations.counts,
                    "frames_handled": len(frames),
                    "call_events": stack.events.events,
                    "call_events_function": stack.lambdas.pools["call_events"].stats.invocations,
                    "agent": {
                        "connects": agent.connects,
                        "connects_refused": agent.connects_refused,
                        "notifications": agent.notifications,
                        "notifications_refused": agent.notifications_refused,
                        "voicemails_left": agent.voicemails_left,
                    },
                    "campaign": campaign,
                },
                indent=2,
                default=str,
            )
        )
    return 0 if passed == len(results) and lost == 0 and not campaign["problems"] else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--ephemeral-ports",
        action="store_true",
        help="use free ports, not 3000-3003 (make demo ARGS=--ephemeral-ports, or LOCAL_EPHEMERAL_PORTS=1)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    return run(lambda: _run(args.ephemeral_ports, args.json))


if __name__ == "__main__":
    sys.exit(main())
