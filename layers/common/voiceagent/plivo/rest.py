"""Every call we make to Plivo's REST API, through the plivo SDK, with retries that respect the deadline.

Transient failures (timeouts, connection errors, 429 and 5xx) are retried with jittered exponential backoff
until the caller's deadline. Hangup and transfer are safe to repeat.

Creating a call is not: it is exactly one HTTP POST per attempt (on the SDK's authenticated session, never
``calls.create``, which re-POSTs a 5xx up to twice by itself), and it is tried again only when Plivo surely
did not receive it (the connection never opened, or 429). After an ambiguous failure (a timeout once the
request was sent, a reset connection, a 5xx, a 2xx without a RequestUUID) the call may exist: the result is
``unconfirmed``, and the answer or hangup webhook, which carry our placement id, will tell.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger

from voiceagent import observability
from voiceagent.credentials import SecretNotConfigured, SecretUnavailable, plivo_auth_token
from voiceagent.settings import get_plivo_account, get_settings

if TYPE_CHECKING:
    import plivo
    import requests

# The plivo SDK and requests are imported where they are used: together they cost ~150 ms of a cold start,
# and most invocations (every media frame) never call Plivo.

logger = Logger(child=True)

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_STATUS_IN_MESSAGE = re.compile(r"status code (\d{3})")
DEFAULT_BUDGET_SECONDS = 8.0
CONNECT_TIMEOUT = 3.05  # seconds to open a connection: past it, the request surely never left
MAX_ATTEMPTS = 5  # Plivo allows 300 requests / 5 s per account; a few spaced retries, never a storm
_sleep = time.sleep  # replaced in tests, so backoff is checked without waiting


@dataclass(frozen=True)
class Deadline:
    """Monotonic time by which a webhook must have answered Plivo (Lambda time left minus a margin)."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_lambda(cls, remaining_ms: int | None, margin_seconds: float = 1.5) -> Deadline:
        if remaining_ms is None:
            return cls.after(DEFAULT_BUDGET_SECONDS)
        return cls.after(max(0.0, remaining_ms / 1000 - margin_seconds))

    def left(self) -> float:
        return self.at - time.monotonic()


class PlivoApiError(Exception):
    """A Plivo REST call failed for good (not retryable, or retries exhausted within the deadline).

    ``ambiguous``: Plivo may have received and acted on the last attempt (a timeout after sending, a reset
    connection, a 5xx); False when it surely did not (never connected, refused with a 4xx).
    """

    def __init__(
        self, operation: str, message: str, *, attempts: int, status: int | None, ambiguous: bool = False
    ) -> None:
        super().__init__(f"{operation} failed after {attempts} attempt(s): {message}")
        self.operation = operation
        self.attempts = attempts
        self.status = status
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class ApiResult:
    """What a Plivo action did, in words that go on the call's record."""

    outcome: str
    attempts: int
    detail: dict[str, Any] = field(default_factory=dict)


def _status_of(exc: BaseException, last_http_status: int | None) -> int | None:
    from plivo import exceptions as plivo_errors

    if isinstance(exc, plivo_errors.PlivoServerError):
        return 500
    if isinstance(exc, plivo_errors.ResourceNotFoundError):
        return 404
    match = _STATUS_IN_MESSAGE.search(str(exc))
    if match:
        return int(match.group(1))
    # Some SDK errors (e.g. a failed DELETE) drop the status from the message: use what the wire said.
    return last_http_status if isinstance(exc, plivo_errors.PlivoRestError) else None


class _StatusRecorder:
    """A requests response hook that remembers the last HTTP status the SDK's session received."""

    def __init__(self) -> None:
        self.last: int | None = None

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.last = response.status_code
        return response


def _never_reached_plivo(exc: BaseException) -> bool:
    """The request surely never reached Plivo: no TCP/TLS connection was ever established for it."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    # requests wraps urllib3's MaxRetryError, whose reason says why (refused, DNS, connect timeout).
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _ambiguous(exc: BaseException, status: int | None) -> bool:
    """Plivo may have received the request: it was sent, and no answer says it was refused."""
    import requests

    if _never_reached_plivo(exc):
        return False
    if isinstance(exc, requests.exceptions.RequestException):
        return True
    return status is None or status >= 500


def _transient(exc: BaseException, status: int | None, *, ambiguous_ok: bool) -> bool:
    """Whether to try again: always when Plivo surely did not act, otherwise only if repeating is safe."""
    import requests

    if _never_reached_plivo(exc) or status == 429:
        return True
    if not ambiguous_ok:
        return False
    if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
        return True
    return status in RETRYABLE_STATUS


class PlivoGateway:
    """The only code that talks to Plivo's REST API."""

    def __init__(
        self,
        client: plivo.RestClient,
        *,
        request_timeout: float = 4.0,
    ) -> None:
        self._client = client
        self._request_timeout = request_timeout
        self._statuses = _status_recorder(client)

    def _call(
        self,
        operation: str,
        action: Callable[[], T],
        *,
        deadline: Deadline,
        ambiguous_ok: bool,
        call_uuid: str | None = None,
    ) -> tuple[T, int]:
        import requests
        from plivo import exceptions as plivo_errors

        attempt = 0
        delay = 0.2
        while True:
            attempt += 1
            # The SDK keeps a per-client fallback counter that never resets after a failure: start clean.
            self._client.voice_retry_count = 0
            self._statuses.last = None
            try:
                return action(), attempt
            except (plivo_errors.PlivoRestError, requests.exceptions.RequestException) as exc:
                status = _status_of(exc, self._statuses.last)
                retry = _transient(exc, status, ambiguous_ok=ambiguous_ok)
                pause = random.uniform(0, delay)  # noqa: S311 - jitter, not cryptography
                out_of_time = attempt >= MAX_ATTEMPTS or deadline.left() < pause + self._request_timeout
                logger.warning(
                    "plivo api call failed",
                    extra={
                        "operation": operation,
                        "call_uuid": call_uuid,
                        "attempt": attempt,
                        "status": status,
                        "error": type(exc).__name__,
                        "will_retry": retry and not out_of_time,
                    },
                )
                not_found = isinstance(exc, plivo_errors.ResourceNotFoundError)
                if not_found or not retry or out_of_time:
                    if not not_found:  # a 404 is an answer (e.g. the call already ended), not a failure
                        observability.add("PlivoApiErrors")  # failed for good: the alarm's metric
                    raise PlivoApiError(
                        operation,
                        str(exc) or type(exc).__name__,
                        attempts=attempt,
                        status=status,
                        ambiguous=_ambiguous(exc, status),
                    ) from exc
                observability.add("PlivoApiRetries")
                _sleep(pause)
                delay = min(delay * 2, 2.0)

    def create_call(self, payload: dict[str, Any], *, deadline: Deadline) -> ApiResult:
        """Ask Plivo to dial: ``requested`` with the RequestUUID, or ``unconfirmed`` when Plivo may have
        received it without our knowing (see the module docstring); ``PlivoApiError`` when it surely did not
        act. ``payload`` is Plivo's JSON body (its own field names); None values are left out."""
        body = {key: value for key, value in payload.items() if value is not None}
        try:
            response, attempts = self._call(
                "create_call", lambda: self._post_call(body), deadline=deadline, ambiguous_ok=False
            )
        except PlivoApiError as exc:
            if not exc.ambiguous:
                raise
            return ApiResult("unconfirmed", exc.attempts, {"error": str(exc)})
        request_uuid = str(response.get("request_uuid") or "") if isinstance(response, dict) else ""
        if not request_uuid:
            error = f"create_call accepted after {attempts} attempt(s) but the response has no request_uuid"
            return ApiResult("unconfirmed", attempts, {"error": error})
        return ApiResult("requested", attempts, {"request_uuid": request_uuid})

    def _on_call(
        self,
        operation: str,
        call_uuid: str,
        action: Callable[[], T],
        *,
        deadline: Deadline,
        ambiguous_ok: bool,
    ) -> tuple[T | None, int, bool]:
        """Act on a call: (response, attempts, ended); ended means Plivo no longer knows the call (404)."""
        try:
            response, attempts = self._call(
                operation, action, deadline=deadline, ambiguous_ok=ambiguous_ok, call_uuid=call_uuid
            )
        except PlivoApiError as exc:
            if exc.status == 404:
                return None, exc.attempts, True
            raise
        return response, attempts, False

    def _delete(
        self,
        operation: str,
        uuid: str,
        action: Callable[[], Any],
        outcomes: tuple[str, str],
        deadline: Deadline,
    ) -> ApiResult:
        """A DELETE that is safe to repeat: ``outcomes`` names (done, Plivo no longer knows it)."""
        _, attempts, ended = self._on_call(operation, uuid, action, deadline=deadline, ambiguous_ok=True)
        return ApiResult(outcomes[1] if ended else outcomes[0], attempts)

    def hangup(self, call_uuid: str, *, deadline: Deadline) -> ApiResult:
        return self._delete(
            "hangup",
            call_uuid,
            lambda: self._client.calls.delete(call_uuid),
            ("hung_up", "already_ended"),
            deadline,
        )

    def cancel(self, request_uuid: str, *, deadline: Deadline) -> ApiResult:
        """Cancel an outbound call that is still ringing (``DELETE Request/{request_uuid}/``); a 404 means it
        is no longer a pending request (answered meanwhile, or over)."""
        return self._delete(
            "cancel",
            request_uuid,
            lambda: self._client.calls.cancel(request_uuid),
            ("cancelled", "not_pending"),
            deadline,
        )

    def transfer(self, call_uuid: str, aleg_url: str, *, deadline: Deadline) -> ApiResult:
        _, attempts, ended = self._on_call(
            "transfer",
            call_uuid,
            lambda: self._client.calls.update(call_uuid, legs="aleg", aleg_url=aleg_url, aleg_method="POST"),
            deadline=deadline,
            ambiguous_ok=True,
        )
        return ApiResult("already_ended" if ended else "transferred", attempts)

    def account(self, *, deadline: Deadline) -> ApiResult:
        """Read the account (``GET Account/{auth_id}/``): the one read-only call, proving the credentials."""
        response, attempts = self._call(
            "get_account", lambda: self._client.account.get(), deadline=deadline, ambiguous_ok=True
        )
        detail = {name: str(getattr(response, name, "") or "") for name in ("name", "account_type")}
        return ApiResult("ok", attempts, detail)

    def calls_to(self, to_number: str, from_number: str, since: datetime, *, deadline: Deadline) -> int:
        """How many calls Plivo knows from ``from_number`` to ``to_number`` since ``since``: ended ones (its
        call records), live ones and queued ones (``GET Call/`` with ``status`` unset, ``live``,
        ``queued``). Reads only, retried like any read; how a placement in doubt is settled."""
        found = 0
        for status in (None, "live", "queued"):
            params = {"to_number": to_number.lstrip("+"), "from_number": from_number.lstrip("+")}
            if status is None:
                params["end_time__gte"] = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            else:
                params["status"] = status
            listed, _ = self._call(
                f"list_calls_{status or 'ended'}",
                partial(self._get_calls, params),
                deadline=deadline,
                ambiguous_ok=True,
            )
            found += len(listed)
        return found

    def _get_calls(self, params: dict[str, str]) -> list[Any]:
        """One ``GET Call/``: the calls it lists (records under ``objects``, live or queued ids under
        ``calls``)."""
        from plivo import exceptions as plivo_errors

        response = self._calls_endpoint("get", params=params)
        try:
            body = response.json()
        except ValueError as exc:
            raise plivo_errors.PlivoRestError(f"GET Call/ answered no JSON: {response.text[:200]}") from exc
        return list(body.get("objects") or body.get("calls") or [])

    def _post_call(self, payload: dict[str, Any]) -> Any:
        """Exactly one POST to Plivo's create-call endpoint (see ``_calls_endpoint``)."""
        response = self._calls_endpoint("post", json=payload)
        try:
            return response.json()
        except ValueError:
            return None

    def _calls_endpoint(self, method: str, **arguments: Any) -> Any:
        """One request to Plivo's ``Call/`` endpoint on the SDK's session (its Basic auth and headers; its
        adapters never retry), a status of 400 or more mapped to the error the SDK raises."""
        from plivo import exceptions as plivo_errors
        from plivo.rest import client as plivo_rest_client

        auth_id = self._client.session.auth[0]
        url = f"{plivo_rest_client.API_VOICE_BASE_URI}/{auth_id}/Call/"
        response = self._client.session.request(
            method,
            url,
            timeout=(min(CONNECT_TIMEOUT, self._request_timeout), self._request_timeout),
            **arguments,
        )
        if response.status_code >= 400:
            raise plivo_errors.PlivoRestError(
                f"Received status code {response.status_code}: {response.text[:200]}"
            )
        return response


def _point_sdk_at(base_url: str) -> None:
    """Send the SDK's voice requests to another Plivo API (the local stack's fake); the SDK has no option."""
    from plivo.rest import client as plivo_rest_client

    base = base_url.rstrip("/") + "/v1/Account"
    plivo_rest_client.PLIVO_API_BASE_URI = base
    plivo_rest_client.API_VOICE_BASE_URI = base
    plivo_rest_client.API_VOICE_BASE_URI_FALLBACK_1 = base
    plivo_rest_client.API_VOICE_BASE_URI_FALLBACK_2 = base


def _status_recorder(client: plivo.RestClient) -> _StatusRecorder:
    """The recorder hooked into this client's session (installed once per client)."""
    for hook in client.session.hooks["response"]:
        if isinstance(hook, _StatusRecorder):
            return hook
    recorder = _StatusRecorder()
    client.session.hooks["response"].append(recorder)
    return recorder


@lru_cache(maxsize=1)
def _client(auth_id: str, auth_token: str, timeout: float) -> plivo.RestClient:
    import plivo

    return plivo.RestClient(auth_id=auth_id, auth_token=auth_token, timeout=timeout)


def gateway_for(
    auth_id: str, auth_token: str, *, timeout: float, api_base_url: str | None = None
) -> PlivoGateway:
    """A gateway for these credentials (``api_base_url``: another Plivo API, e.g. the local stack's fake)."""
    if api_base_url:
        _point_sdk_at(api_base_url)
    # Keyed on the token, so a rotated token builds a new client instead of failing with 401s.
    return PlivoGateway(_client(auth_id, auth_token, timeout), request_timeout=timeout)


def plivo_gateway() -> PlivoGateway:
    """The functions' gateway, built only where a REST call is about to be made. It checks PLIVO_AUTH_ID
    (a ``ConfigurationError`` naming the variable: a wrong setting is not Plivo's failure) and reads the auth
    token from SSM; a client the SDK or SSM cannot give is a ``PlivoApiError`` like any other failed call."""
    from plivo import exceptions as plivo_errors

    settings = get_settings()
    auth_id = get_plivo_account().auth_id
    try:
        return gateway_for(
            auth_id,
            plivo_auth_token(),
            timeout=settings.plivo_timeout_seconds,
            api_base_url=settings.plivo_api_base_url,
        )
    except (plivo_errors.PlivoRestError, SecretNotConfigured, SecretUnavailable) as exc:
        logger.error("the Plivo client cannot be built", extra={"error": f"{type(exc).__name__}: {exc}"})
        observability.add("PlivoClientErrors")
        raise PlivoApiError(
            "client",
            f"the Plivo client cannot be built: {type(exc).__name__}: {exc}",
            attempts=0,
            status=None,
        ) from exc


def reset_client() -> None:
    _client.cache_clear()
