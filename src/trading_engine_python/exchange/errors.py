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


class ExchangeAuthError(ExchangeError):
    """No usable credentials: nothing was sent, or the exchange refused the key or signature.

    Raised by ``BinanceFuturesClient(...)`` when the API key or secret is missing (neither passed
    nor in BINANCE_API_KEY / BINANCE_API_SECRET), with ``code`` -2014, and for the exchange's own
    answers -2014 "API-key format invalid.", -2015 "Invalid API-key, IP, or permissions for
    action." and -1022 "Signature for this request is not valid." (docs/binance-protocol.md,
    "Error codes"). Its text names the variables, never a key or secret.
    """


AUTH_CODES = frozenset((-2014, -2015, -1022))

# Codes the manager's rules name (docs/binance-protocol.md, "Error codes").
UNKNOWN_ORDER = -2011  # CANCEL_REJECTED "Unknown order sent.": not open (filled, gone, or never was)
NO_SUCH_ORDER = -2013  # "Order does not exist." (may also answer for an order accepted a moment ago)
