"""API keys of the replay exchange: the keys file and Coinbase CDP JWT verification.

ccxt 4.5 signs every private Advanced Trade call of a CDP key (``organizations/{org}/apiKeys/
{id}`` with an EC private key in PEM) with a fresh ES256 JWT in ``Authorization: Bearer``:
header ``{"alg": "ES256", "kid": <key name>, "nonce": ...}``, claims ``sub`` = key name,
``iss`` = ``coinbase-cloud`` (``cdp`` from Coinbase's own SDK), ``aud`` = ``["retail_rest_api_
proxy"]``, ``nbf``/``iat`` = now, ``exp`` = now + 120 s, ``uri`` = ``"<METHOD> <host><path>"``.
The replay checks all of it against the key's *public* key; the private keys never reach the
replay (they live in the key owner's config, see ``keys.py``).

Keys file (JSON; ``--keys``)::

    {"accounts": {"demo": {"balances": {"USD": "10000"}, "fee_tier": {"taker": "0.006",
                                                                      "maker": "0.004"}}},
     "keys": [{"name": "organizations/<org>/apiKeys/<id>", "account": "demo",
               "public_key": "<PEM public key>"}]}

Several keys may map to one account (a fleet of bots on one Coinbase account). ``fee_tier`` is
optional (default: Coinbase's volume tiers).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from trader247.replay.engine import FeeTier

AUDIENCES = ("retail_rest_api_proxy", "cdp_service")
ISSUERS = ("coinbase-cloud", "cdp")
LEEWAY_S = 30.0


class KeysError(ValueError):
    """A bad keys file; the message names the file and the key path."""


class AuthError(Exception):
    """A request that Coinbase would answer with 401 (the reason is for the replay's log)."""


@dataclass(frozen=True)
class AccountSetup:
    balances: dict[str, Decimal]
    fee_tier: FeeTier | None = None


@dataclass
class KeyRing:
    """Key name -> (account, public key); accounts with their opening balances."""

    keys: dict[str, tuple[str, ec.EllipticCurvePublicKey]] = field(default_factory=dict)
    accounts: dict[str, AccountSetup] = field(default_factory=dict)

    def account_of(self, token: str, method: str, path: str, now: float) -> str:
        """Verify a CDP JWT for ``method path`` at ``now``; returns the key's account."""
        header, claims, signing_input, signature = _split(token)
        name = str(header.get("kid"))
        entry = self.keys.get(name)
        if entry is None:
            raise AuthError(f"unknown key {name!r}")
        account, public_key = entry
        if header.get("alg") != "ES256":
            raise AuthError(f"{name}: alg {header.get('alg')!r}, expected ES256")
        if len(signature) != 64:
            raise AuthError(f"{name}: an ES256 signature is 64 bytes, got {len(signature)}")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                   int.from_bytes(signature[32:], "big"))
        try:
            public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AuthError(f"{name}: bad signature") from None
        _check_claims(claims, name, method, path, now)
        return account


def _b64(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, binascii.Error):
        raise AuthError("not a JWT: bad base64") from None


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed bytes, signature) of a compact JWS, not yet verified.

    Hand-rolled rather than PyJWT's ``decode``: PyJWT validates base64 character by character
    in Python, which cost ~4 ms a request -- the replay's largest cost per order.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("not a JWT: expected three segments")
    try:
        header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    except ValueError:
        raise AuthError("not a JWT: header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("not a JWT: header and claims must be objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2])


def _check_claims(claims: dict[str, Any], name: str, method: str, path: str,
                  now: float) -> None:
    if claims.get("sub") != name:
        raise AuthError(f"{name}: sub {claims.get('sub')!r} is not the key name")
    if claims.get("iss") not in ISSUERS:
        raise AuthError(f"{name}: iss {claims.get('iss')!r}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not any(a in AUDIENCES for a in audiences):
        raise AuthError(f"{name}: aud {audience!r}")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if not isinstance(nbf, int | float) or not isinstance(exp, int | float):
        raise AuthError(f"{name}: nbf and exp are required")
    # time claims against the replay's clock (tests run it on a fake one)
    if nbf > now + LEEWAY_S:
        raise AuthError(f"{name}: token not valid yet (nbf {nbf}, now {now:.0f})")
    if exp < now - LEEWAY_S:
        raise AuthError(f"{name}: token expired (exp {exp}, now {now:.0f})")
    uri, uris = claims.get("uri"), claims.get("uris")
    candidates = [uri] if isinstance(uri, str) else (uris if isinstance(uris, list) else [])
    if not any(_uri_matches(str(c), method, path) for c in candidates):
        raise AuthError(f"{name}: uri {candidates!r} does not sign {method} {path}")


def _uri_matches(uri: str, method: str, path: str) -> bool:
    """``"GET api.coinbase.com/api/v3/..."``: the method and path of this very request."""
    verb, _, target = uri.partition(" ")
    target = target.split("?", 1)[0]
    if verb.upper() != method or not target.endswith(path):
        return False
    # ccxt strips only "https://" from the URL, so a loopback replay sees "http://host:port"
    host = target[: len(target) - len(path)].split("://", 1)[-1]
    return "/" not in host


def _decimal(value: Any, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise KeysError(f"{where}: expected a number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise KeysError(f"{where}: expected a number >= 0, got {value!r}")
    return amount


def parse_fee_tier(raw: Any, where: str) -> FeeTier | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"taker", "maker", "pricing_tier"} or not {
            "taker", "maker"} <= set(raw):
        raise KeysError(f"{where}: expected {{taker: rate, maker: rate}}, got {raw!r}")
    taker, maker = _decimal(raw["taker"], f"{where}.taker"), _decimal(raw["maker"],
                                                                     f"{where}.maker")
    if taker >= 1 or maker >= 1:
        raise KeysError(f"{where}: fee rates are fractions (0.006 = 0.6 %), got {raw!r}")
    return FeeTier(str(raw.get("pricing_tier", "Replay fixed")), Decimal(0), None, taker, maker)


def parse_balances(raw: Any, where: str) -> dict[str, Decimal]:
    if not isinstance(raw, Mapping):
        raise KeysError(f"{where}: expected a mapping of currency -> amount, got {raw!r}")
    out: dict[str, Decimal] = {}
    for code, amount in raw.items():
        if not isinstance(code, str) or not code.isalnum():
            raise KeysError(f"{where}: {code!r} is not a currency code")
        out[code.upper()] = _decimal(amount, f"{where}.{code}")
    return out


def _accounts(raw: Any, source: str) -> dict[str, AccountSetup]:
    if not isinstance(raw, Mapping):
        raise KeysError(f"{source}: accounts: expected a mapping")
    out: dict[str, AccountSetup] = {}
    for name, setup in raw.items():
        where = f"{source}: accounts.{name}"
        if not isinstance(setup, Mapping) or set(setup) - {"balances", "fee_tier"}:
            raise KeysError(f"{where}: expected {{balances: {{...}}, fee_tier: ...}}")
        out[str(name)] = AccountSetup(parse_balances(setup.get("balances", {}),
                                                     f"{where}.balances"),
                                      parse_fee_tier(setup.get("fee_tier"), f"{where}.fee_tier"))
    return out


def parse_keys(raw: Any, source: str) -> KeyRing:
    if not isinstance(raw, Mapping) or set(raw) - {"accounts", "keys"}:
        raise KeysError(f"{source}: expected an object with 'accounts' and 'keys'")
    ring = KeyRing(accounts=_accounts(raw.get("accounts", {}), source))
    keys = raw.get("keys", [])
    if not isinstance(keys, list):
        raise KeysError(f"{source}: keys: expected a list")
    for i, entry in enumerate(keys):
        where = f"{source}: keys[{i}]"
        if not isinstance(entry, Mapping) or set(entry) != {"name", "account", "public_key"}:
            raise KeysError(f"{where}: expected {{name, account, public_key}}")
        name, account = str(entry["name"]), str(entry["account"])
        if name in ring.keys:
            raise KeysError(f"{where}.name: {name!r} appears twice")
        try:
            public_key = load_pem_public_key(str(entry["public_key"]).encode())
        except (ValueError, TypeError) as exc:
            raise KeysError(f"{where}.public_key: not a PEM public key ({exc})") from None
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != (
                "secp256r1"):
            raise KeysError(f"{where}.public_key: expected a P-256 (ES256) EC key")
        ring.keys[name] = (account, public_key)
        ring.accounts.setdefault(account, AccountSetup({}))
    return ring


def load_keys(path: Path | str) -> KeyRing:
    path = Path(path)
    source = f"keys file {path}"
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise KeysError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise KeysError(f"{source}: not valid JSON: {exc}") from None
    return parse_keys(raw, source)
