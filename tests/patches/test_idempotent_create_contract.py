"""``patches.idempotent_create``: the guard's contract at its boundaries, through ``guard`` itself.

What a live bot relies on when a create has no answer: every argument reaches ccxt, each create
carries a ``client_order_id``, a retry and the next create of that (pair, side) carry the same
one, a definite answer forgets it, an interrupt is never a retry, and the operator reads what
happened in exact WARNING lines. Deterministic (a fake ccxt instance, the clock and the sleep
passed in); the random search over the same rules is tests/stateful/test_create_machine.py.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import ccxt
import pytest

from trader247.patches import idempotent_create
from trader247.patches.idempotent_create import PENDING_TTL_S, RETRY_DELAYS_S, guard


def net() -> ccxt.NetworkError:
    """A fresh one each time: Python links a raised exception to the one being handled."""
    return ccxt.ExchangeNotAvailable("503 Service Unavailable")

LOGGER = "trader247.patches.idempotent_create"


class Api:
    """A ccxt instance: each create pops the next scripted outcome (an exception or an answer)."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[Any, ...]] = []

    def create_order(self, symbol: str, type: str, side: str, amount: float,  # noqa: A002
                     price: float | None = None, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((symbol, type, side, amount, price, dict(params or {})))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return {"id": f"o{len(self.calls)}"}

    @property
    def ids(self) -> list[str]:
        return [call[5]["client_order_id"] for call in self.calls]


class Clock:
    """The guard's clock and sleep: a sleep moves the clock."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def guarded(*outcomes: BaseException | None) -> tuple[Api, Clock]:
    api, clock = Api(*outcomes), Clock()
    guard(api, clock=clock, sleep=clock.sleep)
    return api, clock


@pytest.fixture
def numbered_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client order ids t247-1, t247-2... in the order they are made (exact log lines)."""
    made = iter(range(1, 100))
    monkeypatch.setattr(idempotent_create, "new_client_order_id", lambda: f"t247-{next(made)}")


def test_a_new_client_order_id_is_ours_and_unique() -> None:
    first, second = (idempotent_create.new_client_order_id() for _ in range(2))
    assert re.fullmatch(r"t247-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", first)
    assert first != second


def test_every_argument_reaches_ccxt_with_a_client_order_id_added_to_a_copy() -> None:
    api, _ = guarded()
    params = {"timeInForce": "IOC"}
    assert api.create_order("BTC/USD", "limit", "sell", 2.5, 99.5, params) == {"id": "o1"}
    api.create_order("ETH/USD", "market", "buy", 0.1)
    (symbol, kind, side, amount, price, sent), plain = api.calls
    assert (symbol, kind, side, amount, price) == ("BTC/USD", "limit", "sell", 2.5, 99.5)
    assert sent == {"timeInForce": "IOC", "client_order_id": api.ids[0]}
    assert params == {"timeInForce": "IOC"}  # freqtrade's dict is not changed
    assert plain[:5] == ("ETH/USD", "market", "buy", 0.1, None)
    assert plain[5] == {"client_order_id": api.ids[1]} and api.ids[0] != api.ids[1]
    assert all(i.startswith("t247-") for i in api.ids)


def test_a_client_order_id_freqtrade_passed_is_kept() -> None:
    api, _ = guarded(net())
    api.create_order("BTC/USD", "limit", "buy", 1.0, 10.0, {"client_order_id": "mine"})
    assert api.ids == ["mine", "mine"]


@pytest.mark.parametrize(("outcomes", "raised", "sent", "slept"), [
    ((None,), None, 1, []),
    ((net(), None), None, 2, [RETRY_DELAYS_S[0]]),
    ((net(), ccxt.RequestTimeout("t"), None), None, 3, list(RETRY_DELAYS_S)),
    ((net(), net(), net(), None), ccxt.ExchangeNotAvailable, 3, list(RETRY_DELAYS_S)),
    (tuple(ccxt.RateLimitExceeded("429") for _ in range(3)), ccxt.RateLimitExceeded, 3, list(RETRY_DELAYS_S)),
    ((ccxt.InsufficientFunds("no"),), ccxt.InsufficientFunds, 1, []),  # definite: no retry
    ((net(), ccxt.InvalidOrder("size")), ccxt.InvalidOrder, 2, [RETRY_DELAYS_S[0]]),
])
def test_an_unknown_outcome_is_retried_under_the_same_id_a_definite_one_is_not(
        outcomes: tuple[BaseException | None, ...], raised: type[Exception] | None, sent: int,
        slept: list[float]) -> None:
    api, clock = guarded(*outcomes)
    if raised is None:
        assert api.create_order("BTC/USD", "market", "buy", 1.0) == {"id": f"o{sent}"}
    else:
        with pytest.raises(raised):
            api.create_order("BTC/USD", "market", "buy", 1.0)
    assert len(api.calls) == sent and len(set(api.ids)) == 1
    assert clock.slept == slept


def test_the_operator_reads_each_retry_and_each_reuse(
        numbered_ids: None, caplog: pytest.LogCaptureFixture) -> None:
    api, _ = guarded(net(), ccxt.RequestTimeout("t"), net(), None)
    caplog.set_level(logging.WARNING, LOGGER)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        api.create_order("BTC/USD", "market", "buy", 1.0)
    api.create_order("BTC/USD", "limit", "buy", 1.0, 10.0)
    assert [r.getMessage() for r in caplog.records] == [
        "create buy BTC/USD (client_order_id t247-1) failed with ExchangeNotAvailable: retrying "
        "with the same id (1/2)",
        "create buy BTC/USD (client_order_id t247-1) failed with RequestTimeout: retrying with "
        "the same id (2/2)",
        "create buy BTC/USD reuses client_order_id t247-1: an earlier create had no answer, the "
        "exchange returns that order if it accepted it",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def unanswered(api: Api, pair: str = "BTC/USD", side: str = "buy") -> None:
    api.outcomes[:0] = [net() for _ in range(len(RETRY_DELAYS_S) + 1)]
    with pytest.raises(ccxt.ExchangeNotAvailable):
        api.create_order(pair, "market", side, 1.0)


@pytest.mark.parametrize(("definite", "raised"), [
    (None, None), (ccxt.InsufficientFunds("no"), ccxt.InsufficientFunds)])
def test_a_definite_answer_forgets_the_id_of_that_pair_and_side_only(
        definite: BaseException | None, raised: type[Exception] | None) -> None:
    api, _ = guarded()
    unanswered(api, "BTC/USD", "buy")
    unanswered(api, "BTC/USD", "sell")
    lost_buy, lost_sell = api.ids[0], api.ids[-1]
    api.create_order("ETH/USD", "market", "buy", 1.0)  # another pair: its own new id
    assert api.ids[-1] not in (lost_buy, lost_sell)
    api.outcomes[:0] = [definite]
    if raised is None:
        api.create_order("BTC/USD", "market", "buy", 1.0)
    else:
        with pytest.raises(raised):
            api.create_order("BTC/USD", "market", "buy", 1.0)
    assert api.ids[-1] == lost_buy  # the buy's answer, whatever it was, ends its intent
    api.create_order("BTC/USD", "market", "buy", 1.0)
    assert api.ids[-1] not in (lost_buy, lost_sell)
    api.create_order("BTC/USD", "market", "sell", 1.0)
    assert api.ids[-1] == lost_sell  # the sell is still unknown: the same id


@pytest.mark.parametrize(("after", "reused"), [
    (PENDING_TTL_S, True), (PENDING_TTL_S + 0.01, False)])
def test_the_id_is_kept_for_the_ttl_after_the_last_failed_attempt(after: float,
                                                                  reused: bool) -> None:
    api, clock = guarded()
    unanswered(api)  # attempts at 1000, 1000.5 and 1002: the last one starts the TTL
    assert clock.now == 1_000.0 + sum(RETRY_DELAYS_S)
    clock.now += after
    api.create_order("BTC/USD", "market", "buy", 1.0)
    assert (api.ids[-1] == api.ids[0]) is reused


def network_error_during(interrupt: BaseException) -> ccxt.NetworkError:
    """The library's cleanup failing in turn after the interrupt hit its request."""
    error = ccxt.NetworkError("connection aborted")
    error.__context__ = interrupt
    return error


def test_an_interrupt_hidden_in_the_error_propagates_and_is_no_retry() -> None:
    """A SIGTERM in the request: the bot stops; the id is kept (the order may exist)."""
    stop = KeyboardInterrupt()
    api, clock = guarded(network_error_during(stop))
    with pytest.raises(KeyboardInterrupt) as raised:
        api.create_order("BTC/USD", "market", "buy", 1.0)
    assert raised.value is stop and clock.slept == [] and len(api.calls) == 1
    api.create_order("BTC/USD", "market", "buy", 1.0)
    assert api.ids == [api.ids[0]] * 2


def test_an_interrupt_already_stopping_the_bot_does_not_abort_the_retries() -> None:
    """A create during freqtrade's shutdown (the interrupt is being handled): the errors carry
    it as their context, yet they are ordinary network errors there (``since``)."""
    api, clock = guarded(net(), None)
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        try:
            answer = api.create_order("BTC/USD", "market", "buy", 1.0)
        except KeyboardInterrupt:  # a test failure, not an interrupted test session
            pytest.fail("the interrupt being handled was raised again from the create's error")
    assert answer == {"id": "o2"}
    assert clock.slept == [RETRY_DELAYS_S[0]]


def test_guarding_twice_wraps_once() -> None:
    api, clock = Api(net(), None), Clock()
    guard(api, clock=clock, sleep=clock.sleep)
    wrapped = api.create_order
    guard(api, clock=clock, sleep=clock.sleep)
    assert api.create_order is wrapped
    api.create_order("BTC/USD", "market", "buy", 1.0)
    assert len(api.calls) == 2 and clock.slept == [RETRY_DELAYS_S[0]]


class Exchange:
    def __init__(self, dry_run: bool) -> None:
        self._config = {"dry_run": dry_run}
        self._api = Api()


def test_install_tells_the_operator_once(monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(idempotent_create.DISABLE_ENV, raising=False)
    caplog.set_level(logging.INFO, LOGGER)
    live = Exchange(dry_run=False)
    assert idempotent_create.install(live) is True
    assert idempotent_create.install(live) is False
    assert [r.getMessage() for r in caplog.records] == [
        "trader247 patch idempotent_create installed: live creates carry a client_order_id and "
        "an unanswered create is retried under the same id"]
    live._api.create_order("BTC/USD", "market", "buy", 1.0)
    assert live._api.ids[0].startswith("t247-")



def test_an_id_judged_expired_is_dropped_even_if_the_wall_clock_steps_back() -> None:
    """``time.time`` can step back (NTP): an id once found expired is never handed out again."""
    pending = idempotent_create.PendingCreates(ttl_s=10.0)
    pending.remember("BTC/USD", "buy", "t247-a", 100.0)
    pending.remember("BTC/USD", "sell", "t247-b", 100.0)
    assert pending.take("BTC/USD", "buy", 110.0) == "t247-a"  # at the TTL: still kept
    assert pending.take("BTC/USD", "buy", 110.01) is None
    assert pending.take("BTC/USD", "buy", 105.0) is None  # the clock stepped back
    assert pending.take("BTC/USD", "sell", 105.0) == "t247-b"  # the other side untouched
