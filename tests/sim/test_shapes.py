"""Every endpoint's JSON shape against the samples in tests/data (keys and value types)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from trading_engine_python.sim import BinanceSimulator

from .._data import load_json
from ._client import Client
from .conftest import recv_json, recv_until

TRAILING_ONLY = {"activatePrice", "priceRate"}  # only on TRAILING_STOP_MARKET orders


def same_types(actual: dict[str, Any], sample: dict[str, Any], skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for key, value in sample.items():
        if key in skip:
            continue
        assert key in actual, f"missing {key}"
        assert type(actual[key]) is type(value), f"{key}: {actual[key]!r} vs sample {value!r}"


def decimal_strings(obj: dict[str, Any], keys: list[str]) -> None:
    for k in keys:
        assert isinstance(obj[k], str)
        Decimal(obj[k])  # parses exactly


async def test_post_order_shape(client: Client) -> None:
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="shape1")
    sample = load_json("docs-examples/rest_post_order_response.json")
    assert set(r.json) == set(sample)
    same_types(r.json, sample)
    assert r.json["orderId"] > 2**53
    assert r.json["price"] == "60000.00" and r.json["origQty"] == "0.010"
    decimal_strings(
        r.json, ["cumQty", "cumQuote", "executedQty", "avgPrice", "origQty", "price", "stopPrice"]
    )
    # the real ccxt batch item has the same key set as the docs example
    real = load_json("rest/post_batchOrders_response_real_ccxt_static.json")[0]
    assert set(r.json) == set(real)
    same_types(r.json, real)


async def test_get_order_and_open_orders_shape(client: Client) -> None:
    await client.limit("BUY", "0.010", "60000", newClientOrderId="shape2")
    r = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="shape2")
    sample = load_json("docs-examples/rest_get_order_response.json")
    open_sample = load_json("docs-examples/rest_get_openOrders_response.json")[0]
    assert set(r.json) == set(open_sample) - TRAILING_ONLY
    same_types(r.json, sample, TRAILING_ONLY)
    same_types(r.json, open_sample, TRAILING_ONLY)
    r2 = await client.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT")
    assert isinstance(r2.json, list) and r2.json == [r.json]
    r3 = await client.signed("GET", "/fapi/v1/openOrder", symbol="BTCUSDT", origClientOrderId="shape2")
    assert r3.json == r.json
    r4 = await client.signed("GET", "/fapi/v1/allOrders", symbol="BTCUSDT")
    assert r4.json == [r.json]


async def test_delete_order_shape(client: Client) -> None:
    placed = await client.limit("BUY", "0.010", "60000")
    r = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=placed.json["orderId"])
    sample = load_json("docs-examples/rest_delete_order_response.json")
    assert set(r.json) == set(sample) - TRAILING_ONLY
    same_types(r.json, sample, TRAILING_ONLY)
    assert r.json["status"] == "CANCELED"


async def test_put_order_shape(client: Client) -> None:
    placed = await client.limit("BUY", "0.010", "60000")
    r = await client.signed(
        "PUT",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        orderId=placed.json["orderId"],
        side="BUY",
        quantity="0.020",
        price="60001",
    )
    sample = load_json("docs-examples/rest_put_order_response.json")
    assert set(sample) <= set(r.json)
    same_types(r.json, sample)
    assert r.json["origQty"] == "0.020" and r.json["price"] == "60001.00"


async def test_cancel_all_shape(client: Client) -> None:
    await client.limit("BUY", "0.010", "60000")
    r = await client.signed("DELETE", "/fapi/v1/allOpenOrders", symbol="BTCUSDT")
    assert r.json == load_json("docs-examples/rest_delete_allOpenOrders_response.json")


async def test_batch_orders_shape(client: Client) -> None:
    import orjson

    batch = [
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "60000",
        },
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "70000",
            "reduceOnly": "true",
        },
    ]
    r = await client.signed("POST", "/fapi/v1/batchOrders", batchOrders=orjson.dumps(batch).decode())
    sample = load_json("docs-examples/rest_post_batchOrders_response_with_error_item.json")
    assert set(r.json[0]) == set(sample[0])
    same_types(r.json[0], sample[0])
    assert r.json[1] == sample[1]  # {"code":-2022,"msg":"ReduceOnly Order is rejected."}
    ids = orjson.dumps([r.json[0]["orderId"], 12345]).decode()
    d = await client.signed("DELETE", "/fapi/v1/batchOrders", symbol="BTCUSDT", orderIdList=ids)
    assert d.json[0]["status"] == "CANCELED" and d.json[0]["orderId"] == r.json[0]["orderId"]
    assert d.json[1] == {"code": -2011, "msg": "Unknown order sent."}


async def test_listen_key_shapes(client: Client) -> None:
    r = await client.raw("POST", "/fapi/v1/listenKey")
    sample = load_json("docs-examples/rest_post_listenKey_response.json")
    assert set(r.json) == set(sample) and len(r.json["listenKey"]) == len(sample["listenKey"])
    r2 = await client.raw("PUT", "/fapi/v1/listenKey")
    assert set(r2.json) == set(load_json("docs-examples/rest_put_listenKey_response.json"))
    r3 = await client.raw("DELETE", "/fapi/v1/listenKey")
    assert (r3.status, r3.json) == (200, {})


async def test_exchange_info_filters(client: Client) -> None:
    r = await client.public("/fapi/v1/exchangeInfo")
    info = r.json
    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    by = {s["symbol"]: s for s in info["symbols"]}
    assert set(by) == {"BTCUSDT", "ETHUSDT"}
    btc = {f["filterType"]: f for f in by["BTCUSDT"]["filters"]}
    assert Decimal(btc["PRICE_FILTER"]["tickSize"]) == Decimal("0.1")
    assert Decimal(btc["LOT_SIZE"]["stepSize"]) == Decimal("0.001")
    assert {"MARKET_LOT_SIZE", "MIN_NOTIONAL", "PERCENT_PRICE"} <= set(btc)
    assert "notional" in btc["MIN_NOTIONAL"]
    assert set(btc["PERCENT_PRICE"]) == {"filterType", "multiplierUp", "multiplierDown", "multiplierDecimal"}
    eth = {f["filterType"]: f for f in by["ETHUSDT"]["filters"]}
    assert Decimal(eth["PRICE_FILTER"]["tickSize"]) == Decimal("0.01")
    assert by["BTCUSDT"]["contractType"] == "PERPETUAL" and by["BTCUSDT"]["marginAsset"] == "USDT"


async def test_market_data_endpoints(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await client.public("/fapi/v1/ping")
    assert r.json == {}
    r = await client.public("/fapi/v1/time")
    assert isinstance(r.json["serverTime"], int)
    for path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"):
        r = await client.public(path, symbol="BTCUSDT")
        assert r.json["symbol"] == "BTCUSDT" and Decimal(r.json["price"]) == 65000
        assert isinstance(r.json["time"], int)
        r = await client.public(path)
        assert {x["symbol"] for x in r.json} == {"BTCUSDT", "ETHUSDT"}
    r = await client.public("/fapi/v1/ticker/bookTicker", symbol="BTCUSDT")
    assert Decimal(r.json["bidPrice"]) == Decimal("64999.9") and Decimal(r.json["askPrice"]) == Decimal(
        "65000.1"
    )
    assert {"bidQty", "askQty", "time", "lastUpdateId"} <= set(r.json)
    r = await client.public("/fapi/v1/ticker/24hr", symbol="ETHUSDT")
    assert {"priceChange", "lastPrice", "volume", "quoteVolume", "openTime", "closeTime", "count"} <= set(
        r.json
    )
    r = await client.public("/fapi/v1/depth", symbol="BTCUSDT", limit=5)
    assert len(r.json["bids"]) == 5 and len(r.json["asks"]) == 5 and isinstance(r.json["lastUpdateId"], int)
    assert Decimal(r.json["bids"][0][0]) < Decimal(r.json["asks"][0][0])
    r = await client.public("/fapi/v1/depth", symbol="BTCUSDT", limit=7)
    assert r.json["code"] == -4021
    r = await client.public("/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert Decimal(r.json["markPrice"]) == 65000 and isinstance(r.json["nextFundingTime"], int)


async def test_account_endpoints(client: Client) -> None:
    for path in ("/fapi/v2/balance", "/fapi/v3/balance"):
        r = await client.signed("GET", path)
        assert r.json[0]["asset"] == "USDT" and Decimal(r.json[0]["balance"]) == 10000
    for path in ("/fapi/v2/account", "/fapi/v3/account"):
        r = await client.signed("GET", path)
        assert {"assets", "positions", "totalWalletBalance", "availableBalance"} <= set(r.json)
    r = await client.signed("GET", "/fapi/v2/positionRisk", symbol="BTCUSDT")
    assert r.json[0]["positionSide"] == "BOTH" and r.json[0]["positionAmt"] == "0.000"
    r = await client.signed("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=10)
    assert r.json == {"leverage": 10, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}
    r = await client.signed("POST", "/fapi/v1/marginType", symbol="BTCUSDT", marginType="CROSSED")
    assert r.json["code"] == -4046
    r = await client.signed("GET", "/fapi/v1/positionSide/dual")
    assert r.json == {"dualSidePosition": False}
    r = await client.signed("GET", "/fapi/v1/rateLimit/order")
    assert {x["interval"] for x in r.json} == {"SECOND", "MINUTE"}


async def test_user_stream_event_shapes(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    key = await client.listen_key()
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")
    try:
        await client.limit("BUY", "0.010", "64000", newClientOrderId="evshape")
        new = await recv_json(ws)
        sample = load_json("docs-examples/ws_order_trade_update.json")
        assert list(new) == ["e", "E", "T", "o"] and new["e"] == "ORDER_TRADE_UPDATE"
        same_types(new, sample)
        # every key of the docs example except the trailing-stop-only AP/cr
        assert set(new["o"]) == set(sample["o"]) - {"AP", "cr"}
        same_types(new["o"], sample["o"], {"AP", "cr"})
        sim.set_price("BTCUSDT", "63990")
        frames = await recv_until(ws, lambda e: e.get("e") == "ORDER_TRADE_UPDATE")
        lite, acct, trade = frames
        tl_sample = load_json("docs-examples/ws_trade_lite.json")
        assert set(lite) == set(tl_sample)
        same_types(lite, tl_sample)
        acc_sample = load_json("docs-examples/ws_account_update.json")
        assert set(acct) == set(acc_sample) and set(acct["a"]) == set(acc_sample["a"])
        assert set(acct["a"]["B"][0]) == set(acc_sample["a"]["B"][0])
        assert set(acct["a"]["P"][0]) == set(acc_sample["a"]["P"][0])
        same_types(acct["a"]["P"][0], acc_sample["a"]["P"][0])
        assert set(trade["o"]) == set(sample["o"]) - {"AP", "cr"}
        same_types(trade["o"], sample["o"], {"AP", "cr"})
        # real maker fill (ccxt #18051) has the same types for the trade-only fields
        real = load_json("ws/otu_o_only_real_ccxt_issue_18051_testnet_trade_filled_maker.jsonl")
        same_types(trade["o"], real)
        await sim.expire_listen_key()
        exp = await recv_json(ws)
        exp_sample = load_json("docs-examples/ws_listen_key_expired.json")
        assert set(exp) == set(exp_sample) and type(exp["E"]) is int and exp["listenKey"] == key
    finally:
        await ws.close()
