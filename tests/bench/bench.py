"""`make bench`: what a user pays for, measured on this machine. One table on stdout, the same as JSON in
bench-results.json.

1. Cold start: import + init of each handler module in a fresh interpreter (median of 7), and what dominates.
2. Warm invocations in-process (moto): each webhook (first deliveries, freshly signed) and each WebSocket
   event type; the media frame path (parse, decode, VAD, agent, no reply) beside parsing the same frame with
   Plivo's own stream SDK models.
3. DynamoDB operations during a simulated 1-minute human call and a voicemail call.
4. AWS cost per call-minute from those counts and the list prices in tests/bench/prices.json.
5. The local stack under N concurrent calls at real-time pace: frame latency, frames lost, calls completed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
HANDLERS = {
    "media": "functions.media.app",
    "stream_connect": "functions.stream_connect.app",
    "answer": "functions.answer.app",
    "machine_detection": "functions.machine_detection.app",
    "voicemail": "functions.voicemail.app",
    "stream_status": "functions.stream_status.app",
    "hangup": "functions.hangup.app",
    "calls": "functions.calls.app",
}
DEPLOYED_ENV = {  # what template.yaml gives the functions that matters at import time
    "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent",
    "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgent",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
}
MEMORY_MB = {"media": 1024, "stream_connect": 256}  # template.yaml; every other function: the Globals' 512
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---------------------------------------------------------------- 1. cold start


def cold_start(runs: int = 7) -> list[dict[str, Any]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS", "AWS_"))},
        **DEPLOYED_ENV,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
    }
    rows = []
    for name, module in HANDLERS.items():
        probe = (
            f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
        )
        times = [
            float(
                subprocess.run(
                    [sys.executable, "-c", probe],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                ).stdout
            )
            for _ in range(runs)
        ]
        profile = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stderr
        children = []
        for line in profile.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].startswith("   ") and not parts[2].startswith("    "):
                children.append((int(parts[1]) / 1000, parts[2].strip()))
        top = ", ".join(f"{module_name} {ms:.0f}" for ms, module_name in sorted(children, reverse=True)[:3])
        target = 150 if name == "media" else 300
        rows.append(
            {
                "function": name,
                "median_ms": round(statistics.median(times), 1),
                "target_ms": target,
                "met": statistics.median(times) <= target,
                "dominated_by": top,
            }
        )
    return rows


# ---------------------------------------------------------------- in-process world (moto, responses)


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def configure_environment() -> None:
    """The functions' configuration for in-process runs; set before their modules are imported."""
    from tests.support import constants as c

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": c.REGION,
            "STAGE": c.STAGE,
            "CALLS_TABLE_NAME": c.TABLE_NAME,
            "PLIVO_AUTH_ID": c.TEST_AUTH_ID,
            "PLIVO_AUTH_TOKEN_PARAM": c.AUTH_TOKEN_PARAM,
            "WEBSOCKET_URL": c.WEBSOCKET_URL,
            "STREAM_RECOVERY_MAX_ATTEMPTS": "0",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            **DEPLOYED_ENV,
        }
    )


@contextmanager
def in_process_world() -> Iterator[Any]:
    """The unit tests' world: moto with the template's table, the token in SSM, Plivo REST intercepted."""
    import boto3
    import responses
    from moto import mock_aws

    from tests.support import constants as c
    from tests.support import plivo_api as api
    from tests.support.template import table_definition

    with mock_aws(), responses.RequestsMock(assert_all_requests_are_fired=False) as plivo:
        boto3.client("dynamodb").create_table(TableName=c.TABLE_NAME, **table_definition("CallsTable"))
        boto3.client("ssm").put_parameter(
            Name=c.AUTH_TOKEN_PARAM, Value=c.TEST_AUTH_TOKEN, Type="SecureString"
        )
        plivo.add(responses.POST, api.CREATE_CALL, json=api.created(), status=201)
        plivo.add(responses.DELETE, __import__("re").compile(rf"{api.ACCOUNT}/Call/[^/]+/"), status=204)
        plivo.add(
            responses.POST,
            __import__("re").compile(rf"{api.ACCOUNT}/Call/[^/]+/"),
            json={"message": "call transferred"},
            status=202,
        )
        yield plivo


@contextmanager
def counting_dynamodb() -> Iterator[Counter[str]]:
    from voiceagent import aws

    counts: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    client = aws.dynamodb()
    client.meta.events.register("before-call.dynamodb", count)
    try:
        yield counts
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)


def _timed(samples: int, make_event: Callable[[int], dict[str, Any]], handler: Any) -> list[float]:
    times = []
    context: Any = _Context()
    for index in range(samples + 1):
        event = make_event(index)
        started = time.perf_counter()
        handler(event, context)
        elapsed = (time.perf_counter() - started) * 1000
        if index:  # the first one warms the container
            times.append(elapsed)
    return times


# ---------------------------------------------------------------- 2. warm invocations


def warm_invocations(samples: int = 150) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    configure_environment()
    from dataclasses import replace

    from plivo_stream.types import MediaEvent

    from functions.answer import app as answer
    from functions.calls import app as calls
    from functions.hangup import app as hangup
    from functions.machine_detection import app as machine_detection
    from functions.media import app as media
    from functions.stream_connect import app as stream_connect
    from functions.stream_status import app as stream_status
    from functions.voicemail import app as voicemail
    from tests.local.plivo_sim import speech_frames
    from tests.support import constants as c
    from tests.support import make_events as ev
    from tests.support.audio import silence
    from tests.support.stream import StreamFrames
    from voiceagent.clock import utcnow
    from voiceagent.plivo import stream_protocol
    from voiceagent.store import open_store

    def call_form(index: int, **extra: str) -> dict[str, str]:
        return {**ev.CALL_FORM, "CallUUID": f"{index:08d}-0000-4000-8000-000000000000", **extra}

    rows = []
    with in_process_world():
        webhooks: dict[str, tuple[Callable[[int], dict[str, Any]], Any]] = {
            "answer": (
                lambda i: ev.http_event("/plivo/answer", form=call_form(i, CallStatus="in-progress")),
                answer.lambda_handler,
            ),
            "machine_detection (hangup)": (
                lambda i: ev.http_event("/plivo/machine-detection", form=call_form(i, Machine="true")),
                machine_detection.lambda_handler,
            ),
            "voicemail": (
                lambda i: ev.http_event("/plivo/voicemail", form=call_form(i)),
                voicemail.lambda_handler,
            ),
            "stream_status": (
                lambda i: ev.http_event(
                    "/plivo/stream-status",
                    form={
                        **ev.STREAM_FORM,
                        "CallUUID": call_form(i)["CallUUID"],
                        "Event": "StartStream",
                        "Timestamp": f"2024-11-24 12:30:{i % 60:02d}.{i:03d}",
                    },
                ),
                stream_status.lambda_handler,
            ),
            "hangup": (
                lambda i: ev.http_event("/plivo/hangup", form={**ev.HANGUP_FORM, **call_form(i)}),
                hangup.lambda_handler,
            ),
            "POST /calls": (lambda i: ev.calls_event(json.dumps(ev.PLACE_CALL)), calls.lambda_handler),
            "GET /calls/{id}": (lambda i: ev.report_event(call_form(1)["CallUUID"]), calls.lambda_handler),
        }
        for name, (make, handler) in webhooks.items():
            times = _timed(samples, make, handler)
            rows.append(
                {
                    "invocation": name,
                    "p50_ms": round(statistics.median(times), 3),
                    "p99_ms": round(percentile(times, 0.99), 3),
                }
            )

        # WebSocket events: $connect/$disconnect through their function (one fresh token per connect: each
        # opens one connection), frames through the media handler
        context: Any = _Context()
        answer.lambda_handler(ev.CASES["answer_outbound"](), context)

        def fresh_connect(i: int) -> dict[str, Any]:
            event = ev.signed_connect(query=ev.token_query(c.FAR_FUTURE, token_id=f"{i + 1:024x}"))
            return {**event, "requestContext": {**event["requestContext"], "connectionId": f"conn-{i}"}}

        rows.append(_ws_row("$connect", samples, fresh_connect, stream_connect.lambda_handler))
        stream_connect.lambda_handler(ev.CASES["stream_connect"](), context)
        open_store().calls.update_call(c.CALL_UUID, utcnow(), facts={"stream_id": c.STREAM_ID})
        stream = StreamFrames()
        media.lambda_handler(stream.start(), context)
        speech, quiet = speech_frames(20)[0], silence(20)
        for name, make in (
            ("media (speech)", lambda _i: stream.media(speech)),
            ("media (silence)", lambda _i: stream.media(quiet)),
            ("dtmf", lambda _i: stream.dtmf("5")),
            ("playedStream", lambda _i: stream.played("nothing-pending")),
            ("clearedAudio", lambda _i: stream.cleared()),
            ("malformed frame", functools.partial(_same, ev.CASES["media_frame_malformed"]())),
        ):
            rows.append(_ws_row(name, samples, make, media.lambda_handler))
        rows.append(
            _ws_row(
                "$disconnect",
                samples,
                lambda i: {
                    **ev.CASES["stream_disconnect"](),
                    "requestContext": {
                        **ev.CASES["stream_disconnect"]()["requestContext"],
                        "connectionId": f"conn-{i}",
                    },
                },
                stream_connect.lambda_handler,
            )
        )

        # What our code costs per frame, apart from its one read: deciding (parse, detectors, agent), beside
        # parsing the same frame with Plivo's own stream SDK models.
        runtime = media._runtime()
        record = runtime.connections.load(c.CONNECTION_ID)
        assert record is not None
        voice = speech_frames(60_000)
        frames = [stream.media(voice[index] if (index // 50) % 2 else quiet)["body"] for index in range(3000)]
        path, ours, reference = [], [], []
        now = utcnow()
        for frame in frames:
            started = time.perf_counter()
            decision = runtime.decide(record, stream_protocol.parse(frame), now)
            path.append((time.perf_counter() - started) * 1000)
            if decision.state.to_dict() != record.state:  # keep the detectors' state moving, as a call would
                record = replace(record, state=decision.state.to_dict())
            started = time.perf_counter()
            stream_protocol.parse(frame)
            ours.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            MediaEvent.model_validate(json.loads(frame))
            reference.append((time.perf_counter() - started) * 1000)
    frame_path = {
        "frames": len(frames),
        "path_p50_ms": round(statistics.median(path), 4),
        "path_p99_ms": round(percentile(path, 0.99), 4),
        "reads_per_frame": 1,
        "parse_p50_ms": round(statistics.median(ours), 4),
        "reference_parse_p50_ms": round(statistics.median(reference), 4),
        "target_path_p50_ms": 0.2,
    }
    frame_path["met"] = (
        frame_path["path_p50_ms"] <= 0.2
        and frame_path["parse_p50_ms"] <= frame_path["reference_parse_p50_ms"]
    )
    return rows, frame_path


def _same(event: dict[str, Any], _index: int) -> dict[str, Any]:
    return event


def _ws_row(name: str, samples: int, make: Callable[[int], dict[str, Any]], handler: Any) -> dict[str, Any]:
    times = _timed(samples, make, handler)
    return {
        "invocation": f"ws {name}",
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(percentile(times, 0.99), 3),
    }


# ---------------------------------------------------------------- 3. DynamoDB per call (and counts for cost)


def simulated_calls() -> dict[str, Any]:
    """A 1-minute human call and a voicemail (agent policy) call through the real handlers. Media frames go to
    the media runtime with a simulated 20 ms clock, so per-transition reads happen as often as in real time,
    and Plivo confirms each checkpoint 3 s after it was sent."""
    configure_environment()
    from functions.hangup import app as hangup
    from functions.machine_detection import app as machine_detection
    from functions.media import app as media
    from functions.stream_connect import app as stream_connect
    from functions.stream_status import app as stream_status
    from tests.support import constants as c
    from tests.support import make_events as ev
    from tests.support import seed
    from tests.support.audio import silence, tone
    from voiceagent.plivo.rest import Deadline

    context: Any = _Context()
    results: dict[str, Any] = {}
    for kind in ("human", "voicemail"):
        with in_process_world(), counting_dynamodb() as counts:
            seed.placement("agent")
            invocations: Counter[str] = Counter()
            seed.answered(context)
            stream_status.lambda_handler(ev.CASES["stream_status_start_stream"](), context)
            stream_connect.lambda_handler(ev.CASES["stream_connect"](), context)
            media.lambda_handler(ev.CASES["media_start"](), context)
            invocations.update(http=2, ws=2)
            clock = SimulatedClock()
            runtime = media._runtime()
            deadline = Deadline.after(600)
            writing_frames = 0
            posted_before = len(seed.frames_posted())
            seconds = 60 if kind == "human" else 20
            speech, quiet = tone(220, 20, 0.4), silence(20)
            for index in range(seconds * 50):
                clock.advance(0.02)
                if kind == "voicemail" and index == 100:
                    machine_detection.lambda_handler(ev.CASES["machine_detection_machine"](), context)
                    invocations["http"] += 1
                speaking = (index // 75) % 3 == 0 if kind == "human" else index < 250
                frame = ev.media_frame(speech if speaking else quiet, index + 4)
                writes = sum(counts[name] for name in WRITES)
                runtime.on_frame(c.CONNECTION_ID, json.dumps(frame), deadline)
                invocations["ws"] += 1
                writing_frames += sum(counts[name] for name in WRITES) > writes
                record = runtime.connections.load(c.CONNECTION_ID) if index % 150 == 149 else None
                if record is not None:
                    for offset, name in enumerate(sorted(record.state.get("pending") or [])):
                        played = {
                            "event": "playedStream",
                            "sequenceNumber": 100_000 + index + offset,
                            "streamId": c.STREAM_ID,
                            "name": name,
                        }
                        runtime.on_frame(c.CONNECTION_ID, json.dumps(played), deadline)
                        invocations["ws"] += 1
            stream_status.lambda_handler(ev.CASES["stream_status_stop_stream"](), context)
            hangup.lambda_handler(ev.CASES["hangup_human"](), context)
            stream_connect.lambda_handler(ev.CASES["stream_disconnect"](), context)
            invocations.update(http=2, ws=1)
            posted = seed.frames_posted()[posted_before:]
            frames = seconds * 50
            results[kind] = {
                "seconds": seconds,
                "dynamodb_writes": sum(counts[name] for name in WRITES),
                "dynamodb_reads": sum(n for op, n in counts.items() if op not in WRITES),
                "media_frames": frames,
                "media_frames_that_wrote": writing_frames,  # only where the agent's state changed
                "by_operation": dict(counts),
                "lambda_invocations": dict(invocations),
                "ws_messages_out": len(posted),
                "ws_bytes_out": sum(len(json.dumps(frame)) for frame in posted),
            }
    return results


class SimulatedClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


# ---------------------------------------------------------------- 4. cost per call-minute


def cost_per_minute(call: dict[str, Any], warm: list[dict[str, Any]]) -> dict[str, Any]:
    p = PRICES
    minutes = call["seconds"] / 60
    p50 = {row["invocation"]: row["p50_ms"] for row in warm}
    ws_ms = max(1.0, p50.get("ws media (silence)", 1.0))  # billed per started millisecond
    http_ms = statistics.mean(p50[name] for name in ("answer", "stream_status", "hangup"))
    ws_invocations = call["lambda_invocations"].get("ws", 0)
    http_invocations = call["lambda_invocations"].get("http", 0)
    lambda_cost = ws_invocations * (
        p["lambda_request"] + -(-ws_ms // 1) / 1000 * MEMORY_MB["media"] / 1024 * p["lambda_arm64_gb_second"]
    ) + http_invocations * (p["lambda_request"] + -(-http_ms // 1) / 1000 * 0.5 * p["lambda_arm64_gb_second"])
    inbound = ws_invocations  # every frame Plivo sends is one message (each far below 32 KB)
    websocket_cost = (inbound + call["ws_messages_out"]) * p["apigw_websocket_message"] + minutes * p[
        "apigw_websocket_connection_minute"
    ]
    http_cost = http_invocations * p["apigw_http_request"]
    # Items here are under 1 KB, except the call item (~2 KB): count 2 units for each write to it, generously.
    dynamodb_cost = (
        call["dynamodb_writes"] * 2 * p["dynamodb_write_request_unit"]
        + call["dynamodb_reads"] * p["dynamodb_read_request_unit"]
    )
    total = lambda_cost + websocket_cost + http_cost + dynamodb_cost
    floor = 50 * 60 * p["apigw_websocket_message"]  # ~3,000 inbound frames a minute
    return {
        "per_minute_usd": round(total / minutes, 6),
        "floor_usd": round(floor, 6),
        "ratio_to_floor": round(total / minutes / floor, 3),
        "target_ratio": 1.25,
        "breakdown_per_minute_usd": {
            "lambda": round(lambda_cost / minutes, 6),
            "apigw_websocket": round(websocket_cost / minutes, 6),
            "apigw_http": round(http_cost / minutes, 6),
            "dynamodb": round(dynamodb_cost / minutes, 6),
        },
        "assumptions": (
            f"media warm {ws_ms} ms at {MEMORY_MB['media']} MB, webhooks {http_ms:.1f} ms at 512 MB, "
            "Lambda platform logs off for the media function (SystemLogLevel WARN)"
        ),
    }


# ---------------------------------------------------------------- 5. local stack load


def local_load(runs: tuple[tuple[int, float], ...]) -> list[dict[str, Any]]:
    """Each run: (calls, time scale); the stack itself always runs at full speed."""
    return [
        subprocess_json([sys.executable, "-m", "tests.bench.load", str(calls), "--time-scale", str(scale)])
        for calls, scale in runs
    ]


def campaigns(runs: str) -> list[dict[str, Any]]:
    """``"1000@50,1000@50/crash"``: each a campaign of CONTACTS at PACE calls/s (tests.bench.campaign), the
    ``/crash`` one with a dialer container killed mid-batch."""
    results = []
    for part in runs.split(","):
        if not part.strip():
            continue
        spec, _, crash = part.strip().partition("/")
        contacts, _, pace = spec.partition("@")
        command = [
            sys.executable,
            "-m",
            "tests.bench.campaign",
            "--contacts",
            contacts,
            "--pace",
            pace or "50",
        ]
        results.append(subprocess_json([*command, *(["--crash"] if crash == "crash" else [])], timeout=1200))
    return results


def voicemail(calls: int) -> dict[str, Any]:
    return subprocess_json([sys.executable, "-m", "tests.bench.voicemail", "--calls", str(calls)])


def _runs(text: str) -> tuple[tuple[int, float], ...]:
    """``"3,50/10"``: 3 calls in real time, 50 calls at a tenth of real time."""
    runs = []
    for part in text.split(","):
        if part.strip():
            calls, _, scale = part.strip().partition("/")
            runs.append((int(calls), float(scale or 1)))
    return tuple(runs)


def subprocess_json(command: list[str], timeout: float = 600) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / part) for part in ("layers/common", "layers/cli", ".")),
    }
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, cwd=ROOT, check=False, timeout=timeout
    )
    if completed.returncode != 0:
        return {"error": completed.stderr[-2000:]}
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    lines = [
        "COLD START (import + init, fresh interpreter, median of 7)",
        f"  {'function':<20}{'median ms':>10}{'target':>8}  met  dominated by (cumulative ms)",
    ]
    for row in results["cold_start"]:
        lines.append(
            f"  {row['function']:<20}{row['median_ms']:>10}{row['target_ms']:>8}  "
            f"{'yes' if row['met'] else 'NO ':<4} {row['dominated_by']}"
        )
    lines += ["", "WARM INVOCATIONS (in-process, moto)", f"  {'invocation':<30}{'p50 ms':>9}{'p99 ms':>9}"]
    for row in results["warm"]:
        lines.append(f"  {row['invocation']:<30}{row['p50_ms']:>9}{row['p99_ms']:>9}")
    fp = results["frame_path"]
    lines += [
        "",
        f"MEDIA FRAME PATH ({fp['frames']} frames: deciding one - parse, decode, VAD, beep detector, agent - "
        "beside its one DynamoDB read)",
        f"  path p50 {fp['path_p50_ms']} ms (target ≤ 0.2), p99 {fp['path_p99_ms']} ms",
        f"  parse p50 {fp['parse_p50_ms']} ms vs plivo-stream-sdk models {fp['reference_parse_p50_ms']} ms"
        f"  -> {'met' if fp['met'] else 'NOT MET'}",
    ]
    lines += ["", "DYNAMODB PER CALL"]
    for kind, call in results["calls"].items():
        lines.append(
            f"  {kind:<10} {call['seconds']:>3} s: writes {call['dynamodb_writes']} (target ≤ 20), reads "
            f"{call['dynamodb_reads']}; {call['media_frames_that_wrote']} of {call['media_frames']} "
            "media frames wrote (agent state changes only; target: none per frame)"
        )
    cost = results["cost"]
    lines += [
        "",
        "AWS COST PER CALL-MINUTE (human call; prices in tests/bench/prices.json)",
        f"  ${cost['per_minute_usd']:.6f} per minute = {cost['ratio_to_floor']} x the floor "
        f"${cost['floor_usd']:.6f} (3,000 inbound WebSocket messages); target ≤ {cost['target_ratio']} x",
        "  " + ", ".join(f"{k} ${v:.6f}" for k, v in cost["breakdown_per_minute_usd"].items()),
        f"  assumes {cost['assumptions']}",
    ]
    lines += _render_voicemail(results.get("voicemail") or {})
    lines += _render_load(results.get("load") or [])
    lines += _render_campaigns(results.get("campaigns") or [])
    return "\n".join(lines)


def _render_campaigns(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "CAMPAIGNS (local stack, simulated Plivo; pacing, placement, outcomes from the bus, retries, crash)",
        f"  {'contacts':>8}{'pace':>6}{'crash':>6}{'calls':>7}{'max/1s':>7}{'first s':>8}{'ideal s':>8}"
        f"{'total s':>8}{'dup':>5}{'lost':>5}{'retries off':>12}  settled by",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"  error: {row['error'][-300:]}")
            continue
        lines.append(
            f"  {row['contacts']:>8}{row['pace']:>6}{'yes' if row['crash'] else 'no':>6}"
            f"{row['calls_placed']:>7}"
            f"{row['max_calls_in_any_second_window']:>7}{row['first_attempts_seconds']:>8}"
            f"{row['first_attempts_ideal_seconds']:>8}{row['campaign_seconds']:>8}{row['duplicates']:>5}"
            f"{row['lost_contacts']:>5}{row['retries_not_as_configured']:>12}  {row['attempts_settled_by']}"
        )
    return lines


def _render_voicemail(result: dict[str, Any]) -> list[str]:
    if not result:
        return []
    if "error" in result:
        return ["", f"VOICEMAIL: error {result['error'][-300:]}"]
    d, m = result["detector"], result["message_start"]
    costs = ", ".join(f"{label} {v['p50']}/{v['p99']}" for label, v in d["frame_cost_us"].items())
    return [
        "",
        f"BEEP DETECTOR (corpus: {d['cases']} cases, {d['beep_cases']} with a beep; "
        f"{d['dropped_frames']:.0%} of frames lost)",
        f"  recall {d['recall']:.1%} (target ≥ 98 %); false alarms {sum(d['false_alarms'].values())} in "
        f"{d['negative_cases']} cases without a beep {d['false_alarms']}",
        f"  end error ms {d['end_error_ms']}; reported after the end ms {d['reported_after_end_ms']}; "
        f"frequency error Hz {d['frequency_error_hz']}",
        f"  CPU per frame µs p50/p99: {costs}",
        "",
        f"VOICEMAIL MESSAGE START (agent policy, local stack, 4 containers, {m['calls']} calls, real time)",
        f"  started before the beep ended: {m['starts_before_the_beep_ended']}, mid-greeting: "
        f"{m['starts_mid_greeting']} (target 0 and 0)",
        f"  after the beep's end ms {m['after_beep_ms']}; within 300 ms: {m['within_300_ms_after_beep']:.0%} "
        "(target ≥ 95 %)",
        f"  detection after the beep -> message ms {m['late_detection_to_message_ms']} (target ≤ 1000)",
        f"  no beep: after the greeting's end ms {m['no_beep_after_greeting_ms']} (the silence rule)",
        f"  calls unfinished after 120 s: {len(m.get('unfinished', []))} {m.get('unfinished', [])}",
    ]


def _render_load(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "LOCAL STACK LOAD (human calls: a barge-in and 3 turns each; every function in 4+ containers)",
        f"  {'calls':>5}{'scale':>6}{'done':>6}{'frames':>8}{'lost':>6}{'turns':>7}{'heard':>7}"
        f"{'frame p50/p99 ms':>18}{'barge-in p50/p95':>18}{'reads/f':>8}{'writes/f':>9}",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"  error: {row['error'][-300:]}")
            continue
        lines.append(
            f"  {row['calls']:>5}{row['time_scale']:>6}{row['completed']:>6}{row['frames_sent']:>8}"
            f"{row['frames_lost']:>6}{row['turns']:>7}{row['turns_heard_once']:>7}"
            f"{str(row['frame_p50_ms']) + '/' + str(row['frame_p99_ms']):>18}"
            f"{str(row['barge_in_p50_ms']) + '/' + str(row['barge_in_p95_ms']):>18}"
            f"{row['dynamodb_reads_per_frame']:>8}{row['dynamodb_writes_per_frame']:>9}"
        )
    return lines


def _quietly(work: Callable[[], Any]) -> Any:
    """Run in-process handlers without their EMF metric lines on stdout (the table is the output)."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        return work()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--load",
        default="3,50/10",
        help="local load runs: CALLS or CALLS/TIME_SCALE, comma-separated ('' = skip)",
    )
    parser.add_argument(
        "--voicemail-calls", type=int, default=20, help="calls for the voicemail run (0 = skip)"
    )
    parser.add_argument(
        "--campaigns",
        default="1000@50,1000@50/crash",
        help="campaign runs: CONTACTS@PACE[/crash], comma-separated ('' = skip)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": {"python": sys.version.split()[0], "cpus": os.cpu_count()}}
    results["cold_start"] = cold_start()
    results["warm"], results["frame_path"] = _quietly(warm_invocations)
    results["calls"] = _quietly(simulated_calls)
    results["cost"] = cost_per_minute(results["calls"]["human"], results["warm"])
    results["voicemail"] = voicemail(args.voicemail_calls) if args.voicemail_calls else {}
    results["load"] = local_load(_runs(args.load))
    results["campaigns"] = campaigns(args.campaigns)
    args.output.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\n(written to {args.output})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
