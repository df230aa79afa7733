"""Request authentication: API key, HMAC-SHA256 and Ed25519 signatures, timestamp and recvWindow
(docs/binance-protocol.md, "REST signing and limits" and "WebSocket API")."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ._engine import ApiError, missing

RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000


def _illegal_int(name: str) -> ApiError:
    return ApiError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
    )


def strip_signature(raw: str) -> str:
    """REST totalParams without the signature pair, otherwise exactly as sent."""
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def ws_value(value: Any) -> str:
    """A ws-fapi JSON parameter as it appears in the signature payload and in the engine's parameters."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def ws_payload(params: Mapping[str, Any]) -> str:
    """ws-fapi signature payload: every parameter but ``signature``, sorted by name, joined as a query
    string (Binance page "WebSocket API General Info")."""
    return "&".join(f"{k}={ws_value(params[k])}" for k in sorted(params) if k != "signature")


class Auth:
    """The simulated account's credentials: an HMAC key pair and, optionally, an Ed25519 key."""

    def __init__(
        self, api_key: str, api_secret: str, ed25519_api_key: str, ed25519_public_key: Any = None
    ) -> None:
        self.api_key = api_key
        self._secret = api_secret.encode()
        # An Ed25519 key has its own apiKey; its public key is cryptography's Ed25519PublicKey or PEM.
        self.ed25519_api_key = ed25519_api_key
        self.ed25519_public_key = ed25519_public_key

    def check_key(self, key: str | None) -> None:
        if not key or not all(c.isalnum() or c in "-_" for c in key) or len(key) > 128:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if not hmac.compare_digest(key, self.api_key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def check_ws_key(self, key: str) -> None:
        """ws-fapi apiKey: the HMAC key or the Ed25519 key."""
        if key != self.ed25519_api_key:
            self.check_key(key)

    def check_hmac(self, payload: str, signature: str | None) -> None:
        if not signature:
            raise missing("signature")
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")

    def check_ed25519(self, payload: str, signature: str | None) -> None:
        """Base64 Ed25519 signature over the payload, checked with the configured public key."""
        if not signature:
            raise missing("signature")
        key = self._ed25519_key()
        if key is None:
            raise ApiError(-1022, "Signature for this request is not valid.")
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(base64.b64decode(signature, validate=True), payload.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            raise ApiError(-1022, "Signature for this request is not valid.") from None

    def _ed25519_key(self) -> Any:
        key = self.ed25519_public_key
        if key is None or hasattr(key, "verify"):
            return key
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        loaded = load_pem_public_key(key.encode() if isinstance(key, str) else key)
        self.ed25519_public_key = loaded
        return loaded

    @staticmethod
    def parse_timing(params: Mapping[str, str]) -> tuple[int, int]:
        """(timestamp, recvWindow) of a signed request; recvWindow defaults to 5000, at most 60000."""
        ts_raw = params.get("timestamp")
        if not ts_raw:
            raise missing("timestamp")
        if not ts_raw.isdigit():
            raise _illegal_int("timestamp")
        rw_raw = params.get("recvWindow")
        recv_window = RECV_WINDOW_DEFAULT
        if rw_raw:
            if not rw_raw.isdigit():
                raise _illegal_int("recvWindow")
            recv_window = int(rw_raw)
            if recv_window > RECV_WINDOW_MAX:
                raise ApiError(-1131, "recvWindow must be less than 60000")
        return int(ts_raw), recv_window

    @staticmethod
    def check_window(ts: int, recv_window: int, server_time: int) -> None:
        """timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow."""
        if ts >= server_time + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_time - ts > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def generate_ed25519_pair() -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private PEM, public PEM), for tests and the stand-alone sim."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem
