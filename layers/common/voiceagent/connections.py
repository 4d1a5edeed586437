"""Frames we send to Plivo over a call's live WebSocket, through the API Gateway management API.

Posting to a connection delivers to the connected client, which is Plivo, not to our media function. A gone
connection (HTTP 410) is forgotten here, so later senders do not keep trying it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from voiceagent.clock import utcnow
from voiceagent.repository import ConnectionRepository, connection_repository
from voiceagent.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

logger = Logger(child=True)


@lru_cache(maxsize=4)
def management_client(endpoint_url: str) -> ApiGatewayManagementApiClient:
    import boto3  # lazily: see aws.py
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, config=config)


class StreamConnections:
    def __init__(self, client: ApiGatewayManagementApiClient, registry: ConnectionRepository) -> None:
        self._client = client
        self._registry = registry

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """Send one JSON frame; False when the connection is gone (and it has been cleaned up)."""
        data = json.dumps(message, separators=(",", ":")).encode()
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"GoneException", "410"}:
                raise
            logger.info("connection gone; forgetting it", extra={"connection_id": connection_id})
            self._registry.detach(connection_id, utcnow())
            return False
        return True


def stream_connections() -> StreamConnections:
    return StreamConnections(management_client(get_settings().management_endpoint), connection_repository())
