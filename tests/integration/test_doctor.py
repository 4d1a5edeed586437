"""`voiceagent doctor --local` against the real local stack over real sockets (loopback only): every check
passes on a healthy stack, the test call it leaves behind is complete and expires through TTL, and a broken
setting or a stack that is not running fails the right checks with their fixes and exit code 1.

The stack and the doctor each run in their own process, as `make local` and `make doctor` do.
"""

from __future__ import annotations

import json
import re
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import constants as c
from tests.support.local_process import PORTS, environment, free_port, running_stack, voiceagent
from voiceagent_cli.websocket_probe import ProbeError, upgrade_status

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket]


@pytest.fixture(scope="module")
def local_stack() -> Iterator[dict[str, str]]:
    with running_stack() as env:
        yield env


def doctor(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return voiceagent(environment, "doctor", *arguments)


def lines(output: str) -> dict[str, list[str]]:
    """Check name → the status of each line with that name."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        match = re.match(r"^(PASS|FAIL|SKIP)  (.+?)\s{2,}", line)
        if match:
            found.setdefault(match.group(2), []).append(match.group(1))
    return found


def test_every_check_passes_on_a_healthy_local_stack(local_stack: dict[str, str]) -> None:
    completed = doctor(local_stack, "--local")

    assert completed.returncode == 0, completed.stdout + completed.stderr
    found = lines(completed.stdout)
    assert found.pop("alarm subscribers") == ["SKIP"]  # the local stack has no alarms
    assert set(found) == set(c.DOCTOR_CHECKS) - {"alarm subscribers"}
    assert all(statuses == ["PASS"] * len(statuses) for statuses in found.values()), completed.stdout
    assert "0 failed" in completed.stdout


def test_the_test_call_is_complete_recognisable_and_expires(local_stack: dict[str, str]) -> None:
    import boto3

    completed = doctor(local_stack, "--local")
    (call_uuid,) = re.findall(r"the test call is (doctor-[0-9a-f]+)", completed.stdout)

    api = f"http://127.0.0.1:{local_stack['LOCAL_HTTP_PORT']}"
    report = voiceagent(local_stack, "report", call_uuid, "--json", "--no-sign", "--api-url", api)
    assert report.returncode == 0, report.stderr
    body: dict[str, Any] = json.loads(report.stdout[report.stdout.index("{") :])
    assert (body["state"], body["outcome"]) == ("completed", "human")
    (stream,) = body["streams"]
    assert stream["hangup_reason"] is not None  # started and stopped

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{local_stack['LOCAL_MOTO_PORT']}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items = dynamodb.query(
        TableName="calls-local",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CALL#{call_uuid}"}},
    )["Items"]
    assert items
    assert all(int(item["expires_at"]["N"]) > time.time() for item in items)  # DynamoDB TTL removes them


def test_a_wrong_auth_id_fails_the_plivo_check_with_its_fix(local_stack: dict[str, str]) -> None:
    completed = doctor({**local_stack, "PLIVO_AUTH_ID": "SA" + "B" * 18}, "--local")

    assert completed.returncode == 1
    found = lines(completed.stdout)
    assert found["plivo credentials"] == ["FAIL"]
    assert "Plivo refused SABBBBBBBBBBBBBBBBBB" in completed.stdout
    assert "fix: put SABBBBBBBBBBBBBBBBBB's auth token into" in completed.stdout
    assert found["webhook answer"] == ["PASS"]  # the webhooks do not depend on it
    assert completed.stderr == ""  # the layer's retry warnings do not interleave with the report


def test_a_stack_that_is_not_running_fails_with_the_fix_and_exit_1() -> None:
    closed = {name: str(free_port()) for name in PORTS}

    completed = doctor(environment(**closed), "--local", "--timeout", "2")

    assert completed.returncode == 1
    found = lines(completed.stdout)
    assert found["ssm auth token"] == ["FAIL"]
    assert found["url AnswerUrl"] == ["FAIL"]
    assert found["url MediaWebSocketUrl"] == ["FAIL"]
    assert found["signed webhooks"] == ["SKIP"]
    assert "make local` is running" in completed.stdout


# ---------------------------------------------------------------------------------------- the WebSocket probe


class _Canned(socketserver.BaseRequestHandler):
    answer = b""

    def handle(self) -> None:
        self.request.recv(4096)
        self.request.sendall(self.answer)
        time.sleep(0.05)


@pytest.fixture
def canned_server() -> Iterator[Any]:
    servers: list[socketserver.TCPServer] = []

    def serve(answer: bytes) -> int:
        handler = type("Handler", (_Canned,), {"answer": answer})
        server = socketserver.TCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        port: int = server.server_address[1]
        return port

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_probe_refuses_an_upgrade_that_is_not_a_websocket(canned_server: Any) -> None:
    port = canned_server(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: wrong\r\n\r\n")

    with pytest.raises(ProbeError, match="not a WebSocket endpoint"):
        upgrade_status(f"ws://127.0.0.1:{port}/stage?token=x", timeout=2)


def test_the_probe_reports_what_is_not_http(canned_server: Any) -> None:
    port = canned_server(b"SSH-2.0-OpenSSH\r\n")

    with pytest.raises(ProbeError):
        upgrade_status(f"ws://127.0.0.1:{port}", timeout=2)


def test_the_probe_reports_a_refusal_and_an_unreachable_server(canned_server: Any) -> None:
    port = canned_server(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    assert upgrade_status(f"ws://127.0.0.1:{port}", timeout=2) == 403
    with pytest.raises(ProbeError, match="ConnectionRefusedError"):
        upgrade_status(f"ws://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ProbeError, match="not a WebSocket URL"):
        upgrade_status("https://example.com/", timeout=2)
