"""Rate limits shared by REST and ws-fapi: IP request weight per minute, order counts per 10 s and per
minute, and the automated IP ban that follows ignored 429s (docs/binance-protocol.md, "REST signing and
limits")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._engine import ApiError


@dataclass
class Window:
    """A fixed window (a minute, ten seconds) aligned on the clock, as Binance counts."""

    length_ms: int
    start: int = 0
    used: int = 0

    def current(self, now: int) -> int:
        start = now - now % self.length_ms
        if start != self.start:
            self.start = start
            self.used = 0
        return self.used

    def retry_after(self, now: int) -> int:
        return max(1, (self.start + self.length_ms - now + 999) // 1000)


class RateLimiter:
    """Counters of one simulated account/IP. ``limits`` is the dict exposed as ``sim.limits``."""

    def __init__(self) -> None:
        self.limits = {"weight_1m": 2400, "orders_10s": 300, "orders_1m": 1200, "ban_after_429s": 50}
        # "2 minutes to 3 days" (docs/binance-protocol.md, "REST signing and limits")
        self.ban_seconds = 120.0
        self.weight = Window(60_000)
        self.orders_10s = Window(10_000)
        self.orders_1m = Window(60_000)
        self._rejected = Window(60_000)  # 429s answered in the current minute
        self.banned_until = 0

    def add_weight(self, weight: int, now: int) -> None:
        self.weight.current(now)
        self.weight.used += weight

    def over_weight(self) -> bool:
        return self.weight.used > self.limits["weight_1m"]

    def ban_retry(self, now: int) -> int | None:
        """Seconds left of an IP ban, or None when not banned."""
        if now < self.banned_until:
            return max(1, (self.banned_until - now + 999) // 1000)
        return None

    def note_429(self, now: int) -> None:
        """Failing to back off after 429s earns an automated IP ban, HTTP 418."""
        if self._rejected.current(now) >= self.limits["ban_after_429s"]:
            self.banned_until = now + int(self.ban_seconds * 1000)
            self._rejected.used = 0
        else:
            self._rejected.used += 1

    def count_orders(self, n: int, now: int) -> None:
        """Charge ``n`` on both order windows, or raise -1015 (HTTP 429) without charging."""
        c10 = self.orders_10s.current(now)
        c1m = self.orders_1m.current(now)
        if c10 + n > self.limits["orders_10s"]:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {self.limits['orders_10s']} orders per TEN_SECONDS.",
                429,
            )
        if c1m + n > self.limits["orders_1m"]:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {self.limits['orders_1m']} orders per MINUTE.",
                429,
            )
        self.orders_10s.used += n
        self.orders_1m.used += n

    def headers(self, now: int, orders: bool) -> dict[str, str]:
        out = {"X-MBX-USED-WEIGHT-1M": str(self.weight.current(now))}
        if orders:
            out["X-MBX-ORDER-COUNT-10S"] = str(self.orders_10s.current(now))
            out["X-MBX-ORDER-COUNT-1M"] = str(self.orders_1m.current(now))
        return out

    def ws_rate_limits(self, now: int, orders: bool) -> list[dict[str, Any]]:
        """The ``rateLimits`` array of a ws-fapi reply: the same counters as the REST headers
        (docs/binance-protocol.md, "WebSocket API")."""
        out: list[dict[str, Any]] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": self.limits["weight_1m"],
                "count": self.weight.current(now),
            }
        ]
        if orders:
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": self.limits["orders_10s"],
                    "count": self.orders_10s.current(now),
                }
            )
            out.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.limits["orders_1m"],
                    "count": self.orders_1m.current(now),
                }
            )
        return out

    def banned_body(self, now: int, retry: int) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Way too many requests; IP(127.0.0.1) banned until {now + retry * 1000}. "
            "Please use the websocket for live updates to avoid bans.",
        }

    def weight_body(self) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Too many requests; current limit of IP(127.0.0.1) request weight per "
            f"minute is {self.limits['weight_1m']}. Please use WebSocket Streams for live updates to avoid "
            "polling the API.",
        }
