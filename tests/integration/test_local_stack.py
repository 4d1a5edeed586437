"""Every scenario of `make demo`, played over real sockets (loopback only) against the local stack: real HTTP
webhooks into the unchanged handlers, real WebSocket streams at real-time pace, moto's server for DynamoDB.

The stack runs in its own process (as `make demo` does), so its environment never mixes with the unit tests'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.local.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("demo") / "results.json"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.local.demo", "--ephemeral-ports", "--json", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert output.exists(), completed.stdout[-4000:] + completed.stderr[-4000:]
    results: dict[str, Any] = json.loads(output.read_text())
    results["exit_code"] = completed.returncode
    results["stdout"] = completed.stdout
    return results


@pytest.mark.parametrize("scenario", [scenario.name for scenario in SCENARIOS])
def test_scenario_plays_end_to_end(scenario: str, demo_run: dict[str, Any]) -> None:
    (result,) = [result for result in demo_run["results"] if result["scenario"] == scenario]
    assert result["passed"], result["problems"]
    assert result["report"]["state"] == "completed"


def test_no_callback_was_refused_and_the_demo_exits_zero(demo_run: dict[str, Any]) -> None:
    assert demo_run["lost_callbacks"] == 0
    assert demo_run["exit_code"] == 0, demo_run["stdout"][-3000:]
    assert f"{len(SCENARIOS)} passed, 0 failed" in demo_run["stdout"]


def test_every_function_ran_and_frames_flowed(demo_run: dict[str, Any]) -> None:
    invoked = demo_run["invocations"]
    functions = ("answer", "machine_detection", "voicemail", "stream_status", "hangup", "calls", "media")
    for function in (*functions, "stream_connect"):
        assert invoked.get(function, 0) > 0, function
    assert demo_run["frames_handled"] > 1000  # ~50 per second per call


def test_each_lifecycle_fact_of_every_demo_call_is_on_the_bus_once(demo_run: dict[str, Any]) -> None:
    """Through the table's stream, call_events, moto's bus and a rule to a queue: every fact the scenario's
    call had, each exactly once (Plivo's retried webhooks and the fallback URL included), and no other."""
    expected = {scenario.name: scenario.events for scenario in SCENARIOS}
    for result in demo_run["results"]:
        events = result["events"]
        ids = Counter(event["detail"]["event_id"] for event in events)
        assert max(ids.values()) == 1, (result["scenario"], ids)
        assert Counter(event["detail-type"] for event in events) == Counter(expected[result["scenario"]]), (
            result["scenario"]
        )
        for event in events:
            assert event["source"] == "plivo-voice-agent"
            assert event["detail"]["schema_version"] == 1
            assert event["detail"]["placement_id"] == result["report"]["placement_id"]
    every = [event["detail"]["event_id"] for result in demo_run["results"] for event in result["events"]]
    campaign = demo_run["campaign"]["campaign_id"]
    of_scenarios = [
        event
        for event in demo_run["call_events"]
        if (event["detail"].get("metadata") or {}).get("campaign_id") != campaign
    ]
    assert len(of_scenarios) == len(every)  # nothing on the bus that belongs to no demo call
    of_campaign = [event["detail"] for event in demo_run["call_events"] if event not in of_scenarios]
    # The campaign's own events: each once and each its attempt's (the campaign demo checks that every attempt
    # was settled by its Call Completed; the recorder may not have drained the last ones when the demo ends).
    assert len({detail["event_id"] for detail in of_campaign}) == len(of_campaign)
    completed = [detail for detail in of_campaign if detail["event_id"].endswith(":call-completed")]
    assert 0 < len(completed) <= demo_run["campaign"]["calls_placed"]
    assert all(str(detail["placement_id"]).startswith(f"{campaign}-") for detail in of_campaign)
    assert demo_run["call_events_function"] > 0


def test_completed_carries_the_calls_outcome(demo_run: dict[str, Any]) -> None:
    for result in demo_run["results"]:
        (completed,) = [event for event in result["events"] if event["detail-type"] == "Call Completed"]
        assert completed["detail"]["outcome"] == result["report"]["outcome"]
        assert completed["detail"]["call_uuid"] == result["call_uuid"]


def test_the_example_agent_took_its_streams_and_left_the_voicemail(demo_run: dict[str, Any]) -> None:
    """Real WebSocket connections to examples/external_agent: the token checked, the signed notification
    verified, the message left after the beep, the call hung up through the stack."""
    agent = demo_run["agent"]
    streamed = [scenario for scenario in SCENARIOS if scenario.external_agent]
    assert agent["connects"] == len(streamed)
    assert agent["connects_refused"] == 0
    assert agent["notifications"] == agent["voicemails_left"] == 1
    assert agent["notifications_refused"] == 0
    results = {result["scenario"]: result for result in demo_run["results"]}
    voicemail = results["external_agent_voicemail"]
    assert voicemail["report"]["outcome"] == "voicemail_left"
    (notified,) = [event for event in voicemail["events"] if event["detail-type"] == "Agent Notified"]
    assert notified["detail"]["delivered"] is True
    assert notified["detail"]["fallback"] is None
    (left,) = [event for event in voicemail["events"] if event["detail-type"] == "Voicemail Left"]
    assert left["detail"]["via"] == "external_agent"
