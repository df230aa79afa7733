"""Real Redis for the events tests: a ``redis-server`` on a free loopback port, per test.

Also a subscriber that listens like the JS proxy (``PSUBSCRIBE pms:events:*`` through redis-py,
an implementation independent of ours). The RESP twin under test is ``impl.resp`` (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from ._redis import RedisServer, Subscriber


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_down(tmp_path: Path) -> Iterator[RedisServer]:
    """A RedisServer object whose port has nothing listening (start it with start_gated)."""
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def subscriber_factory() -> AsyncIterator[Callable[..., Subscriber]]:
    made: list[Subscriber] = []

    def make(pattern: str = "pms:events:*") -> Subscriber:
        sub = Subscriber(pattern)
        made.append(sub)
        return sub

    yield make
    for sub in made:
        await sub.stop()


@pytest.fixture
async def sub(redis_server: RedisServer, subscriber_factory: Callable[..., Subscriber]) -> Subscriber:
    """A subscriber already listening on ``redis_server`` (its PSUBSCRIBE confirmed)."""
    listening = subscriber_factory()
    await listening.start(redis_server.port)
    return listening
