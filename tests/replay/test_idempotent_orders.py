"""The idempotent-create guard: retries and pending ids (pure), ccxt on the replay, the pins."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import ccxt
import pytest

from tests.replay.conftest import KeySet, Running
from trader247.patches.idempotent_create import PENDING_TTL_S, RETRY_DELAYS_S, PendingCreates, guard


@pytest.mark.parametrize(("age", "reused"), [
    (0.0, True), (PENDING_TTL_S - 0.01, True), (PENDING_TTL_S, True),
    (PENDING_TTL_S + 0.01, False)])
def test_pending_ids_expire_after_the_ttl(age: float, reused: bool) -> None:
    pending = PendingCreates()
    pending.remember("BTC/USD", "buy", "id-1", 1000.0)
    assert pending.take("BTC/USD", "buy", 1000.0 + age) == ("id-1" if reused else None)
    assert pending.take("BTC/USD", "sell", 1000.0) is None


class FakeApi:
    def __init__(self, outcomes: list[BaseException | None]) -> None:
        self.outcomes = outcomes
        self.ids: list[str] = []

    def create_order(self, symbol: str, type: str, side: str, amount: float,  # noqa: A002
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        self.ids.append((params or {})["client_order_id"])
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return {"id": "o-" + self.ids[-1]}


def guarded(outcomes: list[BaseException | None]) -> tuple[FakeApi, list[float]]:
    api, slept = FakeApi(outcomes), []
    guard(api, clock=lambda: 0.0, sleep=slept.append)
    return api, slept


def test_an_unknown_outcome_is_retried_with_the_same_id() -> None:
    api, slept = guarded([ccxt.ExchangeNotAvailable("503"), ccxt.RequestTimeout("t"), None])
    order = api.create_order("BTC/USD", "market", "buy", 1, 100)
    assert len(set(api.ids)) == 1 and len(api.ids) == 3
    assert order == {"id": "o-" + api.ids[0]} and slept == list(RETRY_DELAYS_S)


def test_still_unknown_after_retries_the_next_create_reuses_the_id() -> None:
    api, _ = guarded([ccxt.ExchangeNotAvailable("503")] * 3 + [None, None])
    with pytest.raises(ccxt.ExchangeNotAvailable):
        api.create_order("BTC/USD", "market", "buy", 1, 100)
    api.create_order("BTC/USD", "limit", "buy", 2, 99)  # the next entry signal
    assert len(set(api.ids)) == 1  # the exchange answers with the first order, if any
    api.create_order("BTC/USD", "limit", "buy", 2, 99)
    assert len(set(api.ids)) == 2  # resolved: a new order gets a new id


def test_a_definite_rejection_is_not_retried_and_not_remembered() -> None:
    api, slept = guarded([ccxt.InsufficientFunds("no"), None])
    with pytest.raises(ccxt.InsufficientFunds):
        api.create_order("BTC/USD", "market", "buy", 1, 100)
    api.create_order("BTC/USD", "market", "buy", 1, 100)
    assert slept == [] and len(set(api.ids)) == 2


def test_guarded_ccxt_on_the_replay_turns_a_lost_answer_into_the_accepted_order(
        serve: Callable[..., Running], keyset: KeySet) -> None:
    running = serve(keys=keyset.ring)
    name, secret = keyset.secret("acct-1")
    client = ccxt.coinbase({"apiKey": name, "secret": secret, "enableRateLimit": False,
                            "urls": {"api": {"rest": running.url}}})
    client.load_markets()
    guard(client, sleep=lambda _s: None)
    running.call("/_replay/faults", "POST", {"kind": "http_5xx", "endpoint": "create_order",
                                             "after_accept": True, "max_hits": 2})
    order = client.create_order("BTC/USD", "market", "buy", 0.001,
                                client.fetch_ticker("BTC/USD")["ask"])
    orders = running.exchange.brokerage.orders
    assert list(orders) == [order["id"]]  # one order, the one the first attempt placed
    assert orders[order["id"]].request.client_order_id.startswith("t247-")


def test_pinned_signatures() -> None:
    """What the guard relies on: freqtrade's keyword-only ``Exchange.create_order`` calling
    ``self._api.create_order(pair, ordertype, side, amount, rate, params)``, and ccxt's coinbase
    ``create_order`` letting a snake-case ``client_order_id`` param override its random one
    (it reaches the exchange: see the replay test above)."""
    from freqtrade.exchange.exchange import Exchange

    original = inspect.unwrap(Exchange.create_order)
    parameters = inspect.signature(original).parameters
    assert list(parameters) == ["self", "pair", "ordertype", "side", "amount", "rate",
                                "leverage", "time_in_force", "reduceOnly", "initial_order"]
    assert all(p.kind is p.KEYWORD_ONLY for name, p in parameters.items() if name != "self")
    assert "order = self._api.create_order(" in inspect.getsource(original)
    assert list(inspect.signature(ccxt.coinbase.create_order).parameters) == [
        "self", "symbol", "type", "side", "amount", "price", "params"]
    source = inspect.getsource(ccxt.coinbase.create_order)
    assert "'client_order_id': id + '-' + self.uuid()" in source
    assert "self.extend(request, paramsOmitted)" in source


class _Api:
    def create_order(self, *args: Any) -> dict[str, Any]:
        return {"id": "1"}


class _Exchange:
    def __init__(self, dry_run: bool) -> None:
        self._config = {"dry_run": dry_run}
        self._api = _Api()


def test_install_guards_a_live_bots_ccxt_instance_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from trader247.patches import idempotent_create

    monkeypatch.delenv(idempotent_create.DISABLE_ENV, raising=False)
    dry, live = _Exchange(dry_run=True), _Exchange(dry_run=False)
    assert idempotent_create.install(dry) is False
    assert "create_order" not in vars(dry._api)  # dry-run: freqtrade never calls ccxt to create
    assert idempotent_create.install(live) is True
    assert "create_order" in vars(live._api)
    assert idempotent_create.install(live) is False  # idempotent
    monkeypatch.setenv(idempotent_create.DISABLE_ENV, "0")
    assert idempotent_create.install(_Exchange(dry_run=False)) is False  # rollback by config
