"""Start-up hook that registers our plugins with an unmodified freqtrade.

Freqtrade 2026.9 only accepts the pairlist names in ``freqtrade.constants.AVAILABLE_PAIRLISTS``
(the config schema's enum is that very list object) and its pairlist / protection resolvers have
no user sub-directory. This top-level module (not part of the ``trader247`` package, whose ``__init__`` would
be one more import) is imported from ``trader247_startup.pth`` on every Python
start, so it must stay cheap: ``install()`` only puts a finder on ``sys.meta_path``; the patches
run when, and only when, freqtrade imports the watched modules.

Decisions:
- A freqtrade version other than the tested one fails the import of ``freqtrade.constants`` with
  a clear message; ``TRADER247_ALLOW_UNTESTED_FREQTRADE=1`` downgrades that to a warning.
- Plugins are searched in ``<user_data>/pairlists`` and ``<user_data>/protections`` first, then
  in the copies shipped with the package (``freqtrade create-userdir`` creates neither folder).
- ``freqtrade.main.main`` exits 0 on a ``ConfigurationError`` (an unknown pairlist name, a bad
  value in the JSON config, or our own YAML validation), which a process manager reads as
  success. We hide that except clause so such errors take freqtrade's ``FreqtradeException``
  path: the same message is logged and the exit code is 2.
- ``FreqtradeBot.process`` (one bot iteration) is timed for the ``/metrics`` iteration histogram,
  with our plugins' share of it (``observability.begin_iteration`` / ``record_iteration``);
  nothing is recorded unless our exporter runs.
- ``FreqtradeBot.execute_entry``: a position adjustment (``/forceenter`` on a held pair, a
  strategy's DCA) passes the at-risk cap of a strategy using ``ExposureCapMixin`` first;
  freqtrade calls no strategy sizing hook for a forced adjustment.
- ``Exchange._load_async_markets``: a markets reload that parses to no markets at all (ccxt's
  coinbase class turns a truncated JSON answer into ``{}`` instead of raising) is a failed
  reload, so freqtrade keeps the markets it has; otherwise the next pairlist refresh raises
  "Markets were not loaded" and freqtrade stops trading.
- ``Exchange.create_order`` (live only): creates carry a ``client_order_id`` and a create whose
  answer was lost is retried / resolved under the same id, so it never becomes two orders
  (``trader247.idempotent_orders``).
- ``TRADER247_DISABLE_HOOK=1`` turns the hook off entirely (rollback without uninstalling).
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and pathlib cost milliseconds; a plain start must not pay for them.
    from pathlib import Path
    from types import ModuleType
    from typing import Any

PAIRLIST_NAMES = ("TieredLiquidityPairList",)
PROTECTION_NAMES = ("ExposureCap",)
_ALLOW_UNTESTED_ENV = "TRADER247_ALLOW_UNTESTED_FREQTRADE"
_DISABLE_ENV = "TRADER247_DISABLE_HOOK"


class UntestedFreqtradeVersion(RuntimeError):
    pass


def packaged_plugin_dirs() -> "list[Path]":
    """Fallback plugin roots: the wheel's ``_plugins`` copy, or the checkout's ``user_data``."""
    from pathlib import Path

    package = Path(__file__).resolve().parent / "trader247"
    candidates = [package / "_plugins", package.parent.parent / "user_data"]
    return [path for path in candidates if path.is_dir()]


def _check_freqtrade_version() -> None:
    from trader247 import TESTED_FREQTRADE_VERSION

    freqtrade = sys.modules.get("freqtrade")
    found = getattr(freqtrade, "__version__", "unknown")
    if str(found).split("-")[0] == TESTED_FREQTRADE_VERSION:
        return
    message = (
        f"trader247 is tested with freqtrade=={TESTED_FREQTRADE_VERSION} but freqtrade {found} "
        f"is installed. Install the tested version (pip install freqtrade=="
        f"{TESTED_FREQTRADE_VERSION}) or set {_ALLOW_UNTESTED_ENV}=1 to run untested."
    )
    if os.environ.get(_ALLOW_UNTESTED_ENV) == "1":
        sys.stderr.write(f"WARNING: {message}\n")
        return
    raise UntestedFreqtradeVersion(message)


def _patch_constants(module: "ModuleType") -> None:
    _check_freqtrade_version()
    # Mutate in place: config_schema holds a reference to this same list object.
    pairlists: list[str] = module.AVAILABLE_PAIRLISTS
    for name in PAIRLIST_NAMES:
        if name not in pairlists:
            pairlists.append(name)


def _with_fallback_dirs(resolver: "Any", user_subdir: str, plugin_subdir: str) -> None:
    if getattr(resolver, "_trader247_patched", False):
        return
    base_build = resolver.build_search_paths.__func__

    from pathlib import Path

    def build_search_paths(
        cls: "Any", config: "Any", user_subdir: str | None = None, extra_dirs: "Any" = None
    ) -> "list[Path]":
        paths: list[Path] = base_build(cls, config, user_subdir, extra_dirs)
        paths += [root / plugin_subdir for root in packaged_plugin_dirs()]
        # A missing user folder is normal (create-userdir does not make it): skip it quietly
        # instead of freqtrade's "Path does not exist" warning on every load. An editable
        # install's fallback is the checkout's own user_data: list each folder once.
        unique: dict[Path, Path] = {}
        for path in paths:
            if path.is_dir():
                unique.setdefault(path.resolve(), path)
        return list(unique.values())

    if user_subdir:
        resolver.user_subdir = user_subdir
    resolver.build_search_paths = classmethod(build_search_paths)
    resolver._trader247_patched = True


def _patch_pairlist_resolver(module: "ModuleType") -> None:
    _with_fallback_dirs(module.PairListResolver, "pairlists", "pairlists")


def _patch_protection_resolver(module: "ModuleType") -> None:
    _with_fallback_dirs(module.ProtectionResolver, "protections", "protections")


def _patch_strategy_resolver(module: "ModuleType") -> None:
    # The strategy keeps freqtrade's own user folder; only the packaged fallback is added.
    _with_fallback_dirs(module.StrategyResolver, "", "strategies")


class _NeverRaised(Exception):
    """Stands in for ConfigurationError in ``freqtrade.main`` so that except clause never fires."""


def _patch_main(module: "ModuleType") -> None:
    module.__dict__["ConfigurationError"] = _NeverRaised


def _patch_freqtradebot(module: "ModuleType") -> None:
    bot = module.FreqtradeBot
    if getattr(bot.process, "_trader247_timed", False):
        return
    original = bot.process

    def process(self: "Any") -> "Any":
        import time

        observability = sys.modules.get("trader247.adapters.observability")
        if observability is not None:
            observability.begin_iteration()
        start = time.perf_counter()
        try:
            return original(self)
        finally:
            observability = sys.modules.get("trader247.adapters.observability")
            if observability is not None:
                observability.record_iteration(time.perf_counter() - start)

    process._trader247_timed = True  # type: ignore[attr-defined]
    bot.process = process

    original_entry = bot.execute_entry

    def execute_entry(self: "Any", pair: str, stake_amount: float, *args: "Any",
                      **kwargs: "Any") -> "Any":
        gate = getattr(self.strategy, "_cap_gate_position_increase", None)
        if gate is not None and kwargs.get("trade") is not None \
                and kwargs.get("mode") == "pos_adjust":
            stake_amount = gate(pair, stake_amount)
            if not stake_amount:
                return False
        return original_entry(self, pair, stake_amount, *args, **kwargs)

    bot.execute_entry = execute_entry


def _patch_exchange(module: "ModuleType") -> None:
    exchange = module.Exchange
    if getattr(exchange._load_async_markets, "_trader247_guarded", False):
        return
    original = exchange._load_async_markets

    def _load_async_markets(self: "Any", reload: bool = False) -> None:
        original(self, reload=reload)
        if reload and self._markets and not self._api_async.markets:
            # The sync instance still holds the last markets: freqtrade copies them over only
            # after a reload succeeds.
            self._api_async.set_markets_from_exchange(self._api)
            from freqtrade.exceptions import TemporaryError

            raise TemporaryError(f"the exchange answered the markets reload with no markets: "
                                 f"keeping the {len(self._markets)} loaded ones")

    _load_async_markets._trader247_guarded = True  # type: ignore[attr-defined]
    exchange._load_async_markets = _load_async_markets
    from trader247.idempotent_orders import install

    install(exchange)


_PATCHES = {
    "freqtrade.main": _patch_main,
    "freqtrade.freqtradebot": _patch_freqtradebot,
    "freqtrade.exchange.exchange": _patch_exchange,
    "freqtrade.constants": _patch_constants,
    "freqtrade.resolvers.pairlist_resolver": _patch_pairlist_resolver,
    "freqtrade.resolvers.protection_resolver": _patch_protection_resolver,
    "freqtrade.resolvers.strategy_resolver": _patch_strategy_resolver,
}


class _PatchingLoader:
    """Delegates to the real loader and applies our patch right after the module executes."""

    def __init__(self, loader: "Any", patch: "Any") -> None:
        self._loader = loader
        self._patch = patch

    def create_module(self, spec: "Any") -> "Any":
        return self._loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        self._loader.exec_module(module)
        self._patch(module)

    def __getattr__(self, name: str) -> "Any":
        return getattr(self._loader, name)


class _FreqtradeFinder:
    trader247_hook = True

    def find_spec(self, fullname: str, path: "Any", target: "Any" = None) -> "Any":
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, patch)  # type: ignore[assignment]
                return spec
        return None


def install() -> None:
    """Idempotent: venvs may process ``.pth`` files twice."""
    if os.environ.get(_DISABLE_ENV) == "1":
        return
    if any(getattr(finder, "trader247_hook", False) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _FreqtradeFinder())
    # Modules freqtrade already imported (hook installed late, e.g. in tests) are patched now.
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
