"""Who may open a stream: ``$connect`` admits a connection only with a genuine, unexpired, unused per-call
token for a live call and — under ``STREAM_SIGNATURE_CHECK=enforce`` — Plivo's signature on the upgrade;
then it registers the connection against the call, spending the token (one connection per token)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aws_lambda_powertools import Logger

from voiceagent.credentials import plivo_auth_token, stream_token_key
from voiceagent.plivo.signature import matches_any_url, upgrade_url_candidates
from voiceagent.settings import Settings, SignatureCheck
from voiceagent.store.connections import AttachRefused, ConnectionRepository
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
        token = tokens.verify(stream_token_key(), dict(query), int(now.timestamp()))
    except tokens.StreamTokenError as exc:
        raise Refused(str(exc)) from exc
    logger.append_keys(call_uuid=token.call_uuid)
    _check_signature(query, headers, domain_name, stage, settings)
    try:
        connections.attach(connection_id, token.call_uuid, now, token_id=token.token_id)
    except AttachRefused as exc:
        raise Refused(str(exc)) from exc
    return token.call_uuid


def _check_signature(
    query: Mapping[str, str], headers: Mapping[str, str], domain_name: str, stage: str, settings: Settings
) -> None:
    """Plivo's signature on the upgrade must match one URL form Plivo may have signed, and under ``enforce``
    it must be there: a token alone (which leaks with the XML) is not enough. ``warn`` logs and lets the token
    decide; ``off`` skips the check."""
    if settings.stream_signature_check is SignatureCheck.OFF:
        return
    urls = upgrade_url_candidates(
        configured_url=settings.websocket_url, domain_name=domain_name, stage=stage, query=query
    )
    lower = {key.lower(): value for key, value in headers.items()}
    verdict = matches_any_url(urls=urls, headers=lower, auth_token=plivo_auth_token())
    if verdict is True:
        return
    problem = "no Plivo signature" if verdict is None else "Plivo signature matches no URL form"
    logger.warning(f"stream connect: {problem}", extra={"mode": settings.stream_signature_check})
    if settings.stream_signature_check is SignatureCheck.ENFORCE:
        raise Refused(problem)
