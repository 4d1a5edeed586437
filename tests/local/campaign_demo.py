"""A small campaign end to end through the local stack: ``make demo`` plays it after the call scenarios, the
integration test checks it, and ``python -m tests.local.campaign_demo`` runs it alone.

Ten rows with a realistic mix of simulated callees (picked by the numbers' last two digits: people who talk
a few seconds, an answering machine with a beep and one without, busy, no answer, a failed call), a duplicate
row and a number on the do-not-call list. Retries: busy and no answer once more after 3 s, nothing else. The
outcomes come the way they do on AWS: the calls table's stream → ``functions/call_events`` → the bus → the
template's ``CampaignOutcomesRule`` → the outcomes queue → ``functions/campaign_outcomes``. The progress bar
is the CLI's (stderr), and so is the summary table.

What is checked (``problems``): every contact settled exactly once per attempt (one create per placement
id, attempts as the rules ask), the do-not-call number never dialled, the pace held (no two creates closer
than the pace allows in any one-second window), each outcome as its callee behaves, settled from the bus
(not by the sweeper's stored-state check), the campaign completed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import io
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tests.local.stack import LocalConfig, LocalStack
from voiceagent_cli.campaigns import follow
from voiceagent_cli.main import request_api
from voiceagent_cli.tables import render_campaign

PACE = 2.0
DNC_NUMBER = "+12125550193"
"""A busy callee if it were dialled: on the do-not-call list before the campaign starts."""
CONTACTS = (
    ("+12015550102", "Ada", "human"),
    ("+12025550103", "Grace", "human"),
    ("+12035550191", "Alan", "machine"),
    ("+12045550192", "Edsger", "machine"),
    ("+12055550193", "Barbara", "busy"),
    ("+12065550193", "Donald", "busy"),
    ("+12075550194", "Frances", "no_answer"),
    ("+12085550194", "John", "no_answer"),
    ("+12095550195", "Ken", "failed"),
    (DNC_NUMBER, "Dennis", "dnc"),
)
DUPLICATE = ("+1 (201) 555-0102", "Ada again")
"""The first number again, written otherwise: deduplicated on upload."""
RETRY = {
    "busy": {"delay_seconds": 3, "attempts": 2},
    "no_answer": {"delay_seconds": 3, "attempts": 2},
    "failed": {"delay_seconds": 3, "attempts": 1},
    "machine": {"delay_seconds": 3, "attempts": 1},
}
"""Busy and no answer get one more call 3 s later; a failed call and a machine none (every kind is given:
a kind left out keeps its default rule, e.g. a failed call again after 30 minutes)."""
OUTCOMES = {
    "human": {"human"},
    "machine": {"voicemail_left", "voicemail_cut", "voicemail_hangup", "machine_hangup"},
    "busy": {"busy"},
    "no_answer": {"no_answer"},
    "failed": {"failed"},
    "dnc": {"do_not_call"},
}
"""What each callee may end as (the machine policy decides among the voicemail outcomes)."""


def request_body() -> dict[str, Any]:
    rows = [*((number, name) for number, name, _ in CONTACTS), DUPLICATE]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "name", "timezone"])
    writer.writerows([number, name, "UTC"] for number, name in rows)
    return {
        "name": "demo",
        "from": "+14155550199",
        "contacts_csv": out.getvalue(),
        "window": "00:00-23:59",
        "pace": PACE,
        "max_in_progress": 4,
        "ring_timeout": 5,
        "retry": RETRY,
        "voicemail_message": "Hello, this is the demo calling back about your order. Goodbye.",
    }


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most times in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)


class Api:
    """The CLI's API callable (unsigned: the local gateway does not check IAM), raising on a refusal."""

    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(
        self, method: str, path: str, payload: dict[str, Any] | None = None, *, raw: bool = False
    ) -> Any:
        response = request_api(method, f"{self.base}{path}", payload, sign=False)
        if not response.ok:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.text if raw else response.json()


def _history(stack: LocalStack, campaign_id: str) -> list[dict[str, Any]]:
    """Every contact as stored, with its attempts' history (who settled each)."""
    from voiceagent.store import open_campaign_store

    return list(open_campaign_store().campaigns.contacts(campaign_id))


async def play_campaign(
    stack: LocalStack, *, err: TextIO = sys.stderr, timeout: float = 90.0
) -> dict[str, Any]:
    """Run the demo campaign on a started stack: what happened, and ``problems`` (empty when all is well)."""
    loop = asyncio.get_running_loop()
    api = Api(f"http://{stack.config.host}:{stack.config.http_port}")
    started = time.monotonic()
    await loop.run_in_executor(None, api, "POST", "/dnc", {"numbers": [DNC_NUMBER], "reason": "asked"})
    created = await loop.run_in_executor(None, api, "POST", "/campaigns", request_body())
    campaign_id = created["campaign_id"]
    deadline = time.monotonic() + timeout

    def bounded_sleep(seconds: float) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"campaign {campaign_id} not finished after {timeout:.0f} s")
        time.sleep(seconds)

    problems: list[str] = []
    try:
        status = await loop.run_in_executor(
            None, lambda: follow(api, campaign_id, interval=0.5, err=err, sleep=bounded_sleep)
        )
    except TimeoutError as exc:
        problems.append(str(exc))
        status = await loop.run_in_executor(None, api, "GET", f"/campaigns/{campaign_id}")
    seconds = round(time.monotonic() - started, 1)
    results_text = await loop.run_in_executor(
        None, lambda: api("GET", f"/campaigns/{campaign_id}/results.csv", raw=True)
    )
    contacts = await loop.run_in_executor(None, _history, stack, campaign_id)

    creates = [
        (at, to, placement) for at, to, placement in stack.plivo.creates if placement.startswith(campaign_id)
    ]
    per_placement = Counter(placement for _, _, placement in creates)
    dialled = Counter(to.lstrip("+") for _, to, _ in creates)
    rows = {row["number"]: row for row in csv.DictReader(io.StringIO(results_text))}
    kinds = {number: kind for number, _, kind in CONTACTS}
    histories = {str(contact.get("number")): contact.get("history") or [] for contact in contacts}

    if status.get("status") != "completed":
        problems.append(f"the campaign is {status.get('status')}, not completed")
    if len(rows) != len(CONTACTS):
        problems.append(f"{len(rows)} contacts kept of {len(CONTACTS)} distinct numbers (duplicate row)")
    duplicates = {placement: count for placement, count in per_placement.items() if count > 1}
    if duplicates:
        problems.append(f"placed more than once: {duplicates}")
    if dialled.get(DNC_NUMBER.lstrip("+")):
        problems.append(f"the do-not-call number {DNC_NUMBER} was dialled")
    busiest = max_in_window([at for at, _, _ in creates])
    if busiest > PACE:
        problems.append(f"{busiest} calls placed within one second, pace {PACE}")
    for number, kind in kinds.items():
        row = rows.get(number)
        if row is None:
            problems.append(f"{number} ({kind}) missing from the results")
            continue
        expected_attempts = 0 if kind == "dnc" else RETRY.get(kind, {}).get("attempts", 1)
        if int(row["attempts"] or 0) != expected_attempts:
            problems.append(
                f"{number} ({kind}): {row['attempts']} attempts, the rules ask {expected_attempts}"
            )
        if dialled.get(number.lstrip("+"), 0) != expected_attempts:
            problems.append(f"{number} ({kind}): dialled {dialled.get(number.lstrip('+'), 0)} times")
        if row["state"] != "done" or row["result"] not in OUTCOMES[kind]:
            problems.append(f"{number} ({kind}): {row['state']} / {row['result']}")
        history = histories.get(number, [])
        if len(history) != expected_attempts or len({entry.get("attempt") for entry in history}) != len(
            history
        ):
            problems.append(f"{number} ({kind}): attempts settled {[e.get('attempt') for e in history]}")
        not_from_bus = [entry for entry in history if entry.get("settled_by") != "event"]
        if not_from_bus:
            problems.append(f"{number} ({kind}): settled by {[e.get('settled_by') for e in not_from_bus]}")
    return {
        "campaign_id": campaign_id,
        "status": status.get("status"),
        "seconds": seconds,
        "counts": status.get("counts"),
        "results": status.get("results"),
        "calls_placed": len(creates),
        "max_calls_in_any_second_window": busiest,
        "pace": PACE,
        "rejected_rows": created.get("rejected_rows"),
        "duplicate_rows": created.get("duplicate_rows"),
        "summary": render_campaign(status),
        "problems": problems,
    }


async def _main(json_path: Path | None) -> int:
    stack = LocalStack(LocalConfig.from_env(ephemeral=True, simulated_only=True))
    try:
        await stack.start()
        result = await play_campaign(stack)
    finally:
        await stack.stop()
    print(result["summary"])
    for problem in result["problems"]:
        print(f"  problem: {problem}")
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, default=str))
    return 1 if result["problems"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write what happened here")
    args = parser.parse_args()
    return asyncio.run(_main(args.json))


if __name__ == "__main__":
    sys.exit(main())
