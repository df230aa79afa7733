"""Order states and transition flags shared by both cores (small ints, one table of names)."""

from __future__ import annotations

from typing import Final

IDLE: Final = 0
PLACING: Final = 1
ACTIVE: Final = 2
CANCELLING: Final = 3
FILLED: Final = 4
CANCELLED: Final = 5
EXPIRED: Final = 6
REJECTED: Final = 7
FAILED: Final = 8
STATE_NAMES: Final = (
    "idle",
    "placing",
    "active",
    "cancelling",
    "filled",
    "cancelled",
    "expired",
    "rejected",
    "failed",
)
FIRST_TERMINAL: Final = FILLED  # states >= this never change again

# What one transition asks of the manager (bits of the int every core call returns).
F_ACTIVATED: Final = 1  # first acknowledgement by the exchange: publish order_active
F_FILL: Final = 2  # the cumulative fill went up: risk hook, last_fill_* hold the increase
F_PARTIAL: Final = 4  # ... and the order is still live: on_partial
F_FILLED: Final = 8  # now filled: on_fill
F_CLOSED: Final = 16  # now cancelled / expired / rejected / failed: on_cancel
F_LATE_FILL: Final = 32  # the fill increase reached an order already cancelled/expired/rejected/failed
F_UNKNOWN_STATUS: Final = 64
F_STALE: Final = 128  # a duplicate or out-of-date event: nothing changed
F_UNKNOWN_ID: Final = 256
F_MALFORMED: Final = 512
F_OTHER_EVENT: Final = 1024
F_ORPHAN: Final = 4096  # the exchange says open (NEW/PARTIALLY_FILLED) an order we closed rejected/failed
F_HOOKED: Final = 2048  # the order is marked (set_hooked): the shell has callbacks or a waiter on it

SIDES: Final = ("BUY", "SELL")
ORDER_TYPES: Final = ("LIMIT", "MARKET")
