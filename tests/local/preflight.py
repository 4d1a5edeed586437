"""What the local stack checks before it binds anything, so a problem is one clear message with its fix
instead of a traceback halfway through starting: ports another program holds, and settings that mix the
simulated Plivo with the real one (``voiceagent_cli.local_stack``)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping


class LocalStackError(Exception):
    """The local stack cannot start; the message says why and what to do (printed without a traceback)."""


def busy_ports(host: str, ports: Mapping[str, int]) -> list[str]:
    """The ``NAME=port`` of each port that cannot be bound on ``host`` right now."""
    busy = []
    for name, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise
                busy.append(f"{name}={port}")
    return busy


def busy_ports_message(busy: list[str], host: str) -> str:
    first = busy[0].split("=")[1]
    return (
        f"port{'s' if len(busy) > 1 else ''} {', '.join(busy)} already in use on {host}: is `make local` or "
        f"`make demo` already running in another terminal? See who holds it (lsof -i :{first}, or "
        f"ss -ltnp 'sport = :{first}') and stop it, or choose other ports, e.g.\n"
        "    LOCAL_HTTP_PORT=3100 LOCAL_WS_PORT=3101 LOCAL_PLIVO_PORT=3102 LOCAL_MOTO_PORT=3103 make local\n"
        "    make demo ARGS=--ephemeral-ports        (the demo on free ports; or LOCAL_EPHEMERAL_PORTS=1)"
    )


def check_ports(host: str, ports: Mapping[str, int]) -> None:
    busy = busy_ports(host, ports)
    if busy:
        raise LocalStackError(busy_ports_message(busy, host))
