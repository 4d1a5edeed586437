"""Who may open a stream: ``$connect`` admits a connection only with a valid per-call token and, where Plivo
signed the upgrade, a matching signature; then it registers the connection against the call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent.credentials import plivo_auth_token, stream_token_key
from voiceagent.plivo.signature import matches_any_url, upgrade_url_candidates
from voiceagent.settings import Settings, SignatureCheck
from voiceagent.store.connections import ConnectionRepository
from voiceagent.streams import tokens

logger = Logger(child=True)


class Refused(Exception):
    """The connection is not admitted (answered 403, nothing stored)."""


def admit(
    *,
    connection_id: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    domain_name: str,
    stage: str,
    settings: Settings,
    connections: ConnectionRepository,
    now: datetime,
) -> str:
    """Admit the connection and return the call it carries, or raise ``Refused``."""
    try:
        call_uuid = tokens.verify(stream_token_key(), dict(query), int(now.timestamp()))
    except tokens.StreamTokenError as exc:
        raise Refused(str(exc)) from exc
    logger.append_keys(call_uuid=call_uuid)
    if not _signature_acceptable(query, headers, domain_name, stage, settings):
        raise Refused("Plivo signature matches no URL form")
    connections.attach(connection_id, call_uuid, now)
    return call_uuid


def _signature_acceptable(
    query: Mapping[str, str], headers: Mapping[str, str], domain_name: str, stage: str, settings: Settings
) -> bool:
    """Check Plivo's signature on the upgrade where present; ``STREAM_SIGNATURE_CHECK=warn`` keeps the token
    as the only gate."""
    if settings.stream_signature_check is SignatureCheck.OFF:
        return True
    urls = upgrade_url_candidates(
        configured_url=settings.websocket_url, domain_name=domain_name, stage=stage, query=query
    )
    lower = {key.lower(): value for key, value in headers.items()}
    verdict = matches_any_url(urls=urls, headers=lower, auth_token=plivo_auth_token())
    if verdict is False:
        logger.warning(
            "stream connect signature matches no URL form", extra={"mode": settings.stream_signature_check}
        )
        return settings.stream_signature_check is not SignatureCheck.ENFORCE
    return True
