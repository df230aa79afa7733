"""Errors every ExchangeClient raises. The manager's rules hang on the difference between them."""

from __future__ import annotations


class ExchangeError(Exception):
    """The exchange answered definitely: the request was not carried out as asked.

    ``code`` is Binance's error code (negative, e.g. -2011 "Unknown order sent."), or -1 for a
    local failure that certainly sent nothing (a connection that never opened).
    """

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(code, msg)
        self.code = int(code)
        self.msg = str(msg)

    def __str__(self) -> str:
        return f"{self.code}: {self.msg}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.msg!r})"


class ExchangeTimeout(ExchangeError):
    """The outcome is unknown: the request may or may not have been carried out.

    A timeout or dropped connection after sending, -1006, -1007, and HTTP 503 "Unknown error,
    please check your request or try again later." (docs/binance-protocol.md, "Error codes"). Resolve it
    from the user stream or a status query; never guess.
    """


# Codes the manager's rules name (docs/binance-protocol.md, "Error codes").
UNKNOWN_ORDER = -2011  # CANCEL_REJECTED "Unknown order sent.": not open (filled, gone, or never was)
NO_SUCH_ORDER = -2013  # "Order does not exist." (may also answer for an order accepted a moment ago)
