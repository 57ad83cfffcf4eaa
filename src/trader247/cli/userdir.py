"""``trader247 init-userdir``: give a freqtrade user_data dir our plugin folders.

``freqtrade create-userdir`` makes ``strategies/`` but neither ``pairlists/`` nor
``protections/``. Our plugins load without them (the start-up hook falls back to the copies
shipped with the package); this command copies them in for users who want to read or adapt them.
Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from trader247_hook import packaged_plugin_dirs

SUBDIRS = ("pairlists", "protections", "strategies")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--userdir", type=Path, default=Path("user_data"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    userdir: Path = args.userdir
    if not userdir.is_dir():
        print(f"error: {userdir} is not a directory (create it with `freqtrade create-userdir`)")
        return 2
    source_root = packaged_plugin_dirs()[0]
    for subdir in SUBDIRS:
        target = userdir / subdir
        target.mkdir(exist_ok=True)
        for source in sorted((source_root / subdir).glob("*.py")):
            destination = target / source.name
            if destination.exists():
                print(f"kept     {destination}")
                continue
            shutil.copy2(source, destination)
            print(f"created  {destination}")
    return 0
