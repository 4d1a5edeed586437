"""``voiceagent doctor``: is a deployed stack (or the local one) wired up and working, before a real call?

It checks, in order, and prints each as PASS / FAIL (with the fix) / SKIP:

- the stack exists and is deployed (CloudFormation outputs and parameters, read with your AWS credentials);
- the SSM parameters exist, are SecureStrings, and decrypt;
- the Plivo credentials work: one read-only call, ``GET Account/{auth_id}/``, with the token from SSM;
- every URL the stack gives answers, and refuses an unsigned or token-less request;
- a signed test request to each webhook gets 200, signed with the token from SSM exactly as Plivo signs
  (a fresh nonce each), for a recognisable test call ``doctor-<hex>`` whose records expire through TTL;
- the media WebSocket accepts the per-call URL the answer webhook served and refuses a forged token (the
  doctor never mints tokens: it uses what the stack hands Plivo, so it stays right however tokens work);
- someone is subscribed to the alarm topic.

The exit code is 0 when nothing failed.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError

from voiceagent import routes
from voiceagent.aws import error_code
from voiceagent.plivo.rest import Deadline, PlivoApiError, gateway_for
from voiceagent.settings import PLIVO_AUTH_ID_PATTERN
from voiceagent.streams import tokens
from voiceagent_cli import local_stack
from voiceagent_cli.plivo_signing import signed_form_headers, signed_upgrade_headers
from voiceagent_cli.websocket_probe import ACCEPTED, ProbeError, upgrade_status

WEBHOOK_OUTPUTS = {
    "AnswerUrl": routes.ANSWER,
    "MachineDetectionUrl": routes.MACHINE_DETECTION,
    "VoicemailUrl": routes.VOICEMAIL,
    "StreamStatusUrl": routes.STREAM_STATUS,
    "HangupUrl": routes.HANGUP,
}
STACK_OUTPUTS = (*WEBHOOK_OUTPUTS, "CallsUrl", "MediaWebSocketUrl", "AlarmTopicArn")
USABLE_STACK_STATES = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
)

# `make local` (tests/local/stack.py): the same environment variables and defaults.
LOCAL_AUTH_ID = local_stack.LOCAL_AUTH_ID
LOCAL_AUTH_TOKEN_PARAMETER = local_stack.AUTH_TOKEN_PARAMETER
LOCAL_REGION = local_stack.REGION


class Status(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check's status, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def passed(name: str, detail: str) -> Check:
    return Check(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def skipped(name: str, detail: str) -> Check:
    return Check(name, Status.SKIP, detail)


@dataclass(frozen=True)
class Target:
    """What is checked: where the stack's URLs are, which secrets it reads, and AWS clients to look with."""

    description: str
    webhook_base: str
    """The base URL Plivo calls and signs (PublicBaseUrl behind a custom domain, else the API's stage URL)."""
    urls: Mapping[str, str]
    """Stack output name → URL (webhooks, CallsUrl, MediaWebSocketUrl)."""
    auth_id: str
    auth_token_parameter: str
    stream_key_parameter: str | None
    plivo_api_base_url: str | None
    """None: Plivo's own API; the local stack's simulated one otherwise."""
    alarm_topic_arn: str | None
    """None: no alarms (the local stack)."""
    ssm: Any
    sns: Any


def stack_target(stack_name: str, session: Any) -> tuple[Check, Target | None]:
    """Read a deployed stack's outputs and parameters (``session``: a boto3 Session)."""
    name = "stack"
    region = session.region_name or "(no region)"
    try:
        (stack,) = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return failed(
                name,
                f"no stack {stack_name} in {region}",
                "deploy it (make deploy ENV=dev), or name the right one: --stack NAME --region REGION",
            ), None
        return failed(
            name,
            f"cannot read stack {stack_name}: {error_code(exc)}",
            "use AWS credentials allowed cloudformation:DescribeStacks (and ssm:GetParameter, "
            "sns:ListSubscriptionsByTopic for the other checks)",
        ), None
    except BotoCoreError as exc:
        return failed(
            name,
            f"CloudFormation cannot be reached: {exc}",
            "configure AWS credentials and a region (aws configure, AWS_PROFILE, --region)",
        ), None
    status = str(stack["StackStatus"])
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
    }
    if status not in USABLE_STACK_STATES:
        return failed(
            name,
            f"{stack_name} is {status}",
            f"see why: aws cloudformation describe-stack-events --stack-name {stack_name}; then redeploy",
        ), None
    missing = [output for output in STACK_OUTPUTS if output not in outputs]
    if missing:
        return failed(
            name,
            f"{stack_name} lacks the outputs {', '.join(missing)}",
            "deploy this version of template.yaml (make deploy)",
        ), None
    target = Target(
        description=f"stack {stack_name} ({region})",
        webhook_base=(parameters.get("PublicBaseUrl") or outputs["AnswerUrl"].removesuffix(routes.ANSWER)),
        urls={output: outputs[output] for output in (*WEBHOOK_OUTPUTS, "CallsUrl", "MediaWebSocketUrl")},
        auth_id=parameters.get("PlivoAuthId", ""),
        auth_token_parameter=parameters.get("PlivoAuthTokenParameterName", ""),
        stream_key_parameter=parameters.get("StreamTokenSecretParameterName") or None,
        plivo_api_base_url=None,
        alarm_topic_arn=outputs["AlarmTopicArn"],
        ssm=session.client("ssm"),
        sns=session.client("sns"),
    )
    return passed(name, f"{stack_name} is {status} in {region}"), target


def local_target(environ: Mapping[str, str], base_url: str | None = None) -> Target:
    """The stack `make local` runs, found through the same environment variables it reads."""
    import boto3

    host = environ.get("LOCAL_HOST", "127.0.0.1")

    def port(variable: str) -> int:
        return int(environ.get(variable, local_stack.PORTS[variable]))

    def local(variable: str) -> str:
        return f"http://{host}:{port(variable)}"

    mode = local_stack.plivo_mode(environ)
    urls = {**environ, **({"LOCAL_PUBLIC_BASE_URL": base_url} if base_url else {})}
    base, websocket = local_stack.public_urls(urls, host, port("LOCAL_HTTP_PORT"), port("LOCAL_WS_PORT"))
    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        region_name=environ.get("AWS_DEFAULT_REGION", LOCAL_REGION),
    )
    return Target(
        description=f"local stack at {base} ({mode.value} Plivo)",
        webhook_base=base,
        urls={
            **{output: base + path for output, path in WEBHOOK_OUTPUTS.items()},
            "CallsUrl": base + routes.CALLS,
            "MediaWebSocketUrl": websocket,
        },
        auth_id=environ.get("PLIVO_AUTH_ID", LOCAL_AUTH_ID),
        auth_token_parameter=LOCAL_AUTH_TOKEN_PARAMETER,
        stream_key_parameter=None,
        plivo_api_base_url=None if mode is local_stack.PlivoMode.LIVE else local("LOCAL_PLIVO_PORT"),
        alarm_topic_arn=None,
        ssm=session.client("ssm", endpoint_url=local("LOCAL_MOTO_PORT")),
        sns=None,
    )


@dataclass(frozen=True)
class ProbeCall:
    """The doctor's test call: ids anyone reading the table or the logs recognises (``doctor-…``)."""

    call_uuid: str
    stream_id: str

    @classmethod
    def new(cls) -> ProbeCall:
        return cls(f"doctor-{secrets.token_hex(8)}", f"doctor-stream-{secrets.token_hex(8)}")

    def form(self, **extra: str) -> dict[str, str]:
        return {
            "CallUUID": self.call_uuid,
            "RequestUUID": self.call_uuid,
            "From": "doctor",
            "To": "doctor",
            "Direction": "outbound",
            **extra,
        }

    def stream_form(self, event: str) -> dict[str, str]:
        return {"CallUUID": self.call_uuid, "StreamID": self.stream_id, "Event": event, "Timestamp": _now()}


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


_STREAM_ELEMENT = re.compile(r"<Stream\b[^>]*>([^<]+)</Stream>")
WEBHOOK_FIXES = {
    400: "the stack refused the test form as malformed: are the doctor and the stack the same version?",
    403: (
        "the signature was refused: the functions read a different auth token, or rebuild another URL "
        "than the one called (behind a custom domain, set PublicBaseUrl to it)"
    ),
    404: "no such route: deploy this version of template.yaml",
    405: "no such route: deploy this version of template.yaml",
    429: "throttled: raise ApiThrottleRateLimit / ApiThrottleBurstLimit (README, Capacity)",
    503: "a dependency (DynamoDB, SSM) was unavailable; run the doctor again, then read the function's logs",
}


Probe = Callable[[str, Mapping[str, str]], int]
"""The HTTP status a WebSocket upgrade of a URL gets, sent with the given headers."""


class Doctor:
    def __init__(
        self,
        target: Target,
        *,
        http: requests.Session | None = None,
        probe: Probe | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.http = http or requests.Session()
        self.probe = probe or (lambda url, headers: upgrade_status(url, timeout=timeout, headers=headers))
        self.timeout = timeout

    def run(self) -> Iterator[Check]:
        token_check, token = self.secret("ssm auth token", self.target.auth_token_parameter)
        yield token_check
        if self.target.stream_key_parameter:
            yield self.secret("ssm stream-token key", self.target.stream_key_parameter)[0]
        yield self.plivo_credentials(token)
        yield from self.urls()
        if token is None:
            yield skipped("signed webhooks", "need the auth token from SSM")
        else:
            yield from self.webhooks(token)
        yield self.alarm_subscribers()

    # ------------------------------------------------------------------ SSM

    def secret(self, name: str, parameter: str) -> tuple[Check, str | None]:
        put = f"aws ssm put-parameter --overwrite --type SecureString --name {parameter} --value '…'"
        try:
            found = self.target.ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]
        except ClientError as exc:
            code = error_code(exc)
            if code == "ParameterNotFound":
                return failed(name, f"{parameter} does not exist", f"create it: {put}"), None
            return failed(
                name,
                f"{parameter} cannot be read or decrypted with your credentials ({code})",
                "use credentials allowed ssm:GetParameter and kms:Decrypt on it (the functions have their "
                "own role)",
            ), None
        except BotoCoreError as exc:
            return failed(
                name, f"SSM cannot be reached: {exc}", "configure AWS credentials and a region (or --region)"
            ), None
        value = str(found.get("Value") or "")
        if found.get("Type") != "SecureString":
            return failed(name, f"{parameter} is a {found.get('Type')}, not a SecureString", put), None
        if not value.strip():
            return failed(name, f"{parameter} is empty", put), None
        return passed(name, f"{parameter} is a SecureString and decrypts"), value

    # ------------------------------------------------------------------ Plivo

    def plivo_credentials(self, token: str | None) -> Check:
        name = "plivo credentials"
        auth_id = self.target.auth_id
        if not re.fullmatch(PLIVO_AUTH_ID_PATTERN, auth_id):
            return failed(
                name,
                f"PlivoAuthId {auth_id!r} is not a Plivo auth id",
                "use the Auth ID from the Plivo console (MA or SA + 18 upper-case letters or digits) and "
                "redeploy with --parameter-overrides PlivoAuthId=…",
            )
        if token is None:
            return skipped(name, "needs the auth token from SSM")
        gateway = gateway_for(
            auth_id, token, timeout=self.timeout, api_base_url=self.target.plivo_api_base_url
        )
        try:
            account = gateway.account(deadline=Deadline.after(2 * self.timeout))
        except PlivoApiError as exc:
            if exc.status == 401:
                return failed(
                    name,
                    f"Plivo refused {auth_id} with the token in {self.target.auth_token_parameter} (401)",
                    f"put {auth_id}'s auth token into {self.target.auth_token_parameter}, or deploy with the "
                    "auth id that token belongs to",
                )
            return failed(
                name,
                f"GET Account/{auth_id}/ failed: {exc}",
                "check this machine reaches Plivo's API (api.plivo.com) and Plivo's status page; run again",
            )
        described = " ".join(value for value in account.detail.values() if value) or "the account"
        return passed(name, f"GET Account/{auth_id}/ answered: {described}")

    # ------------------------------------------------------------------ URLs

    def urls(self) -> Iterator[Check]:
        for output in WEBHOOK_OUTPUTS:
            yield self._refuses_unsigned(output, self.target.urls[output])
        yield self._calls_api(self.target.urls["CallsUrl"])
        yield self._refuses_tokenless(self.target.urls["MediaWebSocketUrl"])

    def _refuses_unsigned(self, output: str, url: str) -> Check:
        name = f"url {output}"
        try:
            response = self.http.post(url, data={"CallUUID": "doctor-unsigned"}, timeout=self.timeout)
        except requests.RequestException as exc:
            return failed(name, f"{url} does not answer: {type(exc).__name__}", _unreachable_fix())
        if response.status_code == 403:
            return passed(name, f"{url} answers, and refuses an unsigned request (403)")
        if response.status_code < 300:
            return failed(
                name,
                f"{url} accepted an unsigned request ({response.status_code})",
                "anyone could forge Plivo's webhooks: deploy this version, whose webhooks check signatures",
            )
        return failed(name, f"{url} answered an unsigned request with {response.status_code}", _logs_fix())

    def _calls_api(self, url: str) -> Check:
        name = "url CallsUrl"
        probe = f"{url}/doctor-unsigned"
        try:
            response = self.http.get(probe, timeout=self.timeout)
        except requests.RequestException as exc:
            return failed(name, f"{url} does not answer: {type(exc).__name__}", _unreachable_fix())
        if response.status_code >= 500:
            return failed(name, f"GET {probe} answered {response.status_code}", _logs_fix())
        return passed(name, f"{url} answers ({response.status_code} without IAM credentials)")

    def _refuses_tokenless(self, url: str) -> Check:
        name = "url MediaWebSocketUrl"
        try:
            status = self.probe(url, {})
        except ProbeError as exc:
            return failed(name, f"{url} does not answer: {exc}", _unreachable_fix())
        if status == ACCEPTED:
            return failed(
                name,
                f"{url} opened a stream without a token",
                "anyone could stream into calls: deploy this version, whose $connect checks the token",
            )
        return passed(name, f"{url} answers, and refuses a stream without a token ({status})")

    # ------------------------------------------------------------------ signed webhooks and the stream

    def webhooks(self, token: str) -> Iterator[Check]:
        call = ProbeCall.new()
        answer, xml = self._post("webhook answer", routes.ANSWER, call.form(CallStatus="in-progress"), token)
        stream_url = _stream_url(xml)
        if answer.status is Status.PASS:
            answer = (
                passed(answer.name, f"{answer.detail} with a <Stream>; the test call is {call.call_uuid}")
                if stream_url
                else failed(
                    answer.name,
                    f"signed POST {routes.ANSWER} answered 200 without a <Stream> URL: {(xml or '')[:160]!r}",
                    "deploy this version of the answer function",
                )
            )
        yield answer
        if xml is None:
            yield skipped("other webhooks", f"{self.target.webhook_base} does not answer")
            return
        if stream_url is None:
            yield skipped("websocket", "needs the wss URL the answer webhook serves")
        else:
            yield from self.websocket(stream_url, token)
        for label, path, form in (
            ("webhook stream-status", routes.STREAM_STATUS, call.stream_form("StartStream")),
            ("webhook stream-status", routes.STREAM_STATUS, call.stream_form("StopStream")),
            ("webhook machine-detection", routes.MACHINE_DETECTION, call.form(Machine="false")),
            ("webhook voicemail", routes.VOICEMAIL, call.form(CallStatus="in-progress")),
            (
                "webhook hangup",
                routes.HANGUP,
                call.form(CallStatus="completed", HangupCause="NORMAL_CLEARING", Duration="0"),
            ),
        ):
            yield self._post(label, path, form, token)[0]

    def _post(self, name: str, path: str, form: dict[str, str], token: str) -> tuple[Check, str | None]:
        """The check, and the body answered (None when nothing answered)."""
        url = self.target.webhook_base + path
        headers = signed_form_headers(url=url, form=form, auth_token=token)
        try:
            response = self.http.post(url, data=form, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return failed(name, f"{url} does not answer: {type(exc).__name__}", _unreachable_fix()), None
        if response.status_code == 200:
            event = form.get("Event", "")
            return passed(
                name, f"signed POST {path}{f' ({event})' if event else ''} answered 200"
            ), response.text
        return failed(
            name,
            f"signed POST {path} answered {response.status_code}: {response.text[:120]}",
            WEBHOOK_FIXES.get(response.status_code, _logs_fix()),
        ), ""

    def websocket(self, stream_url: str, token: str) -> Iterator[Check]:
        """The served URL opens a stream when Plivo's signature is on the upgrade; forged, it is refused."""
        for name, url, should_open in (
            ("websocket valid token", stream_url, True),
            ("websocket forged token", forged(stream_url), False),
        ):
            try:
                status = self.probe(url, signed_upgrade_headers(url=url, auth_token=token))
            except ProbeError as exc:
                yield failed(name, f"the media WebSocket does not answer: {exc}", _unreachable_fix())
                continue
            opened = status == ACCEPTED
            if opened == should_open:
                what = "opens a stream (101)" if opened else f"is refused ({status})"
                yield passed(
                    name, f"the wss URL from the answer XML{'' if should_open else ', forged,'} {what}"
                )
            elif should_open:
                yield failed(
                    name,
                    f"the wss URL the answer webhook served was refused ({status})",
                    "read the media function's log line 'stream connect rejected' for the reason (token key, "
                    "StreamSignatureCheck, the table)",
                )
            else:
                yield failed(
                    name,
                    "a forged stream token was accepted",
                    "anyone could stream into calls: deploy this version, whose $connect checks the token",
                )

    # ------------------------------------------------------------------ alarms

    def alarm_subscribers(self) -> Check:
        name = "alarm subscribers"
        topic = self.target.alarm_topic_arn
        if topic is None:
            return skipped(name, "the local stack has no alarms")
        try:
            pages = self.target.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
            subscriptions = [item for page in pages for item in page["Subscriptions"]]
        except (ClientError, BotoCoreError) as exc:
            return failed(
                name,
                f"cannot list the subscribers of {topic}: {error_code(exc) or exc}",
                "use credentials allowed sns:ListSubscriptionsByTopic",
            )
        confirmed = [item for item in subscriptions if str(item["SubscriptionArn"]).startswith("arn:")]
        if confirmed:
            who = ", ".join(f"{item['Protocol']} {item['Endpoint']}" for item in confirmed)
            return passed(name, f"{len(confirmed)} confirmed: {who}")
        pending = [str(item["Endpoint"]) for item in subscriptions]
        if pending:
            return failed(
                name,
                f"subscriptions await confirmation: {', '.join(pending)}",
                "confirm the subscription (AWS sent a message to each endpoint)",
            )
        return failed(
            name,
            f"nobody is subscribed to {topic}: alarms reach no one",
            f"redeploy with AlarmEmail=you@example.com, or: aws sns subscribe --topic-arn {topic} "
            "--protocol email --notification-endpoint you@example.com",
        )


def _stream_url(xml: str | None) -> str | None:
    match = _STREAM_ELEMENT.search(xml or "")
    url = html.unescape(match.group(1).strip()) if match else ""
    return url if url.startswith(("ws://", "wss://")) else None


def forged(stream_url: str) -> str:
    """The same URL with a token of the right shape that the stack never issued."""
    parts = urlsplit(stream_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query[tokens.TOKEN_PARAM] = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    return urlunsplit(parts._replace(query=urlencode(query)))


def _unreachable_fix() -> str:
    return (
        "check the URL (the stack's outputs), DNS and that the stack is deployed (or `make local` is running)"
    )


def _logs_fix() -> str:
    return "read the function's logs: sam logs --stack-name STACK -n FUNCTION (or the local stack's output)"


def report(checks: Iterator[Check], out: TextIO) -> int:
    """Print each check as it completes; 0 when none failed, 1 otherwise."""
    counts = dict.fromkeys(Status, 0)
    for check in checks:
        counts[check.status] += 1
        print(f"{check.status.value}  {check.name:<26}  {check.detail}", file=out, flush=True)
        if check.fix:
            print(f"{'':<6}{'':<26}  fix: {check.fix}", file=out, flush=True)
    print(
        f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, {counts[Status.SKIP]} skipped",
        file=out,
    )
    return 1 if counts[Status.FAIL] else 0


def run(*, stack: str | None, region: str | None, base_url: str | None, timeout: float, out: TextIO) -> int:
    """`voiceagent doctor`: a deployed stack by name, else the local one."""
    # The layer's own warnings (a retried Plivo request…) would interleave with the report, which says it all.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        return _run(stack=stack, region=region, base_url=base_url, timeout=timeout, out=out)
    finally:
        logging.disable(previous)


def _run(*, stack: str | None, region: str | None, base_url: str | None, timeout: float, out: TextIO) -> int:
    if stack:
        import boto3

        stack_check, target = stack_target(stack, boto3.session.Session(region_name=region))
        if target is None:
            return report(iter([stack_check]), out)
        checks: Iterator[Check] = chain([stack_check], Doctor(target, timeout=timeout).run())
    else:
        target = local_target(os.environ, base_url)
        checks = Doctor(target, timeout=timeout).run()
    print(f"voiceagent doctor: {target.description}", file=out)
    return report(checks, out)
