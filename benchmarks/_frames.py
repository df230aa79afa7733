"""The documented ORDER_TRADE_UPDATE frame (docs-examples/ws_order_trade_update.json), every key Binance
sends, built the same way for every benchmark that feeds one (bench_core, bench_decode, bench_tracker)."""

from __future__ import annotations

import orjson

DOC_OID = 8389765739703625592  # the documented "i": > 2**53, like real Binance ids


def order_trade_update(
    cid: str,
    status: str = "PARTIALLY_FILLED",
    z: str = "0.0001",
    *,
    q: str = "0.001",
    last: str = "0.0001",
    oid: int = DOC_OID,
) -> bytes:
    """``c`` = cid, ``X`` = status, ``z`` (cumulative filled), ``q`` (quantity), ``l`` = last (last
    filled) and ``i`` = oid; every other field as documented."""
    return orjson.dumps(
        {
            "e": "ORDER_TRADE_UPDATE",
            "E": 1568879465651,
            "T": 1568879465650,
            "o": {
                "s": "BTCUSDT",
                "c": cid,
                "S": "SELL",
                "o": "LIMIT",
                "f": "GTC",
                "q": q,
                "p": "65000.1",
                "ap": "65000.1",
                "sp": "0",
                "x": "TRADE",
                "X": status,
                "i": oid,
                "l": last,
                "z": z,
                "L": "65000.1",
                "N": "USDT",
                "n": "0.00260000",
                "T": 1568879465650,
                "t": 12345678901,
                "b": "0",
                "a": "65.0001",
                "m": True,
                "R": False,
                "wt": "CONTRACT_PRICE",
                "ot": "LIMIT",
                "ps": "BOTH",
                "cp": False,
                "rp": "0",
                "pP": False,
                "si": 0,
                "ss": 0,
                "V": "EXPIRE_TAKER",
                "pm": "NONE",
                "gtd": 0,
                "er": "0",
            },
        }
    )
