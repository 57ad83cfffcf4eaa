"""Coinbase's private Advanced Trade (v3) and v2 account endpoints, as ccxt 4.5 calls them.

Request parsing and Coinbase's JSON shapes live here; decisions are in ``orders.py`` /
``engine.py`` and state in ``brokerage.py``. Shapes follow Coinbase's recorded responses (ccxt's
test fixtures, see ``tests/replay/fixtures/``); the README lists every route.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trader247.replay.brokerage import Brokerage
from trader247.replay.engine import ZERO, Side
from trader247.replay.market import ReplayMarket
from trader247.replay.names import is_fiat, name_of
from trader247.replay.orders import CONFIGURATIONS, Fill, Order, OrderRequest
from trader247.replay.protocol import ApiError, Request, dec, iso

V3 = "/api/v3/brokerage"
MAX_PAGE = 1000
DEFAULT_PAGE = 100
# v3 wallets print 16 decimals (ccxt coinbase.py, fetch_accounts_v3: "0.0000000000000000"); v2
# wallets their currency's exponent (ccxt's recorded fetchBalance "v2 balance": "0.00000000",
# "5.047160")
V3_BALANCE_DECIMALS = 16
AVERAGE_STEP = Decimal("1e-16")
Handler = Callable[[Request], Any]


def padded(value: Decimal, decimals: int) -> str:
    """``value`` with at least ``decimals`` places, more if it has them (never rounded)."""
    text = dec(value)
    places = len(text.partition(".")[2])
    return text if places >= decimals else f"{value or ZERO:.{decimals}f}"  # never "-0.00"


def average_price(value: Decimal, size: Decimal) -> Decimal:
    """``average_filled_price``: value / size to 16 decimals, like Coinbase's computed figures
    (ccxt coinbase.py, fetch_orders: "6.3220675944333996" / "0.000297920684505" is
    "21220.6399999973697697")."""
    return (value / size).quantize(AVERAGE_STEP) if size else ZERO


def exponent(code: str) -> int:
    """The currency's decimal places as v2 reports them (cents for fiat)."""
    return 2 if is_fiat(code) else 8


# -- request parsing -------------------------------------------------------------------------
def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ApiError(400, "INVALID_ARGUMENT", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "request body must be a JSON object")
    return data


def _amount(config: Mapping[str, Any], key: str) -> Decimal | None:
    value = config.get(key)
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ApiError(400, "INVALID_ARGUMENT", f"{key}: invalid number {value!r}") from None
    if not amount.is_finite():
        raise ApiError(400, "INVALID_ARGUMENT", f"{key}: invalid number {value!r}")
    return amount


def _time(value: Any, key: str) -> float:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", f"{key}: not an RFC3339 time: {value!r}") from None


def parse_order(data: Mapping[str, Any]) -> OrderRequest | str:
    """The create-order body as an ``OrderRequest``, or the unsupported configuration key."""
    client_id = data.get("client_order_id")
    product_id = data.get("product_id")
    side = str(data.get("side", "")).upper()
    configuration = data.get("order_configuration")
    if not isinstance(client_id, str) or not client_id:
        raise ApiError(400, "INVALID_ARGUMENT", "client_order_id is required")
    if not isinstance(product_id, str) or not product_id:
        raise ApiError(400, "INVALID_ARGUMENT", "product_id is required")
    if side not in ("BUY", "SELL"):
        raise ApiError(400, "INVALID_ARGUMENT", f"side: expected BUY or SELL, got {side!r}")
    if not isinstance(configuration, Mapping) or len(configuration) != 1:
        raise ApiError(400, "INVALID_ARGUMENT", "order_configuration must hold one order type")
    key, config = next(iter(configuration.items()))
    if key not in CONFIGURATIONS:
        return str(key)
    if not isinstance(config, Mapping):
        raise ApiError(400, "INVALID_ARGUMENT", f"order_configuration.{key} must be an object")
    base, quote = _amount(config, "base_size"), _amount(config, "quote_size")
    if (base is None) == (quote is None):
        raise ApiError(400, "INVALID_ARGUMENT", "exactly one of base_size and quote_size")
    limit = _amount(config, "limit_price")
    if CONFIGURATIONS[key][0] == "LIMIT" and limit is None:
        raise ApiError(400, "INVALID_ARGUMENT", f"{key}: limit_price is required")
    end_time = _time(config["end_time"], "end_time") if key == "limit_limit_gtd" else None
    return OrderRequest(
        client_order_id=client_id, product_id=product_id.upper(), side=Side(side),
        config_key=key, configuration=dict(configuration), base_size=base, quote_size=quote,
        limit_price=limit, post_only=bool(config.get("post_only", False)), end_time=end_time)


def _page(request: Request, items: list[Any]) -> tuple[list[Any], str, bool]:
    limit = min(max(request.int_arg("limit", DEFAULT_PAGE) or DEFAULT_PAGE, 1), MAX_PAGE)
    cursor = request.arg("cursor") or "0"
    if not cursor.isdigit():
        raise ApiError(400, "INVALID_ARGUMENT", f"cursor: invalid value {cursor!r}")
    start = int(cursor)
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, str(start + limit) if more else "", more


def _listed(request: Request, *names: str) -> list[str]:
    return [v.upper() for name in names for value in request.query.get(name, [])
            for v in value.split(",") if v]


# -- the endpoints ---------------------------------------------------------------------------
class PrivateApi:
    """The private endpoints over the brokerage; the market gives the currency list and the
    replay's start (the wallets' creation time)."""

    def __init__(self, brokerage: Brokerage, market: ReplayMarket) -> None:
        self.brokerage = brokerage
        self.market = market

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        return [
            ("GET", "/v2/accounts", "accounts", self.accounts_v2),
            ("GET", f"{V3}/accounts", "accounts", self.accounts_v3),
            ("GET", f"{V3}/accounts/(?P<account_uuid>[0-9a-fA-F-]+)", "accounts",
             self.account_v3),
            ("GET", f"{V3}/key_permissions", "accounts", self.key_permissions),
            ("POST", f"{V3}/orders", "create_order", self.create_order),
            ("POST", f"{V3}/orders/batch_cancel", "cancel_orders", self.cancel_orders),
            ("GET", f"{V3}/orders/historical/batch", "orders", self.list_orders),
            ("GET", f"{V3}/orders/historical/fills", "fills", self.list_fills),
            ("GET", f"{V3}/orders/historical/(?P<order_id>[0-9a-zA-Z-]+)", "order",
             self.get_order),
            ("GET", f"{V3}/transaction_summary", "fee_tier", self.transaction_summary),
        ]

    def product_of(self, endpoint: str, request: Request) -> str | None:
        """The product a private request is about, for pair-scoped faults."""
        if endpoint == "create_order":
            try:
                product = json.loads(request.body or b"{}").get("product_id")
            except (ValueError, AttributeError):
                return None
            return str(product).upper() if product else None
        if endpoint == "cancel_orders":
            try:
                ids = json.loads(request.body or b"{}").get("order_ids") or []
            except (ValueError, AttributeError):
                return None
            order = self.brokerage.orders.get(str(ids[0])) if ids else None
            return order.request.product_id if order else None
        products = _listed(request, "product_id", "product_ids")
        return products[0] if len(products) == 1 else None

    # accounts -------------------------------------------------------------------------------
    def _wallets(self, request: Request) -> list[tuple[str, Decimal, Decimal]]:
        total, held = self.brokerage.balances(request.account, request.now)
        codes = set(total) | {c for pid in self.market.meta for c in pid.split("-")}
        return [(c, total.get(c, ZERO), held.get(c, ZERO)) for c in sorted(codes)]

    def _wallet_id(self, account: str, currency: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"trader247-replay:{account}:{currency}"))

    def _v3_account(self, request: Request, code: str, total: Decimal,
                    held: Decimal) -> dict[str, Any]:
        created = iso(self.market.clock.t0)
        return {
            "uuid": self._wallet_id(request.account, code),
            "name": f"{code} Wallet",
            "currency": code,
            "available_balance": {"value": padded(total - held, V3_BALANCE_DECIMALS),
                                  "currency": code},
            "default": True,
            "active": True,
            "created_at": created,
            "updated_at": created,
            "deleted_at": None,
            "type": "ACCOUNT_TYPE_FIAT" if is_fiat(code) else "ACCOUNT_TYPE_CRYPTO",
            "ready": True,
            "hold": {"value": padded(held, V3_BALANCE_DECIMALS), "currency": code},
        }

    def accounts_v3(self, request: Request) -> dict[str, Any]:
        wallets = [self._v3_account(request, *w) for w in self._wallets(request)]
        page, cursor, more = _page(request, wallets)
        return {"accounts": page, "has_next": more, "cursor": cursor, "size": len(page)}

    def account_v3(self, request: Request) -> dict[str, Any]:
        for wallet in self._wallets(request):
            if self._wallet_id(request.account, wallet[0]) == request.params["account_uuid"]:
                return {"account": self._v3_account(request, *wallet)}
        raise ApiError(404, "NOT_FOUND", "account not found")

    def accounts_v2(self, request: Request) -> dict[str, Any]:
        """v2 wallets: ``balance`` is the total, holds included (ccxt's default
        ``fetch_balance`` reads it as free = total)."""
        created = iso(self.market.clock.t0)[:19] + "Z"
        data = []
        for code, total, _held in self._wallets(request):
            wallet = self._wallet_id(request.account, code)
            data.append({
                "id": wallet, "name": f"{code} Wallet", "primary": True,
                "type": "fiat" if is_fiat(code) else "wallet",
                "balance": {"amount": padded(total, exponent(code)), "currency": code},
                "created_at": created, "updated_at": created, "resource": "account",
                "resource_path": f"/v2/accounts/{wallet}",
                "currency": {"asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                        f"coinbase-asset:{code}")),
                             "code": code, "color": "#0052FF",
                             "exponent": str(exponent(code)), "name": name_of(code),
                             "slug": name_of(code).lower().replace(" ", "-"),
                             "type": "fiat" if is_fiat(code) else "crypto", "rewards": None},
                "allow_deposits": True, "allow_withdrawals": True,
            })
        return self._v2_page(request, data)

    @staticmethod
    def _v2_page(request: Request, data: list[dict[str, Any]]) -> dict[str, Any]:
        limit = min(max(request.int_arg("limit", 25) or 25, 1), 300)
        after = request.arg("starting_after")
        start = next((i + 1 for i, d in enumerate(data) if d["id"] == after), 0) if after else 0
        page = data[start:start + limit]
        nxt = page[-1]["id"] if start + limit < len(data) and page else None
        return {"pagination": {
            "ending_before": None, "limit": str(limit), "next_starting_after": nxt,
            "next_uri": f"/v2/accounts?limit={limit}&starting_after={nxt}" if nxt else None,
            "order": "desc", "previous_ending_before": None, "previous_uri": None,
            "starting_after": after}, "data": page}

    def key_permissions(self, request: Request) -> dict[str, Any]:
        return {"can_view": True, "can_trade": True, "can_transfer": False,
                "portfolio_uuid": self._wallet_id(request.account, "portfolio"),
                "portfolio_type": "DEFAULT"}

    def transaction_summary(self, request: Request) -> dict[str, Any]:
        tier, volume, fees = self.brokerage.summary(request.account, request.now)
        return {
            "total_volume": dec(volume), "total_fees": dec(fees),
            "fee_tier": {"pricing_tier": tier.pricing_tier, "usd_from": dec(tier.usd_from),
                         "usd_to": "" if tier.usd_to is None else dec(tier.usd_to),
                         "taker_fee_rate": dec(tier.taker), "maker_fee_rate": dec(tier.maker),
                         "aop_from": "", "aop_to": ""},
            "margin_rate": None, "goods_and_services_tax": None,
            "advanced_trade_only_volume": dec(volume), "advanced_trade_only_fees": dec(fees),
            "coinbase_pro_volume": "0", "coinbase_pro_fees": "0", "total_balance": "",
            "has_promo_fee": False,
        }

    # orders ---------------------------------------------------------------------------------
    def create_order(self, request: Request) -> dict[str, Any]:
        data = _body(request)
        parsed = parse_order(data)
        configuration = data.get("order_configuration")
        if isinstance(parsed, str):
            return _failure("UNSUPPORTED_ORDER_CONFIGURATION",
                            f"order configuration {parsed} is not supported by the replay",
                            "PREVIEW_INVALID_ORDER_CONFIG", "UNSUPPORTED_ORDER_CONFIGURATION",
                            configuration)
        fraction = request.fired.partial_fraction
        order, rejection = self.brokerage.create(
            request.account, parsed, request.now,
            max_fraction=None if fraction is None else Decimal(repr(fraction)))
        if rejection is not None:
            return _failure(rejection.error, rejection.message, rejection.preview,
                            rejection.new_order, configuration)
        assert order is not None
        return {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": order.order_id,
                "success_response": {"order_id": order.order_id,
                                     "product_id": order.request.product_id,
                                     "side": order.request.side.value,
                                     "client_order_id": order.request.client_order_id},
                "order_configuration": order.request.configuration}

    def cancel_orders(self, request: Request) -> dict[str, Any]:
        ids = _body(request).get("order_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ApiError(400, "INVALID_ARGUMENT", "order_ids must be a list of order ids")
        if len(ids) > 100:
            raise ApiError(400, "INVALID_ARGUMENT", "at most 100 order ids per request")
        fraction = request.fired.fill_on_cancel
        results = self.brokerage.cancel(
            request.account, ids, request.now,
            fill_fraction=None if fraction is None else Decimal(repr(fraction)))
        return {"results": [{"success": r.success, "failure_reason": r.failure_reason,
                             "order_id": r.order_id} for r in results]}

    def get_order(self, request: Request) -> dict[str, Any]:
        order = self.brokerage.order(request.account, request.params["order_id"], request.now)
        if order is None:
            # Coinbase's answer to an unknown id (ccxt maps its text to OrderNotFound)
            raise ApiError(404, "NOT_FOUND", "order with this orderID was not found")
        return {"order": self.render_order(order, request.now)}

    def list_orders(self, request: Request) -> dict[str, Any]:
        start, end = request.arg("start_date"), request.arg("end_date")
        orders = self.brokerage.list_orders(
            request.account, request.now,
            statuses=_listed(request, "order_status"),
            product_ids=_listed(request, "product_id", "product_ids"),
            sides=_listed(request, "order_side"),
            order_ids=[v for v in request.query.get("order_ids", []) if v],
            start=None if start is None else _time(start, "start_date"),
            end=None if end is None else _time(end, "end_date"))
        page, cursor, more = _page(request, orders)
        return {"orders": [self.render_order(o, request.now) for o in page], "sequence": "0",
                "has_next": more, "cursor": cursor}

    def list_fills(self, request: Request) -> dict[str, Any]:
        start = request.arg("start_sequence_timestamp")
        end = request.arg("end_sequence_timestamp")
        fills = self.brokerage.list_fills(
            request.account, request.now,
            order_ids=[v for key in ("order_id", "order_ids") for v in request.query.get(key, [])
                       if v],
            product_ids=_listed(request, "product_id", "product_ids"),
            start=None if start is None else _time(start, "start_sequence_timestamp"),
            end=None if end is None else _time(end, "end_sequence_timestamp"))
        page, cursor, _more = _page(request, fills)
        return {"fills": [self.render_fill(f) for f in page], "cursor": cursor}

    # rendering ------------------------------------------------------------------------------
    def render_order(self, order: Order, now: float) -> dict[str, Any]:
        req = order.request
        size_in_quote = req.quote_size is not None
        requested = req.quote_size if size_in_quote else req.base_size
        # a quote-sized order's budget includes its fees
        done = order.filled_value + order.total_fees if size_in_quote else order.filled_size
        pct = (done / requested * 100) if requested else ZERO
        average = average_price(order.filled_value, order.filled_size)
        buy = req.side is Side.BUY
        after_fees = order.filled_value + order.total_fees if buy else (
            order.filled_value - order.total_fees)
        hold = ZERO
        if order.is_open:
            hold = order.remaining if not buy else order.remaining * (req.limit_price or ZERO) * (
                1 + order.hold_rate)
        return {
            "order_id": order.order_id, "product_id": req.product_id,
            "user_id": self.brokerage.accounts[order.account].user_id,
            "order_configuration": req.configuration, "side": req.side.value,
            "client_order_id": req.client_order_id, "status": order.status,
            "time_in_force": req.time_in_force, "created_time": iso(order.created),
            "completion_percentage": f"{min(pct, Decimal(100)):.2f}",
            "filled_size": dec(order.filled_size), "average_filled_price": dec(average),
            "fee": "", "number_of_fills": str(order.number_of_fills),
            "filled_value": dec(order.filled_value), "pending_cancel": False,
            "size_in_quote": size_in_quote, "total_fees": dec(order.total_fees),
            "size_inclusive_of_fees": size_in_quote,
            "total_value_after_fees": dec(after_fees), "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": req.order_type, "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": not order.is_open, "product_type": "SPOT", "reject_message": "",
            "cancel_message": order.cancel_message,
            "order_placement_source": "RETAIL_ADVANCED", "outstanding_hold_amount": dec(hold),
            "is_liquidation": False,
            "last_fill_time": None if order.last_fill_time is None else iso(
                order.last_fill_time),
            "edit_history": [], "leverage": "", "margin_type": "UNKNOWN_MARGIN_TYPE",
        }

    def render_fill(self, fill: Fill) -> dict[str, Any]:
        entry = hashlib.sha256(f"{fill.trade_id}:{fill.order_id}".encode()).hexdigest()
        size = fill.value if fill.size_in_quote else fill.size
        return {
            "entry_id": entry, "trade_id": fill.trade_id, "order_id": fill.order_id,
            "trade_time": iso(fill.time), "trade_type": "FILL", "price": dec(fill.price),
            "size": dec(size), "commission": dec(fill.commission),
            "product_id": fill.product_id, "sequence_timestamp": iso(fill.time),
            "liquidity_indicator": fill.liquidity, "size_in_quote": fill.size_in_quote,
            "user_id": self.brokerage.accounts[fill.account].user_id, "side": fill.side.value,
        }


def _failure(error: str, message: str, preview: str, new_order: str,
             configuration: Any) -> dict[str, Any]:
    """A rejected create: HTTP 200, ``success: false`` and Coinbase's ``error_response``."""
    return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
            "error_response": {"error": error, "message": message, "error_details": message,
                               "preview_failure_reason": preview,
                               "new_order_failure_reason": new_order},
            "order_configuration": configuration}
