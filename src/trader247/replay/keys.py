"""Local demo API keys for the replay exchange (never committed; generated at set-up).

``python -m trader247.replay.keys --dir user_data/replay-keys --account demo --keys 3
--balance USD=10000`` writes, in that directory:

- ``keys.json``: the *public* keys file the replay loads (``--keys``), see ``auth.py``;
- ``<account>-<n>.json`` (mode 0600): a freqtrade config fragment with the key, passed as an
  extra ``-c``: ``{"exchange": {"key": "organizations/<org>/apiKeys/<id>", "secret": "<EC
  private key PEM>"}}``. That is exactly what a real Coinbase CDP key looks like to freqtrade
  and ccxt: ``key`` is the key *name*, ``secret`` the PEM with its line breaks (``\\n`` in
  JSON); ccxt recognises the CDP key by ``organizations/`` and signs ES256 JWTs with it.

An existing set is reused (the same keys on every demo start) unless ``--force``; a set that
lacks an account or key asked for is extended. The org id is fixed per directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from trader247.replay.auth import KeysError, load_keys, parse_balances

KEYS_FILE = "keys.json"


@dataclass(frozen=True)
class DemoKey:
    label: str  # "<account>-<n>"
    name: str  # the API key name (ccxt apiKey / freqtrade exchange.key)
    account: str
    config: Path  # freqtrade config fragment holding key and secret


def _pem_pair() -> tuple[str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


def _write_private(path: Path, data: Mapping[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(path, 0o600)


def ensure_keys(directory: Path, accounts: Mapping[str, Mapping[str, Decimal]],
                keys_per_account: int = 1, *, force: bool = False,
                fee_tier: Mapping[str, str] | None = None) -> list[DemoKey]:
    """Create (or reuse) ``keys_per_account`` keys for each account; returns all keys."""
    directory.mkdir(parents=True, exist_ok=True)
    keys_file = directory / KEYS_FILE
    raw: dict[str, Any] = {"accounts": {}, "keys": []}
    if keys_file.exists() and not force:
        load_keys(keys_file)  # refuses a damaged file before we extend it
        raw = json.loads(keys_file.read_text())
    org = _org_of(raw) or str(uuid.uuid4())
    for account, balances in accounts.items():
        setup = raw["accounts"].setdefault(account, {"balances": {}})
        setup["balances"] = {code: str(amount) for code, amount in balances.items()}
        if fee_tier is not None:
            setup["fee_tier"] = dict(fee_tier)
        have = [k for k in raw["keys"] if k["account"] == account]
        for n in range(len(have) + 1, keys_per_account + 1):
            private_pem, public_pem = _pem_pair()
            name = f"organizations/{org}/apiKeys/{uuid.uuid4()}"
            raw["keys"].append({"name": name, "account": account, "public_key": public_pem})
            _write_private(directory / f"{account}-{n}.json",
                           {"exchange": {"key": name, "secret": private_pem}})
    keys_file.write_text(json.dumps(raw, indent=2))
    out = []
    for account in raw["accounts"]:
        mine = [k for k in raw["keys"] if k["account"] == account]
        for n, key in enumerate(mine, start=1):
            out.append(DemoKey(f"{account}-{n}", key["name"], account,
                               directory / f"{account}-{n}.json"))
    return out


def _org_of(raw: Mapping[str, Any]) -> str | None:
    for key in raw.get("keys", []):
        parts = str(key.get("name", "")).split("/")
        if len(parts) == 4 and parts[0] == "organizations":
            return parts[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trader247.replay.keys",
                                     description="Create local demo API keys for the replay.")
    parser.add_argument("--dir", type=Path, default=Path("user_data/replay-keys"))
    parser.add_argument("--account", default="demo")
    parser.add_argument("--keys", type=int, default=1, help="keys for the account")
    parser.add_argument("--balance", action="append", default=[], metavar="CODE=AMOUNT",
                        help="opening balance, repeatable (default USD=10000)")
    parser.add_argument("--force", action="store_true", help="replace an existing key set")
    args = parser.parse_args(argv)
    try:
        pairs = dict(item.split("=", 1) for item in (args.balance or ["USD=10000"]))
        balances = parse_balances(pairs, "--balance")
        keys = ensure_keys(args.dir, {args.account: balances}, max(1, args.keys),
                           force=args.force)
    except (KeysError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"replay keys file: {args.dir / KEYS_FILE}")
    for key in keys:
        print(f"{key.label}: freqtrade config {key.config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
