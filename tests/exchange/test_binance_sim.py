"""BinanceFuturesClient over real loopback sockets against the project's simulator."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from trading_engine_python.exchange import BinanceFuturesClient, ExchangeError, ExchangeTimeout
from trading_engine_python.sim import BinanceSimulator

API_KEY = "AKsimTEST1234567890key"
API_SECRET = "SEsimTEST0987654321secret"
ORDER = "/fapi/v1/order"


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, seed=0, auto_walk=False)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim: BinanceSimulator) -> AsyncIterator[BinanceFuturesClient]:
    async with BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url, timeout=1.0) as c:
        yield c


def below(sim: BinanceSimulator, symbol: str = "BTCUSDT", ticks: int = 1000) -> str:
    return str(sim.price(symbol) - Decimal("0.1") * ticks)


def posts(sim: BinanceSimulator) -> int:
    return sum(1 for m, p in sim.requests if (m, p) == ("POST", ORDER))


def assert_no_secret(text: str, client: BinanceFuturesClient) -> None:
    assert API_SECRET not in text and API_KEY not in text
    assert not re.search(r"signature=[0-9a-f]{8}", text)
    for s in client._secrets:
        assert s not in text


# ------------------------------------------------------------------ endpoints


async def test_limit_order_lifecycle(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    px = below(sim)
    r = await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.010", price=px, client_order_id="c-life-1")
    assert r["status"] == "NEW" and r["clientOrderId"] == "c-life-1"
    held = sim.orders_by_client_id("c-life-1")
    assert held is not None and Decimal(held["origQty"]) == Decimal("0.010")
    assert Decimal(held["price"]) == Decimal(px) and held["timeInForce"] == "GTC"  # the default
    q = await client.get_order("BTCUSDT", client_order_id="c-life-1")
    assert q["orderId"] == r["orderId"] and q["status"] == "NEW"
    assert [o["clientOrderId"] for o in await client.get_open_orders("BTCUSDT")] == ["c-life-1"]
    assert [o["clientOrderId"] for o in await client.get_open_orders()] == ["c-life-1"]
    c = await client.cancel_order("BTCUSDT", client_order_id="c-life-1")
    assert c["status"] == "CANCELED"
    assert sim.open_orders() == []
    with pytest.raises(ExchangeError) as ei:
        await client.cancel_order("BTCUSDT", client_order_id="c-life-1")
    assert ei.value.code == -2011 and not isinstance(ei.value, ExchangeTimeout)


async def test_market_order_and_cancel_all(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    r = await client.place_order("BTCUSDT", "BUY", "MARKET", "0.002", client_order_id="c-mkt-1")
    assert r["type"] == "MARKET"
    held = sim.orders_by_client_id("c-mkt-1")
    assert held is not None and held["status"] == "FILLED"
    for i in range(3):
        await client.place_order(
            "ETHUSDT",
            "SELL",
            "LIMIT",
            "0.01",
            price=str(sim.price("ETHUSDT") + 50),
            client_order_id=f"c-all-{i}",
            time_in_force="GTX",
        )
    assert len(sim.open_orders("ETHUSDT")) == 3
    body = await client.cancel_all_orders("ETHUSDT")
    assert body["code"] == 200
    assert sim.open_orders("ETHUSDT") == []


async def test_reduce_only_is_sent(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    await client.place_order("BTCUSDT", "BUY", "MARKET", "0.005", client_order_id="c-pos")
    await client.place_order(
        "BTCUSDT",
        "SELL",
        "LIMIT",
        "0.005",
        price=str(sim.price("BTCUSDT") + 100),
        client_order_id="c-ro",
        reduce_only=True,
    )
    held = sim.orders_by_client_id("c-ro")
    assert held is not None and held["reduceOnly"] is True


async def test_ids_above_2_pow_53_stay_exact(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    r = await client.place_order(
        "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-big"
    )
    held = sim.orders_by_client_id("c-big")
    assert held is not None
    assert type(r["orderId"]) is int and r["orderId"] > 2**53
    assert r["orderId"] == held["orderId"]
    assert int(float(r["orderId"])) != r["orderId"]  # an id that a float parse would have corrupted
    q = await client.get_order("BTCUSDT", client_order_id="c-big")
    assert q["orderId"] == held["orderId"]


async def test_exchange_info_loaded_once(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    for i in range(3):
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id=f"c-x{i}"
        )
    assert sum(1 for _, p in sim.requests if p == "/fapi/v1/exchangeInfo") == 1
    info = await client.get_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} >= {"BTCUSDT", "ETHUSDT"}
    assert isinstance(await client.get_server_time(), int)


async def test_off_step_or_tick_is_refused_and_nothing_sent(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    with pytest.raises(ValueError, match=r"0\.0015.*stepSize 0\.001"):
        await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.0015", price=below(sim), client_order_id="c-s")
    bad_px = below(sim) + "5"  # one digit past the 0.10 tick
    with pytest.raises(ValueError, match=re.escape(bad_px)):
        await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=bad_px, client_order_id="c-t")
    with pytest.raises(ValueError, match="unknown symbol"):
        await client.place_order("NOPEUSDT", "BUY", "LIMIT", "1", price="1", client_order_id="c-u")
    assert posts(sim) == 0
    assert sim.orders_by_client_id("c-s") is None and sim.orders_by_client_id("c-t") is None


async def test_listen_key_endpoints(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    key = await client.create_listen_key()
    assert key in sim.listen_keys
    await client.keepalive_listen_key()
    await client.close_listen_key()
    assert key not in sim.listen_keys
    with pytest.raises(ExchangeError) as ei:
        await client.keepalive_listen_key()
    assert ei.value.code == -1125


# ------------------------------------------------------------------ clock


async def test_clock_skew_heals_after_1021(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    await client.get_open_orders("BTCUSDT")  # measures the offset (0 here)
    assert client.stats["time_syncs"] == 1
    sim.clock_offset_ms = -20_000  # the server clock jumps back: our timestamps are "ahead"
    r = await client.place_order(
        "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-clk"
    )
    assert r["status"] == "NEW"
    assert client.stats["time_syncs"] == 2
    assert posts(sim) == 2  # refused with -1021 once, then placed once
    assert len(sim.open_orders()) == 1


async def test_offset_measured_at_first_use(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    sim.clock_offset_ms = 45_000
    await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-first")
    assert posts(sim) == 1 and client.stats["time_syncs"] == 1


# ------------------------------------------------------------------ error mapping


async def test_lost_reply_after_placing_is_unknown(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    sim.faults.lose_reply(path=ORDER, method="POST", count=1)
    with pytest.raises(ExchangeTimeout):
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-lost"
        )
    assert sim.orders_by_client_id("c-lost") is not None  # it was placed
    q = await client.get_order("BTCUSDT", client_order_id="c-lost")  # and the session still works
    assert q["status"] == "NEW"


async def test_lost_reply_on_get_is_retried_once(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    await client.get_open_orders("BTCUSDT")
    sim.faults.lose_reply(path="/fapi/v1/openOrders", method="GET", count=1)
    assert await client.get_open_orders("BTCUSDT") == []


async def test_latency_beyond_timeout_is_unknown(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    await client.get_exchange_info()
    await client.get_open_orders("BTCUSDT")
    sim.faults.latency = 0.05
    await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-lat1")
    sim.faults.latency = 2.0  # client timeout is 1 s
    with pytest.raises(ExchangeTimeout):
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-lat2"
        )
    sim.faults.latency = 0.0
    assert sim.orders_by_client_id("c-lat2") is not None


@pytest.mark.parametrize(
    ("status", "body", "unknown", "placed"),
    [
        (503, None, True, True),  # "Unknown error, please check your request or try again later."
        (503, {"code": -1000, "msg": "Service Unavailable."}, False, False),
        (503, "Service Unavailable.", False, False),
        (
            503,
            {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
            False,
            False,
        ),
        (500, None, False, False),  # -1001
        (504, None, True, False),  # -1007 "execution status unknown"
        (408, None, True, False),
        (
            400,
            {"code": -1006, "msg": "An unexpected response was received from the message bus."},
            True,
            False,
        ),
        (400, {"code": -1008, "msg": "Request throttled by system-level protection."}, False, False),
        (400, {"code": -2019, "msg": "Margin is insufficient."}, False, False),
        (502, "<html>Bad Gateway</html>", True, False),
        (403, "<html>WAF</html>", False, False),
    ],
)
async def test_http_error_mapping(
    sim: BinanceSimulator,
    client: BinanceFuturesClient,
    status: int,
    body: object,
    unknown: bool,
    placed: bool,
) -> None:
    await client.get_exchange_info()
    sim.faults.http_error(status=status, body=body, count=1, path=ORDER, method="POST")  # type: ignore[arg-type]
    with pytest.raises(ExchangeError) as ei:
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-err"
        )
    assert isinstance(ei.value, ExchangeTimeout) is unknown, repr(ei.value)
    assert (sim.orders_by_client_id("c-err") is not None) is placed
    if isinstance(body, dict):
        assert ei.value.code == body["code"]


async def test_definite_rejects(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    sim.faults.reject_next_order(code=-2019, msg="Margin is insufficient.")
    with pytest.raises(ExchangeError) as ei:
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-rej"
        )
    assert ei.value.code == -2019 and not isinstance(ei.value, ExchangeTimeout)
    with pytest.raises(ExchangeError) as ei:
        await client.get_order("BTCUSDT", client_order_id="never-placed")
    assert ei.value.code == -2013
    # GTX that would take: -5022, no order (docs/binance-protocol.md, "Event order")
    with pytest.raises(ExchangeError) as ei:
        await client.place_order(
            "BTCUSDT",
            "BUY",
            "LIMIT",
            "0.001",
            price=str(sim.price("BTCUSDT") + 100),
            client_order_id="c-gtx",
            time_in_force="GTX",
        )
    assert ei.value.code == -5022


async def test_bad_secret_is_definite(sim: BinanceSimulator) -> None:
    async with BinanceFuturesClient(API_KEY, "wrong-secret", base_url=sim.base_url, timeout=1.0) as c:
        with pytest.raises(ExchangeError) as ei:
            await c.get_open_orders("BTCUSDT")
    assert ei.value.code == -1022 and not isinstance(ei.value, ExchangeTimeout)


async def test_connect_failure_is_definite_minus_one(sim: BinanceSimulator) -> None:
    port = sim.port
    await sim.stop()
    async with BinanceFuturesClient(
        API_KEY, API_SECRET, base_url=f"http://127.0.0.1:{port}", timeout=1.0
    ) as c:
        with pytest.raises(ExchangeError) as ei:
            await c.get_server_time()
    assert ei.value.code == -1 and not isinstance(ei.value, ExchangeTimeout)


# ------------------------------------------------------------------ limits


async def test_headers_feed_the_counters(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    for i in range(3):
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id=f"c-h{i}"
        )
    assert client._orders_10s.count >= 3 and client._orders_1m.count >= 3
    assert client._weight_1m.count >= 1


async def test_429_backs_off_then_resumes(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    await client.get_exchange_info()
    await client.get_open_orders("BTCUSDT")
    sim.faults.rate_limit(count=1, status=429, retry_after=1)
    with pytest.raises(ExchangeError) as ei:
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-429"
        )
    assert ei.value.code == -1003 and not isinstance(ei.value, ExchangeTimeout)
    assert sim.orders_by_client_id("c-429") is None
    n = len(sim.requests)
    r = await client.place_order(
        "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="c-429b"
    )
    assert r["status"] == "NEW"
    assert client.stats["paced_waits"] >= 1 and len(sim.requests) == n + 1


async def test_long_429_backoff_refuses_locally(sim: BinanceSimulator) -> None:
    async with BinanceFuturesClient(
        API_KEY, API_SECRET, base_url=sim.base_url, timeout=1.0, max_backoff_wait=0.5
    ) as c:
        sim.faults.rate_limit(count=1, status=429, retry_after=30)
        with pytest.raises(ExchangeError):
            await c.get_server_time()
        n = len(sim.requests)
        with pytest.raises(ExchangeError) as ei:
            await c.get_server_time()
        assert ei.value.code == -1003 and "not sent" in ei.value.msg
        assert len(sim.requests) == n


async def test_429_without_retry_after_backs_off_exponentially(sim: BinanceSimulator) -> None:
    async with BinanceFuturesClient(
        API_KEY, API_SECRET, base_url=sim.base_url, timeout=1.0, max_backoff_wait=0.0
    ) as c:
        waits = []
        for _ in range(3):
            c._backoff_until = 0.0
            # the simulator always sends Retry-After: feed the answer without it to the mapping
            with pytest.raises(ExchangeError):
                c._raise_for("GET", "/x", 429, {}, {"code": -1003, "msg": "Too many"}, b"")
            waits.append(c._backoff_until - time.monotonic())
        assert c._consecutive_429 == 3
        assert waits[0] < waits[1] < waits[2]
        n = len(sim.requests)
        with pytest.raises(ExchangeError, match="not sent"):
            await c.get_server_time()
        assert len(sim.requests) == n


async def test_418_ban_refuses_locally_until_it_ends(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    sim.faults.rate_limit(count=1, status=418, retry_after=120)
    with pytest.raises(ExchangeError) as ei:
        await client.get_server_time()
    assert ei.value.code == -1003
    n = len(sim.requests)
    for _ in range(3):
        with pytest.raises(ExchangeError) as ei:
            await client.place_order(
                "BTCUSDT", "BUY", "LIMIT", "0.001", price="60000", client_order_id="c-ban"
            )
        assert ei.value.code == -1003 and "banned" in ei.value.msg
    assert len(sim.requests) == n  # nothing reached the exchange during the ban
    assert client.stats["banned_418"] == 1 and client.stats["refused_locally"] == 3


# ------------------------------------------------------------------ secrets


async def test_secrets_never_in_logs_or_exceptions(
    sim: BinanceSimulator, client: BinanceFuturesClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = [repr(client)]
    key = await client.create_listen_key()
    assert key in client._secrets
    sim.faults.lose_reply(path=ORDER, method="POST")
    sim.faults.http_error(status=503, path=ORDER, method="POST")
    sim.faults.http_error(
        status=400, body={"code": -1102, "msg": f"bad signature=abcdef0123 {key}"}, path=ORDER, method="POST"
    )
    sim.clock_offset_ms = -30_000
    for i in range(4):
        try:
            await client.place_order(
                "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id=f"s{i}"
            )
        except ExchangeError as e:
            texts += [str(e), repr(e), e.msg]
            assert e.__cause__ is None
    sim.faults.rate_limit(count=1, status=429, retry_after=0)
    try:
        await client.get_open_orders()
    except ExchangeError as e:
        texts.append(str(e))
    texts.append(caplog.text)
    assert any("-1102" in t for t in texts)
    for t in texts:
        assert_no_secret(t, client)
