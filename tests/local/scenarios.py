"""Whole calls played end to end on the local stack: each places a call through ``POST /calls`` (the CLI's
code path), lets the simulated Plivo and its scripted callee play it, and reads the call's report back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.local.console import CallLines
from tests.local.plivo_sim import SimCall
from tests.local.stack import LocalStack
from voiceagent_cli.callees import CalleeKind, number_for
from voiceagent_cli.main import request_api

FROM = "+14155550199"
Check = Callable[[dict[str, Any], SimCall], list[str]]


def _frames(call: SimCall, event: str) -> int:
    return sum(1 for frame in call.frames_received if frame.get("event") == event)


def _timeline(report: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in report["timeline"]]


def _barge_in_and_goodbye(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if _frames(call, "clearAudio") < 2:
        problems.append(f"expected barge-in clearAudio frames, got {_frames(call, 'clearAudio')}")
    if "REST hangup" not in call.events:
        problems.append("the agent did not hang up after its goodbye")
    if "pressed #" not in call.events:
        problems.append("the callee never pressed #")
    return problems


def transferred(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if not call.transferred_to or "/plivo/voicemail" not in call.transferred_to:
        problems.append(f"not transferred to the voicemail XML: {call.transferred_to}")
    if "voicemail XML served" not in _timeline(report):
        problems.append("voicemail XML not on the timeline")
    return problems


def voicemail_left_whole(report: dict[str, Any], call: SimCall) -> list[str]:
    """The stream played the whole message (Plivo confirmed its checkpoint) and the agent hung up."""
    problems = []
    if "played voicemail" not in call.events:
        problems.append("the voicemail message was never played to the end")
    if "voicemail message finished" not in _timeline(report):
        problems.append("the voicemail message did not finish on the timeline")
    if "REST hangup" not in call.events:
        problems.append("the agent did not hang up after the message")
    return problems


MESSAGE_AFTER_BEEP_MS = 1000
"""How soon after the beep's end the message must start here (the bench holds the 300 ms target; the demo
shares the machine with its other calls)."""


def message_after_the_beep(within_ms: int | None) -> Check:
    """The message started after the beep ended, within ``within_ms`` of it and with the beep in the
    report; with None, at any time after it, the beep heard or not (a fault may hide the beep from the
    detector: then the silence after it starts the message, later but whole)."""

    def check(report: dict[str, Any], call: SimCall) -> list[str]:
        beep_end, started = call.marks.get("beep_end"), call.marks.get("message_started")
        if beep_end is None:
            return []
        if started is None:
            return ["the message never started on the callee's line"]
        late = within_ms is not None and started > beep_end + within_ms
        if started < beep_end or late:
            return [f"the message started {started - beep_end} ms after the beep's end"]
        voicemail = report.get("voicemail") or {}
        heard = voicemail.get("trigger") == "beep" and isinstance(voicemail.get("beep"), dict)
        if within_ms is not None and not heard:
            return [f"the report does not show the beep: {voicemail}"]
        return []

    return check


def agent_voicemail(report: dict[str, Any], call: SimCall) -> list[str]:
    return voicemail_left_whole(report, call) + message_after_the_beep(MESSAGE_AFTER_BEEP_MS)(report, call)


def recovered(report: dict[str, Any], call: SimCall) -> list[str]:
    """After the drop Plivo ran the <Redirect> that follows the <Stream>, whose answer was a new <Stream> with
    a fresh token: a second stream on the same call, and no REST stream start."""
    problems = []
    if call.streams_started != 2:
        problems.append(f"expected a second stream after the drop, got {call.streams_started} streams")
    if "redirect /plivo/stream-ended" not in call.events:
        problems.append("Plivo never fetched the <Redirect> after the dropped <Stream>")
    if "stream ended #1: reconnect" not in _timeline(report):
        problems.append("no reconnect on the timeline")
    if not any(stream["hangup_reason"] == "Connection error" for stream in report["streams"]):
        problems.append("the dropped stream is not reported as a connection error")
    return problems


def _degraded(report: dict[str, Any], call: SimCall) -> list[str]:
    (stream,) = report["streams"] or [{}]
    if stream.get("degradations") != 2 or stream.get("last_degradation_level") != "60":
        return [f"expected 2 degradations ending at 60 %, got {stream}"]
    return []


def hung_up_by_policy(report: dict[str, Any], call: SimCall) -> list[str]:
    return [] if "REST hangup" in call.events else ["the hangup policy did not hang up"]


def _recovered_from(path: str, failures: int) -> Check:
    """The call went through although ``path`` failed ``failures`` times first (Plivo's retries, and for
    the answer URL its fallback URL, carried it)."""

    def check(report: dict[str, Any], call: SimCall) -> list[str]:
        failed = [event for event in call.events if event.startswith(f"callback {path} failed (5xx)")]
        problems = [] if len(failed) == failures else [f"expected {failures} failed {path}, got {failed}"]
        if "answered" not in call.events:
            problems.append("the call never got its answer XML")
        return problems

    return check


def all_of(*checks: Check) -> Check:
    return lambda report, call: [problem for check in checks for problem in check(report, call)]


@dataclass(frozen=True)
class Scenario:
    """A callee (``tests.local.callees``, by the number called) and the call's voicemail policy: played by
    hand with ``voiceagent call --callee <callee> --policy <policy>`` against `make local`."""

    name: str
    title: str
    callee: CalleeKind
    policy: str
    outcome: str
    check: Check
    voicemail_message: str | None = None
    faults: tuple[tuple[str, int], ...] = ()
    """Webhook deliveries our side answers 503 first: (path, how many times)."""
    caller: str = FROM
    """The caller id: a scenario with faults has its own, so its faults hit its call only (several scenarios
    call the same callee)."""
    seconds: int | None = None
    """For ``hangup-after``: when the callee hangs up."""

    @property
    def to(self) -> str:
        return number_for(self.callee, self.seconds)

    def by_hand(self) -> str:
        """The command that plays this scenario against `make local`."""
        message = f' --message "{self.voicemail_message}"' if self.voicemail_message else ""
        callee = f"{self.callee.value}={self.seconds}" if self.seconds else self.callee.value
        return (
            f"voiceagent call --callee {callee} --policy {self.policy}{message} --from {FROM} "
            "--api-url http://127.0.0.1:3000 --no-sign"
        )


RETRIES = int(os.environ.get("PLIVO_CALLBACK_RETRIES", "2"))
"""The stack's callback retry count (rc): Plivo tries a URL 1 + RETRIES times before its fallback URL."""

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "human",
        "A human answers, talks over the agent (barge-in), then presses # to end",
        CalleeKind.HUMAN,
        "agent",
        "human",
        _barge_in_and_goodbye,
    ),
    Scenario(
        "voicemail_hangup",
        "Voicemail answers; policy hangup",
        CalleeKind.MACHINE_NO_BEEP,
        "hangup",
        "voicemail_hangup",
        hung_up_by_policy,
    ),
    Scenario(
        "voicemail_transfer",
        "Voicemail answers; policy transfer to the voicemail XML",
        CalleeKind.MACHINE_NO_BEEP,
        "transfer",
        "voicemail_left",
        transferred,
        voicemail_message="Hi, this is Acme about your renewal.",
    ),
    Scenario(
        "voicemail_agent",
        "Voicemail answers with a beep; policy agent: the stream leaves the message",
        CalleeKind.MACHINE_BEEP,
        "agent",
        "voicemail_left",
        agent_voicemail,
    ),
    Scenario(
        "dropped_stream",
        "The stream drops mid-call; the <Redirect> after the <Stream> reconnects it with a fresh token",
        CalleeKind.DROPPED_STREAM,
        "agent",
        "human",
        recovered,
    ),
    Scenario(
        "degraded_stream",
        "Plivo reports a degraded (slow) stream twice",
        CalleeKind.DEGRADED_STREAM,
        "agent",
        "human",
        _degraded,
    ),
    Scenario(
        "answer_retried",
        "The answer webhook first answers 503; Plivo retries it (rc/rp on the URL) and the call goes on",
        CalleeKind.HUMAN,
        "agent",
        "human",
        _recovered_from("/plivo/answer", 1),
        faults=(("/plivo/answer", 1),),
        caller="+14155550201",
    ),
    Scenario(
        "answer_fallback",
        "The answer URL fails every try; Plivo fetches the fallback URL, which serves the same XML",
        CalleeKind.HUMAN,
        "agent",
        "human",
        _recovered_from("/plivo/answer", 1 + RETRIES),
        faults=(("/plivo/answer", 1 + RETRIES),),
        caller="+14155550202",
    ),
    Scenario(
        "machine_detection_retried",
        "Machine detection first answers 503; Plivo retries it and the transfer policy still runs",
        CalleeKind.MACHINE_NO_BEEP,
        "transfer",
        "voicemail_left",
        all_of(_recovered_from("/plivo/machine-detection", 1), transferred),
        voicemail_message="Hi, this is Acme about your renewal.",
        faults=(("/plivo/machine-detection", 1),),
        caller="+14155550203",
    ),
)


@dataclass
class Result:
    scenario: str
    title: str
    passed: bool
    outcome: str | None
    problems: list[str]
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)
    call_uuid: str | None = None
    line: dict[str, int] = field(default_factory=dict)
    """Moments on the callee's line, in ms of its audio (greeting end, beep, our message's start)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def play(
    stack: LocalStack, scenario: Scenario, timeout: float = 45.0, lines: CallLines | None = None
) -> Result:
    started = time.monotonic()
    base = stack.config.public_base_url
    for path, times in scenario.faults:
        stack.faults.fail(path, scenario.caller, times)
    payload: dict[str, Any] = {"to": scenario.to, "from": scenario.caller, "policy": scenario.policy}
    if scenario.voicemail_message:
        payload["voicemail_message"] = scenario.voicemail_message
    loop = asyncio.get_running_loop()
    placed = await loop.run_in_executor(
        None, lambda: request_api("POST", f"{base}/calls", payload, sign=False)
    )
    body = placed.json()
    if placed.status_code != 202:
        return Result(
            scenario.name,
            scenario.title,
            False,
            None,
            [f"POST /calls: {placed.status_code} {body}"],
            time.monotonic() - started,
        )
    if lines is not None:
        lines.label(body["request_uuid"], scenario.name)
    call = stack.plivo.by_request[body["request_uuid"]]
    try:
        await asyncio.wait_for(call.finished.wait(), timeout)
    except TimeoutError:
        return Result(
            scenario.name,
            scenario.title,
            False,
            None,
            [f"call did not end within {timeout} s"],
            time.monotonic() - started,
            call_uuid=call.call_uuid,
        )
    # Found by the id POST /calls answered, as a user would.
    fetched = await loop.run_in_executor(
        None, lambda: request_api("GET", f"{base}/calls/{body['placement_id']}", None, sign=False)
    )
    report = fetched.json()
    problems = []
    if report.get("outcome") != scenario.outcome:
        problems.append(f"outcome {report.get('outcome')!r}, expected {scenario.outcome!r}")
    problems += scenario.check(report, call)
    return Result(
        scenario.name,
        scenario.title,
        not problems,
        report.get("outcome"),
        problems,
        round(time.monotonic() - started, 2),
        report,
        call.call_uuid,
        dict(call.marks),
    )


AT_ONCE = 3
"""Calls in progress at a time. Every frame of every call costs a DynamoDB read, which moto serves far slower
than DynamoDB: about 6 ms of CPU per frame here, so a 2-core machine carries 3 real-time calls with room to
spare (more, and frames queue up: the calls would no longer be heard in real time)."""


async def play_all(
    stack: LocalStack,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    lines: CallLines | None = None,
    at_once: int = AT_ONCE,
) -> list[Result]:
    """Every scenario, ``at_once`` calls in progress at a time, as a paced campaign would place them."""
    gate = asyncio.Semaphore(at_once)

    async def paced(scenario: Scenario) -> Result:
        async with gate:
            return await play(stack, scenario, lines=lines)

    return list(await asyncio.gather(*(paced(scenario) for scenario in scenarios)))
