"""TieredLiquidityPairList: 24h USD-volume universe with tier floors and force-eligible pairs.

Seed fixes 2-4. Volume is always USD (quote volume first; base volume only times a price), each
tier has its floor (``config/universe.yaml``), pairs in no tier use the global floor
(``config/policy.yaml``), BTC/ETH/SOL are force-eligible, a pair leaves only below its floor by
``exit_band`` (hysteresis), and a failed or stale ticker refresh keeps the last good whitelist.
Every decision (with its reason code) lives in ``trader247.core.universe``; this file only
translates freqtrade's markets and tickers.

Generator (first pairlist): candidates are all spot markets of the stake currency. Filter (after
another generator): candidates are the incoming pairs. Tickers are fetched by this class, not by
the pairlist manager, so that an exchange error keeps the previous whitelist instead of failing the
whole bot iteration.

Backtesting: ``NO_ACTION`` - the list holds every candidate (today's volume would be a look-ahead);
``Trader247Strategy`` applies the same rules candle by candle from rolling candle volume.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from freqtrade.enums import RunMode
from freqtrade.exceptions import OperationalException
from freqtrade.exchange.exchange_types import Tickers
from freqtrade.plugins.pairlist.IPairList import IPairList, PairlistParameter, SupportsBacktesting

from trader247.adapters import observability
from trader247.adapters.settings import load_settings
from trader247.configfiles import check_universe_markets
from trader247.core.config import UniverseConfig
from trader247.core.universe import (
    MarketInfo,
    UniverseState,
    evaluate_universe,
    format_force_eligible_line,
    market_from_ccxt,
)
from trader247.core.volume import TickerSnapshot, ticker_from_ccxt
from trader247.interrupts import raise_interrupt
from trader247.patches import markets_guard
from trader247.preflight import POLICY_FILE, UNIVERSE_FILE

logger = logging.getLogger(__name__)


class TieredLiquidityPairList(IPairList):  # type: ignore[misc]  # freqtrade is untyped
    is_pairlist_generator = True
    supports_backtesting = SupportsBacktesting.NO_ACTION

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        params = self._pairlistconfig
        self._stake_currency: str = self._config["stake_currency"]
        defaults = {key: spec["default"] for key, spec in self.available_parameters().items()}
        self._number_assets = int(params.get("number_assets", defaults["number_assets"]))
        self._max_ticker_age_s = float(params.get("max_ticker_age_s", defaults["max_ticker_age_s"]))
        if self._number_assets < 0 or self._max_ticker_age_s <= 0:
            raise OperationalException(
                f"{self.name}: number_assets must be >= 0 and max_ticker_age_s > 0 "
                f"(got {self._number_assets}, {self._max_ticker_age_s})")
        settings = load_settings(self._config, params)
        self._check_symbols(settings.universe_path, settings.universe)
        self._rules = settings.universe_rules
        self._files = f"{settings.universe_path}, {settings.policy_path}"
        self._state: UniverseState | None = None
        self._next_refresh = 0.0
        self._market_cache: dict[str, tuple[Any, MarketInfo]] = {}
        if self._config.get("runmode") in (RunMode.DRY_RUN, RunMode.LIVE):  # reloads markets
            markets_guard.install(self._exchange)

    def _check_symbols(self, universe_path: Path, universe: UniverseConfig) -> None:
        """Every bare base of ``universe.yaml`` is a base on this exchange (``ADAUSD``: "did you
        mean ADA-USD?"); markets not loaded: nothing to check against, freqtrade reports that."""
        bases = {m.get("base") for m in (self._exchange.markets or {}).values()} - {None}
        if not bases:
            return
        problems = check_universe_markets(universe_path, bases, loaded=universe)
        for problem in problems:
            if problem.severity != "error":
                logger.warning(problem.format())
        errors = [p.format() for p in problems if p.severity == "error"]
        if errors:
            raise OperationalException(f"{self.name}: universe symbols not on the exchange:\n"
                                       + "\n".join(errors))

    @property
    def needstickers(self) -> bool:
        return False

    @staticmethod
    def description() -> str:
        return "Tiered 24h USD-volume universe with force-eligible core pairs."

    @staticmethod
    def available_parameters() -> dict[str, PairlistParameter]:
        return {
            "universe_file": {"type": "string", "default": UNIVERSE_FILE,
                              "description": "Universe file",
                              "help": "Tiers, floors, force-eligible symbols; relative to the "
                                      "config file's folder."},
            "policy_file": {"type": "string", "default": POLICY_FILE,
                            "description": "Policy file",
                            "help": "Global floor, volume source, hysteresis band; relative to "
                                    "the config file's folder."},
            "number_assets": {"type": "number", "default": 0,
                              "description": "Max pairs",
                              "help": "Keep at most this many eligible pairs (0 = all)."},
            "max_ticker_age_s": {"type": "number", "default": 300,
                                 "description": "Max ticker age (s)",
                                 "help": "Older tickers count as stale: the pair keeps its "
                                         "previous state."},
            **IPairList.refresh_period_parameter(),
        }

    def short_desc(self) -> str:
        floors = ", ".join(f"{t.name}>=${t.floor_usd:,.0f}" for t in self._rules.tiers)
        return (f"{self.name} - {floors}, others>=${self._rules.global_floor_usd:,.0f} "
                f"({self._files}).")

    @observability.timed("pairlist")
    def gen_pairlist(self, tickers: Tickers) -> list[str]:
        markets = self._exchange.get_markets(
            quote_currencies=[self._stake_currency], spot_only=True,
            tradable_only=False, active_only=False)
        return self.filter_pairlist(sorted(markets), tickers)

    @observability.timed("pairlist")
    def filter_pairlist(self, pairlist: list[str], tickers: Tickers) -> list[str]:
        if self._config.get("runmode") in (RunMode.BACKTEST, RunMode.HYPEROPT):
            return [p for p in pairlist if self._exchange.markets.get(p, {}).get("active", True)]
        now = time.time()
        if self._state is not None and now < self._next_refresh:
            return list(self._state.whitelist)
        result = evaluate_universe(
            self._markets(pairlist), self._fetch_tickers(tickers), self._rules, self._state,
            now=now, max_ticker_age_s=self._max_ticker_age_s)
        self._report(result)
        self._state = result.state
        self._next_refresh = now + self.refresh_period
        observability.runtime_of(self._config).publish_universe(result)
        whitelist = list(result.whitelist)
        return whitelist[: self._number_assets] if self._number_assets else whitelist

    def _markets(self, pairlist: list[str]) -> list[MarketInfo]:
        # Markets change only on freqtrade's hourly reload (new dict objects): convert once each.
        markets = self._exchange.markets
        infos = []
        for pair in pairlist:
            market = markets.get(pair)
            if market is None:
                continue
            cached = self._market_cache.get(pair)
            if cached is None or cached[0] is not market:
                cached = (market, market_from_ccxt(market))
                self._market_cache[pair] = cached
            infos.append(cached[1])
        return infos

    def _fetch_tickers(self, tickers: Tickers) -> dict[str, TickerSnapshot]:
        if not tickers:
            since = sys.exception()
            try:
                tickers = self._exchange.get_tickers()
            except Exception as exc:  # keep the last good universe on any exchange fault
                raise_interrupt(exc, since=since)  # but never on a SIGTERM hidden in one
                logger.warning("UNIVERSE_KEPT: reason=tickers_error error=%s: %s",
                               type(exc).__name__, exc)
                observability.runtime_of(self._config).record_exchange_error("tickers")
                tickers = {}
        snapshots: dict[str, TickerSnapshot] = {}
        markets = self._exchange.markets
        for pair, ticker in tickers.items():
            market = markets.get(pair)
            if market is None or not market.get("spot", True) or ":" in pair:
                continue
            try:
                snapshots[pair] = ticker_from_ccxt(pair, ticker, market)
            except (ValueError, TypeError) as exc:
                self.log_once(f"ticker for {pair} ignored: {exc}", logger.warning)
        return snapshots

    def _report(self, result: Any) -> None:
        by_pair = result.by_pair
        for pair in result.force_changes:
            decision = by_pair.get(pair)
            if decision is not None and decision.reason == "FORCE_ELIGIBLE":
                logger.info(format_force_eligible_line(decision))
        for error in result.errors:
            logger.error(error)
        for warning in result.warnings:
            logger.warning(warning)
        for pair in result.suspect_pairs:
            self.log_once(f"VOLUME_UNITS_SUSPECT: {by_pair[pair].format()}", logger.warning)
        if logger.isEnabledFor(logging.DEBUG):
            for decision in result.decisions:
                logger.debug(decision.format())
        eligible = sum(1 for d in result.decisions if d.eligible)
        logger.info("universe: %d eligible of %d candidates%s", eligible, len(result.decisions),
                    " (kept last good whitelist)" if result.kept else "")
