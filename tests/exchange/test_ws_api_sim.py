"""WsApiClient over real loopback sockets against the project's simulator (its ws-fapi endpoint)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from trading_engine_python.exchange import BinanceFuturesClient, ExchangeError, ExchangeTimeout
from trading_engine_python.exchange.ws_api import WsApiClient
from trading_engine_python.sim import BinanceSimulator

API_KEY = "AKwsSIM1234567890apikey"
API_SECRET = "SEwsSIM0987654321apisecret"
ED_KEY = "EDwsSIM1234567890edkey"


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(
        api_key=API_KEY, api_secret=API_SECRET, ed25519_api_key=ED_KEY, seed=0, auto_walk=False
    )
    await s.start()
    yield s
    await s.stop()


def _fast(c: BinanceFuturesClient, url: str) -> WsApiClient:
    # Short reconnect back-off so that the reconnect tests do not wait seconds.
    c._ws_api = WsApiClient(c, url, backoff_base=0.01, backoff_max=0.05)
    return c._ws_api


@pytest.fixture
async def ed_client(sim: BinanceSimulator) -> AsyncIterator[BinanceFuturesClient]:
    c = BinanceFuturesClient(
        ED_KEY,
        None,
        private_key=sim.ed25519_private_key_pem,
        base_url=sim.base_url,
        ws_api_url=sim.ws_api_url,
        timeout=2.0,
    )
    _fast(c, sim.ws_api_url)
    yield c
    await c.close()


@pytest.fixture
async def hmac_client(sim: BinanceSimulator) -> AsyncIterator[BinanceFuturesClient]:
    c = BinanceFuturesClient(
        API_KEY, API_SECRET, base_url=sim.base_url, ws_api_url=sim.ws_api_url, timeout=2.0
    )
    _fast(c, sim.ws_api_url)
    yield c
    await c.close()


def below(sim: BinanceSimulator, ticks: int = 1000) -> str:
    return str(sim.price("BTCUSDT") - Decimal("0.1") * ticks)


async def lifecycle(sim: BinanceSimulator, ws: WsApiClient, cid: str) -> None:
    px = below(sim)
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.010", price=px, client_order_id=cid)
    assert r["status"] == "NEW" and r["clientOrderId"] == cid and type(r["orderId"]) is int
    held = sim.orders_by_client_id(cid)
    assert held is not None and held["orderId"] == r["orderId"] and r["orderId"] > 2**53
    new_px = below(sim, 400)
    m = await ws.modify_order("BTCUSDT", "BUY", "0.020", new_px, client_order_id=cid)
    assert m["orderId"] == r["orderId"]
    assert Decimal(m["price"]) == Decimal(new_px) and Decimal(m["origQty"]) == Decimal("0.020")
    held = sim.orders_by_client_id(cid)
    assert held is not None and Decimal(held["price"]) == Decimal(new_px)
    q = await ws.get_order("BTCUSDT", client_order_id=cid)
    assert q["status"] == "NEW" and Decimal(q["origQty"]) == Decimal("0.020")
    c = await ws.cancel_order("BTCUSDT", client_order_id=cid)
    assert c["status"] == "CANCELED" and sim.open_orders() == []
    with pytest.raises(ExchangeError) as ei:
        await ws.cancel_order("BTCUSDT", client_order_id=cid)
    assert ei.value.code == -2011 and not isinstance(ei.value, ExchangeTimeout)


# ------------------------------------------------------------------ signing and logon


async def test_ed25519_logon_then_orders(sim: BinanceSimulator, ed_client: BinanceFuturesClient) -> None:
    ws = await ed_client.start_ws_api()
    assert ws.logon and ws.connected
    await lifecycle(sim, ws, "we-1")
    assert sim.ws_requests == [
        "session.logon",
        "order.place",
        "order.modify",
        "order.status",
        "order.cancel",
        "order.cancel",
    ]
    assert ("POST", "/fapi/v1/order") not in sim.requests  # orders went over the websocket only
    assert ws.stats["logons"] == 1 and ws.stats["connects"] == 1


async def test_hmac_signs_each_request(sim: BinanceSimulator, hmac_client: BinanceFuturesClient) -> None:
    ws = hmac_client.ws_api
    assert not ws.logon
    await lifecycle(sim, ws, "wh-1")
    assert "session.logon" not in sim.ws_requests and sim.ws_requests[0] == "order.place"


async def test_ed25519_per_request_signing_without_logon(
    sim: BinanceSimulator, ed_client: BinanceFuturesClient
) -> None:
    ws = _fast(ed_client, sim.ws_api_url)
    ws.logon = False
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wn-1")
    assert r["status"] == "NEW" and sim.ws_requests == ["order.place"]


async def test_wrong_secret_is_a_definite_1022(sim: BinanceSimulator) -> None:
    c = BinanceFuturesClient(API_KEY, "not-the-secret", base_url=sim.base_url, ws_api_url=sim.ws_api_url)
    try:
        with pytest.raises(ExchangeError) as ei:
            await c.ws_api.place_order(
                "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wx-1"
            )
        assert ei.value.code == -1022 and not isinstance(ei.value, ExchangeTimeout)
        assert sim.open_orders() == []
    finally:
        await c.close()


async def test_failed_logon_refuses_requests_definitely(sim: BinanceSimulator) -> None:
    from trading_engine_python.sim._auth import generate_ed25519_pair

    other_private, _ = generate_ed25519_pair()  # not the key the simulator knows
    c = BinanceFuturesClient(
        ED_KEY, None, private_key=other_private, base_url=sim.base_url, ws_api_url=sim.ws_api_url, timeout=0.5
    )
    ws = _fast(c, sim.ws_api_url)
    try:
        with pytest.raises(ExchangeError) as ei:
            await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wl-1")
        assert not isinstance(ei.value, ExchangeTimeout) and ei.value.code == -1
        assert "session.logon failed" in str(ei.value) and "-1022" in str(ei.value)
        assert "order.place" not in sim.ws_requests and ws.stats["logon_failures"] >= 1
    finally:
        await c.close()


# ------------------------------------------------------------------ unknown outcomes and reconnects


async def test_drop_after_processing_is_unknown_then_resolved_and_relogged(
    sim: BinanceSimulator, ed_client: BinanceFuturesClient
) -> None:
    ws = await ed_client.start_ws_api()
    sim.faults.ws_drop("order.place", process=True)
    with pytest.raises(ExchangeTimeout) as ei:
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wd-1")
    assert "outcome unknown" in str(ei.value)
    assert sim.orders_by_client_id("wd-1") is not None  # it was carried out
    # The next request waits for the new connection and its logon; the status query resolves it.
    q = await ws.get_order("BTCUSDT", client_order_id="wd-1")
    assert q["status"] == "NEW"
    assert sim.ws_requests == ["session.logon", "order.place", "session.logon", "order.status"]
    assert ws.stats["disconnects"] == 1 and ws.stats["logons"] == 2


async def test_drop_before_processing_is_unknown_too(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    ws = hmac_client.ws_api
    await ws.start()
    sim.faults.ws_drop("order.place", process=False)
    with pytest.raises(ExchangeTimeout):
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wd-2")
    with pytest.raises(ExchangeError) as ei:
        await ws.get_order("BTCUSDT", client_order_id="wd-2")
    assert ei.value.code == -2013 and sim.ws_requests.count("order.place") == 1  # never re-sent


async def test_idle_drop_reconnects_and_logs_on_again(
    sim: BinanceSimulator, ed_client: BinanceFuturesClient
) -> None:
    ws = await ed_client.start_ws_api()
    await sim.drop_ws_api()
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wi-1")
    assert r["status"] == "NEW"
    assert sim.ws_requests == ["session.logon", "session.logon", "order.place"]


async def test_reconnect_keeps_in_flight_answers(
    sim: BinanceSimulator, ed_client: BinanceFuturesClient
) -> None:
    ws = await ed_client.start_ws_api()
    sim.faults.latency = 0.3  # the place is in flight while the connection is replaced
    placing = asyncio.ensure_future(
        ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wr-1")
    )
    while "order.place" not in sim.ws_requests:
        await asyncio.sleep(0.005)
    await ws.reconnect()
    assert (await placing)["clientOrderId"] == "wr-1"
    assert ws.stats["unknown_outcomes"] == 0 and ws.stats["logons"] == 2
    assert sim.ws_requests == ["session.logon", "order.place", "session.logon"]


async def test_pings_are_answered(sim: BinanceSimulator, hmac_client: BinanceFuturesClient) -> None:
    sim.ws_ping_interval = 0.02
    ws = hmac_client.ws_api
    await ws.start()
    (conn,) = sim.ws_api.conns
    first = conn.last_pong
    for _ in range(500):
        if conn.last_pong > first:
            break
        await asyncio.sleep(0.01)
    assert conn.last_pong > first
    assert ws.connected and ws.stats["disconnects"] == 0


# ------------------------------------------------------------------ error mapping, clock, limits


@pytest.mark.parametrize(
    ("code", "status", "process", "unknown"),
    [
        (-2019, 400, False, False),
        (-1001, 400, False, False),
        (-1007, 408, True, True),
        (-1006, 400, True, True),
    ],
)
async def test_error_answers_map_like_rest(
    sim: BinanceSimulator,
    hmac_client: BinanceFuturesClient,
    code: int,
    status: int,
    process: bool,
    unknown: bool,
) -> None:
    sim.faults.ws_error(
        code=code, msg="from the fault switch", status=status, method="order.place", process=process
    )
    with pytest.raises(ExchangeError) as ei:
        await hmac_client.ws_api.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="we-x"
        )
    assert ei.value.code == code and isinstance(ei.value, ExchangeTimeout) is unknown
    assert (sim.orders_by_client_id("we-x") is not None) is process


async def test_exchange_refusals_are_definite(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    ws = hmac_client.ws_api
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wf-1")
    with pytest.raises(ExchangeError) as ei:
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wf-1")
    assert ei.value.code == -4116 and not isinstance(ei.value, ExchangeTimeout)
    with pytest.raises(ExchangeError) as ei:
        await ws.get_order("BTCUSDT", client_order_id="wf-none")
    assert ei.value.code == -2013


async def test_clock_jump_resyncs_and_retries_once(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    ws = hmac_client.ws_api
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wc-1")
    syncs = hmac_client.stats["time_syncs"]
    sim.clock_offset_ms = -20_000  # our timestamps are now 20 s ahead: -1021
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wc-2")
    assert r["clientOrderId"] == "wc-2"
    assert hmac_client.stats["time_syncs"] == syncs + 1
    assert sim.ws_requests.count("order.place") == 3


async def test_rate_limits_from_answers_feed_the_shared_windows(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    # Put the venue clock just past a minute boundary so that the whole test sits in one 1-minute
    # order window (Binance's windows are fixed, on the server clock).
    sim.clock_offset_ms = 60_000 - sim.now_ms() % 60_000 + 50
    ws = hmac_client.ws_api
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wq-0")
    assert hmac_client._orders_10s.limit == 300
    # Another client on the same account places 5 orders this client cannot have counted, and the
    # venue's limit changes after exchangeInfo was read: only the next answer's rateLimits tell.
    async with BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url) as other:
        for i in range(5):
            await other.place_order(
                "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id=f"wq-o{i}"
            )
    sim.limits = {**sim.limits, "orders_10s": 40}
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wq-1")
    assert hmac_client._orders_10s.limit == 40
    # Counted locally: 2 orders; seen in the answer: all 7 of the account.
    assert hmac_client._orders_1m.count == 7


async def test_refused_locally_while_backing_off(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    hmac_client.max_backoff_wait = 0.0
    hmac_client._backoff_until = time.monotonic() + 60  # as after a 429 on either API
    with pytest.raises(ExchangeError, match="backing off"):
        await hmac_client.ws_api.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="wb-1"
        )
    assert "order.place" not in sim.ws_requests


# ------------------------------------------------------------------ secrets


async def test_secrets_stay_out_of_logs_and_errors(
    sim: BinanceSimulator, ed_client: BinanceFuturesClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = await ed_client.start_ws_api()
    texts: list[str] = []
    sim.faults.ws_error(code=-2015, msg=f"Invalid API-key {ED_KEY}", status=401, method="order.place")
    sim.faults.ws_drop("order.cancel")
    for coro in (
        ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="ws-1"),
        ws.cancel_order("BTCUSDT", client_order_id="ws-1"),
    ):
        with pytest.raises(ExchangeError) as ei:
            await coro
        texts += [str(ei.value), repr(ei.value)]
    blob = "\n".join([caplog.text, *texts, repr(ws), repr(ed_client)])
    assert ED_KEY not in blob and "PRIVATE KEY" not in blob
    pem_body = "".join(sim.ed25519_private_key_pem.splitlines()[1:-1])
    assert pem_body not in blob


async def test_order_place_carries_self_trade_prevention(
    sim: BinanceSimulator, hmac_client: BinanceFuturesClient
) -> None:
    r = await hmac_client.ws_api.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim),
                                             client_order_id="ws-stp", self_trade_prevention="EXPIRE_TAKER")
    assert r["selfTradePreventionMode"] == "EXPIRE_TAKER"
    assert sim.orders_by_client_id("ws-stp")["selfTradePreventionMode"] == "EXPIRE_TAKER"  # type: ignore[index]
