"""What our patches and the price tape rely on in freqtrade, pinned on every supported release.

Each check fails with a message naming the freqtrade function that changed. The patches run the
same checks (``trader247.patches.Needs``) when they are installed; this file makes a new release
fail here, in ``make test-compat``, before a user meets it.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from freqtrade.exchange.exchange import Exchange
from freqtrade.freqtradebot import FreqtradeBot

from trader247.patches import (
    KEYWORD_ONLY,
    POSITIONAL,
    Needs,
    execute_entry_gate,
    hyperopt_pickle,
    iteration_timing,
    markets_guard,
    source_problems,
)

pytestmark = pytest.mark.compat


def no_problems(problems: list[str]) -> None:
    assert not problems, "freqtrade changed: " + "; ".join(problems)


def test_execute_entry_gate_signature() -> None:
    no_problems(execute_entry_gate.NEEDS.problems(FreqtradeBot.execute_entry))
    # The gate asks the bot's current strategy (``self.strategy``).
    no_problems(source_problems("freqtrade.freqtradebot.FreqtradeBot.__init__",
                                FreqtradeBot.__init__, ["self.strategy"]))


def test_position_increases_still_bypass_the_strategy_callbacks() -> None:
    """Why the gate exists: if freqtrade starts asking ``custom_stake_amount`` or
    ``confirm_trade_entry`` for position adjustments, the plugin API suffices and the patch can
    go (this check then fails: read the new code and decide)."""
    no_problems(source_problems(
        "freqtrade.freqtradebot.FreqtradeBot.get_valid_enter_price_and_stake",
        FreqtradeBot.get_valid_enter_price_and_stake,
        ["if trade is None:\n", "self.strategy.custom_stake_amount"]))
    no_problems(source_problems("freqtrade.freqtradebot.FreqtradeBot.execute_entry",
                                FreqtradeBot.execute_entry, ['if mode == "initial" and not']))


def test_forceenter_on_a_held_pair_is_a_position_adjustment() -> None:
    """``trade`` and ``mode`` are keyword-only (pinned above), so every caller names them."""
    from freqtrade.rpc.rpc import RPC

    no_problems(source_problems("freqtrade.rpc.rpc.RPC._rpc_force_entry", RPC._rpc_force_entry,
                                ["trade=trade", 'mode="pos_adjust" if trade else "initial"']))


def test_iteration_timing_signature_and_caller() -> None:
    from freqtrade.worker import Worker

    no_problems(iteration_timing.NEEDS.problems(FreqtradeBot.process))
    no_problems(source_problems("freqtrade.worker.Worker._process_running",
                                Worker._process_running, ["self.freqtrade.process()"]))


def test_hyperopt_pickle_signature_and_walk() -> None:
    from freqtrade.optimize.hyperopt.hyperopt_optimizer import HyperOptimizer

    no_problems(hyperopt_pickle.problems(HyperOptimizer))
    # The walk runs after the strategy's ft_bot_start, where the mixin installs the filter.
    no_problems(source_problems(
        "freqtrade.optimize.hyperopt.hyperopt_optimizer.HyperOptimizer.__init__",
        HyperOptimizer.__init__, ["self.backtesting._set_strategy(",
                                  "self.hyperopt_pickle_magic(self.backtesting.strategy"]))


def test_markets_guard_signature_and_reload() -> None:
    no_problems(markets_guard.problems(Exchange))
    no_problems(source_problems("freqtrade.exchange.exchange.Exchange._load_async_markets",
                                Exchange._load_async_markets, ["self._api_reload_markets"]))


# The price tape (trader247/adapters/price_tape.py) replaces fetch_ticker and
# fetch_l2_order_book on the exchange object and calls the originals as fetch(pair, *args).
PRICE_TAPE = [
    (Needs("freqtrade.exchange.exchange.Exchange.fetch_ticker", {"pair": POSITIONAL}),
     Exchange.fetch_ticker),
    (Needs("freqtrade.exchange.exchange.Exchange.fetch_l2_order_book",
           {"pair": POSITIONAL, "limit": POSITIONAL}), Exchange.fetch_l2_order_book),
]


@pytest.mark.parametrize(("needs", "function"), PRICE_TAPE, ids=["fetch_ticker", "order_book"])
def test_price_tape_signatures(needs: Needs, function: Any) -> None:
    no_problems(needs.problems(function))
    first = list(inspect.signature(function).parameters)[1]
    assert first == "pair", f"{needs.qualname}: the pair is no longer the first argument"


def test_freqtrade_prices_trades_through_the_instance_methods() -> None:
    """The tape sees a price only if freqtrade fetches it through the exchange object."""
    for name, function, calls in (
        ("get_rate", Exchange.get_rate,
         ["self.fetch_l2_order_book(pair", "self.fetch_ticker(pair)"]),
        ("get_rates", Exchange.get_rates,
         ["self.fetch_l2_order_book(pair", "self.fetch_ticker(pair)"]),
    ):
        no_problems(source_problems(f"freqtrade.exchange.exchange.Exchange.{name}", function,
                                    calls))


def test_price_tape_reads_last_and_the_book_sides() -> None:
    from freqtrade.exchange.exchange_types import OrderBook, Ticker

    assert "last" in Ticker.__annotations__, "freqtrade's Ticker has no 'last'"
    assert {"bids", "asks"} <= set(OrderBook.__annotations__), "OrderBook has no bids/asks"


def test_install_checks_are_the_ones_pinned_here() -> None:
    """A freqtrade function that lost a parameter is named in the message."""
    def execute_entry(self: Any, pair: str, stake_amount: float, *, trade: Any = None) -> bool:
        return True

    problems = execute_entry_gate.NEEDS.problems(execute_entry)
    assert problems == ["freqtrade.freqtradebot.FreqtradeBot.execute_entry(self, pair, "
                        "stake_amount, *, trade=None) lacks mode (keyword-only)"]
    assert Needs("f", {"x": KEYWORD_ONLY}).problems(execute_entry) == [
        "f(self, pair, stake_amount, *, trade=None) lacks x (keyword-only)"]


def test_market_fill_relies_on_closed_create_answers_being_handled_inline() -> None:
    """``patches.market_fill`` ([G2]) makes a market order's create answer final; freqtrade must
    still process such an answer in the same call (else the patch only costs a request)."""
    no_problems(source_problems(
        "freqtrade.freqtradebot.FreqtradeBot.execute_trade_exit", FreqtradeBot.execute_trade_exit,
        ['order.get("status", "unknown") in ("closed", "expired")',
         "self.update_trade_state(trade, order_obj.order_id, order)"]))
    no_problems(source_problems("freqtrade.freqtradebot.FreqtradeBot.execute_entry",
                                FreqtradeBot.execute_entry,
                                ["if order_status in constants.NON_OPEN_EXCHANGE_STATES:"]))
