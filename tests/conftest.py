"""Shared fixtures: a pinned environment, moto with the template's tables and the Plivo token in SSM."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import responses
from moto import mock_aws

from tests.support import constants as c
from tests.support.table_stream import STREAMS_ENDPOINT, TableStream
from tests.support.template import table_definition
from voiceagent import aws
from voiceagent.settings import get_plivo_account, get_settings

BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": c.REGION,
    "AWS_REGION": c.REGION,
    **c.FUNCTION_SETTINGS,
    "STREAM_TIMEOUT_SECONDS": "3600",
    "STREAM_TOKEN_TTL_SECONDS": "300",
    "DEFAULT_MACHINE_POLICY": "hangup",
    "RECORD_TTL_DAYS": "30",
    "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent",
    "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgentTest",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "CAMPAIGNS_TABLE_NAME": c.CAMPAIGNS_TABLE_NAME,
    "DNC_TABLE_NAME": c.DNC_TABLE_NAME,
    "CAMPAIGN_DIAL_QUEUE_URL": c.DIAL_QUEUE_URL,
    "ACCOUNT_CALLS_PER_SECOND": "50",
    "PACING_GUARD_MS": "20",
}

# Lambda sets these before the handler module is imported, and Powertools reads them in its constructors;
# mirror that for modules imported at collection time.
os.environ.update({name: value for name, value in BASE_ENV.items() if name.startswith("POWERTOOLS_")})


def _reset_caches() -> None:
    from aws_lambda_powertools.utilities import parameters

    from voiceagent.campaigns import service as campaign_service
    from voiceagent.media import connections
    from voiceagent.plivo import rest as plivo_api

    get_settings.cache_clear()
    get_plivo_account.cache_clear()
    campaign_service.forget_settings()
    aws.reset_clients()
    plivo_api.reset_client()
    connections.management_client.cache_clear()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Every test starts from the same configuration and with no cached settings, clients or secrets."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SSM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    yield BASE_ENV
    _reset_caches()


@pytest.fixture
def aws_stack(environment: dict[str, str]) -> Iterator[dict[str, Any]]:
    """moto in-process: the calls table as template.yaml declares it and the auth token in SSM."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=c.REGION)
        dynamodb.create_table(TableName=c.TABLE_NAME, **table_definition("CallsTable"))
        dynamodb.create_table(TableName=c.CAMPAIGNS_TABLE_NAME, **table_definition("CampaignsTable"))
        dynamodb.create_table(TableName=c.DNC_TABLE_NAME, **table_definition("DoNotCallTable"))
        sqs = boto3.client("sqs", region_name=c.REGION)
        queue_url = sqs.create_queue(QueueName=c.DIAL_QUEUE_NAME)["QueueUrl"]
        assert queue_url == c.DIAL_QUEUE_URL
        ssm = boto3.client("ssm", region_name=c.REGION)
        ssm.put_parameter(Name=c.AUTH_TOKEN_PARAM, Value=c.TEST_AUTH_TOKEN, Type="SecureString")
        yield {"dynamodb": dynamodb, "ssm": ssm, "sqs": sqs}


@pytest.fixture(autouse=True)
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries back off without waiting; tests read the pauses that would have been taken."""
    from voiceagent.plivo import rest as plivo_api

    pauses: list[float] = []
    monkeypatch.setattr(plivo_api, "_sleep", pauses.append)
    return pauses


@pytest.fixture
def plivo_rest() -> Iterator[responses.RequestsMock]:
    """Plivo's REST API intercepted at the HTTP level, so the real plivo SDK code runs."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def lambda_context() -> Any:
    class _Context:
        function_name = "test-function"
        memory_limit_in_mb = 512
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
        aws_request_id = "00000000-0000-4000-8000-000000000000"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 10_000

    return _Context()


@pytest.fixture
def dynamodb_calls(aws_stack: dict[str, Any]) -> Iterator[Counter[str]]:
    """Counts DynamoDB operations made through the handlers' client."""
    counts: Counter[str] = Counter()
    client = aws.dynamodb()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    client.meta.events.register("before-call.dynamodb", count)
    yield counts
    client.meta.events.unregister("before-call.dynamodb", count)


@pytest.fixture
def table_items(aws_stack: dict[str, Any]) -> Any:
    """The items in the calls table, deserialised (for asserting what was, or was not, written). Remembered
    webhook nonces (written by every successful webhook) only with ``nonces=True``."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()

    def _scan(*, nonces: bool = False) -> list[dict[str, Any]]:
        items = aws_stack["dynamodb"].scan(TableName=c.TABLE_NAME)["Items"]
        return [
            {key: deserializer.deserialize(value) for key, value in item.items()}
            for item in items
            if nonces or not item["pk"]["S"].startswith("NONCE#")
        ]

    return _scan


@pytest.fixture
def table_stream(aws_stack: dict[str, Any]) -> TableStream:
    """The calls table's DynamoDB stream from now on, as Lambda would hand it to ``functions/call_events``."""
    streams = boto3.client("dynamodbstreams", region_name=c.REGION, endpoint_url=STREAMS_ENDPOINT)
    return TableStream(aws_stack["dynamodb"], streams, c.TABLE_NAME)


@pytest.fixture
def call_event_bus(aws_stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack's bus in moto with a catch-all rule to a queue, ``EVENT_BUS_NAME`` pointing at it; returns
    a function that drains the queue: the events published so far (EventBridge envelopes)."""
    import json

    events = boto3.client("events", region_name=c.REGION)
    sqs = boto3.client("sqs", region_name=c.REGION)
    events.create_event_bus(Name=c.EVENT_BUS_NAME)
    queue_url = sqs.create_queue(QueueName="recorder")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="everything",
        EventBusName=c.EVENT_BUS_NAME,
        EventPattern=json.dumps({"source": ["plivo-voice-agent"]}),
    )
    events.put_targets(
        Rule="everything", EventBusName=c.EVENT_BUS_NAME, Targets=[{"Id": "recorder", "Arn": queue_arn}]
    )
    monkeypatch.setenv("EVENT_BUS_NAME", c.EVENT_BUS_NAME)
    get_settings.cache_clear()

    def drain() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return drain


@pytest.fixture
def agent_keys(aws_stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """A stack with keys for your own agent: a dedicated stream-token key and the notifications' key."""
    for parameter, value in (
        (c.STREAM_TOKEN_SECRET_PARAM, c.STREAM_TOKEN_SECRET),
        (c.AGENT_WEBHOOK_SECRET_PARAM, c.AGENT_WEBHOOK_SECRET),
    ):
        aws_stack["ssm"].put_parameter(Name=parameter, Value=value, Type="SecureString")
    monkeypatch.setenv("STREAM_TOKEN_SECRET_PARAM", c.STREAM_TOKEN_SECRET_PARAM)
    monkeypatch.setenv("AGENT_WEBHOOK_SECRET_PARAM", c.AGENT_WEBHOOK_SECRET_PARAM)
    get_settings.cache_clear()
    return {"stream": c.STREAM_TOKEN_SECRET.encode(), "webhook": c.AGENT_WEBHOOK_SECRET.encode()}
