"""Run the example agent: ``python -m examples.external_agent`` (the local stack runs one by itself).

Its keys come from SSM, as a deployed agent's would: ``STREAM_TOKEN_SECRET_PARAM`` and
``AGENT_WEBHOOK_SECRET_PARAM`` name the parameters (read with this process's AWS credentials, which need
``ssm:GetParameter`` on both and ``kms:Decrypt``); or give the values themselves in ``AGENT_STREAM_TOKEN_KEY``
and ``AGENT_WEBHOOK_KEY``. ``VOICEAGENT_API_URL`` is the stack's API (``CallsUrl`` without ``/calls``); the
agent hangs up through it, SigV4-signed unless ``AGENT_SIGN_REQUESTS=0`` (the local stack). It listens on
``AGENT_HOST``:``AGENT_PORT`` (127.0.0.1:3005): ``/stream`` (the stack's ``AgentStreamUrl`` or a call's
``stream_url``, behind TLS: ``wss://``) and ``/voicemail`` (``AgentWebhookUrl``, ``https://``).
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from examples.external_agent.agent import AgentConfig, ExampleAgent


def _key(value_variable: str, parameter_variable: str) -> bytes:
    if os.environ.get(value_variable):
        return os.environ[value_variable].encode()
    name = os.environ.get(parameter_variable)
    if not name:
        raise SystemExit(f"set {value_variable}, or {parameter_variable} (an SSM SecureString parameter)")
    import boto3

    value: str = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return value.encode()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = AgentConfig(
        stream_key=_key("AGENT_STREAM_TOKEN_KEY", "STREAM_TOKEN_SECRET_PARAM"),
        webhook_key=_key("AGENT_WEBHOOK_KEY", "AGENT_WEBHOOK_SECRET_PARAM"),
        api_url=os.environ.get("VOICEAGENT_API_URL", "http://127.0.0.1:3000"),
        sign_requests=os.environ.get("AGENT_SIGN_REQUESTS", "1") not in ("0", "false", "no"),
    )
    web.run_app(
        ExampleAgent(config).app(),
        host=os.environ.get("AGENT_HOST", "127.0.0.1"),
        port=int(os.environ.get("AGENT_PORT", "3005")),
    )


if __name__ == "__main__":
    main()
