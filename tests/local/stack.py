"""The whole system on one machine: `make local` (this module) keeps it running; `make demo` plays calls.

- HTTP gateway (default 127.0.0.1:3000): the HTTP API's paths, as HTTP API v2 events, into the real handlers;
  it also serves the media WebSocket at /media, so one tunnel in front of it is enough for real Plivo.
- WebSocket gateway (127.0.0.1:3001): streams as $connect/$default/$disconnect events, plus @connections.
- Simulated Plivo REST API (127.0.0.1:3002), to which the plivo SDK is pointed (not in live mode).
- DynamoDB and SSM from moto's server (127.0.0.1:3003), tables created from template.yaml — or a real
  DynamoDB when LOCAL_DYNAMODB_ENDPOINT is set.
- Call events: the table's stream polled as Lambda's event source mapping does, ``functions/call_events`` on
  it, the stack's EventBridge bus on moto with a catch-all rule to a "recorder" queue the stack drains (each
  event printed as it arrives).
- Your own agent, as an example (examples/external_agent, 127.0.0.1:3005): calls placed with its
  ``stream_url`` stream to it, and the agent policy notifies it.
Ports, credentials and the public base URL come from environment variables (printed at start).
``LOCAL_PLIVO=live`` uses the real Plivo REST API with your credentials behind a tunnel
(``voiceagent_cli.local_stack`` refuses settings that mix the two).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from examples.external_agent.agent import AgentConfig, ExampleAgent
from tests.local import callees
from tests.local.console import CallLines
from tests.local.event_sources import (
    DynamoDbStreamSource,
    EventSources,
    LocalAws,
    Recorder,
    SqsEventSource,
)
from tests.local.faults import Faults
from tests.local.gateway import FUNCTIONS, Gateway
from tests.local.lambda_pool import Lambdas
from tests.local.plivo_sim import Callee, PlivoSimulator, SimCall
from tests.local.preflight import LocalStackError, check_ports
from voiceagent_cli.local_stack import (
    AGENT_STREAM_PATH,
    AGENT_WEBHOOK_KEY_PARAMETER,
    AGENT_WEBHOOK_PATH,
    AUTH_TOKEN_PARAMETER,
    LOCAL_AGENT_WEBHOOK_KEY,
    LOCAL_AUTH_ID,
    LOCAL_AUTH_TOKEN,
    LOCAL_STREAM_TOKEN_KEY,
    PORTS,
    STREAM_TOKEN_KEY_PARAMETER,
    MixedSettings,
    PlivoMode,
    mixed_settings,
    plivo_mode,
    public_urls,
)

TABLE_NAME = "calls-local"
CAMPAIGNS_TABLE = "campaigns-local"
DNC_TABLE = "dnc-local"
DIAL_QUEUE = "campaign-dial-local"
OUTCOMES_QUEUE = "campaign-outcomes-local"
EVENT_BUS_NAME = "plivo-voice-agent-local-calls"
"""The stack's call events bus as the template names it (``<stack>-calls``)."""
MOTO_ACCOUNT = "123456789012"
LOCAL_QUEUE_VISIBILITY_SECONDS = 30
"""The local queues' visibility timeout (template.yaml: six times the function timeout, 6 minutes): a batch
whose dialer died comes back after 30 s here, so a fault test does not wait 6 minutes."""
AUTH_TOKEN_PARAM = AUTH_TOKEN_PARAMETER
STACK_FUNCTIONS = {**FUNCTIONS, "call_events": "functions.call_events.app"}
"""The gateways' functions, and the one the table's stream invokes."""
DEMO_IGNORES = (
    "LOCAL_PLIVO",
    "PLIVO_AUTH_ID",
    "PLIVO_AUTH_TOKEN",
    "LOCAL_PUBLIC_BASE_URL",
    "LOCAL_WEBSOCKET_URL",
)
"""Live-mode settings the demo (always the simulated Plivo) leaves aside, saying so."""


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LocalConfig:
    host: str
    http_port: int
    ws_port: int
    plivo_port: int
    moto_port: int
    dynamodb_port: int
    auth_id: str
    auth_token: str
    public_base_url: str
    websocket_url: str
    dynamodb_endpoint: str | None
    containers: int
    agent_port: int = PORTS["LOCAL_AGENT_PORT"]
    """The example agent (examples/external_agent): ``ws://host:port/stream`` and ``…/voicemail``."""
    """Warm containers per function (``LOCAL_LAMBDA_CONTAINERS``); a pool grows to twice that when busy."""
    mode: PlivoMode = PlivoMode.SIMULATED
    dialer_concurrency: int = 4
    """Dialer invocations at once (``LOCAL_DIALER_CONCURRENCY``; CampaignDialerMaxConcurrency on AWS)."""
    sweep_seconds: float = 5.0
    """How often the campaign sweeper runs (``LOCAL_SWEEP_SECONDS``; every minute on AWS)."""
    ignored: tuple[str, ...] = ()
    """Variables set in the environment that this run leaves aside (the demo's live-mode settings)."""

    @classmethod
    def from_env(cls, *, ephemeral: bool = False, simulated_only: bool = False) -> LocalConfig:
        """The configuration the environment describes; ``MixedSettings`` when it mixes the simulated Plivo
        and the real one. ``simulated_only`` (the demo) leaves live-mode settings aside instead."""
        env = dict(os.environ)
        ignored = tuple(name for name in DEMO_IGNORES if simulated_only and env.get(name))
        for name in ignored:
            env.pop(name)
        host = env.get("LOCAL_HOST", "127.0.0.1")
        ephemeral = ephemeral or env.get("LOCAL_EPHEMERAL_PORTS", "").lower() in ("1", "true", "yes")

        def port(name: str) -> int:
            return _free_port(host) if ephemeral else int(env.get(name, PORTS[name]))

        http_port, ws_port = port("LOCAL_HTTP_PORT"), port("LOCAL_WS_PORT")
        mode = plivo_mode(env)
        base_url, websocket_url = public_urls(env, host, http_port, ws_port)
        problems = mixed_settings(env, mode, base_url, websocket_url)
        if problems:
            raise MixedSettings(problems)
        return cls(
            host=host,
            http_port=http_port,
            ws_port=ws_port,
            plivo_port=port("LOCAL_PLIVO_PORT"),
            moto_port=port("LOCAL_MOTO_PORT"),
            dynamodb_port=port("LOCAL_MOTO_DYNAMODB_PORT"),
            auth_id=env.get("PLIVO_AUTH_ID", LOCAL_AUTH_ID),
            auth_token=env.get("PLIVO_AUTH_TOKEN", LOCAL_AUTH_TOKEN),
            public_base_url=base_url,
            websocket_url=websocket_url,
            dynamodb_endpoint=env.get("LOCAL_DYNAMODB_ENDPOINT") or None,
            containers=int(env.get("LOCAL_LAMBDA_CONTAINERS", "4")),
            agent_port=port("LOCAL_AGENT_PORT"),
            mode=mode,
            ignored=ignored,
            dialer_concurrency=int(env.get("LOCAL_DIALER_CONCURRENCY", "4")),
            sweep_seconds=float(env.get("LOCAL_SWEEP_SECONDS", "5")),
        )

    def queue_url(self, name: str) -> str:
        """A queue's URL on moto's server (moto names it after the host asked and its default account)."""
        return f"http://{self.host}:{self.moto_port}/{MOTO_ACCOUNT}/{name}"

    @property
    def live(self) -> bool:
        return self.mode is PlivoMode.LIVE

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    @property
    def stream_token_key(self) -> bytes:
        """The key the stack's stream tokens are made with (its own parameter, as with your own agent): what
        a test minting a genuine token needs."""
        return LOCAL_STREAM_TOKEN_KEY.encode()

    @property
    def agent_stream_url(self) -> str:
        """The example agent's stream URL, for a call's ``stream_url`` (ws:// to this machine)."""
        return f"ws://{self.host}:{self.agent_port}{AGENT_STREAM_PATH}"

    @property
    def agent_webhook_url(self) -> str:
        return f"http://{self.host}:{self.agent_port}{AGENT_WEBHOOK_PATH}"

    def ports(self) -> dict[str, int]:
        """The ports this configuration binds (the simulated Plivo's only when it runs)."""
        ports = {
            "LOCAL_HTTP_PORT": self.http_port,
            "LOCAL_WS_PORT": self.ws_port,
            "LOCAL_PLIVO_PORT": self.plivo_port,
            "LOCAL_MOTO_PORT": self.moto_port,
            "LOCAL_MOTO_DYNAMODB_PORT": self.dynamodb_port,
            "LOCAL_AGENT_PORT": self.agent_port,
        }
        if self.live:
            del ports["LOCAL_PLIVO_PORT"]
        return ports

    def function_environment(self) -> dict[str, str]:
        """What template.yaml's Globals give the functions, pointed at the local services. Every other
        setting the functions read (the configuration table in README) is taken from this environment when
        it is set there, so `DEFAULT_MACHINE_POLICY=agent make demo` works like the stack parameter."""
        moto = f"http://{self.host}:{self.moto_port}"
        return {
            **tunable_settings(),
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_ENDPOINT_URL_SSM": moto,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint or f"http://{self.host}:{self.dynamodb_port}",
            "AWS_ENDPOINT_URL_POLLY": moto,
            "AWS_ENDPOINT_URL_SQS": moto,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": moto,
            "CAMPAIGNS_TABLE_NAME": CAMPAIGNS_TABLE,
            "DNC_TABLE_NAME": DNC_TABLE,
            "CAMPAIGN_DIAL_QUEUE_URL": self.queue_url(DIAL_QUEUE),
            "CAMPAIGN_CALLBACK_BASE_URL": self.public_base_url,
            "EVENT_BUS_NAME": EVENT_BUS_NAME,
            # Keys of their own for the stream tokens and your agent's notifications, as a stack with your
            # own agent needs (the example agent reads the same values).
            "STREAM_TOKEN_SECRET_PARAM": STREAM_TOKEN_KEY_PARAMETER,
            "AGENT_WEBHOOK_SECRET_PARAM": AGENT_WEBHOOK_KEY_PARAMETER,
            "STAGE": "local",
            "CALLS_TABLE_NAME": os.environ.get("CALLS_TABLE_NAME", TABLE_NAME),
            "PLIVO_AUTH_ID": self.auth_id,
            "PLIVO_AUTH_TOKEN_PARAM": AUTH_TOKEN_PARAM,
            # Live: empty, which the functions read as "Plivo's own API".
            "PLIVO_API_BASE_URL": "" if self.live else f"http://{self.host}:{self.plivo_port}",
            "WEBSOCKET_URL": self.websocket_url,
            "WEBSOCKET_MANAGEMENT_ENDPOINT": f"http://{self.host}:{self.ws_port}",
            "PUBLIC_BASE_URL": self.public_base_url,
            "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent",
            "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgentLocal",
            # LOCAL_METRICS=1: the functions print their metrics (CloudWatch EMF lines) to stdout.
            "POWERTOOLS_METRICS_DISABLED": "false" if os.environ.get("LOCAL_METRICS") == "1" else "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("LOCAL_LOG_LEVEL", "ERROR"),
        }


STACK_OWNED = frozenset(
    {
        "STAGE",
        "CALLS_TABLE_NAME",
        "PLIVO_AUTH_ID",
        "PLIVO_AUTH_TOKEN_PARAM",
        "PLIVO_API_BASE_URL",
        "WEBSOCKET_URL",
        "WEBSOCKET_MANAGEMENT_ENDPOINT",
        "PUBLIC_BASE_URL",
        "CAMPAIGNS_TABLE_NAME",
        "DNC_TABLE_NAME",
        "CAMPAIGN_DIAL_QUEUE_URL",
        "CAMPAIGN_CALLBACK_BASE_URL",
        "EVENT_BUS_NAME",
        "STREAM_TOKEN_SECRET_PARAM",
        "AGENT_WEBHOOK_SECRET_PARAM",
    }
)
"""Settings the local stack sets itself (from its LOCAL_* variables): where its own services are."""


def tunable_settings() -> dict[str, str]:
    """Every other setting of the functions (``voiceagent.settings.Settings``) that this environment sets."""
    from voiceagent.settings import Settings

    names = {field.alias for field in Settings.model_fields.values() if field.alias} - STACK_OWNED
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}


def _start_moto(config: LocalConfig) -> subprocess.Popen[bytes]:
    """moto's server in its own process (tests.local.moto_server), once its port answers."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.local.moto_server",
            config.host,
            str(config.moto_port),
            str(config.dynamodb_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LocalStackError(
                f"moto's server exited with {server.returncode} (is port {config.moto_port}, "
                "LOCAL_MOTO_PORT, free?)"
            )
        with contextlib.suppress(OSError):
            for port in (config.moto_port, config.dynamodb_port):
                socket.create_connection((config.host, port), 0.2).close()
            return server
        time.sleep(0.1)
    server.kill()
    raise LocalStackError("moto's server did not start within 30 s (a busy machine? run again)")


def _prepare_aws(config: LocalConfig) -> subprocess.Popen[bytes] | None:
    """Start moto's server (unless a real DynamoDB is configured) and create the table and the SSM token."""
    import boto3

    from tests.support import constants
    from tests.support.template import table_definition

    server = _start_moto(config)
    env = config.function_environment()
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"]
    )
    ssm = boto3.client("ssm", endpoint_url=env["AWS_ENDPOINT_URL_SSM"], region_name=env["AWS_DEFAULT_REGION"])
    # The stack's own table and token, and those the sample events in events/ were made for, so
    # `sam local invoke -e events/… --env-vars events/env/sam-local-invoke.json` works against this moto.
    for table, parameter, token in (
        (env["CALLS_TABLE_NAME"], AUTH_TOKEN_PARAM, config.auth_token),
        (constants.TABLE_NAME, constants.AUTH_TOKEN_PARAM, constants.TEST_AUTH_TOKEN),
    ):
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(TableName=table, **table_definition("CallsTable"))
        ssm.put_parameter(Name=parameter, Value=token, Type="SecureString", Overwrite=True)
    for parameter, value in (
        (STREAM_TOKEN_KEY_PARAMETER, LOCAL_STREAM_TOKEN_KEY),
        (AGENT_WEBHOOK_KEY_PARAMETER, LOCAL_AGENT_WEBHOOK_KEY),
        (constants.STREAM_TOKEN_SECRET_PARAM, constants.STREAM_TOKEN_SECRET),
        (constants.AGENT_WEBHOOK_SECRET_PARAM, constants.AGENT_WEBHOOK_SECRET),
    ):
        ssm.put_parameter(Name=parameter, Value=value, Type="SecureString", Overwrite=True)
    for table, logical_id in ((CAMPAIGNS_TABLE, "CampaignsTable"), (DNC_TABLE, "DoNotCallTable")):
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(TableName=table, **table_definition(logical_id))
    _create_queues(config, env)
    return server


def _wire_call_events(config: LocalConfig, lambdas: Lambdas, recorder: Recorder) -> EventSources:
    """The calls table's stream → ``functions/call_events`` (the template's event source mapping: its filter,
    batch size, window, retries, dead-letter queue) → the bus → a catch-all rule → the recorder's queue."""
    from tests.support.template import fact_filter_pattern, load_template
    from voiceagent.call_events.schema import SOURCE

    env = config.function_environment()
    aws = LocalAws(config.moto_url, env["AWS_DEFAULT_REGION"])
    for bus in (EVENT_BUS_NAME, constants_event_bus()):
        aws.bus(bus)
    recorded = aws.queue("call-events-recorder")
    aws.route(EVENT_BUS_NAME, "call-events-recorder", {"source": [SOURCE]}, recorded)
    dead_letters = aws.queue("call-events-dead-letters")
    import boto3

    dynamodb = boto3.client(
        "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"]
    )
    stream_arn = dynamodb.describe_table(TableName=env["CALLS_TABLE_NAME"])["Table"]["LatestStreamArn"]
    mapping = load_template()["Resources"]["CallEventsSource"]["Properties"]
    retries = load_template()["Parameters"]["CallEventsMaxRetryAttempts"]["Default"]
    sources = EventSources()
    sources.add(
        DynamoDbStreamSource(
            function="call_events",
            stream_arn=stream_arn,
            streams=aws.streams,
            invoke=lambdas.invoke,
            filters=[fact_filter_pattern()],
            batch_size=int(mapping["BatchSize"]),
            batching_window_seconds=float(mapping["MaximumBatchingWindowInSeconds"]),
            max_retries=int(retries),
            on_failure=aws.dead_letter(dead_letters),
        )
    )
    sources.add(
        SqsEventSource(
            function="recorder",
            queue_url=recorded.url,
            queue_arn=recorded.arn,
            sqs=aws.sqs,
            invoke=recorder,
            concurrency=1,
        )
    )
    return sources


def constants_event_bus() -> str:
    """The bus the sample events in events/ were made for (`sam local invoke` against this moto)."""
    from tests.support import constants

    return constants.EVENT_BUS_NAME


def _create_queues(config: LocalConfig, env: dict[str, str]) -> None:
    """The campaign queues and their dead-letter queues, on moto's SQS, as template.yaml declares them."""
    import json

    import boto3

    from tests.support.template import load_template

    sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL_SQS"], region_name=env["AWS_DEFAULT_REGION"])
    for name in (DIAL_QUEUE, OUTCOMES_QUEUE):
        dead = sqs.create_queue(QueueName=f"{name}-dead-letters")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(LOCAL_QUEUE_VISIBILITY_SECONDS),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        if url != config.queue_url(name):
            raise LocalStackError(f"moto named the queue {url}, not {config.queue_url(name)}")
    # Call Completed events of campaign calls reach the outcomes queue as on AWS: moto's EventBridge applies
    # the template's CampaignOutcomesRule and delivers to the queue itself.
    events = boto3.client(
        "events", endpoint_url=env["AWS_ENDPOINT_URL_EVENTBRIDGE"], region_name=env["AWS_DEFAULT_REGION"]
    )
    outcomes_arn = f"arn:aws:sqs:{env['AWS_DEFAULT_REGION']}:{MOTO_ACCOUNT}:{OUTCOMES_QUEUE}"
    with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=env["EVENT_BUS_NAME"])
    rule = load_template()["Resources"]["CampaignOutcomesRule"]["Properties"]
    events.put_rule(
        Name="campaign-outcomes",
        EventBusName=env["EVENT_BUS_NAME"],
        EventPattern=json.dumps(rule["EventPattern"]),
    )
    events.put_targets(
        Rule="campaign-outcomes",
        EventBusName=env["EVENT_BUS_NAME"],
        Targets=[{"Id": "campaign-outcomes", "Arn": outcomes_arn}],
    )


class LocalStack:
    def __init__(
        self,
        config: LocalConfig,
        callees: Callable[[str], Callee] = callees.callee_for,
        observer: Callable[[SimCall, str], None] | None = None,
        time_scale: float = 1.0,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        os.environ.update(config.function_environment())
        self.lambdas = Lambdas(
            STACK_FUNCTIONS,
            warm=config.containers,
            cap=2 * config.containers,
            warm_for={"campaigns": 1, "campaign_outcomes": 2, "campaign_sweeper": 1, "call_events": 1},
            # The dialer's 60 s (template.yaml) would outlast the local queues' 30 s visibility: as on AWS
            # (360 s over 60 s), a batch must end before the queue hands its messages out again.
            timeouts={
                "campaign_dialer": LOCAL_QUEUE_VISIBILITY_SECONDS - 5.0,
                "campaigns": 29.0,
                "campaign_sweeper": 120.0,
            },
        )
        self.sources: list[Any] = []
        self.gateway = Gateway(ws_domain=f"{config.host}:{config.ws_port}", lambdas=self.lambdas)
        self.plivo = PlivoSimulator(
            auth_id=config.auth_id,
            auth_token=config.auth_token,
            callees=callees,
            observer=observer,
            time_scale=time_scale,
        )
        self.faults = Faults(
            None if config.dynamodb_endpoint else f"http://{config.host}:{config.dynamodb_port}"
        )
        self.events = Recorder(on_event)
        """Every call event the stack published, as a rule delivered it (``make demo`` prints them)."""
        self.agent = ExampleAgent(
            AgentConfig(
                stream_key=config.stream_token_key,
                webhook_key=LOCAL_AGENT_WEBHOOK_KEY.encode(),
                api_url=f"http://{config.host}:{config.http_port}",
                sign_requests=False,
            )
        )
        self._sources: EventSources | None = None
        self._runners: list[web.AppRunner] = []
        self._moto: Any = None

    async def start(self) -> None:
        """Start everything, or raise ``LocalStackError`` saying what is in the way."""
        check_ports(self.config.host, self.config.ports())
        loop = asyncio.get_running_loop()
        self._moto = await loop.run_in_executor(None, _prepare_aws, self.config)
        await loop.run_in_executor(None, callees.prepare)
        await self.lambdas.start(prime={**self.gateway.priming_events(), "call_events": {"Records": []}})
        self._sources = await loop.run_in_executor(
            None, _wire_call_events, self.config, self.lambdas, self.events
        )
        self._sources.start()
        self._start_event_sources()
        http_app = self.gateway.http_app()
        http_app.middlewares.append(self.faults.middleware)
        apps = [
            (http_app, self.config.http_port),
            (self.gateway.ws_app(), self.config.ws_port),
            (self.agent.app(), self.config.agent_port),
        ]
        if not self.config.live:
            apps.append((self.plivo.rest_app(), self.config.plivo_port))
        for app, port in apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, self.config.host, port).start()
            except OSError as exc:  # taken between the check and now
                raise LocalStackError(f"port {port} could not be bound ({exc.strerror}): run again") from exc
            self._runners.append(runner)

    async def events_settled(
        self, calls: list[tuple[str | None, str | None]], *, quiet_seconds: float = 1.5, timeout: float = 20
    ) -> bool:
        """Wait until each call (CallUUID, placement id) has its Call Completed (or Call Not Placed) on the
        bus and nothing new arrived for ``quiet_seconds``; False on timeout."""
        deadline = time.monotonic() + timeout
        seen, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            if len(self.events.events) != seen:
                seen, quiet_since = len(self.events.events), time.monotonic()
            finished = all(
                any(
                    event["detail-type"] in ("Call Completed", "Call Not Placed")
                    for event in self.events.of_call(*ids)
                )
                for ids in calls
            )
            if finished and time.monotonic() - quiet_since >= quiet_seconds:
                return True
            await asyncio.sleep(0.2)
        return False

    def _start_event_sources(self) -> None:
        """What Lambda's event source mappings and EventBridge's schedules do on AWS: the dial and outcome
        queues feed their functions (template.yaml's batch sizes and dialer concurrency), and the sweeper
        runs every ``LOCAL_SWEEP_SECONDS`` (AWS: every minute)."""
        import boto3

        from tests.local.event_sources import ScheduleSource, SqsEventSource

        env = self.config.function_environment()
        sqs = boto3.client(
            "sqs", endpoint_url=env["AWS_ENDPOINT_URL_SQS"], region_name=env["AWS_DEFAULT_REGION"]
        )
        for queue, function, concurrency in (
            (DIAL_QUEUE, "campaign_dialer", self.config.dialer_concurrency),
            (OUTCOMES_QUEUE, "campaign_outcomes", 2),
        ):
            self.sources.append(
                SqsEventSource(
                    function=function,
                    queue_url=self.config.queue_url(queue),
                    queue_arn=f"arn:aws:sqs:{env['AWS_DEFAULT_REGION']}:{MOTO_ACCOUNT}:{queue}",
                    sqs=sqs,
                    invoke=self.gateway.invoke,
                    concurrency=concurrency,
                    wait_seconds=0,
                    poll_seconds=0.2,
                )
            )
        self.sources.append(
            ScheduleSource("campaign_sweeper", self.config.sweep_seconds, self.gateway.invoke)
        )
        for source in self.sources:
            source.start()

    async def stop(self) -> None:
        for source in self.sources:
            await source.stop()
        if self._sources is not None:
            await self._sources.stop()
        await self.gateway.close_all()
        await self.plivo.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self.lambdas.stop()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def describe(self) -> str:
        return describe(self.config)


def describe(c: LocalConfig) -> str:
    """What runs where, and how to place a call: printed when the stack has started."""
    local_api = f"http://{c.host}:{c.http_port}"
    plivo = (
        f"  Plivo REST API  Plivo's own (LIVE: real calls, real charges; auth id {c.auth_id})"
        if c.live
        else f"  Plivo REST API  http://{c.host}:{c.plivo_port}  (simulated; auth id {c.auth_id})"
    )
    lines = [
        f"local stack running ({c.mode.value} Plivo):",
        f"  HTTP API        {local_api}  (webhooks: /plivo/answer, /plivo/hangup, …; /calls)",
        f"  WebSocket API   ws://{c.host}:{c.ws_port}  (@connections; also {local_api}/media)",
        plivo,
        f"  DynamoDB        {c.dynamodb_endpoint or f'moto at http://{c.host}:{c.dynamodb_port}'}",
        f"  SSM, …          moto at http://{c.host}:{c.moto_port}",
        f"  call events     bus {EVENT_BUS_NAME} on moto, from the table's stream; printed as they arrive",
        f"  your own agent  the example (examples/external_agent): {c.agent_stream_url},"
        f" notified at {c.agent_webhook_url}",
    ]
    if c.live:
        lines += [
            f"  Plivo calls     {c.public_base_url} (webhooks) and {c.websocket_url} (audio),"
            " through your tunnel",
            "  check the wiring: make doctor   (same variables)",
            "  call your phone: .venv/bin/voiceagent call --to +1YOURPHONE --from +1YOURPLIVONUMBER",
        ]
    else:
        lines += [
            "  simulated callees: voiceagent call --callee human|machine-beep|machine-no-beep|busy|"
            "no-answer|failed|hangup-after=N|dropped-stream|degraded-stream",
            "  place a call:    .venv/bin/voiceagent call --callee machine-beep --policy agent "
            "--from +14155550199",
            f"  to the example agent: add --stream-url {c.agent_stream_url} --agent-webhook-url "
            f"{c.agent_webhook_url}",
        ]
    lines += [
        f"                   --api-url {local_api} --no-sign   (then: voiceagent report ID --follow)",
        "  env: LOCAL_PLIVO LOCAL_HTTP_PORT LOCAL_WS_PORT LOCAL_PLIVO_PORT LOCAL_MOTO_PORT",
        "       LOCAL_MOTO_DYNAMODB_PORT PLIVO_AUTH_ID PLIVO_AUTH_TOKEN LOCAL_PUBLIC_BASE_URL",
        "       LOCAL_WEBSOCKET_URL LOCAL_DYNAMODB_ENDPOINT LOCAL_LAMBDA_CONTAINERS, and every stack setting",
    ]
    lines += [f"  ignored here: {name} (the demo always uses the simulated Plivo)" for name in c.ignored]
    return "\n".join(lines)


async def _serve() -> None:
    lines = CallLines()
    stack = LocalStack(LocalConfig.from_env(), observer=lines, on_event=lines.event)
    if stack.config.live:
        stack.gateway.access_log = lines.print  # Plivo's webhooks as they arrive through the tunnel
    try:
        await stack.start()
    except BaseException:
        await stack.stop()
        raise
    print(stack.describe(), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await stack.stop()


def run(main: Callable[[], Coroutine[Any, Any, int | None]]) -> int:
    """Run `make local` or `make demo`: a problem with the settings or the ports is one message, exit 2."""
    try:
        return asyncio.run(main()) or 0
    except MixedSettings as exc:
        print(f"error: the local stack will not start with these settings:\n{exc}", file=sys.stderr)
    except LocalStackError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(run(_serve))
