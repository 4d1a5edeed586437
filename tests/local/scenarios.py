"""Whole calls played end to end on the local stack: each places a call through ``POST /calls`` (the CLI's
code path), lets the simulated Plivo and its scripted callee play it, and reads the call's report back."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
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


def _left_by_your_agent(report: dict[str, Any], call: SimCall) -> list[str]:
    """Your agent was notified (signed, verified), waited for the beep, left the message and hung up through
    the stack saying so."""
    problems = []
    if (report.get("agent") or {}).get("notification") != "delivered":
        problems.append(f"your agent was not notified: {report.get('agent')}")
    if "played voicemail" not in call.events:
        problems.append("the voicemail message was never played to the end")
    started, beep_end = call.marks.get("message_started"), call.marks.get("beep_end")
    if started is None or beep_end is None or started < beep_end:
        problems.append(f"the message did not start after the beep ({started} ms; beep ended {beep_end} ms)")
    if "REST hangup" not in call.events:
        problems.append("your agent did not hang up through the stack")
    return problems


def _talked_with_your_agent(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if _frames(call, "playAudio") == 0:
        problems.append("your agent never spoke")
    if "pressed #" not in call.events or "REST hangup" not in call.events:
        problems.append("your agent did not hang up after #")
    if (report.get("agent") or {}).get("stream_url") is None:
        problems.append("the report does not say the call streamed to your agent")
    return problems


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
    external_agent: bool = False
    """The call streams to your own agent (the local stack's example agent); the agent policy notifies it."""
    events: Mapping[str, int] = field(default_factory=dict)
    """The call events the bus must carry for this call, each fact once: detail-type → how many."""

    @property
    def to(self) -> str:
        return number_for(self.callee, self.seconds)

    def by_hand(self) -> str:
        """The command that plays this scenario against `make local`."""
        message = f' --message "{self.voicemail_message}"' if self.voicemail_message else ""
        callee = f"{self.callee.value}={self.seconds}" if self.seconds else self.callee.value
        agent = (
            " --stream-url ws://127.0.0.1:3005/stream --agent-webhook-url http://127.0.0.1:3005/voicemail"
            if self.external_agent
            else ""
        )
        return (
            f"voiceagent call --callee {callee} --policy {self.policy}{message}{agent} "
            f"--from {FROM} --api-url http://127.0.0.1:3000 --no-sign"
        )

    def event_problems(self, events: list[dict[str, Any]]) -> list[str]:
        """What is wrong with the call's events on the bus: a fact missing, one too many, a duplicate."""
        problems = []
        ids = Counter(event["detail"]["event_id"] for event in events)
        problems += [f"event {event_id} arrived {n} times" for event_id, n in ids.items() if n > 1]
        distinct = {event["detail"]["event_id"]: event for event in events}.values()
        counted = Counter(event["detail-type"] for event in distinct)
        if counted != Counter(self.events):
            problems.append(f"events on the bus {dict(counted)}, expected {dict(self.events)}")
        return problems


RETRIES = int(os.environ.get("PLIVO_CALLBACK_RETRIES", "2"))
"""The stack's callback retry count (rc): Plivo tries a URL 1 + RETRIES times before its fallback URL."""

CALL = {"Call Placed": 1, "Call Answered": 1, "Stream Started": 1, "Stream Stopped": 1, "Call Completed": 1}
"""The facts of every answered call that streamed: each on the bus once."""
MACHINE = {**CALL, "Machine Detected": 1}
LEFT = {**MACHINE, "Voicemail Left": 1}

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "human",
        "A human answers, talks over the agent (barge-in), then presses # to end",
        CalleeKind.HUMAN,
        "agent",
        "human",
        _barge_in_and_goodbye,
        events=CALL,
    ),
    Scenario(
        "voicemail_hangup",
        "Voicemail answers; policy hangup",
        CalleeKind.MACHINE_NO_BEEP,
        "hangup",
        "voicemail_hangup",
        hung_up_by_policy,
        events=MACHINE,
    ),
    Scenario(
        "voicemail_transfer",
        "Voicemail answers; policy transfer to the voicemail XML",
        CalleeKind.MACHINE_NO_BEEP,
        "transfer",
        "voicemail_left",
        transferred,
        voicemail_message="Hi, this is Acme about your renewal.",
        events=LEFT,
    ),
    Scenario(
        "voicemail_agent",
        "Voicemail answers with a beep; policy agent: the stream leaves the message",
        CalleeKind.MACHINE_BEEP,
        "agent",
        "voicemail_left",
        agent_voicemail,
        events=LEFT,
    ),
    Scenario(
        "dropped_stream",
        "The stream drops mid-call; the <Redirect> after the <Stream> reconnects it with a fresh token",
        CalleeKind.DROPPED_STREAM,
        "agent",
        "human",
        recovered,
        events={**CALL, "Stream Started": 2, "Stream Dropped": 1, "Stream Recovered": 1},
    ),
    Scenario(
        "degraded_stream",
        "Plivo reports a degraded (slow) stream twice",
        CalleeKind.DEGRADED_STREAM,
        "agent",
        "human",
        _degraded,
        events={**CALL, "Stream Degraded": 2},
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
        events=CALL,
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
        events=CALL,
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
        events=LEFT,
    ),
    Scenario(
        "external_agent_voicemail",
        "Your own agent takes the stream; a machine answers: the signed notification, the message after the "
        "beep, the hangup through the stack",
        CalleeKind.MACHINE_BEEP,
        "agent",
        "voicemail_left",
        _left_by_your_agent,
        caller="+14155550204",
        external_agent=True,
        events={**LEFT, "Agent Notified": 1},
    ),
    Scenario(
        "external_agent_human",
        "Your own agent takes the stream; a human answers, talks, presses #: the agent hangs up",
        CalleeKind.HUMAN,
        "agent",
        "human",
        _talked_with_your_agent,
        caller="+14155550205",
        external_agent=True,
        events=CALL,
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
    events: list[dict[str, Any]] = field(default_factory=list)
    """The call's events as the bus delivered them, in the order the facts happened."""

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
    if scenario.external_agent:
        payload["stream_url"] = stack.config.agent_stream_url
        payload["agent_webhook_url"] = stack.config.agent_webhook_url
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

    results = list(await asyncio.gather(*(paced(scenario) for scenario in scenarios)))
    await stack.events_settled([(result.call_uuid, result.report.get("placement_id")) for result in results])
    by_name = {scenario.name: scenario for scenario in scenarios}
    for result in results:
        result.events = stack.events.of_call(result.call_uuid, result.report.get("placement_id"))
        problems = by_name[result.scenario].event_problems(result.events)
        result.problems += problems
        result.passed = result.passed and not problems
    return results
