"""Rehearsed faults on the local stack (``python -m tests.local.rehearsal``): calls played end to end while
the things that fail in production fail, over real sockets, every function in Lambda-like containers.

- Plivo's REST API answers ``429`` then ``500`` to the transfer policy's transfer, and times out (after
  hanging up) on the hangup policy's hangup;
- DynamoDB throttles a call's records when machine detection arrives (agent policy), and when Plivo fetches
  the ``<Redirect>`` after a dropped stream (which our side also answers ``503`` once);
- a media container dies mid-frame, after committing the stream's state and before sending what it decided;
- 200 new streams connect within about a second.

Each call must still end as it should, with each action done once. It prints one JSON line (and writes it with
``--json``); run with ``LOCAL_METRICS=1`` to have the functions print their metrics (EMF) on stdout as well,
which the integration test adds up to see that the metrics tell what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from tests.local.moto_server import STATS_PATH
from tests.local.plivo_sim import SimCall
from tests.local.scenarios import (
    Check,
    Result,
    Scenario,
    all_of,
    hung_up_by_policy,
    message_after_the_beep,
    play,
    recovered,
    transferred,
    voicemail_left_whole,
)
from tests.local.stack import LocalConfig, LocalStack
from tests.support.plivo_signing import signed_upgrade_headers
from voiceagent.credentials import derive_stream_token_key
from voiceagent.store import open_store
from voiceagent.store.states import CallState
from voiceagent.streams import tokens
from voiceagent_cli.callees import CalleeKind

Socket = aiohttp.ClientWebSocketResponse
PLIVO_TIMEOUT_SECONDS = "1"
"""The functions' Plivo REST timeout here: a rehearsed timeout answers after 3 s, so the client gives up."""
BURST = 200
CRASH_POINT = "voiceagent.media.connections.StreamConnections.send"
"""Where the media container dies: after its frame committed the stream's state, before the first frame
it decided is sent to Plivo (the outbox entry stays; a later frame carries it out once the lease is over)."""


SETTLE_SECONDS = 4.0
"""After the calls end, how long the webhooks still running (a timed-out Plivo call being retried) get to
finish before the reports are read and checked."""


def _once(what: str) -> Check:
    """``what`` happened to the call exactly once on Plivo's side (e.g. ``REST transfer``)."""

    def check(report: dict[str, Any], call: SimCall) -> list[str]:
        done = call.events.count(what)
        return [] if done == 1 else [f"{what}: {done} times"]

    return check


def _requests(stack: LocalStack, method: str, expected: int) -> Check:
    """Plivo received ``expected`` REST requests of ``method`` about the call (the refused ones included)."""

    def check(report: dict[str, Any], call: SimCall) -> list[str]:
        sent = sum(
            1 for m, path in stack.plivo.rest_requests if m == method and f"/Call/{call.call_uuid}/" in path
        )
        return [] if sent == expected else [f"{sent} {method} requests to Plivo, expected {expected}"]

    return check


def _policy_recorded(report: dict[str, Any], call: SimCall) -> list[str]:
    policy = next((row for row in report["timeline"] if row["event"] == "voicemail policy"), None)
    return [] if policy else ["the voicemail policy's result is not on the timeline"]


def _greeting_once(report: dict[str, Any], call: SimCall) -> list[str]:
    played = [frame for frame in call.frames_received if frame.get("event") == "checkpoint"]
    greetings = sum(1 for frame in played if frame.get("name") == "greeting")
    return [] if greetings <= 1 else [f"the greeting was queued {greetings} times"]


@dataclass(frozen=True)
class Rehearsal:
    scenario: Scenario
    arm: Callable[[LocalStack, str], None]
    """Sets the faults up for the scenario's caller id, before the call is placed."""
    plivo_side: Callable[[LocalStack], Check] = lambda _stack: lambda _report, _call: []
    """What Plivo must have received, checked once everything settled."""


REHEARSALS = (
    Rehearsal(
        Scenario(
            "transfer_plivo_429_500",
            "Transfer policy; Plivo's REST API answers 429, then 500, then transfers",
            CalleeKind.MACHINE_NO_BEEP,
            "transfer",
            "voicemail_left",
            all_of(transferred, _once("REST transfer"), _policy_recorded),
            voicemail_message="Hi, this is Acme about your renewal.",
            caller="+14155550301",
        ),
        lambda stack, caller: stack.plivo.rest_faults.fail("transfer", caller, "429", "500"),
        lambda stack: _requests(stack, "POST", 3),  # refused twice (the SDK re-sends the 500 itself), done
    ),
    Rehearsal(
        Scenario(
            "hangup_plivo_timeout",
            "Hangup policy; Plivo hangs up but answers too late; the retry finds the call over",
            CalleeKind.MACHINE_NO_BEEP,
            "hangup",
            "voicemail_hangup",
            all_of(hung_up_by_policy, _once("REST hangup"), _policy_recorded),
            caller="+14155550302",
        ),
        lambda stack, caller: stack.plivo.rest_faults.fail("hangup", caller, "timeout"),
        lambda stack: _requests(stack, "DELETE", 2),  # hung up but answered late; the retry finds it over
    ),
    Rehearsal(
        Scenario(
            "agent_policy_dynamodb_throttled",
            "Agent policy; DynamoDB throttles the call's records as machine detection arrives",
            CalleeKind.MACHINE_BEEP,
            "agent",
            "voicemail_left",
            # Late is allowed (the storm held the message back), early never.
            all_of(voicemail_left_whole, message_after_the_beep(None), _policy_recorded),
            caller="+14155550303",
        ),
        lambda stack, caller: stack.faults.throttle("/plivo/machine-detection", caller, 3),
    ),
    Rehearsal(
        Scenario(
            "recovery_under_faults",
            "The stream drops; the <Redirect> gets a 503, then DynamoDB throttles it, then it reconnects",
            CalleeKind.DROPPED_STREAM,
            "agent",
            "human",
            recovered,
            faults=(("/plivo/stream-ended", 1),),
            caller="+14155550304",
        ),
        lambda stack, caller: stack.faults.throttle("/plivo/stream-ended", caller, 3),
    ),
)
CRASHED = Scenario(
    "media_container_dies",
    "A human talks for 20 s; a media container dies between committing a frame and sending its audio",
    CalleeKind.HANGUP_AFTER,
    "agent",
    "human",
    _greeting_once,
    caller="+14155550305",
    seconds=20,
)


async def _crash_once_streaming(stack: LocalStack, caller: str) -> None:
    """Arm the crash as soon as the call's stream is up, so it lands on one of its frames."""
    while True:
        calls = [call for call in stack.plivo.calls.values() if call.params.get("from") == caller]
        if calls and calls[0].streams_started:
            stack.lambdas.pools["media"].crash_next(CRASH_POINT, until_one_dies=True)
            return
        await asyncio.sleep(0.05)


async def _crashed_call(stack: LocalStack) -> tuple[Result, int]:
    arming = asyncio.create_task(_crash_once_streaming(stack, CRASHED.caller))
    result = await play(stack, CRASHED, timeout=60)
    arming.cancel()
    return result, stack.lambdas.pools["media"].stats.crashes


async def _burst(stack: LocalStack, size: int = BURST) -> dict[str, Any]:
    """``size`` answered calls whose streams all connect at once, with Plivo's signature and a fresh token
    each; then the same URLs again (each token opens one connection only); then all close."""
    store = open_store()
    now = datetime.now(UTC)
    call_uuids = [str(uuid.uuid4()) for _ in range(size)]
    for call_uuid in call_uuids:
        store.calls.transition(call_uuid, CallState.ANSWERED, now, {"to": "+14155550100"})
    key = derive_stream_token_key(stack.config.auth_token)
    issued = int(time.time())
    websocket_url = stack.config.websocket_url
    urls = [tokens.stream_url(websocket_url, key, call_uuid, issued, 300) for call_uuid in call_uuids]

    def attached() -> int:
        return sum(
            1 for call_uuid in call_uuids if (store.calls.get_call(call_uuid) or {}).get("connection_id")
        )

    async def connect(session: aiohttp.ClientSession, url: str) -> tuple[int, Socket | None]:
        headers = signed_upgrade_headers(url=url, auth_token=stack.config.auth_token)
        try:
            return 101, await session.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, None

    unlimited = aiohttp.TCPConnector(limit=0)  # Plivo opens each stream on its own connection
    async with aiohttp.ClientSession(connector=unlimited, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.perf_counter()
        opened = await asyncio.gather(*(connect(session, url) for url in urls))
        seconds = time.perf_counter() - started
        connected = attached()
        again = await asyncio.gather(*(connect(session, url) for url in urls))
        for _status, socket in [*opened, *again]:
            if socket is not None:
                await socket.close()
    closed = time.perf_counter()
    while attached() and time.perf_counter() - closed < 30:  # the $disconnects land
        await asyncio.sleep(0.5)
    still_attached = attached()
    pool = stack.lambdas.pools["stream_connect"].stats
    return {
        "streams": size,
        "seconds": round(seconds, 2),
        "statuses": dict(Counter(str(status) for status, _ in opened)),
        "attached": connected,
        "reused_token_statuses": dict(Counter(str(status) for status, _ in again)),
        "attached_after_close": still_attached,
        "detached_seconds": round(time.perf_counter() - closed, 1),
        "connect_function": {
            "invocations": pool.invocations,
            "cold_starts": pool.cold_starts,
            "waits": pool.waits,
        },
    }


def _dynamodb_throttled(stack: LocalStack) -> int:
    import urllib.request

    url = f"http://{stack.config.host}:{stack.config.dynamodb_port}{STATS_PATH}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(json.loads(response.read()).get("Throttled", 0))


def _heard(call: SimCall) -> list[str]:
    """What the call's line got from us, in order (runs of playAudio as one), and what it noted."""
    frames: list[str] = []
    for frame in call.frames_received:
        label = str(frame.get("event"))
        if label == "checkpoint":
            label += f" {frame.get('name')}"
        if not (label == "playAudio" and frames and frames[-1] == label):
            frames.append(label)
    return [*frames, "| events:", *call.events]


async def _settled(stack: LocalStack, result: Result, check: Check) -> Result:
    """The call's result once everything it started has finished: its report read again, checked again."""
    call = stack.plivo.calls.get(result.call_uuid or "")
    if call is None:
        return result
    url = f"{stack.config.public_base_url}/calls/{call.call_uuid}"
    async with aiohttp.ClientSession() as session, session.get(url) as got:
        report = await got.json()
    scenario = next(
        rehearsal.scenario for rehearsal in REHEARSALS if rehearsal.scenario.name == result.scenario
    )
    problems = [] if report.get("outcome") == scenario.outcome else [f"outcome {report.get('outcome')!r}"]
    problems += scenario.check(report, call) + check(report, call)
    return replace(
        result, problems=problems, passed=not problems, outcome=report.get("outcome"), report=report
    )


async def run() -> dict[str, Any]:
    os.environ["PLIVO_TIMEOUT_SECONDS"] = PLIVO_TIMEOUT_SECONDS
    stack = LocalStack(LocalConfig.from_env(ephemeral=True, simulated_only=True))
    await stack.start()
    try:
        for rehearsal in REHEARSALS:
            rehearsal.arm(stack, rehearsal.scenario.caller)
        played = await asyncio.gather(
            *(play(stack, rehearsal.scenario, timeout=60) for rehearsal in REHEARSALS)
        )
        await asyncio.sleep(SETTLE_SECONDS)
        results = [
            await _settled(stack, result, rehearsal.plivo_side(stack))
            for result, rehearsal in zip(played, REHEARSALS, strict=True)
        ]
        crashed, crashes = await _crashed_call(stack)
        results.append(crashed)
        burst = await _burst(stack)
        throttled = _dynamodb_throttled(stack)
    finally:
        await stack.stop()
    failed_deliveries = Counter(f"{path} {failure}" for path, failure in stack.plivo.failed_deliveries)
    return {
        "scenarios": {result.scenario: result.problems for result in results},
        "outcomes": {result.scenario: result.outcome for result in results},
        "timelines": {
            result.scenario: [f"{row['event']}: {row['detail']}" for row in result.report.get("timeline", [])]
            for result in results
            if result.problems
        },
        "lines": {result.scenario: result.line for result in results},
        "heard": {
            result.scenario: _heard(stack.plivo.calls[result.call_uuid])
            for result in results
            if result.problems and result.call_uuid in stack.plivo.calls
        },
        "rest_faults_injected": dict(stack.plivo.rest_faults.injected),
        "webhook_faults_injected": dict(stack.faults.injected),
        "webhook_deliveries_failed": dict(failed_deliveries),
        "dynamodb_requests_throttled": throttled,
        "media_container_crashes": crashes,
        "burst": burst,
        "lost_callbacks": stack.plivo.lost_callbacks,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    args = parser.parse_args()
    summary = asyncio.run(run())
    line = json.dumps(summary)
    print(line, flush=True)
    if args.json:
        args.json.write_text(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
