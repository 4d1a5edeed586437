"""Whole calls played end to end on the local stack: each places a call through ``POST /calls`` (the CLI's
code path), lets the simulated Plivo and its scripted callee play it, and reads the call's report back."""

from __future__ import annotations

import asyncio
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


def _transferred(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if not call.transferred_to or "/plivo/voicemail" not in call.transferred_to:
        problems.append(f"not transferred to the voicemail XML: {call.transferred_to}")
    if "voicemail XML served" not in _timeline(report):
        problems.append("voicemail XML not on the timeline")
    return problems


def _agent_voicemail(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if "played voicemail" not in call.events:
        problems.append("the voicemail message was never played to the end")
    if "voicemail message finished" not in _timeline(report):
        problems.append("the voicemail message did not finish on the timeline")
    if "REST hangup" not in call.events:
        problems.append("the agent did not hang up after the message")
    return problems


def _recovered(report: dict[str, Any], call: SimCall) -> list[str]:
    problems = []
    if call.streams_started != 2:
        problems.append(f"expected a second stream after the drop, got {call.streams_started} streams")
    if not any(event.startswith("stream recovery #1") for event in _timeline(report)):
        problems.append("no recovery on the timeline")
    if not any(stream["hangup_reason"] == "Connection error" for stream in report["streams"]):
        problems.append("the dropped stream is not reported as a connection error")
    return problems


def _degraded(report: dict[str, Any], call: SimCall) -> list[str]:
    (stream,) = report["streams"] or [{}]
    if stream.get("degradations") != 2 or stream.get("last_degradation_level") != "60":
        return [f"expected 2 degradations ending at 60 %, got {stream}"]
    return []


def _hung_up_by_policy(report: dict[str, Any], call: SimCall) -> list[str]:
    return [] if "REST hangup" in call.events else ["the hangup policy did not hang up"]


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

    @property
    def to(self) -> str:
        return number_for(self.callee)

    def by_hand(self) -> str:
        """The command that plays this scenario against `make local`."""
        message = f' --message "{self.voicemail_message}"' if self.voicemail_message else ""
        return (
            f"voiceagent call --callee {self.callee.value} --policy {self.policy}{message} --from {FROM} "
            "--api-url http://127.0.0.1:3000 --no-sign"
        )


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
        _hung_up_by_policy,
    ),
    Scenario(
        "voicemail_transfer",
        "Voicemail answers; policy transfer to the voicemail XML",
        CalleeKind.MACHINE_NO_BEEP,
        "transfer",
        "voicemail_left",
        _transferred,
        voicemail_message="Hi, this is Acme about your renewal.",
    ),
    Scenario(
        "voicemail_agent",
        "Voicemail answers with a beep; policy agent: the stream leaves the message",
        CalleeKind.MACHINE_BEEP,
        "agent",
        "voicemail_left",
        _agent_voicemail,
    ),
    Scenario(
        "dropped_stream",
        "The stream drops mid-call and is restarted",
        CalleeKind.DROPPED_STREAM,
        "agent",
        "human",
        _recovered,
    ),
    Scenario(
        "degraded_stream",
        "Plivo reports a degraded (slow) stream twice",
        CalleeKind.DEGRADED_STREAM,
        "agent",
        "human",
        _degraded,
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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def play(
    stack: LocalStack, scenario: Scenario, timeout: float = 45.0, lines: CallLines | None = None
) -> Result:
    started = time.monotonic()
    base = stack.config.public_base_url
    payload: dict[str, Any] = {"to": scenario.to, "from": FROM, "policy": scenario.policy}
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
    )


async def play_all(
    stack: LocalStack, scenarios: tuple[Scenario, ...] = SCENARIOS, lines: CallLines | None = None
) -> list[Result]:
    """All scenarios at once, as a campaign would place them."""
    return list(await asyncio.gather(*(play(stack, scenario, lines=lines) for scenario in scenarios)))
