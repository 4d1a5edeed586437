"""Lambda's execution model on one machine: each function is served by a pool of containers, each a separate
process with its own module state, and an invocation goes to any idle container.

Lambda gives no affinity between a caller and a container: as soon as invocations overlap, one call's frames
hop between containers, and two of them can be in flight at once. A local stack that ran every function in
one process with one state would hide every bug that follows from that (neither ``sam local`` nor
serverless-offline models it). Here:

- ``warm`` containers per function are started up front; when all are busy a new one starts (a cold start),
  up to ``cap``; beyond the cap an invocation waits for a container (Lambda would throttle).
- Containers are forked from a fork server that has imported the handlers and their libraries (as a Lambda
  snapshot would), so each starts in milliseconds with fresh, private module state.
- An idle container is picked at random, as nothing in Lambda promises which one runs an invocation.
- A container that dies mid-invocation fails that invocation (``ContainerCrashed``) and is replaced; a test
  can make the next invocation of a function die at a chosen point (``crash_next``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import itertools
import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parameters",
    "plivo",
)
"""Imported once in the fork server: what every container would otherwise import on its cold start."""


class ContainerCrashed(RuntimeError):
    """The container died while running the invocation (Lambda reports a runtime exit error)."""


class FunctionError(RuntimeError):
    """The handler raised (Lambda reports an unhandled function error; API Gateway answers 502)."""


@dataclass
class LambdaContext:
    """What the handlers read from Lambda's context object."""

    function_name: str
    timeout_seconds: float = 20.0
    started: float = field(default_factory=time.monotonic)
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


CrashPoint = str
"""Where a container dies: ``"start"`` (before the handler runs) or ``"dotted.path.to.callable"`` (on its
first call during the invocation: e.g. after the handler committed its state and before it sends anything)."""


def _crash_on_call(target: str) -> Callable[[], None]:
    """Make ``target`` kill the process when called; returns what undoes that (for an invocation that
    never called it: the container lives on, unchanged)."""
    module_name, _, attribute = target.rpartition(".")
    owner_name, _, method = module_name.rpartition(".")
    try:
        owner: Any = importlib.import_module(module_name)
        name = attribute
    except ModuleNotFoundError:  # a method on a class: module.Class.method
        owner = getattr(importlib.import_module(owner_name), method)
        name = attribute
    original = getattr(owner, name)

    def die(*_args: Any, **_kwargs: Any) -> Any:
        os._exit(137)

    setattr(owner, name, die)
    return lambda: setattr(owner, name, original)


def _serve(module: str, function_name: str, connection: Connection) -> None:
    """A container's life: import the handler (already loaded by the fork server), then run invocations."""
    # One write per line, as Lambda hands each line to its logs: block-buffered (or unbuffered, with
    # PYTHONUNBUFFERED: print writes the text and its newline apart), a container's output would
    # be flushed mid-line and interleave with its siblings' on the shared stdout (EMF lines cut in two), and
    # a crashed container would take its last lines with it.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True, write_through=False)
    handler = importlib.import_module(module).lambda_handler
    connection.send(("ready", os.getpid()))
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        if message is None:
            return
        event, timeout_seconds, request_id, crash = message
        if crash == "start":
            os._exit(137)
        undo = _crash_on_call(crash) if crash else None
        context = LambdaContext(function_name, timeout_seconds=timeout_seconds, aws_request_id=request_id)
        try:
            connection.send(("ok", handler(event, context)))
        except Exception as exc:  # noqa: BLE001 - a function error is reported, as Lambda does
            connection.send(("error", f"{type(exc).__name__}: {exc}"))
        finally:
            if undo is not None:
                undo()


class Container:
    """One execution environment: a process serving one function, one invocation at a time."""

    def __init__(self, ctx: Any, module: str, function_name: str, number: int) -> None:
        self.number = number
        self.invocations = 0
        self._parent, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(module, function_name, child), name=f"{function_name}-{number}", daemon=True
        )
        self._process.start()
        child.close()
        status, _pid = self._parent.recv()
        if status != "ready":
            raise ContainerCrashed(f"{function_name} container {number} did not start")

    @property
    def alive(self) -> bool:
        return bool(self._process.is_alive())

    def invoke(
        self, event: dict[str, Any], timeout_seconds: float, crash: CrashPoint | None
    ) -> dict[str, Any]:
        """Run one invocation (blocking: called on a thread)."""
        self.invocations += 1
        try:
            self._parent.send((event, timeout_seconds, f"{self.number}-{self.invocations}", crash))
            status, value = self._parent.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            raise ContainerCrashed(f"container {self.number} died mid-invocation") from exc
        if status == "error":
            raise FunctionError(str(value))
        result: dict[str, Any] = value
        return result

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._parent.send(None)
        self._process.join(timeout=2)
        if self._process.is_alive():
            self._process.kill()


@dataclass
class PoolStats:
    invocations: int = 0
    cold_starts: int = 0
    crashes: int = 0
    waits: int = 0
    """Invocations that found every container busy at the cap and had to wait (Lambda would throttle)."""
    by_container: dict[int, int] = field(default_factory=dict)


class ContainerPool:
    """The containers of one function."""

    def __init__(
        self,
        ctx: Any,
        *,
        function_name: str,
        module: str,
        warm: int,
        cap: int,
        threads: ThreadPoolExecutor,
        timeout_seconds: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.function_name = function_name
        self._ctx, self._module = ctx, module
        self._warm, self._cap = max(1, warm), max(1, warm, cap)
        self._threads = threads
        self._timeout = timeout_seconds
        self._rng = rng or random.Random()
        self._idle: list[Container] = []
        self._all: list[Container] = []
        self._numbers = itertools.count(1)
        self._released = asyncio.Condition()
        self._crash_next: CrashPoint | None = None
        self._crash_until_one_dies = False
        self._starting = 0
        self._lock = threading.Lock()
        self.stats = PoolStats()

    async def start(self, prime: dict[str, Any] | None = None) -> None:
        """Start the warm containers; with ``prime``, each runs that invocation once, as containers that have
        already served traffic have (their clients and connections made)."""
        loop = asyncio.get_running_loop()
        started = await asyncio.gather(
            *(loop.run_in_executor(self._threads, self._new_container) for _ in range(self._warm))
        )
        if prime is not None:
            await asyncio.gather(
                *(
                    loop.run_in_executor(self._threads, container.invoke, prime, self._timeout, None)
                    for container in started
                ),
                return_exceptions=True,
            )
        self._idle.extend(started)

    def _new_container(self) -> Container:
        container = Container(self._ctx, self._module, self.function_name, next(self._numbers))
        with self._lock:
            self._all.append(container)
        return container

    def crash_next(self, point: CrashPoint = "start", *, until_one_dies: bool = False) -> None:
        """Make the next invocation's container die at ``point`` (a fault test); ``until_one_dies``: every
        invocation carries the point until one container reaches it and dies (a point that not every
        invocation reaches, e.g. sending a frame to Plivo)."""
        self._crash_next = point
        self._crash_until_one_dies = until_one_dies

    async def _acquire(self) -> Container:
        async with self._released:
            while True:
                self._idle = [container for container in self._idle if container.alive]
                if self._idle:
                    return self._idle.pop(self._rng.randrange(len(self._idle)))
                alive = len([container for container in self._all if container.alive])
                if alive + self._starting < self._cap:
                    self._starting += 1  # counted before it exists, so concurrent callers respect the cap
                    break
                self.stats.waits += 1
                await self._released.wait()
        self.stats.cold_starts += 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, self._new_container)
        finally:
            async with self._released:
                self._starting -= 1

    async def _release(self, container: Container) -> None:
        async with self._released:
            if container.alive:
                self._idle.append(container)
            self._released.notify()

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        container = await self._acquire()
        crash = self._crash_next
        if not self._crash_until_one_dies:
            self._crash_next = None
        self.stats.invocations += 1
        self.stats.by_container[container.number] = self.stats.by_container.get(container.number, 0) + 1
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, container.invoke, event, self._timeout, crash)
        except ContainerCrashed:
            self.stats.crashes += 1
            if crash is not None:
                self._crash_next, self._crash_until_one_dies = None, False
            raise
        finally:
            await self._release(container)

    def stop(self) -> None:
        for container in self._all:
            container.stop()


def _main_module_imports() -> list[str]:
    """multiprocessing re-runs the main module in every child (as ``__mp_main__``): preloading what it
    imported in the fork server keeps that cheap (not the main module itself: runpy would warn)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    main = spec.name if spec is not None else None
    return sorted(name for name in list(sys.modules) if name.startswith("tests.") and name != main)


class Lambdas:
    """Every function's pool, forked from one fork server that has the handlers imported."""

    def __init__(
        self,
        functions: dict[str, str],
        *,
        warm: int,
        cap: int,
        seed: int | None = None,
        timeouts: dict[str, float] | None = None,
        warm_for: dict[str, int] | None = None,
    ) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*PRELOAD, *functions.values(), *_main_module_imports()])
        self._threads = ThreadPoolExecutor(
            max_workers=max(8, cap * len(functions)), thread_name_prefix="lambda"
        )
        rng = random.Random(seed)
        self.pools = {
            name: ContainerPool(
                ctx,
                function_name=name,
                module=module,
                warm=(warm_for or {}).get(name, warm),
                cap=max(cap, (warm_for or {}).get(name, warm)),
                threads=self._threads,
                timeout_seconds=(timeouts or {}).get(name, 20.0),
                rng=random.Random(rng.random()),
            )
            for name, module in functions.items()
        }

    async def start(self, prime: dict[str, dict[str, Any]] | None = None) -> None:
        """Start every pool; ``prime`` gives, by function, an invocation each warm container runs once."""
        await asyncio.gather(*(pool.start((prime or {}).get(name)) for name, pool in self.pools.items()))

    async def invoke(self, function_name: str, event: dict[str, Any]) -> dict[str, Any]:
        return await self.pools[function_name].invoke(event)

    def stop(self) -> None:
        for pool in self.pools.values():
            pool.stop()
        self._threads.shutdown(wait=False, cancel_futures=True)


Invoker = Callable[[str, dict[str, Any]], Any]
