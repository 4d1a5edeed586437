"""The whole system on one machine: `make local` (this module) keeps it running; `make demo` plays calls.

- HTTP gateway (default 127.0.0.1:3000): the HTTP API's paths, as HTTP API v2 events, into the real handlers.
- WebSocket gateway (127.0.0.1:3001): streams as $connect/$default/$disconnect events, plus @connections.
- Simulated Plivo REST API (127.0.0.1:3002), to which the plivo SDK is pointed.
- DynamoDB and SSM from moto's server (127.0.0.1:3003), tables created from template.yaml — or a real
  DynamoDB when LOCAL_DYNAMODB_ENDPOINT is set.
Ports, credentials and the public base URL come from environment variables (printed at start), so a tunnel
can sit in front and a real Plivo number can be wired to it.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.local.faults import Faults
from tests.local.gateway import FUNCTIONS, Gateway
from tests.local.lambda_pool import Lambdas
from tests.local.plivo_sim import Callee, PlivoSimulator, Quiet, Speak

TABLE_NAME = "calls-local"
AUTH_TOKEN_PARAM = "/plivo-voice-agent/local/auth-token"


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
    """Warm containers per function (``LOCAL_LAMBDA_CONTAINERS``); a pool grows to twice that when busy."""

    @classmethod
    def from_env(cls, *, ephemeral: bool = False) -> LocalConfig:
        env = os.environ
        host = env.get("LOCAL_HOST", "127.0.0.1")

        def port(name: str, default: int) -> int:
            return _free_port(host) if ephemeral else int(env.get(name, default))

        http_port, ws_port = port("LOCAL_HTTP_PORT", 3000), port("LOCAL_WS_PORT", 3001)
        return cls(
            host=host,
            http_port=http_port,
            ws_port=ws_port,
            plivo_port=port("LOCAL_PLIVO_PORT", 3002),
            moto_port=port("LOCAL_MOTO_PORT", 3003),
            dynamodb_port=port("LOCAL_MOTO_DYNAMODB_PORT", 3004),
            auth_id=env.get("PLIVO_AUTH_ID", "MALOCALSTACK00000000"),
            auth_token=env.get("PLIVO_AUTH_TOKEN", "local-plivo-auth-token"),
            public_base_url=env.get("LOCAL_PUBLIC_BASE_URL", f"http://{host}:{http_port}"),
            websocket_url=env.get("LOCAL_WEBSOCKET_URL", f"ws://{host}:{ws_port}"),
            dynamodb_endpoint=env.get("LOCAL_DYNAMODB_ENDPOINT") or None,
            containers=int(env.get("LOCAL_LAMBDA_CONTAINERS", "4")),
        )

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
            "STAGE": "local",
            "CALLS_TABLE_NAME": os.environ.get("CALLS_TABLE_NAME", TABLE_NAME),
            "PLIVO_AUTH_ID": self.auth_id,
            "PLIVO_AUTH_TOKEN_PARAM": AUTH_TOKEN_PARAM,
            "PLIVO_API_BASE_URL": f"http://{self.host}:{self.plivo_port}",
            "WEBSOCKET_URL": self.websocket_url,
            "WEBSOCKET_MANAGEMENT_ENDPOINT": f"http://{self.host}:{self.ws_port}",
            "PUBLIC_BASE_URL": self.public_base_url,
            "POWERTOOLS_SERVICE_NAME": "plivo-voice-agent",
            "POWERTOOLS_METRICS_NAMESPACE": "PlivoVoiceAgentLocal",
            "POWERTOOLS_METRICS_DISABLED": "true",
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
            raise RuntimeError(
                f"moto's server exited with {server.returncode} (is port {config.moto_port} free?)"
            )
        with contextlib.suppress(OSError):
            for port in (config.moto_port, config.dynamodb_port):
                socket.create_connection((config.host, port), 0.2).close()
            return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto's server did not start within 30 s")


def _prepare_aws(config: LocalConfig) -> subprocess.Popen[bytes] | None:
    """Start moto's server (unless a real DynamoDB is configured) and create the table and the SSM token."""
    import boto3

    from tests.support.template import table_definition

    server = _start_moto(config)
    env = config.function_environment()
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=env["AWS_ENDPOINT_URL_DYNAMODB"], region_name=env["AWS_DEFAULT_REGION"]
    )
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(TableName=env["CALLS_TABLE_NAME"], **table_definition("CallsTable"))
    boto3.client(
        "ssm", endpoint_url=env["AWS_ENDPOINT_URL_SSM"], region_name=env["AWS_DEFAULT_REGION"]
    ).put_parameter(Name=AUTH_TOKEN_PARAM, Value=config.auth_token, Type="SecureString", Overwrite=True)
    return server


def default_callee(_to: str) -> Callee:
    """Who answers a call placed outside the demo: someone who says hello and listens."""
    return Callee(script=(Quiet(300), Speak(800), Quiet(1500)))


class LocalStack:
    def __init__(
        self, config: LocalConfig, callees: Callable[[str], Callee] = default_callee, time_scale: float = 1.0
    ) -> None:
        self.config = config
        os.environ.update(config.function_environment())
        self.lambdas = Lambdas(FUNCTIONS, warm=config.containers, cap=2 * config.containers)
        self.gateway = Gateway(ws_domain=f"{config.host}:{config.ws_port}", lambdas=self.lambdas)
        self.plivo = PlivoSimulator(
            auth_id=config.auth_id, auth_token=config.auth_token, callees=callees, time_scale=time_scale
        )
        self.faults = Faults()
        self._runners: list[web.AppRunner] = []
        self._moto: Any = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._moto = await loop.run_in_executor(None, _prepare_aws, self.config)
        await self.lambdas.start(prime=self.gateway.priming_events())
        http_app = self.gateway.http_app()
        http_app.middlewares.append(self.faults.middleware)
        for app, port in (
            (http_app, self.config.http_port),
            (self.gateway.ws_app(), self.config.ws_port),
            (self.plivo.rest_app(), self.config.plivo_port),
        ):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self.config.host, port).start()
            self._runners.append(runner)

    async def stop(self) -> None:
        await self.gateway.close_all()
        await self.plivo.close()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self.lambdas.stop()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def describe(self) -> str:
        c = self.config
        return "\n".join(
            [
                "local stack running:",
                f"  HTTP API        {c.public_base_url}  (webhooks: /plivo/answer, /plivo/hangup, …; /calls)",
                f"  WebSocket API   {c.websocket_url}  (@connections at http://{c.host}:{c.ws_port})",
                f"  Plivo REST API  http://{c.host}:{c.plivo_port}  (simulated; auth id {c.auth_id})",
                f"  DynamoDB        {c.dynamodb_endpoint or f'moto at http://{c.host}:{c.dynamodb_port}'}",
                f"  SSM, …          moto at http://{c.host}:{c.moto_port}",
                "  env: LOCAL_HTTP_PORT LOCAL_WS_PORT LOCAL_PLIVO_PORT LOCAL_MOTO_PORT",
                "       LOCAL_MOTO_DYNAMODB_PORT PLIVO_AUTH_ID",
                "       PLIVO_AUTH_TOKEN LOCAL_PUBLIC_BASE_URL LOCAL_WEBSOCKET_URL LOCAL_DYNAMODB_ENDPOINT",
                "       and the functions' PLIVO_CALLBACK_RETRIES STREAM_RECOVERY_MAX_ATTEMPTS",
                "       STREAM_RECOVERY_APOLOGY",
                "  place a call:   .venv/bin/voiceagent call --to +14155550123 --from +14155550100",
                f"                  --api-url {c.public_base_url} --no-sign",
            ]
        )


async def _serve() -> None:
    stack = LocalStack(LocalConfig.from_env())
    await stack.start()
    print(stack.describe(), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await stack.stop()


if __name__ == "__main__":
    asyncio.run(_serve())
    sys.exit(0)
