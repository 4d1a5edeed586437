"""A campaign through the local stack and the simulated Plivo: 1,000 contacts at 50 calls per second
(``--contacts``, ``--pace``). Prints one JSON line.

Measured from the simulator's side (the arrival time of every create): the most calls in any one-second
window (sliding, and per calendar second) against the pace; how long the first attempts took against the
ideal (contacts / effective pace) and the whole campaign; duplicates (two creates of one placement id: must
be 0); lost contacts (any contact not done at the end: must be 0); retries performed against what the rules
ask for each callee. ``--crash`` kills a dialer container in the middle of a batch (right after its first
Plivo POST, before it records it): its batch comes back after the queue's visibility timeout and must dial
nobody twice and lose nobody.

Callees that do not stream (busy, no answer after a 5 s ring, failed) make most of the list, and a few people
hang up a second after answering: the local stack carries only a few real-time audio streams (moto serves
every frame's read), so this bench exercises pacing, placement, outcomes and retries, not the media path.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import io
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Any

from tests.local.stack import LocalConfig, LocalStack
from voiceagent_cli.main import request_api

MIX = (("93", "busy", 0.40), ("94", "no_answer", 0.30), ("95", "failed", 0.25), ("01", "human", 0.05))
"""Last two digits (the simulator's callee), what the call ends as, share of the list."""
RETRY = {
    "busy": {"delay_seconds": 5, "attempts": 2},
    "no_answer": {"delay_seconds": 5, "attempts": 2},
    "failed": {"delay_seconds": 60, "attempts": 1},
    "machine": {"delay_seconds": 60, "attempts": 1},
}
CRASH_POINT = "voiceagent.store.placements.PlacementRepository.update"
"""Where the dialer dies in the fault run: right after Plivo accepted a create, before it is recorded."""


def contact_list(count: int, seed: int = 18) -> tuple[str, dict[str, str]]:
    """CSV text, and each number's expected kind. Numbers are 555-01NN in distinct area codes (fictional
    in every one), NN picking the callee."""
    rng = random.Random(seed)
    kinds = rng.choices([kind for _, kind, _ in MIX], weights=[share for _, _, share in MIX], k=count)
    suffix = {kind: digits for digits, kind, _ in MIX}
    used: Counter[str] = Counter()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "name"])
    expected: dict[str, str] = {}
    for index, kind in enumerate(kinds):
        area = 201 + used[kind]
        used[kind] += 1
        number = f"+1{area}55501{suffix[kind]}"
        expected[number] = kind
        writer.writerow([number, f"contact {index + 1}"])
    return out.getvalue(), expected


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most times in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


def max_per_second(times: list[float]) -> int:
    return max(Counter(int(t) for t in times).values(), default=0)


def _api(base: str, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    response = request_api(method, f"{base}{path}", payload, sign=False)
    if not response.ok:
        raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
    return response.text if path.endswith(".csv") else response.json()


async def run(contacts: int, pace: float, crash: bool, timeout: float) -> dict[str, Any]:
    os.environ.setdefault("ACCOUNT_CALLS_PER_SECOND", str(pace))
    from voiceagent.settings import Settings

    guard_ms = int(os.environ.get("PACING_GUARD_MS", Settings.model_fields["pacing_guard_ms"].default))
    os.environ.setdefault("LOCAL_SWEEP_SECONDS", "2")
    if crash:  # a placement armed when the dialer died waits this long (the least allowed) for Plivo
        os.environ.setdefault("CAMPAIGN_ATTEMPT_TIMEOUT_SECONDS", "180")
    stack = LocalStack(LocalConfig.from_env(ephemeral=True, simulated_only=True))
    loop = asyncio.get_running_loop()
    try:
        await stack.start()
        base = f"http://{stack.config.host}:{stack.config.http_port}"
        text, expected = contact_list(contacts)
        body = {
            "name": "bench",
            "from": "+14155550199",
            "contacts_csv": text,
            "timezone": "UTC",
            "window": "00:00-23:59",
            "pace": pace,
            "max_in_progress": 1000,
            "ring_timeout": 5,
            "retry": RETRY,
        }
        started = time.time()
        created = await loop.run_in_executor(None, _api, base, "POST", "/campaigns", body)
        campaign_id = created["campaign_id"]
        crashed_at = None
        status: dict[str, Any] = {}
        while time.time() - started < timeout:
            if crash and crashed_at is None and len(stack.plivo.creates) >= contacts // 3:
                stack.lambdas.pools["campaign_dialer"].crash_next(CRASH_POINT)
                crashed_at = len(stack.plivo.creates)
            status = await loop.run_in_executor(None, _api, base, "GET", f"/campaigns/{campaign_id}")
            if status["status"] in ("completed", "cancelled"):
                break
            if int(time.time() - started) % 10 == 0:
                print(_progress(started, stack, status), file=sys.stderr, flush=True)
            await asyncio.sleep(1)
        print(_progress(started, stack, status), file=sys.stderr, flush=True)
        finished = time.time()
        results = await loop.run_in_executor(None, _api, base, "GET", f"/campaigns/{campaign_id}/results.csv")
        sent = await loop.run_in_executor(None, _sent_times, stack, campaign_id)
        settled_by = await loop.run_in_executor(None, _settled_by, campaign_id)
    finally:
        await stack.stop()
    creates = [
        (at, to, placement) for at, to, placement in stack.plivo.creates if placement.startswith(campaign_id)
    ]
    per_placement = Counter(placement for _, _, placement in creates)
    first = sorted(at for at, _, placement in creates if placement.endswith("-1"))
    rows = list(csv.DictReader(io.StringIO(results)))
    wrong_retries = [
        row["number"]
        for row in rows
        if int(row["attempts"]) != (RETRY.get(expected[row["number"]], {}).get("attempts", 1))
    ]
    effective = created["effective_pace"]
    return {
        "contacts": contacts,
        "pace": pace,
        "effective_pace": effective,
        "pacing_guard_ms": guard_ms,
        "crash": crash,
        "dialler_crashes": stack.lambdas.pools["campaign_dialer"].stats.crashes,
        "calls_placed": len(creates),
        "calls_expected": sum(RETRY.get(kind, {}).get("attempts", 1) for kind in expected.values()),
        "max_calls_in_any_second_window": max_in_window([at for at, _, _ in creates]),
        "max_sent_in_any_second_window": max_in_window(sent),
        "max_calls_in_a_calendar_second": max_per_second([at for at, _, _ in creates]),
        "first_attempts_seconds": round(first[-1] - first[0], 2) if first else None,
        "first_attempts_ideal_seconds": round((contacts - 1) / effective, 2),
        "campaign_seconds": round(finished - started, 1),
        "status": status.get("status"),
        "duplicates": sum(count - 1 for count in per_placement.values()),
        "lost_contacts": sum(1 for row in rows if row["state"] != "done"),
        "retries_not_as_configured": len(wrong_retries),
        "results": status.get("results"),
        "outcomes": status.get("outcomes"),
        "attempts_settled_by": dict(settled_by),
        "placements_in_doubt_checked_with_plivo": sum(
            1 for method, path in stack.plivo.rest_requests if method == "GET" and path.endswith("/Call/")
        )
        // 3,
        "callbacks_lost": stack.plivo.lost_callbacks,
        "callback_failures": len(stack.plivo.failed_deliveries),
        "failed_invocations": stack.gateway.failed_invocations,
    }


def _progress(started: float, stack: LocalStack, status: dict[str, Any]) -> str:
    """One line on stderr every ten seconds: the run is alive, and how far it is."""
    results = status.get("results") or {}
    return (
        f"{time.time() - started:6.0f} s  calls placed {len(stack.plivo.creates):5d}  contacts done "
        f"{sum(results.values()):5d}  {status.get('status')}"
    )


def _settled_by(campaign_id: str) -> Counter[str]:
    """Attempts by what settled them: ``event`` (the bus) or ``sweeper`` (the stored state)."""
    from voiceagent.store import open_campaign_store

    return Counter(
        str(entry.get("settled_by"))
        for contact in open_campaign_store().campaigns.contacts(campaign_id)
        for entry in contact.get("history") or []
    )


def _sent_times(stack: LocalStack, campaign_id: str) -> list[float]:
    """When the dialer sent each create (the placement's ``sent_at``, the sender's clock, milliseconds)."""
    import boto3

    from voiceagent.clock import parse_iso

    env = stack.config.function_environment()
    client = boto3.client(
        "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"]
    )
    times: list[float] = []
    for page in client.get_paginator("scan").paginate(TableName=env["CALLS_TABLE_NAME"]):
        for item in page["Items"]:
            if item["pk"]["S"].startswith(f"PLACEMENT#{campaign_id}") and "sent_at" in item:
                times.append(parse_iso(item["sent_at"]["S"]).timestamp())
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--pace", type=float, default=50.0)
    parser.add_argument("--crash", action="store_true", help="kill a dialer container mid-batch")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--guard-ms",
        type=int,
        help="PacingGuardMs for this run: how late a dialer thread may wake for its tick (a busy machine's "
        "scheduler jitter exceeds the default 20 ms; the pace then holds at 1 s + guard per pace calls)",
    )
    args = parser.parse_args()
    if args.guard_ms is not None:
        os.environ["PACING_GUARD_MS"] = str(args.guard_ms)
    print(json.dumps(asyncio.run(run(args.contacts, args.pace, args.crash, args.timeout))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
