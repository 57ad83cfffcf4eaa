"""Everything of freqtrade's we patch, override or read privately, in one table.

Freqtrade has no plugin API for what these rows do; each row says why, which of our files does it,
what breaks if freqtrade changes it, and which upstream change would let us delete it. Plain data:
nothing is imported here (``trader247_hook`` and the patches import freqtrade themselves, when it
loads them).

- ``tests/compat/test_freqtrade_surface.py`` runs every row's :class:`Check` on every supported
  release (``make test-compat``): a changed freqtrade fails one test named after the function;
- the same file scans ``src/`` and ``user_data/`` for private attribute reads, replaced freqtrade
  callables and overridden ``IStrategy`` internals, and fails on one that no row lists, so a new
  one cannot arrive unnoticed;
- the patches keep their own install-time checks (``trader247.patches.Needs``); a row points to
  them (``needs`` / ``contains_from``) instead of restating them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from trader247.core.plugin_names import PAIRLIST, PLUGIN_FILES, STRATEGY


class Kind(StrEnum):
    PATCH = "patch"
    """A freqtrade (or, through freqtrade's exchange object, ccxt) callable we replace."""
    HOOK = "hook"
    """What the start-up hook (``src/trader247_hook.py``) registers in freqtrade's modules."""
    OVERRIDE = "override"
    """An ``IStrategy`` internal (not a documented strategy callback) that the mixin overrides."""
    PRIVATE = "private"
    """An underscore attribute of freqtrade (or of our own core, read across modules) we read."""
    INTERNAL = "internal"
    """Undocumented freqtrade behaviour or a public-looking attribute we rely on."""


POSITIONAL = "positional"
KEYWORD_ONLY = "keyword-only"


@dataclass(frozen=True)
class Check:
    """What one row relies on in one freqtrade object (``module:qualname``).

    ``parameters`` (name -> :data:`POSITIONAL` / :data:`KEYWORD_ONLY`) must exist with that kind;
    ``exact``: no other parameter besides ``self``; ``first``: the first parameter after ``self``;
    ``contains``: fragments of its source; ``keys``: annotations of a TypedDict. ``needs`` and
    ``contains_from`` name a ``Needs`` / a tuple of fragments in our code (``module:NAME``): the
    patch's own install-time check, run on the same object.
    """

    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    exact: bool = False
    first: str = ""
    contains: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    needs: str = ""
    contains_from: str = ""


@dataclass(frozen=True)
class Touch:
    """One thing of freqtrade's we touch. ``names``: the attribute names it covers (what the scan
    of our code accepts, in the files of ``ours``)."""

    kind: Kind
    freqtrade: str
    names: tuple[str, ...]
    ours: tuple[str, ...]
    why: str
    breaks: str
    upstream: str
    checks: tuple[Check, ...] = ()


_FT = "freqtrade.freqtradebot:FreqtradeBot"
_EXCHANGE = "freqtrade.exchange.exchange:Exchange"
_MIXIN = "src/trader247/adapters/cap_mixin.py"
_PAIRLIST = PLUGIN_FILES[PAIRLIST]
_STRATEGY = PLUGIN_FILES[STRATEGY]
_HOOK = "src/trader247_hook.py"
PATCHES: tuple[Touch, ...] = (
    Touch(
        Kind.PATCH, f"{_FT}.execute_entry (on the class)", ("execute_entry",),
        ("src/trader247/patches/execute_entry_gate.py", _MIXIN),
        why="a position increase (/forceenter on a held pair, DCA) reaches execute_entry with "
            "mode='pos_adjust', which calls neither custom_stake_amount nor "
            "confirm_trade_entry and ignores locks: only this gate holds it to the cap. On the "
            "class: no plugin is handed the bot object; the wrapper asks the bot's own strategy, "
            "so bots without the mixin are untouched. Installed by ExposureCapMixin.ft_bot_start "
            "(dry-run, live)",
        breaks="the bot refuses to start (FreqtradeChanged names execute_entry): a missing gate "
               "would let /forceenter past the cap",
        upstream="freqtrade asking custom_stake_amount / confirm_trade_entry (or a new "
                 "callback) for position increases too",
        checks=(
            Check(f"{_FT}.execute_entry", needs="trader247.patches.execute_entry_gate:NEEDS",
                  contains=('if mode == "initial" and not',)),
            Check(f"{_FT}.__init__", contains=("self.strategy",)),
            Check(f"{_FT}.get_valid_enter_price_and_stake",
                  contains=("if trade is None:\n", "self.strategy.custom_stake_amount")),
            Check("freqtrade.rpc.rpc:RPC._rpc_force_entry",
                  contains=("trade=trade", 'mode="pos_adjust" if trade else "initial"')),
        )),
    Touch(
        Kind.PATCH, f"{_FT}.process (on the class)", ("process",),
        ("src/trader247/patches/iteration_timing.py", "src/trader247/adapters/observability.py"),
        why="/metrics times whole bot iterations; freqtrade has no hook around one "
            "(bot_loop_start runs in its middle). Installed when our metrics exporter starts",
        breaks="one error naming process; /metrics has no iteration times",
        upstream="a callback at the start and end of each iteration (or freqtrade's own "
                 "iteration-time metric)",
        checks=(
            Check(f"{_FT}.process", needs="trader247.patches.iteration_timing:NEEDS"),
            Check("freqtrade.worker:Worker._process_running",
                  contains=("self.freqtrade.process()",)),
        )),
    Touch(
        Kind.PATCH, f"{_EXCHANGE}._load_async_markets (the bot's exchange object only)",
        ("_load_async_markets",), ("src/trader247/patches/markets_guard.py", _PAIRLIST),
        why="ccxt's coinbase class parses a truncated markets answer to {}; reload_markets copies "
            "it over the markets and the next whitelist refresh stops trading. Installed by "
            "TieredLiquidityPairList.__init__ (dry-run, live: the pairlist owns the markets)",
        breaks="one error naming the function; an empty reload is not caught",
        upstream="reload_markets keeping its markets when a reload returns none (or ccxt raising "
                 "on a truncated answer)",
        checks=(
            Check(f"{_EXCHANGE}._load_async_markets",
                  needs="trader247.patches.markets_guard:NEEDS",
                  contains=("self._api_reload_markets",)),
            Check(f"{_EXCHANGE}.reload_markets",
                  contains_from="trader247.patches.markets_guard:RELOAD_CALLS"),
        )),
    Touch(
        Kind.PATCH, "ccxt create_order of the bot's live exchange object (Exchange._api)",
        ("create_order",),
        ("src/trader247/patches/idempotent_create.py", "src/trader247/patches/live_api.py",
         _MIXIN),
        why="freqtrade sends a fresh client order id and never retries a create: an answer lost "
            "after Coinbase accepted the order becomes a second order on the next signal. "
            "Installed on the instance by ExposureCapMixin.ft_bot_start (live only), the part of "
            "ours that places orders; no class, no pairlist",
        breaks="freqtrade's create path no longer goes through Exchange._api: creates are not "
               "idempotent (no error: compat fails here)",
        upstream="freqtrade retrying an unanswered create under its own deterministic client "
                 "order id (or ccxt's coinbase honouring the unified clientOrderId)",
        checks=(
            Check(f"{_EXCHANGE}.create_order", contains=("self._api.create_order(",)),
            Check("ccxt.coinbase:coinbase.create_order",
                  contains=("'client_order_id': id + '-' + self.uuid()",)),
        )),
    Touch(
        Kind.PATCH, "ccxt create_order of the bot's live exchange object, after idempotent_create",
        ("create_order",), ("src/trader247/patches/market_fill.py", _MIXIN),
        why="Coinbase answers a create with the order id only, so freqtrade sees a market "
            "order's fill one iteration later (a trim's round trip 5 s instead of ~0.1 s, a "
            "spurious REDUCING in between). One fetch_order makes the answer final. Installed "
            "with idempotent_create",
        breaks="freqtrade no longer handles a closed create answer inline: the patch only costs "
               "a request",
        upstream="freqtrade fetching a market order once when the create answer is not final "
                 "(or Coinbase answering with the fill)",
        checks=(
            Check(f"{_FT}.execute_trade_exit",
                  contains=('order.get("status", "unknown") in ("closed", "expired")',
                            "self.update_trade_state(trade, order_obj.order_id, order)")),
            Check(f"{_FT}.execute_entry",
                  contains=("if order_status in constants.NON_OPEN_EXCHANGE_STATES:",)),
        )),
    Touch(
        Kind.PATCH, f"{_EXCHANGE}.fetch_ticker / fetch_l2_order_book (the bot's exchange object)",
        ("fetch_ticker", "fetch_l2_order_book"),
        ("src/trader247/adapters/price_tape.py", "src/trader247/adapters/cap_build.py"),
        why="the price tape: the cap marks positions with the prices freqtrade fetched anyway "
            "(a second ticker per trade per iteration cost 0.5-2 s on Coinbase). freqtrade's "
            "rate cache (get_rate(refresh=False)) is as fresh in steady state but holds the exit "
            "side (the bid), not the mid, and no arrival time for 300 s: after /stop, 90 s, "
            "/start it served 4 of 4 marks 92 s old where the tape refused them "
            "(bench/rate_cache_freshness.py, README)",
        breaks="the cap fetches a ticker per open trade per iteration again (no error)",
        upstream="freqtrade exposing the prices it fetched with their arrival time (or its "
                 "rate cache keeping the mid / last price and the time)",
        checks=(
            Check(f"{_EXCHANGE}.fetch_ticker", {"pair": POSITIONAL}, first="pair"),
            Check(f"{_EXCHANGE}.fetch_l2_order_book", {"pair": POSITIONAL, "limit": POSITIONAL},
                  first="pair"),
            Check(f"{_EXCHANGE}.get_rate",
                  contains=("self.fetch_l2_order_book(pair", "self.fetch_ticker(pair)")),
            Check(f"{_EXCHANGE}.get_rates",
                  contains=("self.fetch_l2_order_book(pair", "self.fetch_ticker(pair)")),
            Check("freqtrade.exchange.exchange_types:Ticker", keys=("last",)),
            Check("freqtrade.exchange.exchange_types:OrderBook", keys=("bids", "asks")),
        )),
)

_RESOLVERS = "freqtrade.resolvers.iresolver:IResolver"
HOOKS: tuple[Touch, ...] = (
    Touch(
        Kind.HOOK, "freqtrade.__version__ (read when `freqtrade` is imported)", (), (_HOOK,),
        why="an untested release stops at import with one line and exit code 2",
        breaks="the release check reads 'unknown' and refuses every release",
        upstream="- (public attribute)",
        checks=(Check("freqtrade:__version__"),)),
    Touch(
        Kind.HOOK, "freqtrade.constants.AVAILABLE_PAIRLISTS (appended in place)", (), (_HOOK,),
        why="freqtrade accepts only the pairlist names in this list; the config schema's enum is "
            "the same list object",
        breaks="'TieredLiquidityPairList' is refused by the config schema",
        upstream="the config schema accepting any pairlist name the resolver finds",
        checks=(Check("freqtrade.constants:AVAILABLE_PAIRLISTS"),
                Check("freqtrade.config_schema.config_schema", contains=("AVAILABLE_PAIRLISTS",)))),
    Touch(
        Kind.HOOK, "PairListResolver / ProtectionResolver.build_search_paths and .user_subdir",
        ("build_search_paths",), (_HOOK,),
        why="freqtrade's pairlist and protection resolvers search no user folder; the hook adds "
            "<user_data>/pairlists (protections) and our packaged copies",
        breaks="our pairlist and protection are not found ('Impossible to load Pairlist')",
        upstream="pairlist / protection resolvers with a user sub-directory, as strategies "
                 "have, and a search path for installed packages (entry points)",
        checks=(
            Check(f"{_RESOLVERS}.build_search_paths",
                  {"config": POSITIONAL, "user_subdir": POSITIONAL, "extra_dirs": POSITIONAL},
                  contains=('config["user_data_dir"].joinpath(user_subdir)',)),
            Check(f"{_RESOLVERS}.load_object",
                  contains=("cls.build_search_paths(", "user_subdir=cls.user_subdir")),
            Check("freqtrade.resolvers.pairlist_resolver:PairListResolver.user_subdir"),
            Check("freqtrade.resolvers.protection_resolver:ProtectionResolver.user_subdir"),
        )),
    Touch(
        Kind.HOOK, "StrategyResolver.build_search_paths (packaged strategies fallback)",
        ("build_search_paths",), (_HOOK,),
        why="Trader247Strategy found without copying it into the user dir",
        breaks="Trader247Strategy is not found unless copied (init-userdir)",
        upstream="- (freqtrade has --strategy-path)",
        checks=(Check(f"{_RESOLVERS}.build_search_paths"),)),
)

_ISTRATEGY = "freqtrade.strategy.interface:IStrategy"
OVERRIDES: tuple[Touch, ...] = (
    Touch(
        Kind.OVERRIDE, f"{_ISTRATEGY}.ft_bot_start", ("ft_bot_start",), (_MIXIN,),
        why="bot_start runs inside strategy_safe_wrapper, which turns our YAML errors into a "
            "StrategyError with a traceback; here they stop the bot at start with exit code 2 "
            "and one message. Also reconciles open trades and installs the order path",
        breaks="the cap is built on first use (mid-run errors) and no patch is installed",
        upstream="a start callback whose OperationalException stops the bot with its message",
        checks=(
            Check(f"{_ISTRATEGY}.ft_bot_start", contains=("self.bot_start",)),
            Check(f"{_FT}.__init__", contains=("self.strategy.ft_bot_start()",)),
            Check("freqtrade.optimize.backtesting:Backtesting._set_strategy",
                  contains=("self.strategy.ft_bot_start()",)),
        )),
    Touch(
        Kind.OVERRIDE, f"{_ISTRATEGY}.ft_bot_start (by Trader247Strategy)", ("ft_bot_start",),
        (_STRATEGY,),
        why="Trader247Strategy validates its parameters and checks its offline data after "
            "freqtrade loaded the parameter file", breaks="its start-up checks", upstream="-",
        checks=(Check(f"{_ISTRATEGY}.ft_bot_start", contains=("self.ft_load_hyper_params(",)),)),
    Touch(
        Kind.OVERRIDE, f"{_ISTRATEGY}.ft_bot_cleanup", ("ft_bot_cleanup",), (_MIXIN,),
        why="the cap state is persisted and the fleet left on freqtrade's own shutdown path; "
            "strategies have no public shutdown callback",
        breaks="the cap state of the last iteration is lost on SIGTERM (restored one write "
               "older)",
        upstream="a public bot_cleanup strategy callback",
        checks=(
            Check(f"{_ISTRATEGY}.ft_bot_cleanup", {}, exact=True),
            Check(f"{_FT}.cleanup", contains=("self.strategy.ft_bot_cleanup()",)),
        )),
    Touch(
        Kind.OVERRIDE, f"{_ISTRATEGY}.advise_all_indicators", ("advise_all_indicators",),
        (_MIXIN,),
        why="backtests and hyperopt hand every pair's whole frame here once: the cap's marks are "
            "indexed from exactly the candles freqtrade backtests, without a second read",
        breaks="backtest marks read the data files again (slower, same result)",
        upstream="a backtest callback receiving the loaded candles",
        checks=(
            Check(f"{_ISTRATEGY}.advise_all_indicators", {"data": POSITIONAL}, exact=True),
            Check("freqtrade.optimize.backtesting:Backtesting.backtest_one_strategy",
                  contains=("self.strategy.advise_all_indicators(data)",)),
            Check("freqtrade.optimize.hyperopt.hyperopt_optimizer:HyperOptimizer."
                  "advise_and_trim", contains=("advise_all_indicators(data)",)),
        )),
)

PRIVATES: tuple[Touch, ...] = (
    Touch(
        Kind.PRIVATE, "freqtrade.data.dataprovider:DataProvider._exchange", ("_exchange",),
        ("src/trader247/adapters/cap_build.py",),
        why="the bot's exchange object (price tape, minimum stakes, the order path): read once, "
            "in cap_build.bot_exchange (was 3 places)",
        breaks="no price tape, exchange minimum stakes or live order path (no error)",
        upstream="a public DataProvider accessor for the exchange object",
        checks=(Check("freqtrade.data.dataprovider:DataProvider.__init__",
                      contains=("self._exchange = exchange",)),)),
    Touch(
        Kind.PRIVATE, f"{_EXCHANGE}._api / ._config", ("_api", "_config"),
        ("src/trader247/patches/live_api.py", "src/trader247/patches/markets_guard.py"),
        why="the live ccxt instance the order path wraps, and dry_run (never patched dry)",
        breaks="the order path is not installed, or is installed on a dry-run bot",
        upstream="goes with idempotent_create / market_fill",
        checks=(Check(f"{_EXCHANGE}.__init__",
                      contains=("self._config", "self._api = self._init_ccxt(")),)),
    Touch(
        Kind.PRIVATE, f"{_EXCHANGE}._markets / ._api_async", ("_markets", "_api_async"),
        ("src/trader247/patches/markets_guard.py",),
        why="the markets guard compares and restores the loaded markets",
        breaks="one error: the guard is not installed (markets_guard.ATTRIBUTES)",
        upstream="goes with markets_guard",
        checks=(Check(f"{_EXCHANGE}.__init__",
                      contains=("self._markets", "self._api_async = self._init_ccxt(")),)),
    Touch(
        Kind.PRIVATE, "freqtrade.plugins.pairlist.IPairList:IPairList._exchange / ._config / "
                      "._pairlistconfig", ("_exchange", "_config", "_pairlistconfig"),
        (_PAIRLIST,),
        why="the base-class attributes freqtrade's developer docs give pairlist authors (its own "
            "pairlists use them)",
        breaks="the pairlist cannot start",
        upstream="- (documented for pairlist plugins)",
        checks=(Check("freqtrade.plugins.pairlist.IPairList:IPairList.__init__",
                      contains=("self._exchange", "self._config = config",
                                "self._pairlistconfig = pairlistconfig")),)),
)

INTERNALS: tuple[Touch, ...] = (
    Touch(
        Kind.INTERNAL, "freqtrade.persistence:Trade.session (and PairLock.session, "
                       "PairLocks.use_db)", (),
        ("src/trader247/adapters/state_store.py", "src/trader247/adapters/cap_locks.py"),
        why="our state shares freqtrade's database engine (Trade.session.get_bind()); a SIGTERM "
            "inside one of freqtrade's writes leaves the shared session refusing every "
            "statement, so ft_bot_cleanup heals it before persisting; lock reasons are committed "
            "through PairLock.session",
        breaks="the cap state is not persisted on such a shutdown; lock reasons not updated",
        upstream="freqtrade rolling back its shared session after an interrupted write, and a "
                 "public way to reach the bot's database",
        checks=(Check("freqtrade.persistence.models:init_db",
                      contains=("Trade.session = scoped_session(",
                                "PairLock.session = Trade.session")),
                Check("freqtrade.persistence.pairlock_middleware:PairLocks.use_db"))),
    Touch(
        Kind.INTERNAL, "freqtrade.loggers:bufferHandler", (), ("src/trader247/cli/launcher.py",),
        why="freqtrade's main() logs a ConfigurationError and exits 0; `trader247 run` reads its "
            "log buffer to exit 2",
        breaks="`trader247 run` exits 0 on a configuration error (tests/compat pins it)",
        upstream="freqtrade exiting non-zero on a ConfigurationError",
        checks=(Check("freqtrade.loggers:bufferHandler"),)),
    Touch(
        Kind.INTERNAL, "freqtrade.plugins.protectionmanager:ProtectionManager.__init__", (),
        ("src/trader247/adapters/protection_link.py",),
        why="ExposureCap finds its strategy's cap in its own protections entry: freqtrade hands "
            "that entry, unchanged, to the protection",
        breaks="ExposureCap refuses to start ('does not inherit ExposureCapMixin')",
        upstream="protections receiving the strategy",
        checks=(Check("freqtrade.plugins.protectionmanager:ProtectionManager.__init__",
                      contains=("protection_config=protection_handler_config",)),)),
    Touch(
        Kind.INTERNAL, "freqtrade.optimize.hyperopt.hyperopt_optimizer:HyperOptimizer."
                       "hyperopt_pickle_magic", (), (_MIXIN,),
        why="ExposureCapMixin subclasses IStrategy: freqtrade's walk over the strategy's bases "
            "(pickled by value for -j > 1 workers) stops at a class named IStrategy, so it never "
            "reaches builtins (the removed hyperopt_pickle patch)",
        breaks="freqtrade hyperopt -j 2 fails every epoch to pickle (tests/e2e/test_hyperopt.py)",
        upstream="-",
        checks=(
            Check("freqtrade.optimize.hyperopt.hyperopt_optimizer:HyperOptimizer."
                  "hyperopt_pickle_magic", contains=('if modules.__name__ != "IStrategy":',)),
            Check("freqtrade.optimize.hyperopt.hyperopt_optimizer:HyperOptimizer.__init__",
                  contains=("self.hyperopt_pickle_magic(self.backtesting.strategy.__class__"
                            ".__bases__)",)),
        )),
)

SURFACE: tuple[Touch, ...] = PATCHES + HOOKS + OVERRIDES + PRIVATES + INTERNALS

DOCUMENTED_API: dict[str, frozenset[str]] = {
    "IStrategy": frozenset({
        "bot_start", "bot_loop_start", "custom_stake_amount", "confirm_trade_entry",
        "confirm_trade_exit", "adjust_trade_position", "order_filled", "check_entry_timeout",
        "check_exit_timeout", "custom_exit", "custom_stoploss", "custom_roi",
        "custom_entry_price", "custom_exit_price", "adjust_entry_price", "adjust_exit_price",
        "adjust_order_price", "leverage", "informative_pairs", "populate_indicators",
        "populate_entry_trend", "populate_exit_trend", "protections", "plot_annotations",
        "version", "feature_engineering_expand_all", "feature_engineering_expand_basic",
        "feature_engineering_standard", "set_freqai_targets"}),
    "IPairList": frozenset({
        "__init__", "needstickers", "description", "available_parameters", "short_desc",
        "gen_pairlist", "filter_pairlist"}),
    "IProtection": frozenset({"__init__", "short_desc", "global_stop", "stop_per_pair"}),
}
"""The callbacks freqtrade documents for strategy, pairlist and protection plugins: overriding
them is the plugin API, not an internal (the scan accepts them without a row)."""
