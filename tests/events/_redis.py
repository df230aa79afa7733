"""Real-Redis helpers for the events tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

REDIS_SERVER = shutil.which("redis-server") or "redis-server"  # not on PATH: Popen names it in its error


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; can be stopped (any signal) and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = open(workdir / "redis.log", "ab")  # noqa: SIM115 (closed in close())

    def start(self, port: int | None = None) -> None:
        """Start on ``port`` (default: self.port) and wait until it answers PING (bounded)."""
        port = self.port if port is None else port
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}), see {self.workdir}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not come up within 10 s")
            time.sleep(0.01)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def client(self, port: int | None = None, **kwargs: Any) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.port if port is None else port, **kwargs)

    async def start_gated(self, subscribers: list[Subscriber]) -> None:
        """Start again so that ``subscribers`` are listening before anything can reach ``self.port``.

        The server first listens on a side port; the subscribers connect there, then the server
        moves to the real port (CONFIG SET port, Redis >= 7; existing connections stay). Without
        this, a publisher reconnecting first would publish into the void.
        """
        side = free_port()
        self.start(side)
        for sub in subscribers:
            await sub.start(side)
        admin = self.client(side)
        try:
            await admin.config_set("port", str(self.port))
        finally:
            await admin.aclose()

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        self._log.close()


class Subscriber:
    """PSUBSCRIBE ``pms:events:*`` with redis-py and collect (channel, payload) in arrival order."""

    def __init__(self, pattern: str = "pms:events:*") -> None:
        self.pattern = pattern
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[bytes] = []
        self.error: BaseException | None = None
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    @property
    def seqs(self) -> list[int]:
        return [int(p["seq"]) for _, p in self.events]

    async def start(self, port: int) -> None:
        # No retries: redis-py would otherwise reconnect and re-subscribe behind our back, and a
        # test wants to see exactly what one subscription heard.
        self._client = aioredis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
        self._pubsub = self._client.pubsub()
        await self._pubsub.psubscribe(self.pattern)
        deadline = time.monotonic() + 5
        while True:  # the subscription is live once the server confirmed it
            msg = await self._pubsub.get_message(timeout=1.0)
            if msg is not None and msg["type"] == "psubscribe":
                break
            assert time.monotonic() < deadline, "no psubscribe confirmation"
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None or msg["type"] != "pmessage":
                    continue
                self.raw.append(msg["data"])
                self.events.append((msg["channel"].decode(), orjson.loads(msg["data"])))
                self._arrived.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server went away: keep what arrived
            self.error = exc

    async def wait_seq(self, seq: int, timeout: float = 20.0) -> bool:
        """Wait (bounded) until an event with ``seq`` >= the given one has arrived."""
        deadline = time.monotonic() + timeout
        while not (self.events and self.events[-1][1]["seq"] >= seq):
            if self._task is not None and self._task.done():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))
        return True

    async def wait_count(self, n: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.events) < n:
            if time.monotonic() > deadline or (self._task is not None and self._task.done()):
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.5)
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        with contextlib.suppress(Exception):
            if self._pubsub is not None:
                await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            if self._client is not None:
                await self._client.aclose()


def dedup(seqs: list[int]) -> list[int]:
    """What a consumer keeps: each seq once, dropping any not greater than the last kept."""
    out: list[int] = []
    last = 0
    for s in seqs:
        if s > last:
            out.append(s)
            last = s
    return out
