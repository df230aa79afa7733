"""Fault injection switches of the simulator; all off by default, each armed for ``count`` requests."""

from __future__ import annotations

from dataclasses import dataclass, field

# HTTP 503 texts (docs/binance-protocol.md, "REST signing and limits"). Only the first one means
# "execution status unknown": the simulator processes the request and then answers 503, as the real
# venue may have.
UNKNOWN_503_MSG = "Unknown error, please check your request or try again later."
SERVICE_UNAVAILABLE_MSG = "Service Unavailable."
INTERNAL_ERROR_MSG = "Internal error; unable to process your request. Please try again."

DEFAULT_BODIES: dict[int, dict[str, object]] = {
    # the docs give the 503 texts without codes; -1000 (UNKNOWN) is the simulator's choice
    503: {"code": -1000, "msg": UNKNOWN_503_MSG},
    500: {"code": -1001, "msg": INTERNAL_ERROR_MSG},
    502: {"code": -1001, "msg": INTERNAL_ERROR_MSG},
    504: {
        "code": -1007,
        "msg": "Timeout waiting for response from backend server. Send status unknown; "
        "execution status unknown.",
    },
    408: {
        "code": -1007,
        "msg": "Timeout waiting for response from backend server. Send status unknown; "
        "execution status unknown.",
    },
    403: {"code": -1002, "msg": "You are not authorized to execute this request."},
}


@dataclass
class Rule:
    # REST: "lose_reply" | "http_error" | "rate_limit" | "reject_cancel" | "reject_order";
    # ws-fapi (method "WS", path = the ws-fapi method name): "ws_drop" | "ws_error"
    kind: str
    count: int
    path: str | None = None
    method: str | None = None
    status: int = 0
    body: dict[str, object] | str | None = None
    process: bool = False
    retry_after: int | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.path is not None and self.path != path:
            return False
        return self.method is None or self.method.upper() == method


@dataclass
class Faults:
    """Per-test fault switches (see sim/README.md). Counted rules disarm themselves once used."""

    latency: float = 0.0
    duplicate_events: bool = False
    event_delay: float = 0.0
    rules: list[Rule] = field(default_factory=list)
    drop_events_left: int = 0

    def reset(self) -> None:
        self.latency = 0.0
        self.duplicate_events = False
        self.event_delay = 0.0
        self.rules.clear()
        self.drop_events_left = 0

    def lose_reply(
        self, path: str | None = "/fapi/v1/order", method: str | None = "POST", count: int = 1
    ) -> None:
        """The request is processed, then the connection is closed without any reply."""
        self.rules.append(Rule("lose_reply", count, path, method))

    def http_error(
        self,
        status: int = 503,
        body: dict[str, object] | str | None = None,
        count: int = 1,
        path: str | None = None,
        method: str | None = None,
        process: bool | None = None,
    ) -> None:
        """Answer ``status``/``body`` instead of the real reply. ``process`` None = automatic: only a 503
        carrying the "Unknown error..." text processes the request first (unknown outcome)."""
        if body is None:
            body = DEFAULT_BODIES.get(
                status, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            )
        if process is None:
            msg = body.get("msg") if isinstance(body, dict) else body
            process = status == 503 and isinstance(msg, str) and msg.startswith("Unknown error")
        self.rules.append(Rule("http_error", count, path, method, status=status, body=body, process=process))

    def rate_limit(
        self,
        count: int = 1,
        status: int = 429,
        retry_after: int | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """429 (or 418 = IP ban) with Binance's -1003 body and a Retry-After header."""
        self.rules.append(Rule("rate_limit", count, path, method, status=status, retry_after=retry_after))

    def reject_next_cancel(
        self, code: int = -2011, msg: str = "Unknown order sent.", count: int = 1, status: int = 400
    ) -> None:
        """The next DELETE /fapi/v1/order is refused with this error and NOT processed."""
        self.rules.append(
            Rule(
                "reject_cancel",
                count,
                "/fapi/v1/order",
                "DELETE",
                status=status,
                body={"code": code, "msg": msg},
            )
        )

    def reject_next_order(
        self, code: int = -2019, msg: str = "Margin is insufficient.", count: int = 1, status: int = 400
    ) -> None:
        """The next POST /fapi/v1/order is refused with this error and NOT processed."""
        self.rules.append(
            Rule(
                "reject_order",
                count,
                "/fapi/v1/order",
                "POST",
                status=status,
                body={"code": code, "msg": msg},
            )
        )

    def ws_drop(self, method: str | None = "order.place", process: bool = True, count: int = 1) -> None:
        """ws-fapi: a request of ``method`` (None = any) is processed (or not, ``process=False``), then
        the connection is aborted (TCP, no close frame) with the request's answer never sent."""
        self.rules.append(Rule("ws_drop", count, method, "WS", process=process))

    def ws_error(
        self,
        code: int = -1001,
        msg: str = INTERNAL_ERROR_MSG,
        status: int = 400,
        method: str | None = "order.place",
        count: int = 1,
        process: bool = False,
    ) -> None:
        """ws-fapi: a request of ``method`` (None = any) is answered with this error instead; processed
        first only with ``process=True`` (an unknown outcome, like the REST 503 "Unknown error")."""
        body: dict[str, object] = {"code": code, "msg": msg}
        self.rules.append(Rule("ws_error", count, method, "WS", status=status, body=body, process=process))

    def drop_events(self, count: int = 1) -> None:
        """The next ``count`` user-stream events happen at the exchange but are not sent."""
        self.drop_events_left += count

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Rule | None:
        """The first armed rule of one of ``kinds`` matching this request, consuming one use."""
        for rule in self.rules:
            if rule.kind in kinds and rule.matches(method, path):
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return rule
        return None
