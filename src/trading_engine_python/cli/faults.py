"""``demo --faults``: the simulator misbehaves now and then, as Binance sometimes does.

Each fault is one the engine's rules are built for (docs/binance-protocol.md, "Pitfalls"): a dropped
user stream (reconnect, reconcile), an expired listenKey, a place or cancel whose reply is lost
after the exchange processed it and a 503 "Unknown error" (unknown outcomes: resolved by the feed
or a status query, never guessed), duplicated feed events (stale, applied once), a 429 (back off).
The final check against the simulator says whether every order still came out right.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from typing import Any

from .engine import cancel_and_wait

log = logging.getLogger("trading_engine_python.cli.faults")

KINDS = (
    "user stream dropped",
    "place reply lost",
    "cancel reply lost",
    "place answered 503 unknown",
    "events duplicated for 1 s",
    "listenKey expired",
    "429 too many requests",
)


class FaultInjector:
    def __init__(self, sim: Any, interval: float, rng: random.Random) -> None:
        self.sim = sim
        self.interval = interval
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="demo-faults")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self.sim.faults.reset()  # the final settle and check run on a well-behaved venue

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    async def _run(self) -> None:
        order = list(KINDS)
        self.rng.shuffle(order)
        i = 0
        while True:
            await asyncio.sleep(self.interval * self.rng.uniform(0.7, 1.3))
            kind = order[i % len(order)]
            i += 1
            try:
                await self._inject(kind)
            except Exception:
                log.exception("injecting %r failed", kind)
                continue
            self.injected[kind] += 1
            log.info("fault injected: %s", kind)

    async def _inject(self, kind: str) -> None:
        f = self.sim.faults
        if kind == "user stream dropped":
            await self.sim.drop_user_streams()
        elif kind == "place reply lost":
            f.lose_reply(path="/fapi/v1/order", method="POST", count=1)
        elif kind == "cancel reply lost":
            f.lose_reply(path="/fapi/v1/order", method="DELETE", count=1)
        elif kind == "place answered 503 unknown":
            f.http_error(503, count=1, path="/fapi/v1/order", method="POST")  # processed, then 503
        elif kind == "events duplicated for 1 s":
            f.duplicate_events = True
            await asyncio.sleep(1.0)
            f.duplicate_events = False
        elif kind == "listenKey expired":
            await self.sim.expire_listen_key()
        elif kind == "429 too many requests":
            f.rate_limit(count=1, retry_after=1)


async def run_sim_with_faults(sim_kwargs: dict[str, Any], interval: float, seed: int) -> int:
    """``sim --faults``: the simulator, misbehaving every ``interval`` s on average, until SIGINT or
    SIGTERM. SIGUSR1 switches the faults off for good (a final check wants a well-behaved venue)."""
    import signal

    from ..sim import BinanceSimulator

    sim = BinanceSimulator(**sim_kwargs)
    await sim.start()
    injector = FaultInjector(sim, interval, random.Random(seed))
    injector.start()
    # The simulator's own fixed test credentials; printing them is deliberate (as `sim` does).
    print(f"REST       {sim.base_url}")
    print(f"WS root    {sim.ws_url}")
    print(f"api key    {sim.api_key}\napi secret {sim_kwargs.get('api_secret', 'sim-secret')}")
    print(f"faults     one every ~{interval:.1f} s; SIGUSR1 turns them off. Ctrl-C stops.", flush=True)
    stop = asyncio.Event()
    quiet = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, quiet.set)

    async def calm() -> None:
        await quiet.wait()
        await injector.stop()
        print(f"faults off after {injector.total} ({dict(injector.injected)})", flush=True)

    calm_task = asyncio.create_task(calm())
    try:
        await stop.wait()
    finally:
        await cancel_and_wait(calm_task)
        await injector.stop()
        await sim.stop()
    return 0
