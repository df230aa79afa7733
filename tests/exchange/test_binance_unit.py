"""Offline pieces of BinanceFuturesClient: signing, filters, argument checks, scrubbing, windows."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from decimal import Decimal

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.exchange.binance import (
    PRODUCTION_REST,
    PRODUCTION_WS,
    TESTNET_REST,
    TESTNET_WS,
    SymbolRules,
    _Window,
)

BTC_INFO = {
    "symbol": "BTCUSDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
        {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.01", "maxQty": "120", "minQty": "0.01"},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
    ],
}


def test_constants() -> None:
    assert PRODUCTION_REST == "https://fapi.binance.com"
    assert PRODUCTION_WS == "wss://fstream.binance.com"
    assert TESTNET_REST.startswith("https://") and TESTNET_WS.startswith("wss://")


def test_hmac_signature_matches_binance_docs_example() -> None:
    # The worked example of the USD-M "SIGNED Endpoint Examples" (general-info).
    c = BinanceFuturesClient("k", "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9")
    q = (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
        "&recvWindow=5000&timestamp=1591702613943"
    )
    assert c._sign(q) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_ed25519_signature_verifies() -> None:
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization

    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    c = BinanceFuturesClient("k", private_key=pem)
    payload = "symbol=BTCUSDT&timestamp=1"
    sig = c._sign(payload)
    raw = base64.b64decode(urllib.parse.unquote(sig))
    key.public_key().verify(raw, payload.encode())  # raises if wrong


def test_rsa_signature_verifies() -> None:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    c = BinanceFuturesClient("k", private_key=key)
    sig = c._sign("a=1")
    key.public_key().verify(
        base64.b64decode(urllib.parse.unquote(sig)), b"a=1", padding.PKCS1v15(), hashes.SHA256()
    )


def test_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "env-key-123456")
    monkeypatch.setenv("BINANCE_API_SECRET", "env-secret-abcdef")
    c = BinanceFuturesClient()
    assert c._api_key == "env-key-123456"
    assert "env-key" not in repr(c) and "env-secret" not in repr(c)


@pytest.mark.parametrize(
    ("qty", "ok"),
    [
        ("0.001", True),
        ("0.002", True),
        ("1", True),
        ("0.0015", False),
        ("0.0001", False),
        ("1000.001", False),
    ],
)
def test_lot_size(qty: str, ok: bool) -> None:
    r = SymbolRules.from_exchange_info(BTC_INFO)
    if ok:
        r.check_quantity(qty, "LIMIT")
    else:
        with pytest.raises(ValueError, match=qty.replace(".", r"\.")):
            r.check_quantity(qty, "LIMIT")


def test_market_lot_size_is_used_for_market_orders() -> None:
    r = SymbolRules.from_exchange_info(BTC_INFO)
    r.check_quantity("0.001", "LIMIT")
    with pytest.raises(ValueError, match=r"MARKET_LOT_SIZE stepSize 0\.01"):
        r.check_quantity("0.015", "MARKET")
    r.check_quantity("0.02", "MARKET")


@pytest.mark.parametrize(
    ("price", "ok"), [("65000.1", True), ("65000", True), ("65000.15", False), ("1", False)]
)
def test_tick_size(price: str, ok: bool) -> None:
    r = SymbolRules.from_exchange_info(BTC_INFO)
    if ok:
        r.check_price(price)
    else:
        with pytest.raises(ValueError, match=price.replace(".", r"\.")):
            r.check_price(price)


def test_tick_error_names_value_and_tick() -> None:
    r = SymbolRules.from_exchange_info(BTC_INFO)
    with pytest.raises(ValueError) as ei:
        r.check_price("65000.15")
    assert "65000.15" in str(ei.value) and "tickSize 0.10" in str(ei.value)


def test_decimal_text() -> None:
    dt = BinanceFuturesClient._decimal_text
    assert dt("q", "0.001") == "0.001"
    assert dt("q", Decimal("1E-3")) == "0.001"
    assert dt("q", 5) == "5"
    with pytest.raises(TypeError):
        dt("q", 0.001)
    for bad in ("1e-3", "-1", "abc", "", "0x10", "1.", ".5", "NaN"):
        with pytest.raises(ValueError):
            dt("q", bad)


@pytest.mark.parametrize(
    "t", ["STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
)
async def test_algo_types_refused(t: str) -> None:
    c = BinanceFuturesClient("k", "s", base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="Algo API") as ei:
        await c.place_order("BTCUSDT", "BUY", t, "0.001", client_order_id="x1")
    assert "-4120" in str(ei.value)
    assert c.stats["requests"] == 0
    await c.close()


async def test_bad_arguments_send_nothing() -> None:
    c = BinanceFuturesClient("k", "s", base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError):
        await c.place_order("BTCUSDT", "HOLD", "LIMIT", "1", price="1", client_order_id="x1")
    with pytest.raises(ValueError):
        await c.place_order("BTCUSDT", "BUY", "LIMIT", "1", price="1", client_order_id="bad id!")
    with pytest.raises(ValueError):
        await c.place_order("BTCUSDT", "BUY", "LIMIT", "1", price="1", client_order_id="x" * 37)
    with pytest.raises(TypeError):
        await c.place_order("BTCUSDT", "BUY", "LIMIT", 0.5, price="1", client_order_id="x1")  # type: ignore[arg-type]
    assert c.stats["requests"] == 0
    await c.close()


def test_scrub_removes_secrets() -> None:
    c = BinanceFuturesClient("my-api-key-XYZ", "my-secret-ABC")
    c._remember_secret("LK" * 16)
    text = (
        "GET http://h/fapi/v1/order?symbol=X&signature=deadbeef00 key my-api-key-XYZ secret my-secret-ABC "
        f"ws://h/private/ws/{'LK' * 16} listenKey={'LK' * 16}"
    )
    out = c._scrub(text)
    for s in ("deadbeef00", "my-api-key-XYZ", "my-secret-ABC", "LK" * 16):
        assert s not in out


def test_window_pacing() -> None:
    w = _Window("t", 10_000, 10)
    now = 1_000_000
    assert w.wait_ms(now, 1, 0.9) == 0
    w.count = 9
    t = now + 10
    wait = w.wait_ms(t, 1, 0.9)
    assert 0 < wait <= 10_000
    assert w.wait_ms(t + wait, 1, 0.9) == 0  # the next window starts empty
    w.observe(t + wait, 7)
    assert w.count == 7
    w.observe(t + wait, -1)  # testnet's "-1": unknown, ignored
    assert w.count == 7


def test_repr_has_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c = BinanceFuturesClient("AKEY-1234567890", "SSECRET-1234567890")
    assert "AKEY" not in repr(c) and "SSECRET" not in repr(c)


def _decimal_rule(text: str, step: Decimal, lo: Decimal, hi: Decimal, lower_needs_positive: bool) -> bool:
    """The filter rule in Decimal, written out independently: (v - lo) % step == 0 and lo <= v <= hi."""
    v = Decimal(text)
    if v <= 0 or (step > 0 and (v - lo) % step != 0):
        return False
    if (not lower_needs_positive or lo > 0) and v < lo:
        return False
    return not (hi > 0 and v > hi)


@pytest.mark.parametrize("seed", range(4))
def test_fixed_point_checks_agree_with_decimal_rules(seed: int) -> None:
    # check_quantity/check_price decide in integers when they can; the answer must be the Decimal one.
    import random

    rnd = random.Random(seed)
    for _ in range(60):
        tick_exp, step_exp = rnd.randint(-8, 2), rnd.randint(-8, 1)
        tick = Decimal(rnd.choice((1, 2, 5, 10, 25))).scaleb(tick_exp)
        step = Decimal(rnd.choice((1, 5, 10))).scaleb(step_exp)
        info = {
            "symbol": "X",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": str(tick), "minPrice": str(tick * 3),
                 "maxPrice": str(tick * rnd.randint(10, 10**6))},
                {"filterType": "LOT_SIZE", "stepSize": str(step), "minQty": str(step * 2),
                 "maxQty": str(step * rnd.randint(5, 10**5))},
            ],
        }
        r = SymbolRules.from_exchange_info(info)
        for _ in range(40):
            base = tick if rnd.random() < 0.5 else step
            # Near a bound (where the range checks decide) or anywhere (where the grid decides).
            anchor = rnd.choice((r.min_price, r.max_price, r.min_qty, r.max_qty, Decimal(0)))
            v = anchor + base * rnd.randint(-3, 3) if rnd.random() < 0.5 else base * rnd.randint(0, 2 * 10**6)
            v = v / rnd.choice((1, 1, 2, 10))
            if v <= 0:
                continue
            text = format(v, "f")
            if rnd.random() < 0.3:
                text += "0" * rnd.randint(1, 4) if "." in text else ".0"
            want_p = _decimal_rule(text, r.tick_size, r.min_price, r.max_price, True)
            want_q = _decimal_rule(text, r.step_size, r.min_qty, r.max_qty, False)
            for kind, want in (("price", want_p), ("quantity", want_q)):
                try:
                    if kind == "price":
                        r.check_price(text)
                    else:
                        r.check_quantity(text, "LIMIT")
                    got = True
                except ValueError:
                    got = False
                assert got == want, (info, kind, text)


@pytest.mark.parametrize(
    "text", ["1e-3", "0.0010000000000000000000000000000000000001", "1.", ".5", "0x10", "١٢", "-0.001", "0"]
)
def test_unusual_quantity_texts_take_the_decimal_path(text: str) -> None:
    # Outside the plain form the integer path steps aside; Decimal decides (and may refuse to parse).
    r = SymbolRules.from_exchange_info(BTC_INFO)
    want: type[Exception] | None
    try:
        v = Decimal(text)
        want = None if v >= Decimal("0.001") and v % Decimal("0.001") == 0 else ValueError
    except ArithmeticError:
        want = ArithmeticError
    if want is None:
        r.check_quantity(text, "LIMIT")
    else:
        with pytest.raises(want):
            r.check_quantity(text, "LIMIT")


def test_hmac_key_follows_a_replaced_secret() -> None:
    c = BinanceFuturesClient("k", "secret-one", base_url="http://127.0.0.1:9")
    first = c._sign("a=1")
    assert c._sign("a=1") == first
    c._api_secret = "secret-two"
    assert c._sign("a=1") != first
    c._api_secret = "secret-one"
    assert c._sign("a=1") == first


def test_pace_now_counts_or_defers_like_pace() -> None:
    c = BinanceFuturesClient("k", "s", base_url="http://127.0.0.1:9", rate_headroom=1.0)
    c._time_offset_ms = 0
    c._orders_10s.limit = 2
    assert c._pace_now(0, 1) and c._pace_now(0, 1)
    assert c._orders_10s.count == 2 and c._orders_1m.count == 2
    assert not c._pace_now(0, 1)  # the window is full: _pace decides (and waits)
    assert c._orders_10s.count == 2 and c._orders_1m.count == 2  # nothing counted by the refusal
    c._orders_10s.limit = 100
    import time

    c._backoff_until = time.monotonic() + 60
    assert not c._pace_now(1, 0)  # a 429 back-off runs through _pace
    c._backoff_until = time.monotonic() - 1
    assert c._pace_now(1, 0) and c._weight_1m.count == 1


def test_rate_limits_from_answers_skip_unreadable_entries() -> None:
    c = BinanceFuturesClient("k", "s", base_url="http://127.0.0.1:9")
    c._time_offset_ms = 0
    c._observe_rate_limits(
        [
            "not a dict",
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": "x", "limit": 1, "count": 1},
            {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "intervalNum": 1, "limit": 1, "count": 1},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 1, "limit": 1, "count": 1},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000,
             "count": 7},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": "?", "count": 4},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        ]
    )
    assert (c._weight_1m.limit, c._weight_1m.count) == (6000, 7)
    assert (c._orders_10s.limit, c._orders_10s.count) == (300, 4)  # limit unreadable: the default stays
    assert (c._orders_1m.limit, c._orders_1m.count) == (2400, 0)  # no count: only the limit
    c._observe_rate_limits(None)  # not a list: ignored
    c._apply_rate_limits({"rateLimits": [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                                          "limit": 50}, 7]})
    assert c._orders_10s.limit == 50
