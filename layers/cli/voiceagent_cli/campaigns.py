"""``voiceagent campaign …`` and ``voiceagent dnc …``: campaigns and the do-not-call list, through the API.

``campaign create`` reads a CSV (or a JSON list), checks it as the API will (so a bad row is named before
anything is sent), creates the campaign and follows it: a progress bar on stderr that redraws itself, and the
summary table on stdout when it ends (Ctrl-C stops following; the campaign goes on).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from voiceagent.campaigns.models import CreateCampaignRequest
from voiceagent.campaigns.rules import RetryKind
from voiceagent.settings import MachinePolicy
from voiceagent.validation import validate
from voiceagent_cli.tables import render_campaign, render_progress

Api = Callable[..., Any]
FINISHED = ("completed", "cancelled")
OPTION_NAMES = {
    "from": "--from",
    "contacts_csv": "--csv",
    "contacts": "--json",
    "timezone": "--timezone",
    "default_country_code": "--country-code",
    "window": "--window",
    "pace": "--pace",
    "max_in_progress": "--max-in-progress",
    "retry": "--retry",
    "policy": "--policy",
    "voicemail_message": "--message",
    "voicemail_audio_url": "--audio-url",
    "voicemail_voice": "--voice",
    "ring_timeout": "--ring-timeout",
    "idempotency_key": "--idempotency-key",
    "name": "--name",
    "request": "the campaign",
}


class CampaignCliError(Exception):
    """A problem with the command line, printed without a traceback."""


def _retry(pairs: list[str]) -> dict[str, dict[str, int]] | None:
    """``KIND=DELAY:ATTEMPTS`` (``no_answer=3600:3``) → the request's retry rules."""
    if not pairs:
        return None
    rules: dict[str, dict[str, int]] = {}
    kinds = ", ".join(kind.value for kind in RetryKind)
    for pair in pairs:
        kind, _, rule = pair.partition("=")
        delay, _, attempts = rule.partition(":")
        if kind not in {k.value for k in RetryKind} or not delay.isdigit() or not attempts.isdigit():
            raise CampaignCliError(
                f"--retry takes KIND=DELAY_SECONDS:ATTEMPTS with KIND one of {kinds}, not {pair!r}"
            )
        rules[kind] = {"delay_seconds": int(delay), "attempts": int(attempts)}
    return rules


def _request(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": args.name,
        "from": args.from_,
        "timezone": args.timezone,
        "default_country_code": args.country_code,
        "window": args.window,
        "pace": args.pace,
        "max_in_progress": args.max_in_progress,
        "retry": _retry(args.retry),
        "policy": args.policy,
        "voicemail_message": args.message,
        "voicemail_audio_url": args.audio_url,
        "voicemail_voice": args.voice,
        "ring_timeout": args.ring_timeout,
        "skip_invalid": args.skip_invalid or None,
        "idempotency_key": args.idempotency_key,
    }
    try:
        if args.csv:
            fields["contacts_csv"] = Path(args.csv).read_text(encoding="utf-8-sig")
        else:
            fields["contacts"] = json.loads(Path(args.json).read_text())
    except (OSError, ValueError) as exc:
        raise CampaignCliError(f"cannot read the contact list: {exc}") from None
    request = validate(
        CreateCampaignRequest, {k: v for k, v in fields.items() if v is not None}, names=OPTION_NAMES
    )
    return request.model_dump(mode="json", by_alias=True, exclude_none=True)


def follow(
    api: Api,
    campaign_id: str,
    *,
    interval: float,
    err: TextIO,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Redraw the progress bar until the campaign is completed or cancelled; the last status."""
    started, first_done = clock(), None
    while True:
        status: dict[str, Any] = api("GET", f"/campaigns/{campaign_id}")
        counts = status.get("counts") or {}
        done, total = int(counts.get("done") or 0), int(counts.get("contacts") or 0)
        if first_done is None:
            first_done = done
        eta = None
        elapsed = clock() - started
        if done > first_done and elapsed > 0:
            eta = (total - done) / ((done - first_done) / elapsed)
        end = "\n" if status.get("status") in FINISHED else ""
        err.write("\r\033[K" + render_progress(status, eta_seconds=eta) + end)
        err.flush()
        if status.get("status") in FINISHED:
            return status
        sleep(interval)


def run_campaign(args: argparse.Namespace, api: Api) -> int:
    action = args.campaign_command
    if action == "create":
        body = api("POST", "/campaigns", _request(args))
        rejected = body.get("rejected_rows") or []
        print(
            json.dumps(
                {key: value for key, value in body.items() if key not in ("rejected_rows", "duplicate_rows")}
            )
        )
        for row in rejected:
            print(f"left out: row {row['row']} ({row['value']}): {row['reason']}", file=sys.stderr)
        if body.get("duplicate_rows"):
            print(f"left out: {len(body['duplicate_rows'])} duplicate number(s)", file=sys.stderr)
        if args.no_follow:
            print(f"follow it: voiceagent campaign status {body['campaign_id']} --follow", file=sys.stderr)
            return 0
        return _follow_and_summarise(api, body["campaign_id"], args)
    campaign_id = quote(args.campaign_id, safe="")
    if action == "status":
        if args.follow:
            return _follow_and_summarise(api, campaign_id, args)
        status = api("GET", f"/campaigns/{campaign_id}")
        print(json.dumps(status, indent=2) if args.json else render_campaign(status))
        return 0
    if action == "results":
        text = api("GET", f"/campaigns/{campaign_id}/results.csv", raw=True)
        if args.output:
            Path(args.output).write_text(text)
            print(f"wrote {text.count(chr(10)) - 1} contacts to {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
        return 0
    body = api("POST", f"/campaigns/{campaign_id}/{action}")
    print(f"{body['campaign_id']}: {body['status']}{'' if body.get('changed') else ' (already)'}")
    return 0


def _follow_and_summarise(api: Api, campaign_id: str, args: argparse.Namespace) -> int:
    try:
        status = follow(api, campaign_id, interval=args.interval, err=sys.stderr)
    except KeyboardInterrupt:
        print(
            f"\nstopped following; the campaign goes on: voiceagent campaign status {campaign_id}",
            file=sys.stderr,
        )
        return 130
    print(render_campaign(status))
    return 0


def _numbers_of(path: str, column: str | None) -> list[str]:
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return []
    header = [name.strip().lower() for name in rows[0]]
    wanted = [column] if column else ["number", "phone", "to"]
    index = next((header.index(name) for name in wanted if name in header), None)
    if index is None:  # no header: the first column holds the numbers
        return [row[0] for row in rows if row and row[0].strip()]
    return [row[index] for row in rows[1:] if len(row) > index and row[index].strip()]


def run_dnc(args: argparse.Namespace, api: Api) -> int:
    action = args.dnc_command
    if action in ("add", "import"):
        numbers = args.numbers if action == "add" else _numbers_of(args.file, args.column)
        added = 0
        for start in range(0, len(numbers), 1000):
            payload = {
                "numbers": numbers[start : start + 1000],
                "reason": args.reason,
                "default_country_code": args.country_code,
            }
            body = api("POST", "/dnc", {k: v for k, v in payload.items() if v is not None})
            added += int(body["added"])
        print(f"{added} number(s) on the do-not-call list")
        return 0
    if action == "remove":
        body = api("DELETE", f"/dnc/{quote(args.number, safe='')}")
        print(f"{body['number']}: removed")
        return 0
    query: dict[str, Any] = {"limit": args.limit}
    while True:
        page = api("GET", "/dnc?" + urlencode(query))
        for entry in page["numbers"]:
            print(f"{entry['number']:<17} {entry.get('added_at', ''):<25} {entry.get('reason') or ''}")
        if not page.get("next"):
            return 0
        query["after"] = page["next"]


def add_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """The ``campaign`` and ``dnc`` subcommands; returns those that talk to the API."""
    campaign = commands.add_parser(
        "campaign", help="dial a list at a safe pace, with retries, and see results"
    )
    actions = campaign.add_subparsers(dest="campaign_command", required=True)
    create = actions.add_parser("create", help="create and start a campaign, then follow it")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", help="contacts: CSV with a header (number, name, timezone, any fields)")
    source.add_argument("--json", help="contacts: a JSON list of {number, name, timezone, fields}")
    create.add_argument(
        "--from", dest="from_", required=True, help="caller id (a number on your Plivo account)"
    )
    create.add_argument("--name", help="a name for the campaign")
    create.add_argument("--timezone", help="IANA zone of contacts without their own (America/New_York)")
    create.add_argument("--country-code", help="country code for numbers written without one (1, 44…)")
    create.add_argument("--window", help="daily calling window in the callee's time, HH:MM-HH:MM")
    create.add_argument("--pace", type=float, help="calls per second (default 1)")
    create.add_argument("--max-in-progress", type=int, help="calls in progress at most (default 10)")
    create.add_argument(
        "--retry",
        action="append",
        default=[],
        metavar="KIND=DELAY:ATTEMPTS",
        help="retry rule, e.g. no_answer=3600:3 (kinds: no_answer, busy, failed, machine)",
    )
    create.add_argument(
        "--policy", choices=[policy.value for policy in MachinePolicy], help="voicemail policy"
    )
    create.add_argument("--message", help="voicemail text")
    create.add_argument("--audio-url", help="voicemail audio URL")
    create.add_argument("--voice", help="voice for the voicemail text")
    create.add_argument("--ring-timeout", type=int, help="seconds to let each call ring (5-120)")
    create.add_argument(
        "--skip-invalid", action="store_true", help="leave invalid rows out instead of refusing"
    )
    create.add_argument(
        "--idempotency-key", help="repeating the command with it never creates a second campaign"
    )
    create.add_argument("--no-follow", action="store_true", help="do not follow the campaign")
    create.add_argument("--interval", type=float, default=1.0, help="seconds between progress updates")
    status = actions.add_parser("status", help="a campaign's progress")
    status.add_argument("campaign_id", metavar="ID")
    status.add_argument("--follow", action="store_true", help="a live progress bar until it ends")
    status.add_argument("--json", action="store_true")
    status.add_argument("--interval", type=float, default=1.0)
    parsers = [create, status]
    for name, words in (
        ("pause", "pause (calls in progress finish)"),
        ("resume", "resume"),
        ("cancel", "cancel, for good"),
    ):
        parser = actions.add_parser(name, help=words)
        parser.add_argument("campaign_id", metavar="ID")
        parsers.append(parser)
    results = actions.add_parser("results", help="every contact's result, as CSV")
    results.add_argument("campaign_id", metavar="ID")
    results.add_argument("-o", "--output", help="write to this file instead of stdout")
    parsers.append(results)
    dnc = commands.add_parser("dnc", help="the do-not-call list (never dialled by any campaign)")
    dnc_actions = dnc.add_subparsers(dest="dnc_command", required=True)
    add = dnc_actions.add_parser("add", help="add numbers")
    add.add_argument("numbers", nargs="+", metavar="NUMBER")
    imported = dnc_actions.add_parser("import", help="add the numbers of a CSV file")
    imported.add_argument("file", metavar="FILE.csv")
    imported.add_argument(
        "--column", help="the column of numbers (default: number, phone or to; else the first)"
    )
    for parser in (add, imported):
        parser.add_argument("--reason", help="why (kept with each number)")
        parser.add_argument("--country-code", help="for numbers written without a country code")
    remove = dnc_actions.add_parser("remove", help="take a number off the list")
    remove.add_argument("number", metavar="NUMBER")
    listing = dnc_actions.add_parser("list", help="every number on the list")
    listing.add_argument("--limit", type=int, default=500, help="numbers per request")
    return [*parsers, add, imported, remove, listing]
