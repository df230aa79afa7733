"""Credentials: one error type (ExchangeAuthError) for a missing key or secret, raised when the client
is built, naming both environment variables and never a secret; the exchange's own refusals of a
key or signature (checked over a real socket against the simulator) are the same type."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from trading_engine_python.exchange import BinanceFuturesClient, ExchangeAuthError, ExchangeError
from trading_engine_python.sim import BinanceSimulator

KEY = "AKcredTEST1234567890"
SECRET = "SEcredTEST0987654321"


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    monkeypatch.delenv("BINANCE_API_SECRET", raising=False)


@pytest.mark.parametrize(
    ("key", "secret", "missing"),
    [
        (None, None, ["BINANCE_API_KEY", "BINANCE_API_SECRET"]),
        (KEY, None, ["BINANCE_API_SECRET"]),
        (None, SECRET, ["BINANCE_API_KEY"]),
        ("", SECRET, ["BINANCE_API_KEY"]),
        (KEY, "", ["BINANCE_API_SECRET"]),
    ],
)
def test_missing_credentials_refused_at_construction(
    key: str | None, secret: str | None, missing: list[str]
) -> None:
    with pytest.raises(ExchangeAuthError) as ei:
        BinanceFuturesClient(key, secret)
    text = str(ei.value)
    # The message always tells both variable names (how to fix it), and says which is missing.
    assert "BINANCE_API_KEY" in text and "BINANCE_API_SECRET" in text
    assert f"{' and '.join(missing)} not set" in text
    for given in (key, secret):
        if given:
            assert given not in text and given not in repr(ei.value)
    assert isinstance(ei.value, ExchangeError)


def test_missing_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    with pytest.raises(ExchangeAuthError, match="BINANCE_API_SECRET not set") as ei:
        BinanceFuturesClient()
    assert KEY not in str(ei.value)


def test_environment_credentials_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", SECRET)
    c = BinanceFuturesClient()
    assert KEY not in repr(c) and SECRET not in repr(c)


def test_private_key_replaces_the_secret() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    BinanceFuturesClient(KEY, private_key=ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ExchangeAuthError, match="BINANCE_API_KEY not set"):
        BinanceFuturesClient(private_key=ed25519.Ed25519PrivateKey.generate())


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(api_key=KEY, api_secret=SECRET, seed=0, auto_walk=False)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.mark.parametrize(
    ("key", "secret", "code"), [("AKsomeoneelse123", SECRET, -2015), (KEY, "bad", -1022)]
)
async def test_exchange_refusals_are_auth_errors(
    sim: BinanceSimulator, key: str, secret: str, code: int
) -> None:
    async with BinanceFuturesClient(key, secret, base_url=sim.base_url, timeout=2.0) as c:
        with pytest.raises(ExchangeAuthError) as ei:
            await c.get_open_orders("BTCUSDT")
    assert ei.value.code == code
    assert SECRET not in str(ei.value) and key not in str(ei.value)
