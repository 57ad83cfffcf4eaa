"""The ``/_replay/`` control API: inspect the replay and script it while a bot is running.

Invalid input raises ``ScenarioError``; ``ReplayExchange`` answers it with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trader247.replay.faults import ScenarioError
from trader247.replay.protocol import Request, iso
from trader247.replay.scenario import (
    BookConfig,
    parse_accounts,
    parse_book,
    parse_price_script,
    parse_products,
)

if TYPE_CHECKING:
    from trader247.replay.api import ReplayExchange


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
    def __init__(self, exchange: ReplayExchange) -> None:
        self.exchange = exchange

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
        ex = self.exchange
        now = ex.clock.now() if now is None else now
        rel = ex.clock.elapsed(now)
        vt = ex.clock.virtual(now)
        return {
            "now": iso(now),
            "elapsed_s": rel,
            "speed": ex.clock.speed,
            "data_time": iso(vt),
            "walk_start": iso(ex.clock.start),
            "loop_start": iso(ex.clock.loop_start),
            "loop_end": iso(ex.clock.end),
            "lap": ex.clock.lap(vt),
            "pairs": sorted(ex.listed(now)),
            "timeframes": {pid: sorted(p.series) for pid, p in ex.market.feed.pairs.items()},
            "faults": ex.faults.snapshot(rel),
            "price_scripts": [s.to_json() for s in ex.scripts.list()],
            "products": ex.overrides,
            "requests": ex.request_counts(),
            "accounts": sorted(ex.brokerage.accounts),
            "keys": len(ex.keys.keys),
        }

    def add_faults(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "faults")
        added = self.exchange.faults.parse_and_add(raws, "faults", request.rel)
        return {"added": [f.to_json(request.rel) for f in added]}

    def clear_faults(self, request: Request) -> dict[str, Any]:
        return {"removed": self.exchange.faults.clear(request.arg("id"))}

    def add_scripts(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "price_script")
        scripts = [parse_price_script(raw, f"price_script[{i}]", request.rel)
                   for i, raw in enumerate(raws)]
        self.exchange.scripts.add(scripts)
        return {"added": [s.to_json() for s in scripts]}

    def clear_scripts(self, request: Request) -> dict[str, Any]:
        count = len(self.exchange.scripts.list())
        self.exchange.scripts.clear()
        return {"removed": count}

    def set_products(self, request: Request) -> dict[str, Any]:
        raws = _json_body(request, "products")
        merged = {pid: dict(fields) for pid, fields in self.exchange.overrides.items()}
        for i, raw in enumerate(raws):
            for pid, fields in parse_products(raw, f"products[{i}]").items():
                merged.setdefault(pid, {}).update(fields)
        self.exchange.overrides = merged  # swapped whole: readers never see half an update
        return {"products": merged}

    def clear_products(self, request: Request) -> dict[str, Any]:
        self.exchange.overrides = {}
        return {"products": {}}

    def set_book(self, request: Request) -> dict[str, Any]:
        book: BookConfig = self.exchange.book
        for i, raw in enumerate(_json_body(request, "book")):
            book = parse_book(raw, f"book[{i}]", book)
        self.exchange.book = book
        return {"book": {"default": vars(book.default),
                         "pairs": {k: vars(v) for k, v in book.pairs.items()}}}

    def accounts(self, request: Request) -> dict[str, Any]:
        """Balances, holds, open orders and fills per account, and the reconciliation."""
        broker = self.exchange.brokerage
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
                "keys": sorted(k for k, (a, _) in self.exchange.keys.keys.items() if a == name),
            }
        return {"accounts": out, "reconcile": broker.reconcile(request.now)}

    def set_accounts(self, request: Request) -> dict[str, Any]:
        """``{"demo": {"balances": {"USD": "5000"}}}``: set balances (booked as transfers,
        so the books still reconcile); creates the account if needed."""
        raws = _json_body(request, "accounts")
        for i, raw in enumerate(raws):
            for name, setup in parse_accounts(raw, f"accounts[{i}]").items():
                try:
                    self.exchange.brokerage.open_account(name, setup.balances, request.now,
                                                         setup.fee_tier)
                except ValueError as exc:
                    raise ScenarioError(f"accounts[{i}].{name}: {exc}") from None
        return self.accounts(request)
