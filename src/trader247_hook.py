"""Start-up hook that registers our plugins with an unmodified freqtrade.

Freqtrade only accepts the pairlist names in ``freqtrade.constants.AVAILABLE_PAIRLISTS`` (the
config schema's enum is that very list object) and its pairlist / protection resolvers have no
user sub-directory. This top-level module (not part of the ``trader247`` package, whose
``__init__`` would be one more import) is imported from ``trader247_startup.pth`` on every Python
start, so it must stay cheap: ``install()`` only puts a finder on ``sys.meta_path``; the work runs
when, and only when, freqtrade imports the watched modules.

This hook only registers names and folders. Everything else we change in freqtrade is a small
patch in ``trader247.patches``, installed by the plugin that needs it when freqtrade loads it.

Decisions:
- The freqtrade releases we test are ``trader247.FREQTRADE_RELEASES``. Another release stops at
  the import of the ``freqtrade`` package (so also ``freqtrade --version``) with one line on
  stderr and exit code 2, before any of our code touches it;
  ``TRADER247_ALLOW_UNTESTED_FREQTRADE=1`` turns that into a one-line warning.
  ``TRADER247_TEST_FREQTRADE_VERSION`` pretends another release is installed: it exists for the
  test suite (it can only refuse a release or let one through as the override does).
- Plugins are searched in ``<user_data>/pairlists`` and ``<user_data>/protections`` first, then
  in the copies shipped with the package (``freqtrade create-userdir`` creates neither folder).
- Strategies: the packaged ``strategies/`` folder is searched only while no folder freqtrade
  searches before it (``strategy_path``, ``<user_data>/strategies``, sub-folders with
  ``recursive_strategy_search``) has a file defining a class of the same name
  (``class Trader247Strategy``). The user's copy (``trader247 init-userdir`` makes one) wins a
  load anyway; without this, ``freqtrade list-strategies`` showed both as ``DUPLICATE NAME``.
- ``TRADER247_DISABLE_HOOK=1`` turns the hook off entirely (rollback without uninstalling).
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing and pathlib cost milliseconds; a plain start must not pay for them.
    from pathlib import Path
    from types import ModuleType
    from typing import Any

ALLOW_UNTESTED_ENV = "TRADER247_ALLOW_UNTESTED_FREQTRADE"
TEST_VERSION_ENV = "TRADER247_TEST_FREQTRADE_VERSION"
_DISABLE_ENV = "TRADER247_DISABLE_HOOK"
UNTESTED_EXIT_CODE = 2


def packaged_plugin_dirs() -> "list[Path]":
    """Fallback plugin roots: the wheel's ``_plugins`` copy, or the checkout's ``user_data``."""
    from pathlib import Path

    package = Path(__file__).resolve().parent / "trader247"
    candidates = [package / "_plugins", package.parent.parent / "user_data"]
    return [path for path in candidates if path.is_dir()]


def release_of(version: str) -> str | None:
    """``2026.9``, ``2026.9.1``, ``2026.10-dev-abc123``, ``docker-2026.9-dev-1a2b`` ->
    year.month."""
    import re

    found = re.search(r"(\d{4})\.(\d{1,2})(?!\d)", version)
    return f"{found[1]}.{int(found[2])}" if found else None


def requirement(releases: "tuple[str, ...]") -> str:
    """The pip requirement of a contiguous range of releases: ``>=first,<month after last``."""
    year, month = (int(part) for part in releases[-1].split("."))
    after = f"{year + 1}.1" if month == 12 else f"{year}.{month + 1}"
    return f"freqtrade[hyperopt]>={releases[0]},<{after}"


def untested_release_message(found: str) -> str | None:
    """The one line for a freqtrade outside the tested range, or None when it is tested."""
    from trader247 import FREQTRADE_RELEASES, __version__

    if release_of(found) in FREQTRADE_RELEASES:
        return None
    return (f"trader247 {__version__} supports freqtrade {FREQTRADE_RELEASES[0]} to "
            f"{FREQTRADE_RELEASES[-1]}, but freqtrade {found} is installed: run "
            f"pip install '{requirement(FREQTRADE_RELEASES)}', or set {ALLOW_UNTESTED_ENV}=1 "
            "to run it untested")


def _check_freqtrade_release(module: "ModuleType") -> None:
    found = os.environ.get(TEST_VERSION_ENV) or str(getattr(module, "__version__", "unknown"))
    message = untested_release_message(found)
    if message is None:
        return
    if os.environ.get(ALLOW_UNTESTED_ENV) == "1":
        sys.stderr.write(f"WARNING: {message} ({ALLOW_UNTESTED_ENV}=1: running untested)\n")
        return
    sys.stderr.write(f"ERROR: {message}\n")
    sys.stderr.flush()
    # Raised from the import of ``freqtrade`` itself: the interpreter exits without a traceback.
    raise SystemExit(UNTESTED_EXIT_CODE)


def _register_pairlists(module: "ModuleType") -> None:
    # Mutate in place: config_schema holds a reference to this same list object.
    from trader247.core.plugin_names import PAIRLIST

    pairlists: list[str] = module.AVAILABLE_PAIRLISTS
    if PAIRLIST not in pairlists:
        pairlists.append(PAIRLIST)


def _shadows_all(folders: "list[Path]", packaged: "Path", recursive: bool) -> bool:
    """True when ``folders`` define every class of ``packaged`` (one class per file, named as
    the file: ``Trader247Strategy.py`` defines ``class Trader247Strategy``)."""
    import re

    names = {path.stem for path in packaged.glob("*.py")}
    if not names:
        return True
    pattern = re.compile(rb"^class\s+(%s)\b" % b"|".join(re.escape(n.encode()) for n in names),
                         re.MULTILINE)
    packaged_resolved = packaged.resolve()
    found: set[str] = set()
    for folder in folders:
        if not folder.is_dir() or folder.resolve() == packaged_resolved:
            continue
        for file in folder.rglob("*.py") if recursive else folder.glob("*.py"):
            try:
                found.update(m.decode() for m in pattern.findall(file.read_bytes()))
            except OSError:
                continue  # unreadable: freqtrade reports it when it loads the folder
    return names <= found


def _with_fallback_dirs(resolver: "Any", user_subdir: str, plugin_subdir: str,
                        unless_shadowed: bool = False) -> None:
    if getattr(resolver, "_trader247_patched", False):
        return
    base_build = resolver.build_search_paths.__func__

    from pathlib import Path

    def build_search_paths(
        cls: "Any", config: "Any", user_subdir: str | None = None, extra_dirs: "Any" = None
    ) -> "list[Path]":
        paths: list[Path] = base_build(cls, config, user_subdir, extra_dirs)
        recursive = bool((config or {}).get("recursive_strategy_search"))
        paths += [root / plugin_subdir for root in packaged_plugin_dirs()
                  if not (unless_shadowed and _shadows_all(paths, root / plugin_subdir,
                                                           recursive))]
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
    # The strategy keeps freqtrade's own user folder; only the packaged fallback is added, and
    # only while the user's folders do not define our strategy themselves.
    _with_fallback_dirs(module.StrategyResolver, "", "strategies", unless_shadowed=True)


WATCHED = {
    "freqtrade": _check_freqtrade_release,  # read only: its __version__
    "freqtrade.constants": _register_pairlists,
    "freqtrade.resolvers.pairlist_resolver": _patch_pairlist_resolver,
    "freqtrade.resolvers.protection_resolver": _patch_protection_resolver,
    "freqtrade.resolvers.strategy_resolver": _patch_strategy_resolver,
}


class _PatchingLoader:
    """Delegates to the real loader and applies our change right after the module executes."""

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
        patch = WATCHED.get(fullname)
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
    # Modules freqtrade already imported (hook installed late, e.g. in tests) are handled now.
    for name, patch in WATCHED.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
