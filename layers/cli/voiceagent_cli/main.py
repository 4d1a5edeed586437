"""Command line for campaign engineers, through the stack's IAM-authorised API (SigV4-signed with your AWS
credentials: no Plivo secret on your machine, and the same code path as the API):

  voiceagent call …          place a call (``--callee KIND`` picks a simulated callee of the local stack)
  voiceagent calls           list recent calls (filters: time, number, outcome, placement)
  voiceagent report ID       a call's timeline, by its placement id, request_uuid or CallUUID (--follow)
  voiceagent hangup ID       end a call (a ringing one is cancelled)
  voiceagent campaign …      dial a list: create (with a live progress bar), status, pause, resume, cancel,
                             results (CSV)
  voiceagent dnc …           the do-not-call list: add, remove, list, import (CSV)
  voiceagent doctor          check a deployed stack (or the local one) end to end before a real call
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from voiceagent.calls.placing import PlaceCallRequest
from voiceagent.settings import MachinePolicy
from voiceagent.validation import InvalidRequest, validate
from voiceagent_cli import callees, campaigns, doctor
from voiceagent_cli.tables import render_calls, render_entry, render_table

API_URL_ENV = "VOICEAGENT_API_URL"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

OPTION_NAMES = {
    "to": "--to",
    "from": "--from",
    "policy": "--policy",
    "voicemail_message": "--message",
    "voicemail_audio_url": "--audio-url",
    "voicemail_voice": "--voice",
    "machine_detection_time": "--detection-time",
    "ring_timeout": "--ring-timeout",
    "placement_id": "--placement-id",
    "stream_url": "--stream-url",
    "agent_webhook_url": "--agent-webhook-url",
    "request": "the call",
    "tuning": "--tuning",
    **{
        f"tuning.{name}": f"--tuning {name}"
        for name in (
            "initial_silence",
            "maximum_speech_length",
            "maximum_words",
            "initial_greeting",
            "silence",
        )
    },
}
"""The API's field names as this command's options, so a refused value names what the user typed."""


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _tuning(pairs: Sequence[str]) -> dict[str, int] | None:
    if not pairs:
        return None
    values: dict[str, int] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not value.isdigit():
            raise CliError(f"--tuning takes NAME=MILLISECONDS, got {pair!r}")
        values[name.replace("-", "_")] = int(value)
    return values


def _signed_headers(method: str, url: str, body: bytes | None) -> dict[str, str]:
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise CliError("no AWS credentials found: configure them (aws configure) or pass --no-sign")
    match = _REGION_IN_HOST.search(url)
    region = match.group(1) if match else session.get_config_variable("region") or "us-east-1"
    request = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def request_api(method: str, url: str, payload: dict[str, Any] | None, *, sign: bool) -> requests.Response:
    body = json.dumps(payload).encode() if payload is not None else None
    headers = _signed_headers(method, url, body) if sign else {"content-type": "application/json"}
    return requests.request(method, url, data=body, headers=headers, timeout=30)


def _api_url(value: str | None) -> str:
    url = value or os.environ.get(API_URL_ENV)
    if not url:
        raise CliError(f"give --api-url or set {API_URL_ENV} (the stack's CallsUrl output without /calls)")
    return url.rstrip("/")


def _api(
    args: argparse.Namespace,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
    *,
    raw: bool = False,
) -> Any:
    """The API's JSON answer (its text with ``raw``); ``ApiRefused`` with the API's own message when it
    refused."""
    response = request_api(method, f"{_api_url(args.api_url)}{path}", payload, sign=not args.no_sign)
    if raw and response.ok:
        return response.text
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {"message": response.text[:300]}
    if not response.ok:
        message = body.get("message") if isinstance(body, dict) else None
        raise ApiRefused(response.status_code, str(message or body))
    return body


class ApiRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"the API answered {status}: {message}")


def _destination(args: argparse.Namespace) -> str:
    if not args.callee:
        return str(args.to)
    host = urlsplit(_api_url(args.api_url)).hostname or ""
    if host not in _LOCAL_HOSTS:
        raise CliError(
            "--callee picks a simulated callee of the local stack (make local), and this API is not on this "
            "machine: give --to a real number"
        )
    try:
        return callees.parse(args.callee)
    except ValueError as exc:
        raise CliError(f"--callee {exc}") from None


def _call(args: argparse.Namespace) -> int:
    fields = {
        "to": _destination(args),
        "from": args.from_,
        "policy": args.policy,
        "voicemail_message": args.message,
        "voicemail_audio_url": args.audio_url,
        "voicemail_voice": args.voice,
        "machine_detection_time": args.detection_time,
        "ring_timeout": args.ring_timeout,
        "tuning": _tuning(args.tuning),
        "placement_id": args.placement_id,
        "stream_url": args.stream_url,
        "agent_webhook_url": args.agent_webhook_url,
    }
    request = validate(
        PlaceCallRequest, {k: v for k, v in fields.items() if v is not None}, names=OPTION_NAMES
    )
    body = _api(args, "POST", "/calls", request.model_dump(mode="json", by_alias=True, exclude_none=True))
    print(json.dumps(body, indent=2))
    placement_id = body.get("placement_id") if isinstance(body, dict) else None
    if placement_id:
        print(f"follow it: voiceagent report {placement_id} --follow", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    path = f"/calls/{quote(args.call_id, safe='')}"
    if not args.follow:
        report = _api(args, "GET", path)
        print(json.dumps(report, indent=2) if args.json else render_table(report))
        return 0
    report = follow(lambda: _api(args, "GET", path), interval=args.interval, out=print)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print()
        print(render_table(report))
    return 0


def follow(
    read: Callable[[], dict[str, Any]],
    *,
    interval: float,
    out: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Print a call's timeline as it grows, until the call is over; returns the last report."""
    shown = 0
    state = None
    while True:
        report = read()
        if report.get("state") != state:
            state = report.get("state")
            out(f"--- {report.get('call_uuid') or report.get('placement_id')}: {state}")
        for entry in report.get("timeline", [])[shown:]:
            out(render_entry(entry))
        shown = len(report.get("timeline", []))
        if not report.get("in_progress"):
            return report
        sleep(interval)


def _calls(args: argparse.Namespace) -> int:
    query = {
        name: value
        for name, value in (
            ("since", args.since),
            ("until", args.until),
            ("number", args.number),
            ("outcome", args.outcome),
            ("placement", args.placement),
            ("limit", args.limit),
            ("cursor", args.cursor),
        )
        if value is not None
    }
    while True:
        page = _api(args, "GET", f"/calls?{urlencode(query)}" if query else "/calls")
        print(json.dumps(page, indent=2) if args.json else render_calls(page))
        if not (args.all and page.get("next_cursor")):
            break
        query["cursor"] = page["next_cursor"]
    if page.get("next_cursor") and not args.all and not args.json:
        print(f"more: voiceagent calls … --cursor {page['next_cursor']}  (or --all)")
    return 0


def _hangup(args: argparse.Namespace) -> int:
    body = _api(args, "POST", f"/calls/{quote(args.call_id, safe='')}/hangup")
    words = {
        "hung_up": "hung up",
        "cancelled": "cancelled while it was ringing",
        "already_ended": "had already ended",
    }
    print(f"{body.get('call_uuid') or body.get('placement_id')}: {words.get(body['result'], body['result'])}")
    return 0


def api_of(args: argparse.Namespace) -> Callable[..., Any]:
    """``api(method, path, payload=None)`` for the subcommands that live in other modules."""
    return lambda method, path, payload=None, raw=False: _api(args, method, path, payload, raw=raw)


def _add_api_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--api-url", help=f"the stack's API base URL (default: ${API_URL_ENV})")
    command.add_argument("--no-sign", action="store_true", help="do not SigV4-sign (local stack)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voiceagent", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    call = commands.add_parser("call", help="place an outbound call")
    to = call.add_mutually_exclusive_group(required=True)
    to.add_argument("--to", help="destination number (E.164) or sip: URI")
    to.add_argument(
        "--callee",
        metavar="KIND",
        help=f"local stack only: call a simulated callee instead of --to; one of: {callees.CHOICES}",
    )
    call.add_argument(
        "--from", dest="from_", required=True, help="caller id (a number on your Plivo account)"
    )
    call.add_argument("--policy", choices=[policy.value for policy in MachinePolicy], help="voicemail policy")
    source = call.add_mutually_exclusive_group()
    source.add_argument("--message", help="voicemail text")
    source.add_argument("--audio-url", help="voicemail audio URL (mp3/wav)")
    call.add_argument("--voice", help="voice for the voicemail text (e.g. WOMAN, Polly.Joanna)")
    call.add_argument("--detection-time", type=int, help="machine_detection_time in ms (2000-10000)")
    call.add_argument("--ring-timeout", type=int, help="seconds to let it ring (5-120)")
    call.add_argument(
        "--tuning",
        action="append",
        default=[],
        metavar="NAME=MS",
        help="tuning: initial_silence, maximum_speech_length, maximum_words, initial_greeting, silence",
    )
    call.add_argument(
        "--placement-id",
        help="idempotency key (8-64 of A-Z a-z 0-9 _ . -): repeating the command never dials twice",
    )
    call.add_argument(
        "--stream-url",
        help="your own agent's WebSocket (wss://…; ws:// to 127.0.0.1 locally): the call streams there",
    )
    call.add_argument(
        "--agent-webhook-url",
        help="where the agent policy notifies your agent of an answering machine (https://…)",
    )
    report = commands.add_parser("report", help="show a call's timeline, streams and outcome")
    report.add_argument("call_id", metavar="ID", help="the placement id, request_uuid or CallUUID")
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    report.add_argument(
        "--follow", action="store_true", help="print events as they happen until the call ends"
    )
    report.add_argument("--interval", type=float, default=1.0, help="seconds between polls with --follow")
    listing = commands.add_parser("calls", help="list recent calls, newest first")
    listing.add_argument("--since", help="from this time (ISO 8601; default: a week before --until)")
    listing.add_argument("--until", help="up to this time (ISO 8601; default: now)")
    listing.add_argument("--number", help="only calls to or from this number")
    listing.add_argument("--outcome", help="only calls with this outcome (human, busy, …, in_progress)")
    listing.add_argument("--placement", help="only this placement id")
    listing.add_argument("--limit", type=int, help="calls per page (1-100, default 25)")
    listing.add_argument("--cursor", help="the page after the one that printed this cursor")
    listing.add_argument("--all", action="store_true", help="follow every page")
    listing.add_argument("--json", action="store_true", help="print the pages as JSON")
    hangup = commands.add_parser("hangup", help="end a call (one still ringing is cancelled)")
    hangup.add_argument("call_id", metavar="ID", help="the placement id, request_uuid or CallUUID")
    for command in (call, report, listing, hangup, *campaigns.add_commands(commands)):
        _add_api_options(command)
    checkup = commands.add_parser(
        "doctor", help="check a deployed stack, or the local one, end to end; exit 0 when all passed"
    )
    where = checkup.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="a deployed stack's name, e.g. plivo-voice-agent-dev")
    where.add_argument("--local", action="store_true", help="the stack `make local` runs (LOCAL_* variables)")
    where.add_argument("--base-url", help="the local stack at this HTTP base URL (e.g. behind a tunnel)")
    checkup.add_argument("--region", help="the stack's AWS region (default: your AWS configuration)")
    checkup.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    return parser


def _doctor(args: argparse.Namespace) -> int:
    return doctor.run(
        stack=args.stack, region=args.region, base_url=args.base_url, timeout=args.timeout, out=sys.stdout
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "campaign": lambda args: campaigns.run_campaign(args, api_of(args)),
    "dnc": lambda args: campaigns.run_dnc(args, api_of(args)),
    "call": _call,
    "calls": _calls,
    "report": _report,
    "hangup": _hangup,
    "doctor": _doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, InvalidRequest, campaigns.CampaignCliError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ApiRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"error: the API could not be reached: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
