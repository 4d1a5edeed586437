"""`make invoke FUNCTION=answer EVENT=answer_outbound`: run one handler on one event file, without Docker.

The handler runs in this process against moto (in-process) with the calls table built from template.yaml
and the test auth token in SSM, in the environment of ``events/env/sam-local-invoke.json`` (the one the
sample events were signed for), so every file in events/ gets the answer it was made for. Plivo's REST API
is stubbed (a created call, a hangup, a transfer, a stream all succeed) and every request the handler made
to it is printed after the response. ``FUNCTION`` is the function's folder (answer, calls…) or its logical id
in template.yaml (AnswerFunction…); ``EVENT`` a name in events/ or a path to a JSON file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.support.events import EVENTS_DIR, load_event
from tests.support.make_events import ENV_FILE, EVENT_ENVIRONMENT, EVENT_PREREQUISITES

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
LOCAL_ONLY = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "PLIVO_API_BASE_URL",
)
"""Endpoints of `make local` that `sam local invoke` uses; here moto and the stub answer in-process."""


class InvokeError(Exception):
    """A FUNCTION or EVENT that does not exist; the message lists what does."""


def function_module(name: str) -> str:
    """``answer`` or ``AnswerFunction`` → ``functions.answer.app``."""
    folders = sorted(path.parent.name for path in FUNCTIONS_DIR.glob("*/app.py"))
    folder = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Function")).lower()
    if folder not in folders:
        raise InvokeError(f"FUNCTION={name!r} is not a function; one of: {', '.join(folders)}")
    return f"functions.{folder}.app"


def read_event(name: str) -> dict[str, Any]:
    path = Path(name)
    if path.suffix == ".json" and path.exists():
        event: dict[str, Any] = json.loads(path.read_text())
        return event
    if not (EVENTS_DIR / f"{name.removesuffix('.json')}.json").exists():
        known = ", ".join(sorted(p.stem for p in EVENTS_DIR.glob("*.json"))[:12])
        raise InvokeError(f"EVENT={name!r} is neither a file nor a name in events/ (e.g. {known}, …)")
    return load_event(name)


def _stub_plivo(plivo: Any) -> None:
    """Plivo's REST API, and your agent's webhook (example.com): everything succeeds."""
    import responses

    plivo.add(responses.POST, re.compile(r"https://agent\.example\.com/.*"), status=200)
    account = r"https://api\.plivo\.com/v1/Account/[^/]+"
    plivo.add(
        responses.POST, re.compile(rf"{account}/Call/$"), json={"request_uuid": "invoke-request"}, status=201
    )
    plivo.add(responses.DELETE, re.compile(rf"{account}/(Call|Request)/[^/]+/$"), status=204)
    plivo.add(
        responses.POST, re.compile(rf"{account}/Call/[^/]+/$"), json={"message": "transferred"}, status=202
    )
    plivo.add(
        responses.POST,
        re.compile(rf"{account}/Call/[^/]+/Stream/$"),
        json={"stream_id": "invoke"},
        status=202,
    )


def _recorder(boto3: Any, bus: str) -> Any:
    """The stack's call-events bus with a catch-all rule to a queue; returns what drains it."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName="recorder")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["plivo-voice-agent"]}))
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "recorder", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        found = [json.loads(message["Body"]) for message in messages]
        return found + (drain() if messages else [])

    return drain


def invoke(
    function: str,
    event: dict[str, Any],
    overrides: dict[str, str] | None = None,
    first: tuple[tuple[str, str], ...] = (),
    published: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The handler's response, and the Plivo REST requests it made (``published`` gets the call events it
    put on the bus) (``overrides``: settings the event was
    made for, e.g. a custom domain's PUBLIC_BASE_URL; ``first``: (function, event name) pairs run before
    it, in the same tables, to put the call in the state the event needs)."""
    import boto3
    import responses
    from moto import mock_aws

    from tests.local.lambda_pool import LambdaContext
    from tests.support import constants
    from tests.support.template import table_definition

    module = function_module(function)
    environment = json.loads(ENV_FILE.read_text())["Parameters"]
    os.environ.update({k: v for k, v in environment.items() if k not in LOCAL_ONLY})
    os.environ.update(overrides or {})
    os.environ.setdefault("AWS_DEFAULT_REGION", constants.REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "invoke")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = os.environ.get("LOG_LEVEL", "WARNING")
    for name in LOCAL_ONLY:
        os.environ.pop(name, None)
    with mock_aws(), responses.RequestsMock(assert_all_requests_are_fired=False) as plivo:
        dynamodb = boto3.client("dynamodb")
        for table, logical_id in (
            (constants.TABLE_NAME, "CallsTable"),
            (constants.CAMPAIGNS_TABLE_NAME, "CampaignsTable"),
            (constants.DNC_TABLE_NAME, "DoNotCallTable"),
        ):
            dynamodb.create_table(TableName=table, **table_definition(logical_id))
        boto3.client("sqs").create_queue(QueueName=constants.DIAL_QUEUE_NAME)
        for name, value in (
            (constants.AUTH_TOKEN_PARAM, constants.TEST_AUTH_TOKEN),
            (constants.STREAM_TOKEN_SECRET_PARAM, constants.STREAM_TOKEN_SECRET),
            (constants.AGENT_WEBHOOK_SECRET_PARAM, constants.AGENT_WEBHOOK_SECRET),
        ):
            boto3.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
        drain = _recorder(boto3, os.environ.get("EVENT_BUS_NAME") or constants.EVENT_BUS_NAME)
        _stub_plivo(plivo)
        for earlier_function, earlier_event in first:
            earlier = importlib.import_module(function_module(earlier_function)).lambda_handler
            earlier(load_event(earlier_event), LambdaContext(earlier_function))
        handler = importlib.import_module(module).lambda_handler
        response: dict[str, Any] = handler(event, LambdaContext(function))
        requests_made = [f"{call.request.method} {call.request.url}" for call in plivo.calls]
        if published is not None:
            published += drain()
    return response, requests_made


def render(response: dict[str, Any]) -> str:
    """The response as a person reads it: status, headers, and the body (JSON pretty-printed); a batch
    answer (``batchItemFailures``) as it is."""
    if "statusCode" not in response:
        return json.dumps(response, indent=2)
    body = response.get("body")
    if isinstance(body, str) and body.startswith(("{", "[")):
        body = json.dumps(json.loads(body), indent=2)
    lines = [f"statusCode: {response.get('statusCode')}"]
    lines += [f"{name}: {value}" for name, value in (response.get("headers") or {}).items()]
    return "\n".join([*lines, "", str(body or "")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("function", help="answer, calls, hangup… (or AnswerFunction…)")
    parser.add_argument("event", help="a name in events/ (answer_outbound…) or a path to a JSON event")
    args = parser.parse_args(argv)
    try:
        function_module(args.function)
        event = read_event(args.event)
        overrides = EVENT_ENVIRONMENT.get(Path(args.event).stem, {})
        for name, value in overrides.items():
            print(f"({args.event} was made for {name}={value})", file=sys.stderr)
        first = EVENT_PREREQUISITES.get(Path(args.event).stem, ())
        for earlier_function, earlier_event in first:
            print(f"(first {earlier_function} on {earlier_event}: {args.event} needs it)", file=sys.stderr)
        published: list[dict[str, Any]] = []
        response, requests_made = invoke(args.function, event, overrides, first, published)
    except InvokeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(response))
    if requests_made:
        print()
    for request in requests_made:
        stubbed = "your agent's webhook" if "agent.example.com" in request else "Plivo REST API"
        print(f"{stubbed} (stubbed): {request}")
    if published:
        print(f"\ncall events published ({len(published)}):")
    for envelope in published:
        print(f"  {envelope['detail-type']:<24} {envelope['detail']['event_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
