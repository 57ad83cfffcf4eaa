"""The ``/_replay/`` control API: inspect the replay and script it while a bot is running.

Invalid input raises ``ScenarioError``; ``ReplayExchange`` answers it with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from trader247.replay.auth import KeyRing
from trader247.replay.brokerage import Brokerage
from trader247.replay.catalog import Catalog
from trader247.replay.faults import ScenarioError
from trader247.replay.protocol import Request, RequestCounter, iso
from trader247.replay.scenario import (
    BookConfig,
    parse_accounts,
    parse_book,
    parse_price_script,
    parse_products,
)
from trader247.replay.state import ScenarioState


def _json_body(request: Request, key: str) -> list[Any]:
    """One object, a list of them, or ``{key: [...]}``."""
    try:
        data = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ScenarioError(f"request body: not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and key in data:
        data = data[key]
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list):
        return data
    raise ScenarioError(f"request body: expected an object or a list, got {data!r}")


class ControlApi:
    """Reads and changes the ``ScenarioState``; reports the clock, the catalog, the accounts
    and the request counters."""

    def __init__(self, state: ScenarioState, catalog: Catalog, brokerage: Brokerage,
                 keys: KeyRing, requests: RequestCounter) -> None:
        self.scenario = state
        self.catalog = catalog
        self.market = catalog.market
        self.brokerage = brokerage
        self.keys = keys
        self.requests = requests

    def routes(self) -> list[tuple[str, str, Callable[[Request], Any]]]:
        return [
            ("GET", "/_replay/state", lambda request: self.state(request.now)),
            ("POST", "/_replay/faults", self.add_faults),
            ("DELETE", "/_replay/faults", self.clear_faults),
            ("POST", "/_replay/price_script", self.add_scripts),
            ("DELETE", "/_replay/price_script", self.clear_scripts),
            ("POST", "/_replay/products", self.set_products),
            ("DELETE", "/_replay/products", self.clear_products),
            ("POST", "/_replay/book", self.set_book),
            ("GET", "/_replay/accounts", self.accounts),
            ("POST", "/_replay/accounts", self.set_accounts),
        ]

    def state(self, now: float | None = None) -> dict[str, Any]:
        clock = self.market.clock
        now = clock.now() if now is None else now
        rel = clock.elapsed(now)
        vt = clock.virtual(now)
        return {
            "now": iso(now),
            "elapsed_s": rel,
            "speed": clock.speed,
            "data_time": iso(vt),
            "walk_start": iso(clock.start),
            "loop_start": iso(clock.loop_start),
            "loop_end": iso(clock.end),
            "lap": clock.lap(vt),
            "pairs": sorted(self.catalog.listed(now)),
            "timeframes": {pid: sorted(p.series) for pid, p in self.market.feed.pairs.items()},
            "faults": self.scenario.faults.snapshot(rel),
            "price_scripts": [s.to_json() for s in self.scenario.scripts.list()],
            "products": self.scenario.overrides,
            "requests": self.requests.snapshot(),
            "accounts": sorted(self.brokerage.accounts),
            "keys": len(self.keys.keys),
        }

    def add_faults(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "faults")
        added = self.scenario.faults.parse_and_add(raws, "faults", request.rel)
        return {"added": [f.to_json(request.rel) for f in added]}

    def clear_faults(self, request: Request) -> dict[str, Any]:
        return {"removed": self.scenario.faults.clear(request.arg("id"))}

    def add_scripts(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "price_script")
        scripts = [parse_price_script(raw, f"price_script[{i}]", request.rel)
                   for i, raw in enumerate(raws)]
        self.scenario.scripts.add(scripts)
        return {"added": [s.to_json() for s in scripts]}

    def clear_scripts(self, request: Request) -> dict[str, Any]:
        count = len(self.scenario.scripts.list())
        self.scenario.scripts.clear()
        return {"removed": count}

    def set_products(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "products")
        changes: dict[str, dict[str, Any]] = {}
        for i, raw in enumerate(raws):  # all parsed first: a bad entry changes nothing
            for pid, fields in parse_products(raw, f"products[{i}]").items():
                changes.setdefault(pid, {}).update(fields)
        self.scenario.merge_overrides(changes)
        return {"products": self.scenario.overrides}

    def clear_products(self, request: Request) -> dict[str, Any]:
        self.scenario.clear_overrides()
        return {"products": {}}

    def set_book(self, request: Request) -> dict[str, Any]:
        book: BookConfig = self.scenario.book
        for i, raw in enumerate(_json_body(request, "book")):
            book = parse_book(raw, f"book[{i}]", book)
        self.scenario.book = book
        return {"book": {"default": vars(book.default),
                         "pairs": {k: vars(v) for k, v in book.pairs.items()}}}

    def accounts(self, request: Request) -> dict[str, Any]:
        """Balances, holds, open orders and fills per account, and the reconciliation."""
        broker = self.brokerage
        out: dict[str, Any] = {}
        for name in sorted(broker.accounts):
            total, held = broker.balances(name, request.now)
            orders = broker.list_orders(name, request.now)
            out[name] = {
                "balances": {c: str(v) for c, v in sorted(total.items()) if v},
                "holds": {c: str(v) for c, v in sorted(held.items()) if v},
                "open_orders": [o.order_id for o in orders if o.is_open],
                "orders": len(orders),
                "fills": len(broker.list_fills(name, request.now)),
                "keys": sorted(k for k, (a, _) in self.keys.keys.items() if a == name),
            }
        return {"accounts": out, "reconcile": broker.reconcile(request.now)}

    def set_accounts(self, request: Request) -> dict[str, Any]:
        """``{"demo": {"balances": {"USD": "5000"}}}``: set balances (booked as transfers,
        so the books still reconcile); creates the account if needed."""
        raws = _json_body(request, "accounts")
        for i, raw in enumerate(raws):
            for name, setup in parse_accounts(raw, f"accounts[{i}]").items():
                try:
                    self.brokerage.open_account(name, setup.balances, request.now,
                                                         setup.fee_tier)
                except ValueError as exc:
                    raise ScenarioError(f"accounts[{i}].{name}: {exc}") from None
        return self.accounts(request)
