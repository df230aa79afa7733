"""listenKey life cycle, user-stream routes and filters, expiry/drop, server pings, public streams."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client
from .conftest import no_frame, recv_json, recv_until


async def test_listen_key_life_cycle(client: Client, sim: BinanceSimulator) -> None:
    k1 = await client.listen_key()
    assert len(k1) == 64
    assert await client.listen_key() == k1  # POST with an active key returns it
    r = await client.raw("PUT", "/fapi/v1/listenKey")
    assert r.json == {"listenKey": k1}
    r = await client.raw("PUT", "/fapi/v1/listenKey", query="listenKey=nope")
    assert r.json == {"code": -1125, "msg": "This listenKey does not exist."}
    r = await client.raw("DELETE", "/fapi/v1/listenKey")
    assert r.status == 200
    r = await client.raw("PUT", "/fapi/v1/listenKey")
    assert r.json["code"] == -1125
    k2 = await client.listen_key()
    assert k2 != k1


async def test_natural_expiry_and_put_extends(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    sim.listen_key_ttl = 1.2
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    await asyncio.sleep(0.7)
    assert (await client.raw("PUT", "/fapi/v1/listenKey")).status == 200  # extends by ttl
    await asyncio.sleep(0.7)
    assert key in sim.listen_keys  # would have expired without the PUT
    ev = await recv_json(ws, timeout=3)
    assert ev["e"] == "listenKeyExpired" and ev["listenKey"] == key
    await client.limit("BUY", "0.010", "60000")
    assert await no_frame(ws)  # nothing more on an expired key
    with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
        await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    assert exc.value.status == 400
    await ws.close()


async def test_unknown_key_refused(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    for url in (
        f"{sim.ws_url}/private/ws/bogus",
        f"{sim.ws_url}/private/ws?listenKey=bogus",
        f"{sim.ws_url}/private/ws",
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url)


async def test_query_route_with_events_filter(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    key = await client.listen_key()
    only_otu = await session.ws_connect(f"{sim.ws_url}/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE")
    only_acct = await session.ws_connect(f"{sim.ws_url}/private/ws?listenKey={key}&events=ACCOUNT_UPDATE")
    both = await session.ws_connect(
        f"{sim.ws_url}/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE"
    )
    everything = await session.ws_connect(f"{sim.ws_url}/private/ws?listenKey={key}")
    await client.market("BUY", "0.010", newClientOrderId="filt1")
    got = [(await recv_json(only_otu))["e"], (await recv_json(only_otu))["e"]]
    assert got == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE"]
    assert (await recv_json(only_acct))["e"] == "ACCOUNT_UPDATE"
    assert [(await recv_json(both))["e"] for _ in range(3)] == [
        "ORDER_TRADE_UPDATE",
        "ACCOUNT_UPDATE",
        "ORDER_TRADE_UPDATE",
    ]
    assert [(await recv_json(everything))["e"] for _ in range(4)] == [
        "ORDER_TRADE_UPDATE",
        "TRADE_LITE",
        "ACCOUNT_UPDATE",
        "ORDER_TRADE_UPDATE",
    ]
    assert await no_frame(only_acct, 0.2)
    await sim.expire_listen_key()
    assert (await recv_json(only_otu))["e"] == "listenKeyExpired"  # always passes the filter
    for ws in (only_otu, only_acct, both, everything):
        await ws.close()


async def test_combined_private_stream(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/stream?listenKey={key}")
    await client.limit("BUY", "0.010", "60000", newClientOrderId="comb1")
    frame = await recv_json(ws)
    assert frame["stream"] == key and frame["data"]["o"]["c"] == "comb1"
    await ws.close()


async def test_events_carry_big_order_id_exactly(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    r = await client.limit("BUY", "0.010", "60000")
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert f'"i":{r.json["orderId"]}' in msg.data and r.json["orderId"] > 2**53
    await ws.close()


async def test_drop_user_streams(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    assert sim.user_stream_count == 1
    await sim.drop_user_streams()
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
    # the key is still valid: reconnecting works and gets new events
    ws2 = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    await client.limit("BUY", "0.010", "60000", newClientOrderId="afterdrop")
    assert (await recv_json(ws2))["o"]["c"] == "afterdrop"
    await ws2.close()


async def test_server_pings(client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.ws_ping_interval = 0.1
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}", autoping=False)
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type == aiohttp.WSMsgType.PING
    await ws.pong(msg.data)
    await ws.ping(b"hi")
    for _ in range(5):
        msg = await asyncio.wait_for(ws.receive(), 3)
        if msg.type == aiohttp.WSMsgType.PONG:
            break
    assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"hi"
    await ws.close()


async def test_book_ticker_stream(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    ws = await session.ws_connect(f"{sim.ws_url}/public/ws/btcusdt@bookTicker")
    sim.set_price("ETHUSDT", "3600")  # other symbol: nothing
    sim.set_price("BTCUSDT", "65432.1")
    f = await recv_json(ws)
    assert list(f) == ["e", "u", "E", "T", "s", "b", "B", "a", "A"]
    assert (f["e"], f["s"], f["b"], f["a"]) == ("bookTicker", "BTCUSDT", "65432.00", "65432.20")
    assert all(isinstance(f[k], int) for k in ("u", "E", "T"))
    sim.set_price("BTCUSDT", "65432.5")
    g = await recv_json(ws)
    assert g["u"] > f["u"]
    await ws.close()


async def test_public_combined_and_subscribe(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    ws = await session.ws_connect(f"{sim.ws_url}/public/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker")
    sim.set_price("ETHUSDT", "3600")
    f = await recv_json(ws)
    assert f["stream"] == "ethusdt@bookTicker" and f["data"]["s"] == "ETHUSDT"
    await ws.close()
    ws = await session.ws_connect(f"{sim.ws_url}/public/ws")
    await ws.send_str('{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":7}')
    assert await recv_json(ws) == {"result": None, "id": 7}
    sim.set_price("ETHUSDT", "3601")
    assert (await recv_json(ws))["s"] == "ETHUSDT"
    await ws.close()


async def test_mark_price_on_market_route_only(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    market = await session.ws_connect(f"{sim.ws_url}/market/ws/btcusdt@markPrice")
    wrong = await session.ws_connect(f"{sim.ws_url}/market/ws/btcusdt@bookTicker")
    sim.set_price("BTCUSDT", "65100")
    f = await recv_json(market)
    assert f["e"] == "markPriceUpdate" and f["s"] == "BTCUSDT" and f["p"] == "65100.00000000"
    assert await no_frame(wrong, 0.2)  # bookTicker lives on /public since the 2026 split
    await market.close()
    await wrong.close()


async def test_walk_streams_book_tickers(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    ws = await session.ws_connect(f"{sim.ws_url}/public/ws/btcusdt@bookTicker")
    sim.auto_walk = True
    frames = await recv_until(ws, lambda _f: True)
    assert frames[0]["e"] == "bookTicker"
    sim.auto_walk = False
    await ws.close()


async def test_all_market_book_ticker_and_list(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    ws = await session.ws_connect(f"{sim.ws_url}/public/ws/!bookTicker")
    sim.set_price("ETHUSDT", "3600")
    sim.set_price("BTCUSDT", "65000")
    assert [(await recv_json(ws))["s"] for _ in range(2)] == ["ETHUSDT", "BTCUSDT"]
    await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":3}')
    assert await recv_json(ws) == {"result": ["!bookTicker"], "id": 3}
    await ws.send_str("not json")
    assert (await recv_json(ws))["code"] == 2
    await ws.close()


async def test_stop_closes_open_sockets(session: aiohttp.ClientSession) -> None:
    s = BinanceSimulator(seed=3, auto_walk=True, price_interval=0.01)
    await s.start()
    c = Client(s.base_url, session)
    key = await c.listen_key()
    user = await session.ws_connect(f"{s.ws_url}/private/ws/{key}")
    public = await session.ws_connect(f"{s.ws_url}/public/ws/btcusdt@bookTicker")
    await s.stop()
    for ws in (user, public):
        for _ in range(200):  # drain frames already sent, bounded
            msg = await asyncio.wait_for(ws.receive(), 3)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    with pytest.raises(aiohttp.ClientConnectorError):
        await c.public("/fapi/v1/ping")
