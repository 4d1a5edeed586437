"""Calls placed by hand, as README shows, against `make local`: one call of each simulated callee with
``voiceagent call --callee KIND``, each followed to its end and found by an id ``POST /calls`` returned
(placement id or request_uuid) and by its CallUUID; listed by ``voiceagent calls``; and ended by
``voiceagent hangup`` while ringing and while answered.

The stack and every command run in their own processes, over real sockets on loopback, a few calls at a
time (the machine is small and the calls play in real time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.local_process import ROOT, running_stack, voiceagent

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]
FROM = "+14155550199"
BATCH = 3


@dataclass(frozen=True)
class ByHand:
    callee: str
    policy: str | None
    outcome: str
    answered_by: str
    found_by: str
    """Which id the user was given is used to find the call: placement_id or request_uuid."""


CALLEES = (
    ByHand("human", "agent", "human", "human", "placement_id"),
    ByHand("machine-beep", "transfer", "voicemail_left", "machine", "request_uuid"),
    ByHand("machine-no-beep", "agent", "voicemail_left", "machine", "placement_id"),
    ByHand("busy", None, "busy", "nobody", "request_uuid"),
    ByHand("no-answer", None, "no_answer", "nobody", "placement_id"),
    ByHand("failed", None, "failed", "nobody", "request_uuid"),
    ByHand("hangup-after=4", "agent", "human", "human", "placement_id"),
    ByHand("dropped-stream", "agent", "human", "human", "request_uuid"),
    ByHand("degraded-stream", "agent", "human", "human", "placement_id"),
)


def _json(output: str) -> Any:
    """The JSON document a command printed last (after any live lines)."""
    lines = output.splitlines()
    start = max(index for index, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def _api(env: dict[str, str]) -> list[str]:
    return ["--api-url", f"http://127.0.0.1:{env['LOCAL_HTTP_PORT']}", "--no-sign"]


def place(env: dict[str, str], callee: str, *options: str) -> dict[str, Any]:
    completed = voiceagent(env, "call", "--callee", callee, "--from", FROM, *options, *_api(env))
    assert completed.returncode == 0, completed.stderr
    placed: dict[str, Any] = _json(completed.stdout)
    assert placed["status"] == "requested"
    return placed


def follow(env: dict[str, str], call_id: str) -> subprocess.Popen[str]:
    """`voiceagent report ID --follow --json`, running until the call ends."""
    return subprocess.Popen(
        [sys.executable, "-m", "voiceagent_cli", "report", call_id, "--follow", "--json", *_api(env)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def report(env: dict[str, str], call_id: str) -> dict[str, Any]:
    completed = voiceagent(env, "report", call_id, "--json", *_api(env))
    assert completed.returncode == 0, completed.stderr
    found: dict[str, Any] = _json(completed.stdout)
    return found


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    with running_stack() as env:
        yield env


@pytest.fixture(scope="module")
def played(stack: dict[str, str]) -> list[tuple[ByHand, dict[str, Any], dict[str, Any], str]]:
    """Each callee's call: (the callee, what POST /calls answered, the final report, the live lines)."""
    results = []
    for start in range(0, len(CALLEES), BATCH):
        batch = CALLEES[start : start + BATCH]
        placed = [
            place(stack, item.callee, *(("--policy", item.policy) if item.policy else ())) for item in batch
        ]
        followers = [follow(stack, answer[item.found_by]) for item, answer in zip(batch, placed, strict=True)]
        for item, answer, follower in zip(batch, placed, followers, strict=True):
            out, err = follower.communicate(timeout=120)
            assert follower.returncode == 0, err
            results.append((item, answer, _json(out), out))
    return results


@pytest.mark.parametrize("callee", [item.callee for item in CALLEES])
def test_each_simulated_callee_is_found_by_the_id_it_was_given(
    callee: str, played: list[tuple[ByHand, dict[str, Any], dict[str, Any], str]], stack: dict[str, str]
) -> None:
    item, answer, final, live = next(result for result in played if result[0].callee == callee)

    assert (final["state"], final["outcome"], final["answered_by"]) == (
        "completed",
        item.outcome,
        item.answered_by,
    )
    assert final["ids"]["placement_id"] == answer["placement_id"]
    assert final["ids"]["request_uuid"] == answer["request_uuid"]
    assert final["ids"]["call_uuid"]
    assert "--- " in live  # the live view printed the call as it went
    by_call_uuid = report(stack, final["ids"]["call_uuid"])
    assert by_call_uuid["ids"] == final["ids"]
    assert by_call_uuid["outcome"] == item.outcome


def test_the_callees_do_what_their_kind_says(
    played: list[tuple[ByHand, dict[str, Any], dict[str, Any], str]],
) -> None:
    finals = {item.callee: final for item, _, final, _ in played}
    events = {callee: [entry["event"] for entry in final["timeline"]] for callee, final in finals.items()}

    assert finals["busy"]["hangup"]["cause"] == "USER_BUSY"
    assert finals["no-answer"]["hangup"]["cause"] == "NO_ANSWER"
    assert "answered" not in events["busy"]
    assert finals["hangup-after=4"]["hangup"]["source"] == "Callee"
    assert "voicemail XML served" in events["machine-beep"]
    assert "voicemail message finished" in events["machine-no-beep"]
    assert "stream ended #1: reconnect" in events["dropped-stream"]
    (stream,) = finals["degraded-stream"]["streams"]
    assert stream["degradations"] == 2
    assert any(event.startswith("agent: ") for event in events["human"])  # what the agent did


def test_the_calls_are_listed_and_filtered(
    played: list[tuple[ByHand, dict[str, Any], dict[str, Any], str]], stack: dict[str, str]
) -> None:
    listed = voiceagent(stack, "calls", "--json", "--limit", "100", *_api(stack))
    assert listed.returncode == 0, listed.stderr
    rows = {row["placement_id"]: row for row in _json(listed.stdout)["calls"]}
    for item, answer, _, _ in played:
        assert rows[answer["placement_id"]]["outcome"] == item.outcome

    busy = voiceagent(stack, "calls", "--outcome", "busy", *_api(stack))
    assert busy.returncode == 0, busy.stderr
    (busy_call,) = [answer for item, answer, _, _ in played if item.callee == "busy"]
    assert busy_call["placement_id"] in busy.stdout
    assert sum(line.startswith("20") for line in busy.stdout.splitlines()) == 1  # one row


def test_a_ringing_call_is_cancelled_and_an_answered_one_hung_up(stack: dict[str, str]) -> None:
    ringing = place(stack, "no-answer")
    talking = place(stack, "hangup-after=60", "--policy", "agent")
    deadline = time.monotonic() + 30
    while report(stack, talking["placement_id"])["state"] != "answered":
        assert time.monotonic() < deadline, "the call was never answered"
        time.sleep(0.5)

    cancelled = voiceagent(stack, "hangup", ringing["placement_id"], *_api(stack))
    hung_up = voiceagent(stack, "hangup", talking["request_uuid"], *_api(stack))

    assert cancelled.stdout.strip().endswith("cancelled while it was ringing"), cancelled.stderr
    assert hung_up.stdout.strip().endswith("hung up"), hung_up.stderr
    for call_id in (ringing["placement_id"], talking["placement_id"]):
        follower = follow(stack, call_id)
        _out, err = follower.communicate(timeout=60)
        assert follower.returncode == 0, err
    talked = report(stack, talking["placement_id"])
    assert talked["hangup"]["by"] == "us, through Plivo's REST API: POST /calls/{id}/hangup"
    assert any(entry["event"].startswith("hangup requested") for entry in talked["timeline"])
    assert any(
        entry["event"].startswith("cancel requested")
        for entry in report(stack, ringing["placement_id"])["timeline"]
    )
