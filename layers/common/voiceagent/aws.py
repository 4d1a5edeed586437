"""Lazily created, cached AWS clients, and what an AWS error means.

Clients are built on first use, never at import time, so tests can start moto first and warm invocations
reuse connections. Endpoints follow boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
variables, which is how the local stack points them at moto's server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionCanceledException",  # conflict or throttling; callers decide failed conditions
    }
)
"""Error codes that say "try again later", as opposed to a bug or a misconfiguration."""


def dynamodb(realtime: bool = False) -> DynamoDBClient:
    """The DynamoDB client (one of each kind per container). Webhooks must answer Plivo quickly: fail fast
    after boto3's own few retries and let Plivo's retry policy decide. ``realtime`` (the media route): no
    boto3 retries at all — its backoff (up to 1 s, then 2 s) would hold a frame while the next ones overtook
    it; the media runtime retries what must not be lost itself, with pauses of 0.1 s and up."""
    return _dynamodb(bool(realtime))


@lru_cache(maxsize=2)
def _dynamodb(realtime: bool) -> DynamoDBClient:
    # Imported here, not at module level: boto3 is a large part of a cold start and not every path needs it.
    import boto3
    from botocore.config import Config

    attempts, read_timeout = (1, 2) if realtime else (3, 5)
    config = Config(
        connect_timeout=2, read_timeout=read_timeout, retries={"mode": "standard", "max_attempts": attempts}
    )
    return boto3.client("dynamodb", config=config)


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    """The campaigns' queues (dispatch and deferral); endpoint from ``AWS_ENDPOINT_URL_SQS`` locally."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("sqs", config=config)


@lru_cache(maxsize=1)
def events() -> EventBridgeClient:
    """EventBridge, for the call events (``AWS_ENDPOINT_URL_EVENTBRIDGE`` points it at moto locally)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("events", config=config)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = (response.get("Error") or {}).get("Code")
    return str(code) if code else None


def is_transient(exc: BaseException) -> bool:
    """Whether an AWS failure may succeed if tried again: throttling, service errors, no connection."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        return error_code(exc) in TRANSIENT_ERROR_CODES
    return isinstance(exc, BotoCoreError)


def reset_clients() -> None:
    """Forget cached clients (tests, and the local stack when it re-points endpoints)."""
    _dynamodb.cache_clear()
    sqs.cache_clear()
    events.cache_clear()
