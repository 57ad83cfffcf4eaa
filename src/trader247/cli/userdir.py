"""``trader247 init-userdir``: set up a freqtrade user's own directories for our plugins.

For a user who ``pip install``s the package into their own freqtrade setup (README, "Install
into your own freqtrade setup"). Decisions:
- ``--userdir`` (default ``user_data``, freqtrade's default) must exist (``freqtrade
  create-userdir`` makes it); ``pairlists/``, ``protections/`` and ``strategies/`` get our three
  plugins. Copying the strategy makes the packaged fallback silent: the start-up hook searches
  the packaged ``Trader247Strategy`` only while no user folder defines that class, so ``freqtrade
  list-strategies`` shows it once.
- ``--config-dir`` gets the default ``policy.yaml`` and ``universe.yaml`` (and ``schema/``, which
  their first line names for editors). The plugins look for both next to the FIRST ``-c`` file
  (``trader247.preflight.locate``), so the default is the folder of the config freqtrade reads
  without ``-c``: ``<userdir>`` when ``<userdir>/config.json`` exists, else the current
  directory. The folder is created when missing.
- ``--monitoring-dir`` (optional) gets the Prometheus and Grafana files of ``monitoring/``.
- Existing files are never overwritten: each is listed as kept. A file that cannot be written is
  listed with the reason; the others are still written and the exit code is 2.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from trader247_hook import packaged_plugin_dirs

SUBDIRS = ("pairlists", "protections", "strategies")
CONFIG_FILES = ("policy.yaml", "universe.yaml", "schema/policy.schema.json",
                "schema/universe.schema.json")
FREQTRADE_CONFIG = "config.json"  # freqtrade.constants.DEFAULT_CONFIG, without importing it


class MissingData(RuntimeError):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--userdir", "--user-data-dir", type=Path, default=Path("user_data"),
                        help="freqtrade user directory (default: user_data); must exist")
    parser.add_argument("--config-dir", type=Path, default=None,
                        help="where policy.yaml and universe.yaml go: the folder of your first "
                             "-c config file (default: USERDIR when USERDIR/config.json "
                             "exists, else the current directory, as freqtrade picks its "
                             "config)")
    parser.add_argument("--monitoring-dir", type=Path, default=None,
                        help="also write the Prometheus and Grafana files into this folder")
    parser.set_defaults(handler=run)


def default_config_dir(userdir: Path) -> Path:
    """The folder of the config freqtrade reads without ``-c``."""
    return userdir if (userdir / FREQTRADE_CONFIG).is_file() else Path(".")


def data_root() -> Path:
    """``trader247/_data`` of a wheel, or the checkout of an editable install (same layout)."""
    package = Path(__file__).resolve().parents[1]
    for root in (package / "_data", package.parents[1]):
        if (root / "config" / "policy.yaml").is_file():
            return root
    raise MissingData(f"the trader247 package at {package} has no default policy.yaml "
                      "(neither _data/config/ nor a checkout's config/): reinstall it")


def _copy(source: Path, destination: Path, failures: list[str]) -> None:
    shown = destination.absolute()
    folder = destination.parent
    if folder.exists() and not folder.is_dir():
        failures.append(f"cannot write {shown}: {folder.absolute()} is not a directory")
        print(f"FAILED   {shown}: {folder.absolute()} is not a directory")
        return
    if destination.exists():
        print(f"kept     {shown} (exists; not overwritten)")
        return
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as src, destination.open("xb") as dst:  # x: never overwrite
            shutil.copyfileobj(src, dst)
    except OSError as exc:
        failures.append(f"cannot write {shown}: {exc.strerror or exc}")
        print(f"FAILED   {shown}: {exc.strerror or exc}")
        return
    print(f"created  {shown}")


def _plan(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(source, destination) of every file to write."""
    plugins = packaged_plugin_dirs()
    if not plugins:
        raise MissingData("the trader247 package has no plugin files (_plugins/): reinstall it")
    root = data_root()
    pairs = [(source, args.userdir / subdir / source.name)
             for subdir in SUBDIRS for source in sorted((plugins[0] / subdir).glob("*.py"))]
    config_dir = args.config_dir or default_config_dir(args.userdir)
    pairs += [(root / "config" / name, config_dir / name) for name in CONFIG_FILES]
    if args.monitoring_dir is not None:
        monitoring = root / "monitoring"
        pairs += [(source, args.monitoring_dir / source.relative_to(monitoring))
                  for source in sorted(monitoring.rglob("*"))
                  if source.is_file() and source.suffix in (".yml", ".json")
                  and "tests" not in source.relative_to(monitoring).parts]
    lacking = [str(source) for source, _ in pairs if not source.is_file()]
    if lacking:
        raise MissingData("the trader247 package lacks " + ", ".join(lacking) + ": reinstall it")
    return pairs


def run(args: argparse.Namespace) -> int:
    userdir: Path = args.userdir
    if not userdir.is_dir():
        what = "is not a directory" if userdir.exists() else "does not exist"
        print(f"error: user directory {userdir.absolute()} {what}: create it with "
              f"`freqtrade create-userdir --userdir {userdir}`")
        return 2
    try:
        plan = _plan(args)
    except MissingData as exc:
        print(f"error: {exc}")
        return 2
    failures: list[str] = []
    for source, destination in plan:
        _copy(source, destination, failures)
    if failures:
        print(f"error: {len(failures)} file(s) not written: " + "; ".join(failures))
        return 2
    config_dir = (args.config_dir or default_config_dir(userdir)).absolute()
    print(f"policy.yaml and universe.yaml are in {config_dir}: the plugins read them next to "
          f"the first -c file, so keep your config there ({config_dir / FREQTRADE_CONFIG}) or "
          "point the pairlist's policy_file / universe_file at them.")
    return 0
