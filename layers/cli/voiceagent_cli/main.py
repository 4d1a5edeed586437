"""Command line for campaign engineers: ``voiceagent call …`` places a call and
``voiceagent report CALL_UUID`` shows its timeline, both through the stack's IAM-authorised API
(SigV4-signed with your AWS credentials): no Plivo secret on your machine, and the same code path as the API.
``voiceagent doctor`` checks a deployed stack (or the local one) end to end before a real call.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import requests
from pydantic import ValidationError

from voiceagent.calls.placing import MachineDetectionTuning, PlaceCallRequest
from voiceagent.settings import MachinePolicy
from voiceagent_cli import doctor
from voiceagent_cli.tables import render_table

API_URL_ENV = "VOICEAGENT_API_URL"
_REGION_IN_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _tuning(pairs: Sequence[str]) -> MachineDetectionTuning | None:
    if not pairs:
        return None
    values: dict[str, Any] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not value.isdigit():
            raise CliError(f"--tuning takes NAME=MILLISECONDS, got {pair!r}")
        values[name.replace("-", "_")] = int(value)
    return MachineDetectionTuning.model_validate(values)


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


def _call(args: argparse.Namespace) -> int:
    request = PlaceCallRequest(
        to=args.to,
        from_=args.from_,
        policy=MachinePolicy(args.policy) if args.policy else None,
        voicemail_message=args.message,
        voicemail_audio_url=args.audio_url,
        voicemail_voice=args.voice,
        machine_detection_time=args.detection_time,
        tuning=_tuning(args.tuning),
        placement_id=args.placement_id,
    )
    response = request_api(
        "POST",
        f"{_api_url(args.api_url)}/calls",
        request.model_dump(mode="json", by_alias=True, exclude_none=True),
        sign=not args.no_sign,
    )
    print(json.dumps(response.json(), indent=2) if response.content else response.status_code)
    return 0 if response.ok else 1


def _report(args: argparse.Namespace) -> int:
    response = request_api(
        "GET", f"{_api_url(args.api_url)}/calls/{args.call_uuid}", None, sign=not args.no_sign
    )
    body = response.json() if response.content else {}
    if not response.ok:
        print(json.dumps(body, indent=2), file=sys.stderr)
        return 1
    print(json.dumps(body, indent=2) if args.json else render_table(body))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voiceagent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    call = commands.add_parser("call", help="place an outbound call")
    call.add_argument("--to", required=True, help="destination number (E.164) or sip: URI")
    call.add_argument(
        "--from", dest="from_", required=True, help="caller id (a number on your Plivo account)"
    )
    call.add_argument("--policy", choices=[policy.value for policy in MachinePolicy], help="voicemail policy")
    source = call.add_mutually_exclusive_group()
    source.add_argument("--message", help="voicemail text")
    source.add_argument("--audio-url", help="voicemail audio URL (mp3/wav)")
    call.add_argument("--voice", help="voice for the voicemail text (e.g. WOMAN, Polly.Joanna)")
    call.add_argument("--detection-time", type=int, help="machine_detection_time in ms (2000-10000)")
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
    report = commands.add_parser("report", help="show a call's timeline, streams and outcome")
    report.add_argument("call_uuid", help="Plivo CallUUID")
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    for command in (call, report):
        command.add_argument("--api-url", help=f"the stack's API base URL (default: ${API_URL_ENV})")
        command.add_argument("--no-sign", action="store_true", help="do not SigV4-sign (local stack)")
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


COMMANDS = {"call": _call, "report": _report, "doctor": _doctor}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except requests.RequestException as exc:
        print(f"error: the API could not be reached: {exc}", file=sys.stderr)
        return 1
