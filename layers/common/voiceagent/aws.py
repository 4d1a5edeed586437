"""Lazily created, cached AWS clients.

Clients are built on first use, never at import time, so tests can start moto first and warm invocations
reuse connections. Endpoints follow boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
variables, which is how the local stack points them at moto's server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    # Imported here, not at module level: boto3 is a large part of a cold start and not every path needs it.
    import boto3
    from botocore.config import Config

    # Webhooks must answer Plivo quickly: fail fast and let the caller's retry policy decide.
    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})
    return boto3.client("dynamodb", config=config)


def reset_clients() -> None:
    """Forget cached clients (tests, and the local stack when it re-points endpoints)."""
    dynamodb.cache_clear()
