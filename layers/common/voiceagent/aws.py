"""Lazily created, cached AWS clients.

Clients are built on first use, never at import time, so tests can start moto first and warm invocations
reuse connections. Endpoints follow boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
variables, which is how the local stack points them at moto's server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Webhooks must answer Plivo quickly: fail fast and let the caller's retry policy decide.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 3})


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CLIENT_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests, and the local stack when it re-points endpoints)."""
    dynamodb.cache_clear()
