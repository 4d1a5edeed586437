"""Secrets used to sign and verify: the Plivo auth token, the stream-token key and the key that signs the
notifications to your own agent.

Both come from SSM Parameter Store (SecureString) through Powertools Parameters, cached per container for
``SECRET_MAX_AGE_SECONDS`` so a rotated token is picked up without a redeploy. They are never logged.
"""

from __future__ import annotations

import hashlib
import hmac

from voiceagent.aws import error_code
from voiceagent.settings import ConfigurationError, get_settings

_STREAM_KEY_CONTEXT = b"voiceagent/stream-token/v1"

NOT_CONFIGURED_CODES = frozenset(
    {
        "ParameterNotFound",
        "ParameterVersionNotFound",
        "AccessDeniedException",
        "InvalidKeyId",
        "KMSAccessDeniedException",
        "ValidationException",
    }
)
"""SSM answers that a retry cannot change: the deployment is wrong (no parameter, no permission, bad key)."""


class SecretUnavailable(RuntimeError):
    """A secret could not be read for now (SSM throttling, an SSM error, SSM unreachable): worth a retry."""


class SecretNotConfigured(ConfigurationError):
    """A secret's parameter is missing, empty or not readable by this function: no retry fixes it."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"SSM parameter {parameter} {reason}")
        self.parameter = parameter


def _read_secure_parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters  # lazily: it imports boto3

    try:
        value = parameters.get_parameter(name, decrypt=True, max_age=get_settings().secret_max_age_seconds)
    except parameters.exceptions.GetParameterError as exc:
        # Powertools re-raises SSM's own error as GetParameterError while handling it: look at that one.
        code = error_code(exc.__cause__ or exc.__context__ or exc)
        if code in NOT_CONFIGURED_CODES:
            raise SecretNotConfigured(name, f"cannot be read ({code})") from exc
        raise SecretUnavailable(f"SSM parameter {name} could not be read ({code or 'no answer'})") from exc
    if not isinstance(value, str) or not value:
        raise SecretNotConfigured(name, "is empty")
    return value


def plivo_auth_token() -> str:
    return _read_secure_parameter(get_settings().plivo_auth_token_param)


def stream_token_key() -> bytes:
    """Key for the per-call WebSocket tokens.

    A dedicated SSM parameter when configured; otherwise derived from the Plivo auth token with a fixed
    context string, so a deployment needs only one secret and the raw token is never reused as a key.
    """
    settings = get_settings()
    if settings.stream_token_secret_param:
        return _read_secure_parameter(settings.stream_token_secret_param).encode()
    return derive_stream_token_key(plivo_auth_token())


def agent_webhook_key() -> bytes:
    """Key of the HMAC signature on notifications to your own agent: the value of the SSM SecureString
    ``AGENT_WEBHOOK_SECRET_PARAM`` names, as UTF-8 bytes (the agent reads the same parameter). Never derived
    from the Plivo auth token: the agent must not be able to forge Plivo's webhooks."""
    parameter = get_settings().agent_webhook_secret_param
    if not parameter:
        raise SecretNotConfigured(
            "AGENT_WEBHOOK_SECRET_PARAM", "is not set (the stack parameter AgentWebhookSecretParameterName)"
        )
    return _read_secure_parameter(parameter).encode()


def derive_stream_token_key(auth_token: str) -> bytes:
    return hmac.new(auth_token.encode(), _STREAM_KEY_CONTEXT, hashlib.sha256).digest()


_CURSOR_KEY_CONTEXT = b"voiceagent/list-cursor/v1"


def cursor_key() -> bytes:
    """Key that signs ``GET /calls`` cursors, so one a client altered is refused instead of obeyed. Derived
    from the Plivo auth token like the stream-token key (one secret per deployment), with its own context."""
    return hmac.new(plivo_auth_token().encode(), _CURSOR_KEY_CONTEXT, hashlib.sha256).digest()
